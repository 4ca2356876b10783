import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../src/config/index.ts';
import { buildScanJob, matchesRegistry, withRegistryMirror } from '../../../src/scanning/job-manifest.ts';
import { scanJobName } from '../../../src/scanning/names.ts';

const noFile = () => {
  throw new Error('no file');
};
const config = (env: Record<string, string> = {}) =>
  loadConfig({ OPERATOR_NAMESPACE: 'trivy-system', ...env }, noFile);
const input = {
  imageKey: 'ghcr.io/acme/api@sha256:' + 'a'.repeat(64),
  imageRef: 'ghcr.io/acme/api@sha256:' + 'a'.repeat(64),
  registryHost: 'ghcr.io',
};

describe('buildScanJob', () => {
  it('builds one locked-down Job per image, named from the image key, with the timeout as deadline', () => {
    const { job, secret } = buildScanJob(config({ OPERATOR_SCAN_JOB_TIMEOUT: '7m' }), input);
    assert.equal(job.metadata?.name, scanJobName(input.imageKey));
    assert.equal(job.metadata?.namespace, 'trivy-system');
    assert.equal(job.spec?.backoffLimit, 0);
    assert.equal(job.spec?.activeDeadlineSeconds, 420);
    const pod = job.spec!.template.spec!;
    assert.equal(pod.restartPolicy, 'Never');
    assert.equal(pod.automountServiceAccountToken, false);
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
      assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
      assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
      assert.equal(c.securityContext?.runAsNonRoot, true);
      assert.equal(c.securityContext?.seccompProfile?.type, 'RuntimeDefault');
      assert.equal(c.image, 'mirror.gcr.io/aquasec/trivy:0.72.0');
    }
    assert.equal(secret, undefined, 'nothing secret, no Secret');
  });

  it('downloads the DB in an init container in Standalone mode and skips the update in the scan', () => {
    const { job } = buildScanJob(
      config({
        OPERATOR_TRIVY_DB_REPOSITORY: 'registry.internal/trivy-db',
        OPERATOR_TRIVY_DB_REPOSITORY_INSECURE: 'true',
      }),
      input,
    );
    const init = job.spec!.template.spec!.initContainers![0]!;
    assert.deepEqual(init.args?.slice(0, 3), ['image', '--download-db-only', '--db-repository']);
    assert.ok(init.args?.includes('registry.internal/trivy-db'));
    assert.ok(init.args?.includes('--insecure'));
    assert.ok(job.spec!.template.spec!.containers[0]!.args?.includes('--skip-db-update'));
  });

  it('puts the server token and custom headers in the per-Job Secret in ClientServer mode, never in the spec', () => {
    const { job, secret } = buildScanJob(
      config({
        OPERATOR_TRIVY_MODE: 'ClientServer',
        OPERATOR_TRIVY_SERVER_URL: 'http://trivy.trivy-system:4954',
        OPERATOR_TRIVY_SERVER_TOKEN: 's3cret',
        OPERATOR_TRIVY_SERVER_CUSTOM_HEADERS: 'X-Api-Key:k3y',
      }),
      { ...input, credentials: { username: 'robot', password: 'pw' } },
    );
    const spec = JSON.stringify(job);
    for (const secretValue of ['s3cret', 'k3y', 'robot', 'pw"'])
      assert.ok(!spec.includes(secretValue), `${secretValue} not in the Job`);
    assert.deepEqual(secret?.stringData, {
      username: 'robot',
      password: 'pw',
      token: 's3cret',
      customHeaders: 'X-Api-Key:k3y',
    });
    const scan = job.spec!.template.spec!.containers[0]!;
    assert.ok(scan.args?.includes('--server'));
    assert.equal(job.spec!.template.spec!.initContainers?.length, 0, 'no DB download with a server');
    const env = Object.fromEntries(
      (scan.env ?? []).map((e) => [e.name, e.valueFrom?.secretKeyRef?.key ?? e.value]),
    );
    assert.equal(env.TRIVY_TOKEN, 'token');
    assert.equal(env.TRIVY_USERNAME, 'username');
  });

  it('sets insecure / non-SSL only for the listed registries, and passes severity and ignore-unfixed', () => {
    const cfg = config({
      OPERATOR_TRIVY_INSECURE_REGISTRIES: 'ghcr.io',
      OPERATOR_TRIVY_NON_SSL_REGISTRIES: 'registry.local:5000',
      OPERATOR_TRIVY_SEVERITY: 'HIGH,CRITICAL',
      OPERATOR_TRIVY_IGNORE_UNFIXED: 'true',
    });
    const env = (host: string) =>
      Object.fromEntries(
        (
          buildScanJob(cfg, { ...input, registryHost: host }).job.spec!.template.spec!.containers[0]!.env ??
          []
        ).map((e) => [e.name, e.value]),
      );
    assert.equal(env('ghcr.io').TRIVY_INSECURE, 'true');
    assert.equal(env('ghcr.io').TRIVY_NON_SSL, undefined);
    assert.equal(env('registry.local:5000').TRIVY_NON_SSL, 'true');
    assert.equal(env('ghcr.io').TRIVY_SEVERITY, 'HIGH,CRITICAL');
    assert.equal(env('ghcr.io').TRIVY_IGNORE_UNFIXED, 'true');
  });

  it('mounts the ignore file from the Secret and points Trivy at it', () => {
    const { job, secret } = buildScanJob(config({ OPERATOR_TRIVY_IGNORE_FILE: 'CVE-2023-0001' }), input);
    assert.equal(secret?.stringData?.trivyignore, 'CVE-2023-0001');
    const scan = job.spec!.template.spec!.containers[0]!;
    assert.ok(scan.args?.join(' ').includes('--ignorefile /etc/trivy-lookout/trivyignore'));
    assert.ok(scan.volumeMounts?.some((m) => m.mountPath === '/etc/trivy-lookout' && m.readOnly));
  });
});

