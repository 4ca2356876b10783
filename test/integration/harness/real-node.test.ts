/**
 * The real node (containerd + kubelet) and the local registries: images pushed with our own
 * Distribution client are pulled by containerd over HTTP, TLS and Basic auth (credentials from an
 * imagePullSecret, through the kubelet), pods run with real logs, exit codes and OOM kills, and a
 * stopped node leaves nothing on the host.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type V1ContainerStatus, type V1Pod, type V1PodSpec } from '@kubernetes/client-node';
import { tarGzDirectory, writeImageLayout, type WrittenLayout } from '../../harness/oci/layout.ts';
import {
  allClaims,
  bridgePorts,
  iptablesRules,
  NODE_INSTANCE_COUNT,
  instanceNetwork,
  realNodePlacement,
  startRealNode,
  type RealNode,
} from '../../harness/node/index.ts';
import {
  cgroupExists,
  isAlive,
  linkExists,
  mountsUnder,
  processesMatching,
  symlinksInto,
} from '../../harness/node/system.ts';
import type { RegistryInfo } from '../../harness/node-stack.ts';
import {
  deleteManifest,
  manifestDigest,
  pushLayout,
  type RegistryFlavour,
} from '../../harness/registry/index.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { toolPath } from '../../harness/tools.ts';
import { waitUntil } from '../../harness/waiting.ts';

const FLAVOURS: RegistryFlavour[] = ['http', 'tls', 'auth'];
/** Repositories of the shared registries are named after the test file. */
const REPO = 'harness-real-node';
const BUSYBOX_APPLETS = [
  'sh',
  'echo',
  'sleep',
  'cat',
  'dd',
  'wget',
  'true',
  'false',
  'ls',
  'nc',
  'httpd',
  'mkdir',
  'printf',
  'tail',
];

/**
 * One-layer images: the static busybox and its applets as symlinks. One per registry flavour (a
 * label tells them apart): containerd reports one repo digest per image, so the same image
 * pulled from two registries would carry the first registry's name.
 */
async function busyboxLayouts(work: string): Promise<Record<RegistryFlavour, WrittenLayout>> {
  const rootfs = path.join(work, 'rootfs');
  mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  mkdirSync(path.join(rootfs, 'tmp'), { recursive: true });
  copyFileSync(toolPath('busybox'), path.join(rootfs, 'bin', 'busybox'));
  chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of BUSYBOX_APPLETS) symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  const layer = await tarGzDirectory(rootfs, path.join(work, 'layer.tar.gz'));
  const layouts = await Promise.all(
    FLAVOURS.map((flavour) =>
      writeImageLayout(path.join(work, `layout-${flavour}`), {
        layers: [layer],
        config: { Env: ['PATH=/bin'], Cmd: ['sh'], Labels: { 'trivy-lookout.test/registry': flavour } },
      }),
    ),
  );
  return Object.fromEntries(FLAVOURS.map((f, i) => [f, layouts[i]])) as Record<
    RegistryFlavour,
    WrittenLayout
  >;
}

function containerStatus(pod: V1Pod | undefined): V1ContainerStatus | undefined {
  return pod?.status?.containerStatuses?.[0];
}

