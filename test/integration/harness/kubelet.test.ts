import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppsV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Container,
  type V1Job,
  type V1Node,
  type V1Pod,
  type V1PodSpec,
} from '@kubernetes/client-node';
import { ResourceWatcher } from '../../../src/kube/index.ts';
import { createLogger } from '../../../src/logging/index.ts';
import { kubectl } from '../../harness/kubectl.ts';
import {
  ImageDigests,
  normalizeImageRef,
  startHarnessKubelet,
  standInTrivyPath,
  type HarnessKubelet,
} from '../../harness/kubelet/index.ts';
import { rewritePaths, expandVars } from '../../harness/kubelet/containers.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { waitUntil } from '../../harness/waiting.ts';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/trivy-replay');
const alpineReport = path.join(fixtures, 'alpine-3.10.json');
const secretsReport = path.join(fixtures, 'alpine-3.10-with-secrets.json');
const NGINX_DIGEST = `sha256:${'a1'.repeat(32)}`;
const TRIVY_IMAGE = 'mirror.gcr.io/aquasec/trivy:0.72.0';
/** kube-controller-manager 1.34's --node-monitor-grace-period default (50 s) plus its 5 s monitor period. */
const NODE_HEALTH_WINDOW_MS = 60_000;

/** The harness's polling wait, at this file's pace. */
function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  return waitUntil(what, probe, timeoutMs, 200);
}

function jobCondition(job: V1Job): string | undefined {
  return job.status?.conditions?.find(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  )?.type;
}

/** Trivy-Operator's way of shipping a result through the pod log, undone. */
function decodeScanLog(log: string): unknown {
  const compressed = Buffer.from(log, 'base64');
  return JSON.parse(
    execFileSync('bzip2', ['-dc'], { input: compressed, maxBuffer: 256 * 1024 * 1024 }).toString('utf8'),
  );
}

describe('harness kubelet: pure helpers', () => {
  it('rewrites mount paths only at path boundaries, longest first, in one pass', () => {
    const map = new Map([
      ['/tmp', '/tmp/k/pods/u/volumes/tmp'],
      ['/tmp/scan', '/tmp/k/pods/u/volumes/scanresult'],
    ]);
    assert.equal(
      rewritePaths(
        "trivy --cache-dir /tmp/trivy > /tmp/scan/r.json && cat '/tmp/scan/r.json' /tmpx /var/tmp",
        map,
      ),
      "trivy --cache-dir /tmp/k/pods/u/volumes/tmp/trivy > /tmp/k/pods/u/volumes/scanresult/r.json && cat '/tmp/k/pods/u/volumes/scanresult/r.json' /tmpx /var/tmp",
    );
    assert.equal(rewritePaths('--output=/tmp', map), '--output=/tmp/k/pods/u/volumes/tmp');
  });

  it('expands $(VAR) like Kubernetes', () => {
    assert.equal(expandVars('a $(X) $(MISSING) $$(X) $$ $', { X: '1' }), 'a 1 $(MISSING) $(X) $ $');
  });

  it('gives every spelling of an image one digest, and the stand-in finds it by any spelling', () => {
    const digests = new ImageDigests({ 'nginx:1.16': NGINX_DIGEST });
    for (const ref of ['nginx:1.16', 'docker.io/library/nginx:1.16', 'index.docker.io/library/nginx:1.16']) {
      assert.equal(digests.digestOf(ref), NGINX_DIGEST);
    }
    assert.equal(digests.imageId('nginx:1.16', 'docker-pullable'), `docker-pullable://nginx@${NGINX_DIGEST}`);
    assert.equal(digests.imageId('nginx:1.16', 'containerd'), `docker.io/library/nginx@${NGINX_DIGEST}`);
    assert.equal(digests.digestOf('quay.io/org/app:1'), digests.digestOf('quay.io/org/app:1'));
    assert.notEqual(digests.digestOf('quay.io/org/app:1'), digests.digestOf('quay.io/org/app:2'));
    assert.equal(normalizeImageRef('localhost:5000/app'), 'localhost:5000/app:latest');
    assert.equal(normalizeImageRef('user/app@sha256:ab'), 'docker.io/user/app@sha256:ab');
  });
});