describe("buildScanJob with Trivy-Operator's scan-Job settings", () => {
  it('adds scanJobAnnotations to the Job and its pods, scanJobPodTemplateLabels to its pods and the priority class; the operator keeps its own keys', () => {
    const { job } = buildScanJob(
      config({
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_ANNOTATIONS: 'team=security,trivy-lookout.dev/image-key=spoofed',
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_POD_TEMPLATE_LABELS:
          'sidecar.istio.io/inject=false,app.kubernetes.io/managed-by=someone',
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_POD_PRIORITY_CLASS_NAME: 'scans',
      }),
      input,
    );
    const plain = buildScanJob(config(), input).job;
    assert.equal(job.metadata?.annotations?.team, 'security');
    assert.equal(job.spec?.template.metadata?.annotations?.team, 'security');
    // The operator's own annotations and labels win over the user's.
    for (const [key, value] of Object.entries(plain.metadata?.annotations ?? {}))
      assert.equal(job.metadata?.annotations?.[key], value, key);
    assert.equal(job.spec?.template.metadata?.labels?.['sidecar.istio.io/inject'], 'false');
    for (const [key, value] of Object.entries(plain.spec?.template.metadata?.labels ?? {}))
      assert.equal(job.spec?.template.metadata?.labels?.[key], value, key);
    assert.equal(job.spec?.template.spec?.priorityClassName, 'scans');
    assert.equal(plain.spec?.template.spec?.priorityClassName, undefined);
    assert.equal(plain.spec?.template.metadata?.annotations, undefined);
  });

  it('refuses a malformed label at start-up, naming the setting', () => {
    assert.throws(
      () => config({ OPERATOR_TRIVY_OPERATOR_SCAN_JOB_POD_TEMPLATE_LABELS: 'bad label=x' }),
      /OPERATOR_TRIVY_OPERATOR_SCAN_JOB_POD_TEMPLATE_LABELS/,
    );
  });
});