describe('real node and local registries', { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  let core: CoreV1Api;
  let ns: string;
  let images: Record<RegistryFlavour, WrittenLayout>;
  let registries: Record<RegistryFlavour, RegistryInfo>;
  let nodeName: string;
  const work = mkdtempSync(path.join(os.tmpdir(), 'tl-real-node-test-'));

  before(async () => {
    cluster = await useTestCluster({ node: true });
    assert.ok(cluster.node && cluster.registries, 'the cluster has a real node and registries');
    registries = cluster.registries;
    nodeName = cluster.node.name;
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    ns = await cluster.createNamespace('real-node');
    images = await busyboxLayouts(work);
  });

  after(async () => {
    await cluster?.release();
    rmSync(work, { recursive: true, force: true });
  });

  const readPod = (name: string) => core.readNamespacedPod({ name, namespace: ns });

  /** Waits for a pod phase; a timeout reports where the pod got stuck. */
  async function podInPhase(name: string, phase: string, timeoutMs = 60_000): Promise<V1Pod> {
    let last: V1Pod | undefined;
    try {
      return await waitUntil(
        `pod ${name} ${phase}`,
        async () => {
          last = await readPod(name);
          return last.status?.phase === phase ? last : undefined;
        },
        timeoutMs,
      );
    } catch (err) {
      throw new Error(
        `${String(err)}; last status: ${JSON.stringify(last?.status?.containerStatuses ?? last?.status)}`,
      );
    }
  }

  async function createPod(
    name: string,
    spec: Partial<V1PodSpec> & Pick<V1PodSpec, 'containers'>,
    node = nodeName,
  ) {
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name },
        spec: { restartPolicy: 'Never', ...realNodePlacement(node), ...spec },
      },
    });
  }

  async function createPullSecret(name: string, registry: RegistryInfo): Promise<void> {
    const { username, password } = registry.credentials ?? { username: '', password: '' };
    const auths = {
      [registry.host]: {
        username,
        password,
        auth: Buffer.from(`${username}:${password}`).toString('base64'),
      },
    };
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name },
        type: 'kubernetes.io/dockerconfigjson',
        stringData: { '.dockerconfigjson': JSON.stringify({ auths }) },
      },
    });
  }

  it('pushes an OCI layout to every flavour; each serves the layout’s digest, the auth one only with credentials', async () => {
    for (const flavour of FLAVOURS) {
      const registry = registries[flavour];
      const image = images[flavour];
      const pushed = await pushLayout(registry, image.dir, `${REPO}/busybox:1`);
      assert.equal(pushed.digest, image.manifestDigest, flavour);
      assert.equal(pushed.reference, `${registry.host}/${REPO}/busybox@${image.manifestDigest}`);
      assert.equal(await manifestDigest(registry, `${REPO}/busybox:1`), image.manifestDigest, flavour);
    }
    const anonymous = { ...registries.auth, credentials: undefined };
    await assert.rejects(manifestDigest(anonymous, `${REPO}/busybox:1`), /asks for credentials/);
    assert.equal(registries.tls.url.startsWith('https://'), true);
    assert.equal(registries.http.host.startsWith(`${cluster.node?.hostIp}:`), true);
  });

  it('runs a pod from each registry: Running, its log through the API server, the served digest as imageID', async () => {
    await createPullSecret('auth-registry', registries.auth);
    for (const flavour of FLAVOURS) {
      const registry = registries[flavour];
      await createPod(`from-${flavour}`, {
        ...(flavour === 'auth' ? { imagePullSecrets: [{ name: 'auth-registry' }] } : {}),
        containers: [
          {
            name: 'main',
            image: `${registry.host}/${REPO}/busybox:1`,
            // The pod reaches the host's registry over the bridge, as scan pods will.
            command: [
              'sh',
              '-c',
              `echo hello from ${flavour}; wget -q -O - ${registries.http.url}/v2/_catalog; sleep 600`,
            ],
          },
        ],
      });
    }
    for (const flavour of FLAVOURS) {
      const registry = registries[flavour];
      const pod = await waitUntil(
        `pod from-${flavour} Running`,
        async () => {
          const pod = await readPod(`from-${flavour}`);
          const waiting = containerStatus(pod)?.state?.waiting;
          if (waiting?.reason === 'ErrImagePull' || waiting?.reason === 'ImagePullBackOff')
            throw new Error(`${waiting.reason}: ${waiting.message}`);
          return pod.status?.phase === 'Running' ? pod : undefined;
        },
        60_000,
      );
      const status = containerStatus(pod);
      assert.equal(
        status?.imageID,
        `${registry.host}/${REPO}/busybox@${images[flavour].manifestDigest}`,
        flavour,
      );
      assert.equal(pod.spec?.nodeName, nodeName);
      assert.ok(
        pod.status?.podIP?.startsWith(cluster.node?.ip.split('.').slice(0, 3).join('.') ?? '-'),
        `pod IP ${pod.status?.podIP}`,
      );
      const log = await waitUntil(`log of from-${flavour}`, async () => {
        const text = await core.readNamespacedPodLog({ name: `from-${flavour}`, namespace: ns });
        return text.includes('repositories') ? text : undefined;
      });
      assert.match(log, new RegExp(`^hello from ${flavour}\n`));
      assert.match(log, /"repositories":\[[^\]]*"harness-real-node\/busybox"/);
    }
  });

  it('gives pods Services through kube-proxy: another pod by its ClusterIP, and the API server through `kubernetes`', async () => {
    const image = `${registries.http.host}/${REPO}/busybox:1`;
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'web', labels: { app: 'web' } },
        spec: {
          ...realNodePlacement(nodeName),
          containers: [
            {
              name: 'main',
              image,
              command: [
                'sh',
                '-c',
                'mkdir -p /tmp/www && echo hello-through-a-service > /tmp/www/index.html && httpd -f -p 8080 -h /tmp/www',
              ],
            },
          ],
        },
      },
    });
    const service = await core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    });
    const kubernetes = await core.readNamespacedService({ name: 'kubernetes', namespace: 'default' });
    await podInPhase('web', 'Running');
    // busybox's nc speaks TCP only: the API server's TLS answer is proved by the chart test's operator.
    const get = (host: string, port: number) =>
      `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${host} ${port}`;
    await createPod('client', {
      containers: [
        {
          name: 'main',
          image,
          command: [
            'sh',
            '-c',
            `${get(service.spec?.clusterIP ?? '-', 80)} | tail -1; (${get(kubernetes.spec?.clusterIP ?? '-', 443)} >/dev/null) && echo api-server-reachable`,
          ],
        },
      ],
    });
    await podInPhase('client', 'Succeeded');
    const log = await core.readNamespacedPodLog({ name: 'client', namespace: ns });
    assert.equal(log, 'hello-through-a-service\napi-server-reachable\n');
  });

  it('reports a container’s real exit code', async () => {
    await createPod('exits-3', {
      containers: [
        {
          name: 'main',
          image: `${registries.http.host}/${REPO}/busybox:1`,
          command: ['sh', '-c', 'echo bye; exit 3'],
        },
      ],
    });
    const pod = await podInPhase('exits-3', 'Failed');
    assert.equal(containerStatus(pod)?.state?.terminated?.exitCode, 3);
    assert.equal(containerStatus(pod)?.state?.terminated?.reason, 'Error');
    assert.equal(await core.readNamespacedPodLog({ name: 'exits-3', namespace: ns }), 'bye\n');
  });

  it('cannot pull from the auth registry without an imagePullSecret (401)', async () => {
    await createPod('no-secret', {
      containers: [
        { name: 'main', image: `${registries.auth.host}/${REPO}/busybox:1`, imagePullPolicy: 'Always' },
      ],
    });
    const waiting = await waitUntil('no-secret ErrImagePull', async () => {
      const w = containerStatus(await readPod('no-secret'))?.state?.waiting;
      return w?.reason === 'ErrImagePull' || w?.reason === 'ImagePullBackOff' ? w : undefined;
    });
    assert.match(waiting.message ?? '', /401 Unauthorized|unauthorized/i);
  });

  it('OOM-kills a Guaranteed pod that allocates past its memory limit', async () => {
    await createPod('oom', {
      containers: [
        {
          name: 'main',
          image: `${registries.http.host}/${REPO}/busybox:1`,
          // dd's buffer is one block: 64 MiB touched at once against a 16 MiB limit.
          command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'],
          resources: {
            requests: { cpu: '100m', memory: '16Mi' },
            limits: { cpu: '100m', memory: '16Mi' },
          },
        },
      ],
    });
    const pod = await podInPhase('oom', 'Failed');
    assert.equal(pod.status?.qosClass, 'Guaranteed');
    assert.equal(containerStatus(pod)?.state?.terminated?.reason, 'OOMKilled');
    assert.equal(containerStatus(pod)?.state?.terminated?.exitCode, 137);
  });

  it('an image deleted from the registry can no longer be pulled', async () => {
    const registry = registries.tls;
    await pushLayout(registry, images.tls.dir, `${REPO}/doomed:1`);
    assert.equal(await deleteManifest(registry, `${REPO}/doomed:1`), images.tls.manifestDigest);
    assert.equal(await manifestDigest(registry, `${REPO}/doomed:1`), undefined);
    await createPod('deleted-image', {
      containers: [{ name: 'main', image: `${registry.host}/${REPO}/doomed:1`, imagePullPolicy: 'Always' }],
    });
    const waiting = await waitUntil('deleted-image ErrImagePull', async () => {
      const w = containerStatus(await readPod('deleted-image'))?.state?.waiting;
      return w?.reason === 'ErrImagePull' || w?.reason === 'ImagePullBackOff' ? w : undefined;
    });
    assert.match(waiting.message ?? '', /not found/);
  });

  it('a stopped node leaves no process, mount, bridge, netns, cgroup, iptables rule or file behind', async (t) => {
    const live = allClaims().filter((c) => isAlive(c.pid)).length;
    if (live >= NODE_INSTANCE_COUNT) {
      t.skip('every node instance on this machine is in use');
      return;
    }
    const netnsBefore = safeList('/run/netns');
    const rulesBefore = iptablesRules();
    const extraName = `real-node-extra-${process.pid}`;
    const extra: RealNode = await startRealNode({
      kubeconfigPath: cluster.kubeconfigPath,
      nodeName: extraName,
    });
    const net = instanceNetwork(extra.instance);
    const dir = extra.dir;
    extra.trustRegistry({ host: registries.http.host, scheme: 'http' });
    let sandboxes: string[] = [];
    try {
      await createPod(
        'on-extra',
        {
          containers: [
            {
              name: 'main',
              image: `${registries.http.host}/${REPO}/busybox:1`,
              command: ['sh', '-c', 'echo up; sleep 600'],
            },
          ],
        },
        extraName,
      );
      await podInPhase('on-extra', 'Running');
      // Something to clean: a running container with its mounts, cgroups, veth and log link.
      assert.ok(mountsUnder(dir).length > 0);
      assert.ok(bridgePorts(net).length > 0);
      assert.ok(symlinksInto('/var/log/containers', dir).length > 0);
      sandboxes = safeList(path.join(dir, 'containerd/root/io.containerd.grpc.v1.cri/sandboxes'));
      assert.ok(sandboxes.length > 0);
    } finally {
      await extra.stop();
    }

    const left = processesMatching((argv) => argv.some((a) => a.includes(dir)));
    assert.deepEqual(
      left.map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8')),
      [],
      'processes',
    );
    assert.deepEqual(mountsUnder(dir), [], 'mounts');
    assert.equal(existsSync(dir), false, 'its temporary run directory');
    assert.equal(linkExists(net.hostLink), false, 'the link to the node namespace');
    assert.deepEqual(safeList('/run/netns'), netnsBefore, 'netns');
    assert.equal(cgroupExists(net.cgroupName), false, 'cgroups');
    assert.deepEqual(symlinksInto('/var/log/containers', dir), [], '/var/log/containers links');
    assert.deepEqual(
      safeList('/var/lib/cni/results').filter((e) => e.startsWith(`${net.cniNetwork}-`)),
      [],
      'CNI cache',
    );
    const cniCache = safeList('/var/lib/cni/results');
    assert.deepEqual(
      sandboxes.filter((id) => cniCache.some((e) => e.includes(id))),
      [],
      'CNI loopback cache',
    );
    const rulesAfter = iptablesRules();
    assert.deepEqual(
      rulesAfter.filter((r) => r.includes(net.hostLink) || r.includes(net.subnet)),
      [],
      'our rules',
    );
    assert.deepEqual(rulesAfter, rulesBefore, 'host iptables as before');
    assert.equal(
      allClaims().some((c) => c.index === extra.instance),
      false,
      'instance claim released',
    );
    await assert.rejects(core.readNode({ name: extraName }), 'the Node object is deleted');
  });
});

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}