describe('harness kubelet against a real control plane', () => {
  let cluster: TestCluster;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let apps: AppsV1Api;
  let kubelet: HarnessKubelet;
  let namespace: string;
  let startedAt: number;
  let nodeWatcher: ResourceWatcher<V1Node>;
  const unhealthy: string[] = [];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'kubelet-test-'));
  const nodeNames = ['kubelet-test-1', 'kubelet-test-2'];

  before(async () => {
    cluster = await useTestCluster();
    kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    startedAt = Date.now();
    kubelet = await startHarnessKubelet(kc, {
      nodeNames,
      nodes: {
        'kubelet-test-2': {
          labels: { pool: 'dedicated' },
          taints: [{ key: 'dedicated', value: 'scans', effect: 'NoSchedule' }],
        },
      },
      imageDigests: { 'nginx:1.16': NGINX_DIGEST },
      trivy: {
        images: {
          'nginx:1.16': { report: alpineReport },
          'registry.example.com/team/private:2.0': {
            report: secretsReport,
            credentials: { username: 'robot', password: 's3cret' },
          },
          'garbage:1': { garbage: 'this is not JSON {' },
          'stuck:1': { hang: true },
        },
      },
      // Pods labelled run=true run their own commands; Trivy pods run with the stand-in.
      runner: (pod, standInTrivy) => (pod.metadata?.labels?.run === 'true' ? {} : standInTrivy(pod)),
      logger: createLogger('warn'),
    });
    // Everything the nodes go through from now on: the last test checks none of it was unhealthy.
    nodeWatcher = new ResourceWatcher<V1Node>(
      kc,
      {
        path: '/api/v1/nodes',
        labelSelector: 'kubernetes.io/hostname in (kubelet-test-1,kubelet-test-2)',
        log: createLogger('silent'),
      },
      {
        onEvent: (type, node) => {
          if (type === 'DELETED') return;
          const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
          const taints = (node.spec?.taints ?? []).filter((t) => t.key.startsWith('node.kubernetes.io/'));
          if (ready?.status !== 'True' || taints.length) {
            unhealthy.push(`${node.metadata?.name}: Ready=${ready?.status} taints=${JSON.stringify(taints)}`);
          }
        },
      },
    );
    nodeWatcher.start();
    await nodeWatcher.waitForSync();
    namespace = await cluster.createNamespace('kubelet');
  });

  after(async () => {
    await nodeWatcher?.stop();
    await kubelet?.stop();
    await cluster?.release();
    rmSync(tmp, { recursive: true, force: true });
  });

  const podOf = async (selector: string): Promise<V1Pod> =>
    eventually(`a pod for ${selector}`, async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: selector });
      return pods.items[0];
    });

  const waitForJob = (name: string, timeoutMs = 30_000) =>
    eventually(
      `job ${name} to finish`,
      async () => {
        const job = await batch.readNamespacedJob({ name, namespace });
        return jobCondition(job) ? job : undefined;
      },
      timeoutMs,
    );

  const runJob = async (name: string, spec: V1PodSpec, extra: Partial<V1Job['spec']> = {}) => {
    await batch.createNamespacedJob({
      namespace,
      body: {
        metadata: { name },
        spec: {
          backoffLimit: 0,
          ...extra,
          template: {
            metadata: { labels: { run: 'true', test: name } },
            spec: { restartPolicy: 'Never', ...spec },
          },
        },
      },
    });
    return waitForJob(name);
  };

  const log = (pod: string, container: string, extra: { tailLines?: number; limitBytes?: number } = {}) =>
    core.readNamespacedPodLog({ name: pod, namespace, container, ...extra });

  it('registers Ready nodes with addresses, the log port, capacity and labels, and renews their leases', async () => {
    const version = await kubectl(cluster.kubeconfigPath, ['version', '-o', 'json']);
    const serverVersion = (JSON.parse(version) as { serverVersion: { gitVersion: string } }).serverVersion
      .gitVersion;
    for (const name of nodeNames) {
      const node = await core.readNode({ name });
      assert.deepEqual(
        node.status?.addresses?.map((a) => ({ type: a.type, address: a.address })),
        [
          { type: 'InternalIP', address: '127.0.0.1' },
          { type: 'Hostname', address: name },
        ],
      );
      assert.equal(node.status?.daemonEndpoints?.kubeletEndpoint?.Port, kubelet.port);
      assert.deepEqual(
        {
          cpu: node.status?.capacity?.cpu,
          memory: node.status?.capacity?.memory,
          pods: node.status?.capacity?.pods,
        },
        { cpu: '8', memory: '32Gi', pods: '250' },
      );
      assert.equal(node.status?.allocatable?.pods, '250');
      assert.equal(node.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
      assert.equal(node.status?.nodeInfo?.kubeletVersion, serverVersion);
      assert.equal(node.metadata?.labels?.['kubernetes.io/os'], 'linux');
      assert.equal(node.metadata?.labels?.['kubernetes.io/arch'], 'amd64');
      assert.equal(node.metadata?.labels?.['kubernetes.io/hostname'], name);
    }
    const dedicated = await core.readNode({ name: 'kubelet-test-2' });
    assert.equal(dedicated.metadata?.labels?.pool, 'dedicated');
    assert.deepEqual(
      dedicated.spec?.taints?.map((t) => `${t.key}=${t.value}:${t.effect}`),
      ['dedicated=scans:NoSchedule'],
    );
    const lease = await kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: 'kubelet-test-1', namespace: 'kube-node-lease' });
    assert.equal(lease.spec?.holderIdentity, 'kubelet-test-1');
    assert.equal(lease.spec?.leaseDurationSeconds, 40);
  });

  it("runs a Job's pod; the Job controller completes it and its log reads back through the API server", async () => {
    const job = await runJob('hello', {
      containers: [
        {
          name: 'main',
          image: 'busybox:1.36',
          command: ['sh', '-c', 'echo hello; echo to-stderr >&2; exit 0'],
        },
      ],
    });
    assert.equal(jobCondition(job), 'Complete');
    const pod = await podOf('test=hello');
    assert.equal(pod.status?.phase, 'Succeeded');
    const status = pod.status?.containerStatuses?.[0];
    assert.equal(status?.state?.terminated?.exitCode, 0);
    assert.equal(status?.state?.terminated?.reason, 'Completed');
    assert.equal(status?.imageID, kubelet.imageId('busybox:1.36'));
    assert.match(status?.imageID ?? '', /^docker-pullable:\/\/busybox@sha256:[0-9a-f]{64}$/);
    const name = pod.metadata?.name ?? '';
    assert.equal(await log(name, 'main'), 'hello\nto-stderr\n');
    assert.equal(await log(name, 'main', { tailLines: 1 }), 'to-stderr\n');
    assert.equal(await log(name, 'main', { limitBytes: 3 }), 'hel');
    assert.equal(
      await kubectl(cluster.kubeconfigPath, ['-n', namespace, 'logs', name]),
      'hello\nto-stderr\n',
    );
  });

  it('follows the log of a running container until it ends', async () => {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'slow-printer', labels: { run: 'true' } },
        spec: {
          restartPolicy: 'Never',
          containers: [
            { name: 'main', image: 'busybox:1.36', command: ['sh', '-c', 'echo one; sleep 1; echo two'] },
          ],
        },
      },
    });
    await eventually('slow-printer running', async () => {
      const pod = await core.readNamespacedPod({ name: 'slow-printer', namespace });
      return pod.status?.containerStatuses?.[0]?.state?.running ? pod : undefined;
    });
    const followed = await kubectl(cluster.kubeconfigPath, ['-n', namespace, 'logs', '-f', 'slow-printer']);
    assert.equal(followed, 'one\ntwo\n');
  });

  it('fails the Job (backoffLimit 0) when the command fails, with exit code and termination message', async () => {
    const job = await runJob('failing', {
      containers: [
        {
          name: 'main',
          image: 'busybox:1.36',
          command: ['sh', '-c', 'echo about to fail; exit 3'],
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
      ],
    });
    assert.equal(jobCondition(job), 'Failed');
    assert.equal(job.status?.conditions?.find((c) => c.type === 'Failed')?.reason, 'BackoffLimitExceeded');
    const pod = await podOf('test=failing');
    assert.equal(pod.status?.phase, 'Failed');
    const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(terminated?.exitCode, 3);
    assert.equal(terminated?.reason, 'Error');
    assert.equal(terminated?.message, 'about to fail\n');
    assert.equal(await log(pod.metadata?.name ?? '', 'main'), 'about to fail\n');
  });

  it('resolves env from values, Secrets, ConfigMaps and the downward API, waits for a missing Secret, and shares emptyDirs', async () => {
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'settings' }, data: { severity: 'HIGH,CRITICAL', mode: 'fast' } },
    });
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'env-check', labels: { run: 'true' } },
        spec: {
          restartPolicy: 'Never',
          volumes: [{ name: 'shared', emptyDir: {} }],
          initContainers: [
            {
              name: 'writer',
              image: 'busybox:1.36',
              command: ['sh', '-c', 'echo "from init $(FIRST)" > /data/out.txt'],
              env: [{ name: 'FIRST', value: 'first' }],
              volumeMounts: [{ name: 'shared', mountPath: '/data' }],
            },
          ],
          containers: [
            {
              name: 'main',
              image: 'busybox:1.36',
              command: ['sh', '-c'],
              args: [
                'cat /data/out.txt; echo "$PLAIN|$EXPANDED|$SEVERITY|$PASSWORD|$POD|$CFG_mode|$OPTIONAL"',
              ],
              env: [
                { name: 'PLAIN', value: 'plain' },
                { name: 'EXPANDED', value: '$(PLAIN)-x' },
                { name: 'SEVERITY', valueFrom: { configMapKeyRef: { name: 'settings', key: 'severity' } } },
                { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'late-secret', key: 'password' } } },
                { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                {
                  name: 'OPTIONAL',
                  valueFrom: { configMapKeyRef: { name: 'absent', key: 'x', optional: true } },
                },
              ],
              envFrom: [{ prefix: 'CFG_', configMapRef: { name: 'settings' } }],
              volumeMounts: [{ name: 'shared', mountPath: '/data' }],
            },
          ],
        },
      },
    });
    const waiting = await eventually('the missing Secret to hold the container', async () => {
      const pod = await core.readNamespacedPod({ name: 'env-check', namespace });
      const state = pod.status?.containerStatuses?.[0]?.state?.waiting;
      return state?.reason === 'CreateContainerConfigError' ? state : undefined;
    });
    assert.match(waiting.message ?? '', /late-secret/);
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'late-secret' }, stringData: { password: 'hunter2' } },
    });
    await eventually('env-check to succeed', async () => {
      const pod = await core.readNamespacedPod({ name: 'env-check', namespace });
      return pod.status?.phase === 'Succeeded' ? pod : undefined;
    });
    assert.equal(
      await log('env-check', 'main'),
      'from init first\nplain|plain-x|HIGH,CRITICAL|hunter2|env-check|fast|\n',
    );
  });

  it('reports workload pods Running with the chosen image digests; the Deployment becomes available', async () => {
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              initContainers: [{ name: 'setup', image: 'busybox:1.36', command: ['true'] }],
              containers: [
                { name: 'nginx', image: 'nginx:1.16' },
                { name: 'sidecar', image: 'quay.io/org/agent:3' },
              ],
            },
          },
        },
      },
    });
    await eventually('the Deployment to become available', async () => {
      const deployment = await apps.readNamespacedDeployment({ name: 'web', namespace });
      const available = deployment.status?.conditions?.find((c) => c.type === 'Available')?.status === 'True';
      return available && deployment.status?.availableReplicas === 2 ? deployment : undefined;
    });
    const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=web' });
    assert.equal(pods.items.length, 2);
    for (const pod of pods.items) {
      assert.equal(pod.status?.phase, 'Running');
      assert.ok(nodeNames.includes(pod.spec?.nodeName ?? ''));
      assert.equal(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
      const ids = Object.fromEntries((pod.status?.containerStatuses ?? []).map((s) => [s.name, s.imageID]));
      assert.deepEqual(ids, {
        nginx: `docker-pullable://nginx@${NGINX_DIGEST}`,
        sidecar: kubelet.imageId('quay.io/org/agent:3'),
      });
      assert.match(ids.sidecar ?? '', /^docker-pullable:\/\/quay\.io\/org\/agent@sha256:[0-9a-f]{64}$/);
      assert.equal(pod.status?.initContainerStatuses?.[0]?.state?.terminated?.reason, 'Completed');
      assert.equal(pod.spec?.nodeName === 'kubelet-test-2', false, 'the tainted node takes no ordinary pods');
    }
    // The same image under another spelling is the same image.
    assert.equal(kubelet.imageId('docker.io/library/nginx:1.16'), `docker-pullable://nginx@${NGINX_DIGEST}`);
  });

  it('replays recorded Trivy JSON through a Trivy-Operator-shaped scan Job (`trivy … | bzip2 | base64`)', async () => {
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'trivy-config' }, data: { 'trivy.severity': 'MEDIUM,HIGH,CRITICAL' } },
    });
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 'scan-regcred' },
        stringData: { 'private.username': 'robot', 'private.password': 's3cret' },
      },
    });
    const scanCommand = (image: string, container: string) =>
      [
        `trivy image --slow '${image}' --scanners vuln,secret --image-config-scanners secret --skip-db-update`,
        `--cache-dir /tmp/trivy/.cache --quiet --format json --output /tmp/scan/result_${container}.json`,
        `2>/tmp/scan/result_${container}.json.log; rc=$?;`,
        `if [ $rc -eq 1 ]; then cat /tmp/scan/result_${container}.json.log;`,
        `else bzip2 -c /tmp/scan/result_${container}.json | base64; fi; exit $rc`,
      ].join(' ');
    const scanContainer = (container: string, image: string, env: V1Container['env'] = []): V1Container => ({
      name: container,
      image: TRIVY_IMAGE,
      command: ['/bin/sh'],
      args: ['-c', scanCommand(image, container)],
      env: [
        {
          name: 'TRIVY_SEVERITY',
          valueFrom: { configMapKeyRef: { name: 'trivy-config', key: 'trivy.severity', optional: true } },
        },
        {
          name: 'TRIVY_IGNORE_UNFIXED',
          valueFrom: {
            configMapKeyRef: { name: 'trivy-config', key: 'trivy.ignoreUnfixed', optional: true },
          },
        },
        ...env,
      ],
      securityContext: {
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      },
      volumeMounts: [
        { name: 'tmp', mountPath: '/tmp' },
        { name: 'scanresult', mountPath: '/tmp/scan' },
      ],
    });
    await batch.createNamespacedJob({
      namespace,
      body: {
        metadata: { name: 'scan-vulnerabilityreport-abc' },
        spec: {
          backoffLimit: 0,
          activeDeadlineSeconds: 300,
          template: {
            metadata: { labels: { test: 'scan' } },
            spec: {
              restartPolicy: 'Never',
              automountServiceAccountToken: false,
              affinity: {
                nodeAffinity: {
                  requiredDuringSchedulingIgnoredDuringExecution: {
                    nodeSelectorTerms: [
                      { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] },
                    ],
                  },
                },
              },
              volumes: [
                { name: 'tmp', emptyDir: {} },
                { name: 'scanresult', emptyDir: {} },
              ],
              initContainers: [
                {
                  name: 'download-db',
                  image: TRIVY_IMAGE,
                  args: [
                    '--cache-dir',
                    '/tmp/trivy/.cache',
                    'image',
                    '--download-db-only',
                    '--db-repository',
                    'mirror.gcr.io/aquasec/trivy-db',
                  ],
                  volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
                },
              ],
              containers: [
                scanContainer('nginx', 'nginx:1.16'),
                scanContainer('private', 'registry.example.com/team/private:2.0', [
                  {
                    name: 'TRIVY_USERNAME',
                    valueFrom: { secretKeyRef: { name: 'scan-regcred', key: 'private.username' } },
                  },
                  {
                    name: 'TRIVY_PASSWORD',
                    valueFrom: { secretKeyRef: { name: 'scan-regcred', key: 'private.password' } },
                  },
                ]),
              ],
            },
          },
        },
      },
    });
    const job = await waitForJob('scan-vulnerabilityreport-abc');
    assert.equal(jobCondition(job), 'Complete');
    const pod = await podOf('test=scan');
    const podName = pod.metadata?.name ?? '';
    assert.match(
      pod.status?.containerStatuses?.[0]?.imageID ?? '',
      /^docker-pullable:\/\/mirror\.gcr\.io\/aquasec\/trivy@sha256:/,
    );

    type Report = {
      ArtifactName: string;
      Metadata: { RepoDigests: string[] };
      Results: { Target: string; Vulnerabilities?: { Severity: string }[]; Secrets?: unknown[] }[];
    };
    const nginx = decodeScanLog(await log(podName, 'nginx')) as Report;
    assert.equal(nginx.ArtifactName, 'nginx:1.16');
    assert.deepEqual(nginx.Metadata.RepoDigests, [`nginx@${NGINX_DIGEST}`]);
    assert.equal(nginx.Results[0]?.Target, 'nginx:1.16 (alpine 3.10.2)');
    assert.equal(nginx.Results[0]?.Vulnerabilities?.length, 4);

    const priv = decodeScanLog(await log(podName, 'private')) as Report;
    assert.equal(priv.ArtifactName, 'registry.example.com/team/private:2.0');
    assert.equal(
      priv.Metadata.RepoDigests[0],
      `registry.example.com/team/private@${kubelet.digests.digestOf('registry.example.com/team/private:2.0')}`,
    );
    // The ConfigMap's severities were applied: this recording's vulnerabilities carry no Severity
    // (UNKNOWN), which MEDIUM,HIGH,CRITICAL leaves out; its secrets are HIGH and CRITICAL.
    assert.equal(priv.Results.flatMap((r) => r.Vulnerabilities ?? []).length, 0);
    assert.equal(priv.Results[0]?.Target, 'registry.example.com/team/private:2.0 (alpine 3.10.2)');
    assert.equal(priv.Results.filter((r) => r.Secrets?.length).length, 2);

    const runs = kubelet.trivy.invocations();
    assert.ok(runs.some((r) => r.outcome === 'db-downloaded'));
    const privateRun = runs.find((r) => r.image === 'registry.example.com/team/private:2.0');
    assert.equal(privateRun?.outcome, 'replayed');
    assert.equal(privateRun?.env.TRIVY_USERNAME, 'robot');
  });

  it('fails scans like Trivy: unknown image, refused credentials, garbage output', async () => {
    const trivy = (name: string, image: string): V1Container => ({
      name,
      image: TRIVY_IMAGE,
      command: ['sh', '-c', `trivy image '${image}' --quiet --format json`],
    });
    const job = await runJob('scan-failures', {
      containers: [
        trivy('unknown', 'nothing-recorded:1'),
        trivy('denied', 'registry.example.com/team/private:2.0'),
        trivy('garbage', 'garbage:1'),
      ],
    });
    assert.equal(jobCondition(job), 'Failed');
    const pod = await podOf('test=scan-failures');
    const name = pod.metadata?.name ?? '';
    const exits = Object.fromEntries(
      (pod.status?.containerStatuses ?? []).map((s) => [s.name, s.state?.terminated?.exitCode]),
    );
    assert.deepEqual(exits, { unknown: 1, denied: 1, garbage: 0 });
    assert.match(
      await log(name, 'unknown'),
      /FATAL.*unable to find the specified image "nothing-recorded:1"/,
    );
    assert.match(await log(name, 'denied'), /UNAUTHORIZED: authentication required/);
    assert.equal(await log(name, 'garbage'), 'this is not JSON {');
  });

  it('kills a hung scan when the Job runs past activeDeadlineSeconds', async () => {
    const before = kubelet.processCount();
    await batch.createNamespacedJob({
      namespace,
      body: {
        metadata: { name: 'stuck-scan' },
        spec: {
          backoffLimit: 0,
          activeDeadlineSeconds: 3,
          template: {
            metadata: { labels: { test: 'stuck' } },
            spec: {
              restartPolicy: 'Never',
              containers: [
                {
                  name: 'scan',
                  image: TRIVY_IMAGE,
                  command: ['sh', '-c', "trivy image 'stuck:1' -q -f json | bzip2 | base64"],
                },
              ],
            },
          },
        },
      },
    });
    await eventually('the stuck scan to run', async () =>
      kubelet.processCount() > before ? true : undefined,
    );
    const job = await waitForJob('stuck-scan', 40_000);
    assert.equal(jobCondition(job), 'Failed');
    assert.equal(job.status?.conditions?.find((c) => c.type === 'Failed')?.reason, 'DeadlineExceeded');
    await eventually('the stuck pod to be gone', async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: 'test=stuck' });
      return pods.items.length === 0 ? true : undefined;
    });
    assert.equal(kubelet.processCount(), before);
    assert.ok(kubelet.trivy.invocations().some((r) => r.outcome === 'hang' && r.image === 'stuck:1'));
  });

  it('kills the process and removes the pod when a running pod is deleted', async () => {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'sleeper', labels: { run: 'true' } },
        spec: { containers: [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '300'] }] },
      },
    });
    await eventually('sleeper running', async () => {
      const pod = await core.readNamespacedPod({ name: 'sleeper', namespace });
      return pod.status?.containerStatuses?.[0]?.state?.running ? pod : undefined;
    });
    const running = kubelet.processCount();
    assert.ok(running > 0);
    await core.deleteNamespacedPod({ name: 'sleeper', namespace });
    await eventually(
      'sleeper to be gone',
      async () => {
        const pods = await core.listNamespacedPod({ namespace, fieldSelector: 'metadata.name=sleeper' });
        return pods.items.length === 0 ? true : undefined;
      },
      15_000,
    );
    assert.equal(kubelet.processCount(), running - 1);
  });

  it('runs pods on a tainted node when they tolerate it', async () => {
    const job = await runJob('on-dedicated', {
      containers: [{ name: 'main', image: 'busybox:1.36', command: ['sh', '-c', 'echo dedicated'] }],
      nodeSelector: { pool: 'dedicated' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'scans', effect: 'NoSchedule' }],
    });
    assert.equal(jobCondition(job), 'Complete');
    const pod = await podOf('test=on-dedicated');
    assert.equal(pod.spec?.nodeName, 'kubelet-test-2');
    assert.equal(await log(pod.metadata?.name ?? '', 'main'), 'dedicated\n');
  });

  it('streams tens of MB of log through the API server', async () => {
    // A big recording, replayed as `trivy … | base64` (no bzip2, so the log stays big).
    const big = JSON.parse(readFileSync(alpineReport, 'utf8')) as {
      Results: { Vulnerabilities: Record<string, unknown>[] }[];
    };
    const template = big.Results[0]?.Vulnerabilities[0] ?? {};
    const vulnerabilities = Array.from({ length: 6_000 }, (_, i) => ({
      ...template,
      VulnerabilityID: `CVE-2099-${i}`,
    }));
    big.Results[0] = { ...big.Results[0], Vulnerabilities: vulnerabilities };
    const bigFile = path.join(tmp, 'big.json');
    writeFileSync(bigFile, JSON.stringify(big));
    kubelet.trivy.setImage('big:1', { report: bigFile });

    // What the stand-in prints for it, run right here, to compare with what comes back.
    const expected = execFileSync(standInTrivyPath, ['image', 'big:1', '-q', '-f', 'json'], {
      env: { ...process.env, STAND_IN_TRIVY_CONFIG: kubelet.trivy.configFile },
      maxBuffer: 256 * 1024 * 1024,
    });
    assert.ok(expected.length > 20 * 1024 * 1024, `expected > 20 MB of JSON, got ${expected.length}`);

    const job = await runJob('big-log', {
      containers: [
        {
          name: 'scan',
          image: TRIVY_IMAGE,
          command: ['sh', '-c', "trivy image 'big:1' -q -f json | base64"],
        },
      ],
    });
    assert.equal(jobCondition(job), 'Complete');
    const pod = await podOf('test=big-log');
    const text = await log(pod.metadata?.name ?? '', 'scan');
    assert.ok(text.length > 27 * 1024 * 1024, `log of ${text.length} bytes`);
    const decoded = Buffer.from(text, 'base64');
    assert.equal(
      createHash('sha256').update(decoded).digest('hex'),
      createHash('sha256').update(expected).digest('hex'),
    );
  });

  it('keeps the nodes Ready through the node lifecycle controller grace period', async () => {
    // Only the lease and heartbeat keep a node Ready; the controller gives up after 50 s without them.
    const remaining = startedAt + NODE_HEALTH_WINDOW_MS - Date.now();
    if (remaining > 0) await sleep(remaining);
    await sleep(1_000); // one more watch event round-trip
    assert.deepEqual(unhealthy, []);
    const coordination = kc.makeApiClient(CoordinationV1Api);
    for (const name of nodeNames) {
      const node = await core.readNode({ name });
      assert.equal(node.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
      assert.deepEqual(
        (node.spec?.taints ?? []).filter((t) => t.key.startsWith('node.kubernetes.io/')),
        [],
      );
      const lease = await coordination.readNamespacedLease({ name, namespace: 'kube-node-lease' });
      const renewed = new Date(lease.spec?.renewTime ?? 0).getTime();
      assert.ok(Date.now() - renewed < 15_000, `lease of ${name} renewed ${Date.now() - renewed} ms ago`);
    }
  });
});