describe("buildScanJob with Trivy-Operator's pod-template settings", () => {
  it('replaces affinity and both security contexts when set, and adds custom volumes mounted into every container', () => {
    const affinity = { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } };
    const { job } = buildScanJob(
      config({
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_AFFINITY: JSON.stringify(affinity),
        // Go's JSON matches field names in any case: Trivy-Operator's own values comment says RunAsUser.
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_POD_TEMPLATE_POD_SECURITY_CONTEXT:
          '{"RunAsUser":10000,"runAsNonRoot":true}',
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_POD_TEMPLATE_CONTAINER_SECURITY_CONTEXT:
          '{"readOnlyRootFilesystem":true}',
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_CUSTOM_VOLUMES: '[{"name":"ca","configMap":{"name":"corp-ca"}}]',
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_CUSTOM_VOLUMES_MOUNT: '[{"name":"ca","mountPath":"/etc/ssl/corp"}]',
      }),
      input,
    );
    const pod = job.spec!.template.spec!;
    assert.deepEqual(pod.affinity, affinity);
    assert.deepEqual(pod.securityContext, { runAsUser: 10000, runAsNonRoot: true });
    assert.deepEqual(
      pod.volumes?.find((v) => v.name === 'ca'),
      { name: 'ca', configMap: { name: 'corp-ca' } },
    );
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      assert.deepEqual(c.securityContext, { readOnlyRootFilesystem: true }, c.name);
      assert.ok(
        c.volumeMounts?.some((m) => m.name === 'ca' && m.mountPath === '/etc/ssl/corp'),
        c.name,
      );
    }
  });

  it('treats `{}` and `[]` (Trivy-Operator values defaults) as unset', () => {
    const plain = buildScanJob(config(), input).job;
    const { job } = buildScanJob(
      config({
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_AFFINITY: '{}',
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_POD_TEMPLATE_POD_SECURITY_CONTEXT: '{}',
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_CUSTOM_VOLUMES: '[]',
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_CUSTOM_VOLUMES_MOUNT: '[]',
      }),
      input,
    );
    assert.deepEqual(job, plain);
  });

  it("with only a container context (Trivy-Operator's values file), uses its pod default {} so an image running as root may start", () => {
    // In: the container context from Trivy-Operator v0.32.0's values.yaml, which names no user.
    // Out: no pod-level runAsNonRoot, which the kubelet would hold against the root Trivy image.
    const { job } = buildScanJob(
      config({
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_POD_TEMPLATE_CONTAINER_SECURITY_CONTEXT:
          '{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"privileged":false,"readOnlyRootFilesystem":true}',
      }),
      input,
    );
    assert.deepEqual(job.spec?.template.spec?.securityContext, {});
  });

  it("refuses custom volumes and mounts that collide with each other or with the pod's own", () => {
    const volumes = (v: unknown[]) => ({
      OPERATOR_TRIVY_OPERATOR_SCAN_JOB_CUSTOM_VOLUMES: JSON.stringify(v),
    });
    assert.throws(() => config(volumes([{ name: 'tmp', emptyDir: {} }])), /"tmp" repeated, or taken/);
    assert.throws(
      () =>
        config(
          volumes([
            { name: 'ca', emptyDir: {} },
            { name: 'ca', emptyDir: {} },
          ]),
        ),
      /"ca" repeated/,
    );
    assert.throws(
      () =>
        config({
          ...volumes([{ name: 'ca', emptyDir: {} }]),
          OPERATOR_TRIVY_OPERATOR_SCAN_JOB_CUSTOM_VOLUMES_MOUNT: '[{"name":"ca","mountPath":"/tmp/ca"}]',
        }),
      /"\/tmp\/ca" repeated, or taken/,
    );
    assert.throws(
      () =>
        config({
          OPERATOR_TRIVY_OPERATOR_SCAN_JOB_CUSTOM_VOLUMES_MOUNT: '[{"name":"ssl-cert-dir","mountPath":"/x"}]',
        }),
      /name no volume/,
    );
  });

  it('refuses at start-up an unknown security-context field, a volume without source and a mount of no volume', () => {
    assert.throws(
      () =>
        config({
          OPERATOR_TRIVY_OPERATOR_SCAN_JOB_POD_TEMPLATE_CONTAINER_SECURITY_CONTEXT: '{"runAsUserr":1}',
        }),
      /OPERATOR_TRIVY_OPERATOR_SCAN_JOB_POD_TEMPLATE_CONTAINER_SECURITY_CONTEXT.*unknown field "runAsUserr"/,
    );
    assert.throws(
      () => config({ OPERATOR_TRIVY_OPERATOR_SCAN_JOB_CUSTOM_VOLUMES: '[{"name":"ca"}]' }),
      /OPERATOR_TRIVY_OPERATOR_SCAN_JOB_CUSTOM_VOLUMES.*no source/,
    );
    assert.throws(
      () =>
        config({ OPERATOR_TRIVY_OPERATOR_SCAN_JOB_CUSTOM_VOLUMES_MOUNT: '[{"name":"ca","mountPath":"/x"}]' }),
      /mounts "ca" name no volume/,
    );
  });
});

describe("buildScanJob with Trivy-Operator's trivy.* scan options", () => {
  it("passes slow, vulnType, skipJavaDBUpdate, skip files/dirs and offline scan as Trivy-Operator does, in today's flag names", () => {
    const { job } = buildScanJob(
      config({
        OPERATOR_TRIVY_SLOW: 'true',
        OPERATOR_TRIVY_VULN_TYPE: 'os',
        OPERATOR_TRIVY_SKIP_JAVA_DB_UPDATE: 'true',
        OPERATOR_TRIVY_SKIP_FILES: '/app/Gemfile.lock,/bin/x',
        OPERATOR_TRIVY_SKIP_DIRS: '/usr/lib/ruby',
        OPERATOR_TRIVY_OFFLINE_SCAN: 'true',
      }),
      input,
    );
    const scan = job.spec!.template.spec!.containers[0]!;
    const args = scan.args ?? [];
    assert.deepEqual(args.slice(args.indexOf('--parallel'), args.indexOf('--parallel') + 2), [
      '--parallel',
      '1',
    ]);
    assert.deepEqual(args.slice(args.indexOf('--pkg-types'), args.indexOf('--pkg-types') + 2), [
      '--pkg-types',
      'os',
    ]);
    assert.ok(args.includes('--skip-java-db-update'));
    const env = Object.fromEntries((scan.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env.TRIVY_SKIP_FILES, '/app/Gemfile.lock,/bin/x');
    assert.equal(env.TRIVY_SKIP_DIRS, '/usr/lib/ruby');
    assert.equal(env.TRIVY_OFFLINE_SCAN, 'true');
    const plain = buildScanJob(config({ OPERATOR_TRIVY_SLOW: 'false' }), input).job.spec!.template.spec!
      .containers[0]!;
    for (const flag of ['--parallel', '--pkg-types', '--skip-java-db-update'])
      assert.ok(!plain.args?.includes(flag), flag);
  });

  it('gives proxies and the node CA directory to every container, proxies through the Secret', () => {
    const { job, secret } = buildScanJob(
      config({
        OPERATOR_TRIVY_HTTP_PROXY: 'http://user:pw@proxy:3128',
        OPERATOR_TRIVY_HTTPS_PROXY: 'http://user:pw@proxy:3128',
        OPERATOR_TRIVY_NO_PROXY: '.cluster.local',
        OPERATOR_TRIVY_SSL_CERT_DIR: '/etc/corp-ca',
      }),
      input,
    );
    const pod = job.spec!.template.spec!;
    assert.deepEqual(
      pod.volumes?.find((v) => v.name === 'ssl-cert-dir'),
      { name: 'ssl-cert-dir', hostPath: { path: '/etc/corp-ca' } },
    );
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      const env = new Map((c.env ?? []).map((e) => [e.name, e]));
      assert.equal(env.get('HTTP_PROXY')?.valueFrom?.secretKeyRef?.key, 'httpProxy', c.name);
      assert.equal(env.get('HTTP_PROXY')?.value, undefined, 'no credentials in the pod spec');
      assert.equal(env.get('NO_PROXY')?.value, '.cluster.local');
      assert.equal(env.get('SSL_CERT_DIR')?.value, '/var/ssl-cert');
      assert.ok(
        c.volumeMounts?.some((m) => m.name === 'ssl-cert-dir' && m.readOnly),
        c.name,
      );
    }
    assert.equal(secret?.stringData?.httpProxy, 'http://user:pw@proxy:3128');
  });

  it("logs in to the DB repository's registry first when given credentials, and all containers share that login", () => {
    const { job, secret } = buildScanJob(
      config({
        OPERATOR_TRIVY_DB_REPOSITORY: 'registry.corp:5000/mirror/trivy-db',
        OPERATOR_TRIVY_DB_REPOSITORY_USERNAME: 'db-user',
        OPERATOR_TRIVY_DB_REPOSITORY_PASSWORD: 'db-secret',
      }),
      input,
    );
    const pod = job.spec!.template.spec!;
    const [login, download] = pod.initContainers ?? [];
    assert.equal(login?.name, 'registry-login');
    assert.deepEqual(login?.args, ['registry', 'login', 'registry.corp:5000']);
    const loginEnv = new Map((login?.env ?? []).map((e) => [e.name, e]));
    assert.equal(loginEnv.get('TRIVY_USERNAME')?.valueFrom?.secretKeyRef?.key, 'dbRepositoryUsername');
    assert.equal(download?.name, 'download-db');
    for (const c of [login!, download!, pod.containers[0]!])
      assert.equal(c.env?.find((e) => e.name === 'DOCKER_CONFIG')?.value, '/tmp/.docker', c.name);
    // The scan container's TRIVY_USERNAME is the image registry's, never the DB's.
    assert.equal(
      pod.containers[0]!.env?.find((e) => e.name === 'TRIVY_USERNAME'),
      undefined,
    );
    assert.equal(secret?.stringData?.dbRepositoryPassword, 'db-secret');
  });

  it('refuses a DB user without a password at start-up', () => {
    assert.throws(
      () => config({ OPERATOR_TRIVY_DB_REPOSITORY_USERNAME: 'db-user' }),
      /OPERATOR_TRIVY_DB_REPOSITORY_PASSWORD \(trivy.dbRepositoryPassword\): is required/,
    );
  });

  it('mounts trivy.configFile and passes --config; sets the pull policy and pull Secret of the Trivy image', () => {
    const { job, secret } = buildScanJob(
      config({
        OPERATOR_TRIVY_CONFIG_FILE: 'registry:\n  mirrors:\n    index.docker.io: [mirror.corp]\n',
        OPERATOR_TRIVY_IMAGE_PULL_POLICY: 'Always',
        OPERATOR_TRIVY_IMAGE_PULL_SECRET: 'trivy-pull',
      }),
      input,
    );
    const pod = job.spec!.template.spec!;
    const scan = pod.containers[0]!;
    const args = scan.args ?? [];
    assert.equal(args[args.indexOf('--config') + 1], '/etc/trivy/trivy-config.yaml');
    assert.ok(scan.volumeMounts?.some((m) => m.mountPath === '/etc/trivy/trivy-config.yaml'));
    assert.match(secret?.stringData?.trivyConfig ?? '', /mirrors/);
    assert.deepEqual(pod.imagePullSecrets, [{ name: 'trivy-pull' }]);
    for (const c of [...(pod.initContainers ?? []), ...pod.containers])
      assert.equal(c.imagePullPolicy, 'Always');
  });

  it('skips the DB update in ClientServer mode only with clientServerSkipUpdate', () => {
    const env = { OPERATOR_TRIVY_MODE: 'ClientServer', OPERATOR_TRIVY_SERVER_URL: 'http://trivy:4954' };
    const plain = buildScanJob(config(env), input).job.spec!.template.spec!.containers[0]!;
    assert.ok(!plain.args?.includes('--skip-db-update'));
    const skip = buildScanJob(config({ ...env, OPERATOR_TRIVY_CLIENT_SERVER_SKIP_UPDATE: 'true' }), input).job
      .spec!.template.spec!.containers[0]!;
    assert.ok(skip.args?.includes('--skip-db-update'));
  });
});

describe('buildScanJob with trivy.command filesystem or rootfs', () => {
  const node = { ...input, node: 'worker-3' };
  it('runs the copied Trivy inside the image on the workload node, then prints the result from the Trivy image', () => {
    const { job, secret } = buildScanJob(
      config({ OPERATOR_TRIVY_COMMAND: 'rootfs', OPERATOR_TRIVY_SKIP_DIRS: '/opt/big' }),
      { ...node, credentials: { username: 'u', password: 'p' } },
    );
    const pod = job.spec!.template.spec!;
    assert.equal(pod.nodeName, 'worker-3');
    assert.equal(pod.nodeSelector, undefined);
    assert.deepEqual(
      pod.initContainers?.map((c) => c.name),
      ['download-db', 'copy-trivy', 'scan-filesystem'],
    );
    const fs = pod.initContainers![2]!;
    assert.equal(fs.image, input.imageRef, 'the workload image itself');
    assert.equal(fs.imagePullPolicy, 'IfNotPresent');
    assert.deepEqual(fs.command, ['/var/trivy-lookout/bin/trivy']);
    assert.equal(fs.args?.[0], 'rootfs');
    assert.equal(fs.args?.at(-1), '/');
    assert.ok(!fs.args?.includes('--image-src'));
    assert.equal(
      fs.args?.[fs.args.indexOf('--skip-dirs') + 1],
      '/var/trivy-lookout,/proc,/sys,/dev,/opt/big',
    );
    assert.ok(fs.volumeMounts?.some((m) => m.name === 'tmp' && m.mountPath === '/var/trivy-lookout'));
    const names = (fs.env ?? []).map((e) => e.name);
    for (const absent of ['TRIVY_USERNAME', 'TRIVY_PASSWORD', 'SCAN_IMAGE_REF'])
      assert.ok(!names.includes(absent), absent);
    assert.equal(fs.env?.find((e) => e.name === 'HOME')?.value, '/var/trivy-lookout');
    const [main] = pod.containers;
    assert.equal(main?.name, 'scan');
    assert.doesNotMatch(main?.command?.[2] ?? '', /trivy image/);
    assert.match(main?.command?.[2] ?? '', /gzip -c \/tmp\/scan\/result\.json/);
    assert.equal(secret?.stringData?.password, undefined, 'no registry credentials handed over');
  });

  it('runs the image as the pod spec names it, not the mirror, and skips its own mounts in the scan', () => {
    const { job } = buildScanJob(
      config({
        OPERATOR_TRIVY_COMMAND: 'rootfs',
        OPERATOR_TRIVY_REGISTRY_MIRROR: 'ghcr.io=mirror.corp',
        OPERATOR_TRIVY_CONFIG_FILE: 'db:\n  repository: x\n',
        OPERATOR_TRIVY_SKIP_FILES: '/app/x.lock',
      }),
      node,
    );
    const fs = job.spec!.template.spec!.initContainers!.at(-1)!;
    assert.equal(fs.image, input.imageRef);
    const args = fs.args ?? [];
    assert.equal(args[args.indexOf('--skip-files') + 1], '/etc/trivy/trivy-config.yaml,/app/x.lock');
  });

  it('adds --include-dev-deps for filesystem only, and scans from the registry when no pod runs the image', () => {
    const fsArgs = (env: Record<string, string>) =>
      buildScanJob(config(env), node).job.spec!.template.spec!.initContainers!.at(-1)!.args ?? [];
    assert.ok(
      fsArgs({ OPERATOR_TRIVY_COMMAND: 'filesystem', OPERATOR_TRIVY_INCLUDE_DEV_DEPS: 'true' }).includes(
        '--include-dev-deps',
      ),
    );
    assert.ok(
      !fsArgs({ OPERATOR_TRIVY_COMMAND: 'rootfs', OPERATOR_TRIVY_INCLUDE_DEV_DEPS: 'true' }).includes(
        '--include-dev-deps',
      ),
    );
    const noNode = buildScanJob(config({ OPERATOR_TRIVY_COMMAND: 'rootfs' }), input).job.spec!.template.spec!;
    assert.equal(noNode.nodeName, undefined);
    assert.ok(noNode.containers[0]!.args?.includes('--image-src'), 'image mode');
  });
});

describe('matchesRegistry', () => {
  it('matches host:port exactly, and a bare host entry on any port', () => {
    assert.equal(matchesRegistry(['registry.local'], 'registry.local:5000'), true);
    assert.equal(matchesRegistry(['registry.local:5000'], 'registry.local:5001'), false);
    assert.equal(matchesRegistry([], 'ghcr.io'), false);
  });
});

describe('withRegistryMirror', () => {
  const mirrors = { 'docker.io': 'mirror.internal:5000', 'ghcr.io': 'ghcr-mirror.internal' };
  const digest = 'sha256:' + 'b'.repeat(64);

  it('rewrites Docker Hub references in every spelling, adding library/ to official images', () => {
    for (const [ref, expected] of [
      [`index.docker.io/library/nginx@${digest}`, `mirror.internal:5000/library/nginx@${digest}`],
      ['nginx:1.27', 'mirror.internal:5000/library/nginx:1.27'],
      ['bitnami/redis:7', 'mirror.internal:5000/bitnami/redis:7'],
    ]) {
      const out = withRegistryMirror(
        { imageKey: ref!, imageRef: ref!, registryHost: 'index.docker.io' },
        mirrors,
      );
      assert.equal(out.imageRef, expected);
      assert.equal(out.registryHost, 'mirror.internal:5000', 'insecure/non-SSL decisions follow the mirror');
    }
  });

  it('rewrites other registries by host and leaves unmirrored ones alone', () => {
    const ghcr = withRegistryMirror(
      { imageKey: 'k', imageRef: 'ghcr.io/acme/api:2', registryHost: 'ghcr.io' },
      mirrors,
    );
    assert.equal(ghcr.imageRef, 'ghcr-mirror.internal/acme/api:2');
    const quay = { imageKey: 'k', imageRef: 'quay.io/acme/x:1', registryHost: 'quay.io' };
    assert.deepEqual(withRegistryMirror(quay, mirrors), quay);
  });

  it('is applied by buildScanJob', () => {
    const { job } = buildScanJob(
      config({ OPERATOR_TRIVY_REGISTRY_MIRROR: 'ghcr.io=ghcr-mirror.internal' }),
      input,
    );
    const env = Object.fromEntries(
      (job.spec!.template.spec!.containers[0]!.env ?? []).map((e) => [e.name, e.value]),
    );
    assert.equal(env.SCAN_IMAGE_REF, `ghcr-mirror.internal/acme/api@sha256:${'a'.repeat(64)}`);
  });
});

describe('scan pod placement from the configuration', () => {
  it('applies trivyOperator.scanJobTolerations and scanJobNodeSelector', () => {
    const { job } = buildScanJob(
      config({
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_TOLERATIONS:
          '[{"key":"dedicated","operator":"Equal","value":"scan","effect":"NoSchedule"}]',
        OPERATOR_TRIVY_OPERATOR_SCAN_JOB_NODE_SELECTOR: 'pool=scanners',
      }),
      input,
    );
    const pod = job.spec!.template.spec!;
    assert.deepEqual(pod.tolerations, [
      { key: 'dedicated', operator: 'Equal', value: 'scan', effect: 'NoSchedule' },
    ]);
    assert.deepEqual(pod.nodeSelector, { pool: 'scanners' });
  });

  it('refuses a toleration with a bad effect at start-up, naming the setting', () => {
    assert.throws(
      () => config({ OPERATOR_TRIVY_OPERATOR_SCAN_JOB_TOLERATIONS: '[{"key":"a","effect":"Never"}]' }),
      /OPERATOR_TRIVY_OPERATOR_SCAN_JOB_TOLERATIONS.*effect "Never"/,
    );
  });
});
