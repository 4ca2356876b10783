import type {
  V1Container,
  V1EnvVar,
  V1Job,
  V1Secret,
  V1SecurityContext,
  V1Toleration,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { formatGoDuration, type Config } from '../config/index.ts';
import type { JobManifests } from '../kube/index.ts';
import { SCAN_JOB_COMPONENT, ScanAnnotation, ScanLabel, scanJobName, shortHash } from './names.ts';
import { TRIVY_CYCLONEDX_PREFIX, TRIVY_VERSION_PREFIX } from './result.ts';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface ScanJobInput {
  imageKey: string;
  /** What Trivy pulls (mirror already applied). */
  imageRef: string;
  /** host[:port] of the image's registry, to decide insecure / non-SSL flags. */
  registryHost: string;
  credentials?: RegistryCredentials;
  /**
   * With `trivy.command` filesystem or rootfs: the node where a pod of the image runs, so the
   * image is already there. Without it the image is scanned from its registry.
   */
  node?: string;
}

/** Scheduling settings for scan pods (Trivy-Operator: scanJobTolerations, scanJobNodeSelector …). */
export interface ScanPodPlacement {
  tolerations?: V1Toleration[];
  nodeSelector?: Record<string, string>;
}

const CACHE_DIR = '/tmp/trivy/.cache';
/** Trivy-Operator's mount points (pkg/plugins/trivy/plugin.go): SslCertDir and the config file. */
const SSL_CERT_DIR = '/var/ssl-cert';
const CONFIG_FILE = '/etc/trivy/trivy-config.yaml';
const RESULT_FILE = '/tmp/scan/result.json';
const BOM_FILE = '/tmp/scan/bom.json';
const IGNORE_FILE = '/etc/trivy-lookout/trivyignore';

/**
 * The main scan container's script. Trivy's own log goes to a file; on success the container log
 * holds the gzip+base64 result (compact, and unambiguous to decode), then, when SCAN_SBOM is set, one
 * line with the same result converted to CycloneDX by `trivy convert` (no second scan: the JSON lists
 * every package with --list-all-pkgs), and one line of `trivy version` (the DB the scan used). On
 * failure only Trivy's error log, which becomes the failure reason. A failed conversion leaves the
 * SBOM line out and the scan still counts.
 */
const SCAN_IMAGE_STEP = [
  'mkdir -p /tmp/scan',
  `trivy image "$@" --output ${RESULT_FILE} "$SCAN_IMAGE_REF" 2>/tmp/scan/trivy.log`,
  'rc=$?',
  'if [ "$rc" -ne 0 ]; then cat /tmp/scan/trivy.log; exit "$rc"; fi',
];
/** Prints the result file as the operator reads it: the part both scan modes share. */
const EMIT_RESULT_STEP = [
  `gzip -c ${RESULT_FILE} | base64`,
  `if [ -n "$SCAN_SBOM" ] && trivy convert --quiet --format cyclonedx --output ${BOM_FILE} ${RESULT_FILE} 2>/tmp/scan/convert.log; then`,
  `  printf '${TRIVY_CYCLONEDX_PREFIX}'; gzip -c ${BOM_FILE} | base64 | tr -d '\\n'; echo`,
  'fi',
  // Which DB the result came from (standalone mode; a client in ClientServer mode has none).
  `printf '${TRIVY_VERSION_PREFIX}'; trivy version --format json --cache-dir ${CACHE_DIR} 2>/dev/null || echo '{}'`,
];
export const SCAN_SCRIPT = [...SCAN_IMAGE_STEP, ...EMIT_RESULT_STEP].join('\n');
/** `trivy.command` filesystem/rootfs: the scan ran in an init container inside the image. */
const EMIT_SCRIPT = EMIT_RESULT_STEP.join('\n');

/** Where the pod's /tmp volume is mounted in the workload image for a filesystem scan. */
const FS_ROOT = '/var/trivy-lookout';
const FS_TRIVY = `${FS_ROOT}/bin/trivy`;

/**
 * Trivy's `--scanners` for the image scanners switched on (Trivy-Operator's getSecurityChecks); an
 * empty list when only the SBOM is wanted (Trivy then only lists packages).
 */
export function imageScanners(operator: Config['operator']): string {
  return [
    ...(operator.vulnerabilityScannerEnabled ? ['vuln'] : []),
    ...(operator.exposedSecretScannerEnabled ? ['secret'] : []),
  ].join(',');
}

/** Builds the Job (and its Secret) that scans one image. Pure: settings + image → manifests. */
export function buildScanJob(
  config: Config,
  requested: ScanJobInput,
  placement: ScanPodPlacement = {
    tolerations: config.trivyOperator.scanJobTolerations.map((t) => ({ ...t })),
    nodeSelector: { ...config.trivyOperator.scanJobNodeSelector },
  },
): JobManifests {
  const { trivy, operator } = config;
  const input = withRegistryMirror(requested, trivy.registry.mirror);
  const name = scanJobName(input.imageKey);
  const secretName = `${name}-secrets`;
  const secretData: Record<string, string> = {};
  const labels = {
    'app.kubernetes.io/managed-by': 'trivy-lookout',
    [ScanLabel.component]: SCAN_JOB_COMPONENT,
    [ScanLabel.imageHash]: shortHash(input.imageKey, 16),
  };

  const fromSecret = (envName: string, key: string, value: string): V1EnvVar => {
    secretData[key] = value;
    return { name: envName, valueFrom: { secretKeyRef: { name: secretName, key } } };
  };

  // trivy.command filesystem/rootfs with a node to go to: see the containers below.
  const filesystem = trivy.command !== 'image' && input.node !== undefined;
  const dbLogin = trivy.dbRepositoryUsername !== null && trivy.dbRepositoryPassword !== null;
  // What every container of the pod needs: proxies and the private CA.
  const networkEnv: V1EnvVar[] = [];
  if (trivy.httpProxy) networkEnv.push(fromSecret('HTTP_PROXY', 'httpProxy', trivy.httpProxy));
  if (trivy.httpsProxy) networkEnv.push(fromSecret('HTTPS_PROXY', 'httpsProxy', trivy.httpsProxy));
  if (trivy.noProxy) networkEnv.push({ name: 'NO_PROXY', value: trivy.noProxy });
  if (trivy.sslCertDir) networkEnv.push({ name: 'SSL_CERT_DIR', value: SSL_CERT_DIR });
  /**
   * A container's home on the pod's shared volume (at /tmp in the Trivy image, at FS_ROOT inside
   * a workload image), where `trivy registry login` keeps the DB registry's credentials.
   */
  const homeEnv = (root: string): V1EnvVar[] => [
    { name: 'HOME', value: root },
    ...networkEnv,
    ...(dbLogin ? [{ name: 'DOCKER_CONFIG', value: `${root}/.docker` }] : []),
  ];

  // Trivy's own options, wherever it scans.
  const trivyEnv: V1EnvVar[] = [
    { name: 'TRIVY_SEVERITY', value: trivy.severity.join(',') },
    { name: 'TRIVY_IGNORE_UNFIXED', value: String(trivy.ignoreUnfixed) },
    { name: 'TRIVY_TIMEOUT', value: formatGoDuration(trivy.timeoutMs) },
  ];
  if (trivy.offlineScan) trivyEnv.push({ name: 'TRIVY_OFFLINE_SCAN', value: 'true' });
  if (trivy.skipFiles.length > 0)
    trivyEnv.push({ name: 'TRIVY_SKIP_FILES', value: trivy.skipFiles.join(',') });
  if (trivy.skipDirs.length > 0) trivyEnv.push({ name: 'TRIVY_SKIP_DIRS', value: trivy.skipDirs.join(',') });
  const sbomEnv = operator.sbomGenerationEnabled ? [{ name: 'SCAN_SBOM', value: 'true' }] : [];

  const trivyArgs = [
    '--quiet',
    '--format',
    'json',
    '--scanners',
    imageScanners(operator),
    // Every package, not only vulnerable ones: what the SBOM is made of (Trivy-Operator's getPkgList).
    ...(operator.sbomGenerationEnabled ? ['--list-all-pkgs'] : []),
    '--java-db-repository',
    trivy.javaDbRepository,
  ];
  if (trivy.sbomSources.length > 0) trivyArgs.push('--sbom-sources', trivy.sbomSources.join(','));
  if (trivy.vulnType.length > 0) trivyArgs.push('--pkg-types', trivy.vulnType.join(','));
  if (trivy.slow) trivyArgs.push('--parallel', '1');
  if (trivy.skipJavaDbUpdate) trivyArgs.push('--skip-java-db-update');
  if (trivy.configFile !== null) {
    secretData.trivyConfig = trivy.configFile;
    trivyArgs.push('--config', CONFIG_FILE);
  }
  if (trivy.mode === 'ClientServer') {
    trivyArgs.push('--server', trivy.serverURL ?? '');
    if (trivy.serverToken) {
      trivyArgs.push('--token-header', trivy.serverTokenHeader);
      trivyEnv.push(fromSecret('TRIVY_TOKEN', 'token', trivy.serverToken));
    }
    const headers = Object.entries(trivy.serverCustomHeaders).map(([k, v]) => `${k}:${v}`);
    if (headers.length > 0)
      trivyEnv.push(fromSecret('TRIVY_CUSTOM_HEADERS', 'customHeaders', headers.join(',')));
    if (trivy.clientServerSkipUpdate) trivyArgs.push('--skip-db-update');
  } else {
    trivyArgs.push('--skip-db-update');
  }
  if (trivy.ignoreFile) {
    secretData.trivyignore = trivy.ignoreFile;
    trivyArgs.push('--ignorefile', IGNORE_FILE);
  }

  // Mounted into every container: the DB download and the registry login need the CA as well.
  const volumes: V1Volume[] = [{ name: 'tmp', emptyDir: {} }];
  const podMounts: V1VolumeMount[] = [{ name: 'tmp', mountPath: '/tmp' }];
  if (trivy.sslCertDir) {
    volumes.push({ name: 'ssl-cert-dir', hostPath: { path: trivy.sslCertDir } });
    podMounts.push({ name: 'ssl-cert-dir', mountPath: SSL_CERT_DIR, readOnly: true });
  }
  const { trivyOperator } = config;
  volumes.push(...trivyOperator.scanJobCustomVolumes.map((v) => ({ ...v })));
  podMounts.push(...trivyOperator.scanJobCustomVolumesMount.map((m) => ({ ...m })));
  // The files only the scanning container reads.
  const mounts: V1VolumeMount[] = [...podMounts];
  if (secretData.trivyignore !== undefined) {
    volumes.push({
      name: 'ignorefile',
      secret: { secretName, items: [{ key: 'trivyignore', path: 'trivyignore' }] },
    });
    mounts.push({ name: 'ignorefile', mountPath: '/etc/trivy-lookout', readOnly: true });
  }
  if (secretData.trivyConfig !== undefined) {
    volumes.push({
      name: 'configfile',
      secret: { secretName, items: [{ key: 'trivyConfig', path: 'trivy-config.yaml' }] },
    });
    mounts.push({ name: 'configfile', mountPath: CONFIG_FILE, subPath: 'trivy-config.yaml', readOnly: true });
  }

  const resources = {
    requests: compact({ cpu: trivy.resources.requests.cpu, memory: trivy.resources.requests.memory }),
    limits: compact({ cpu: trivy.resources.limits.cpu, memory: trivy.resources.limits.memory }),
  };
  // Trivy-Operator's scanJobPodTemplateContainerSecurityContext replaces this whole, as here.
  const securityContext: V1SecurityContext = trivyOperator.scanJobContainerSecurityContext
    ? structuredClone(trivyOperator.scanJobContainerSecurityContext)
    : {
        allowPrivilegeEscalation: false,
        privileged: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        runAsUser: 65534,
        runAsGroup: 65534,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      };
  /** A container of the Trivy image with the pod's resources, security context and shared mounts. */
  const trivyContainer = (container: V1Container): V1Container => ({
    image: `${trivy.repository}:${trivy.tag}`,
    imagePullPolicy: trivy.imagePullPolicy,
    resources,
    securityContext,
    volumeMounts: podMounts,
    ...container,
  });

  const initContainers: V1Container[] = [];
  if (dbLogin) {
    // As Trivy-Operator (pkg/plugins/trivy/image.go): log in to the DB repository's registry once;
    // the DB and Java DB downloads then find the credentials in DOCKER_CONFIG. Kept out of
    // TRIVY_USERNAME in the scan container, which holds the image registry's credentials.
    initContainers.push(
      trivyContainer({
        name: 'registry-login',
        command: ['trivy'],
        args: [
          'registry',
          'login',
          registryOf(trivy.dbRepository),
          ...(trivy.dbRepositoryInsecure ? ['--insecure'] : []),
        ],
        env: [
          ...homeEnv('/tmp'),
          fromSecret('TRIVY_USERNAME', 'dbRepositoryUsername', trivy.dbRepositoryUsername!),
          fromSecret('TRIVY_PASSWORD', 'dbRepositoryPassword', trivy.dbRepositoryPassword!),
        ],
      }),
    );
  }
  if (trivy.mode === 'Standalone')
    initContainers.push(
      trivyContainer({
        name: 'download-db',
        command: ['trivy'],
        args: [
          'image',
          '--download-db-only',
          '--db-repository',
          trivy.dbRepository,
          '--cache-dir',
          CACHE_DIR,
          ...(trivy.dbRepositoryInsecure ? ['--insecure'] : []),
        ],
        env: [
          ...homeEnv('/tmp'),
          ...(trivy.githubToken ? [fromSecret('GITHUB_TOKEN', 'githubToken', trivy.githubToken)] : []),
        ],
      }),
    );

  let containers: V1Container[];
  if (filesystem) {
    // trivy.command filesystem/rootfs (Trivy-Operator's pkg/plugins/trivy/filesystem.go): Trivy is
    // copied into the pod's volume and run inside the workload's image on its node, where the
    // image already is. Here that run is an init container writing the result file; the main
    // container (the Trivy image, which has a shell) prints it as in image mode, so the workload
    // image needs nothing.
    const skipFiles = [...mounts.filter((m) => m.subPath).map((m) => m.mountPath), ...trivy.skipFiles];
    initContainers.push(
      trivyContainer({
        name: 'copy-trivy',
        command: [
          '/bin/sh',
          '-c',
          'mkdir -p /tmp/bin /tmp/scan /tmp/scan-tmp && cp "$(command -v trivy)" /tmp/bin/trivy',
        ],
        env: homeEnv('/tmp'),
      }),
      trivyContainer({
        name: 'scan-filesystem',
        // What the node has: the workload's own reference, never the registry mirror's.
        image: requested.imageRef,
        // The workload pulled it on this node; a scan must not pull it with other credentials.
        imagePullPolicy: 'IfNotPresent',
        command: [FS_TRIVY],
        args: [
          trivy.command,
          ...trivyArgs,
          ...(trivy.command === 'filesystem' && trivy.includeDevDeps ? ['--include-dev-deps'] : []),
          '--cache-dir',
          `${FS_ROOT}/trivy/.cache`,
          // The pod's own volumes (the Trivy config may hold credentials the secret scanner would
          // report) and the kernel's file systems are not the image.
          '--skip-dirs',
          [
            FS_ROOT,
            '/proc',
            '/sys',
            '/dev',
            ...mounts.filter((m) => m.name !== 'tmp' && !m.subPath).map((m) => m.mountPath),
            ...trivy.skipDirs,
          ].join(','),
          // A flag replaces TRIVY_SKIP_FILES, so the user's files go in it too.
          ...(skipFiles.length > 0 ? ['--skip-files', skipFiles.join(',')] : []),
          '--output',
          `${FS_ROOT}/scan/result.json`,
          '/',
        ],
        env: [
          ...homeEnv(FS_ROOT),
          { name: 'TMPDIR', value: `${FS_ROOT}/scan-tmp` },
          ...trivyEnv,
          // The Java DB download is the only registry request left; it follows the DB's setting.
          ...(trivy.dbRepositoryInsecure ? [{ name: 'TRIVY_INSECURE', value: 'true' }] : []),
        ],
        volumeMounts: mounts.map((m) => (m.name === 'tmp' ? { ...m, mountPath: FS_ROOT } : m)),
      }),
    );
    containers = [
      trivyContainer({
        name: 'scan',
        command: ['/bin/sh', '-c', EMIT_SCRIPT, 'emit'],
        env: [...homeEnv('/tmp'), ...sbomEnv],
      }),
    ];
  } else {
    const env: V1EnvVar[] = [
      ...homeEnv('/tmp'),
      { name: 'SCAN_IMAGE_REF', value: input.imageRef },
      ...trivyEnv,
      { name: 'TRIVY_CACHE_DIR', value: CACHE_DIR },
      ...sbomEnv,
    ];
    if (matchesRegistry(trivy.insecureRegistries, input.registryHost))
      env.push({ name: 'TRIVY_INSECURE', value: 'true' });
    if (matchesRegistry(trivy.nonSslRegistries, input.registryHost))
      env.push({ name: 'TRIVY_NON_SSL', value: 'true' });
    if (input.credentials) {
      env.push(fromSecret('TRIVY_USERNAME', 'username', input.credentials.username));
      env.push(fromSecret('TRIVY_PASSWORD', 'password', input.credentials.password));
    }
    containers = [
      trivyContainer({
        name: 'scan',
        command: ['/bin/sh', '-c', SCAN_SCRIPT, 'scan'],
        // A scan pod has no Docker, containerd or Podman socket: asking only the registry saves
        // the probes and keeps their noise out of the error a failed scan reports
        // (Trivy-Operator omits it).
        args: ['--image-src', 'remote', ...trivyArgs],
        env,
        volumeMounts: mounts,
      }),
    ];
  }

  const job: V1Job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: operator.namespace,
      labels,
      // The user's annotations and labels (Trivy-Operator's scanJob* settings) never replace the
      // operator's own: it finds and matches its Jobs and pods by them.
      annotations: {
        ...config.trivyOperator.scanJobAnnotations,
        [ScanAnnotation.imageKey]: input.imageKey,
        [ScanAnnotation.imageRef]: input.imageRef,
      },
    },
    spec: {
      backoffLimit: 0,
      // Retries are the operator's (with its own backoff), so a failed pod is final for this Job.
      activeDeadlineSeconds: Math.max(1, Math.round(operator.scanJobTimeoutMs / 1000)),
      ttlSecondsAfterFinished: Math.max(600, Math.round(operator.scanJobTimeoutMs / 1000) * 2),
      template: {
        metadata: {
          labels: { ...config.trivyOperator.scanJobPodTemplateLabels, ...labels },
          ...(Object.keys(config.trivyOperator.scanJobAnnotations).length
            ? { annotations: { ...config.trivyOperator.scanJobAnnotations } }
            : {}),
        },
        spec: {
          restartPolicy: 'Never',
          ...(config.trivyOperator.scanJobPodPriorityClassName
            ? { priorityClassName: config.trivyOperator.scanJobPodPriorityClassName }
            : {}),
          automountServiceAccountToken: false,
          ...(trivy.imagePullSecret ? { imagePullSecrets: [{ name: trivy.imagePullSecret }] } : {}),
          // Trivy-Operator's scanJobPodTemplatePodSecurityContext and scanJobAffinity replace these.
          // With only the container context given, Trivy-Operator's pod default ({}) applies: ours
          // (runAsNonRoot) would refuse a context without runAsUser, or with runAsUser 0, in an
          // image that runs as root, as aquasec/trivy does.
          securityContext: trivyOperator.scanJobPodSecurityContext
            ? structuredClone(trivyOperator.scanJobPodSecurityContext)
            : trivyOperator.scanJobContainerSecurityContext
              ? {}
              : { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
          affinity: trivyOperator.scanJobAffinity
            ? structuredClone(trivyOperator.scanJobAffinity)
            : {
                nodeAffinity: {
                  requiredDuringSchedulingIgnoredDuringExecution: {
                    nodeSelectorTerms: [
                      { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] },
                    ],
                  },
                },
              },
          ...(placement.tolerations?.length ? { tolerations: placement.tolerations } : {}),
          // A filesystem scan goes to the workload's node, whatever the scan node selector says.
          ...(filesystem
            ? { nodeName: input.node }
            : placement.nodeSelector && Object.keys(placement.nodeSelector).length
              ? { nodeSelector: placement.nodeSelector }
              : {}),
          initContainers,
          containers,
          volumes,
        },
      },
    },
  };

  const secret: V1Secret | undefined =
    Object.keys(secretData).length === 0
      ? undefined
      : {
          apiVersion: 'v1',
          kind: 'Secret',
          type: 'Opaque',
          metadata: { name: secretName, namespace: operator.namespace, labels },
          stringData: secretData,
        };
  return { job, secret };
}

const DOCKER_HUB_ALIASES = ['index.docker.io', 'docker.io', 'registry-1.docker.io'];

/** The registry host of a repository reference (Docker Hub when the first part is no host). */
function registryOf(repository: string): string {
  const first = repository.split('/')[0] ?? '';
  return repository.includes('/') && (/[.:]/.test(first) || first === 'localhost')
    ? first
    : 'index.docker.io';
}

/**
 * Rewrites the reference to a configured registry mirror (`trivy.registry.mirror`, registry →
 * mirror host), as air-gapped clusters need; the mirror is then the registry Trivy talks to.
 */
export function withRegistryMirror(
  input: ScanJobInput,
  mirrors: Readonly<Record<string, string>>,
): ScanJobInput {
  const hub = DOCKER_HUB_ALIASES.includes(input.registryHost);
  const aliases = hub ? DOCKER_HUB_ALIASES : [input.registryHost];
  const mirror = aliases.map((alias) => mirrors[alias]).find((m) => m !== undefined);
  if (!mirror) return input;
  const prefix = aliases.map((alias) => `${alias}/`).find((p) => input.imageRef.startsWith(p));
  let path: string;
  if (prefix) {
    path = input.imageRef.slice(prefix.length);
  } else {
    const parts = input.imageRef.split('/');
    const namesRegistry = parts.length > 1 && (/[.:]/.test(parts[0] ?? '') || parts[0] === 'localhost');
    if (!hub || namesRegistry) return input;
    path = parts.length === 1 ? `library/${input.imageRef}` : input.imageRef;
  }
  return { ...input, imageRef: `${mirror}/${path}`, registryHost: mirror };
}

/** Registry lists hold host[:port]; an entry without a port matches any port of that host. */
export function matchesRegistry(list: readonly string[], host: string): boolean {
  const bare = host.replace(/:\d+$/, '');
  return list.some((entry) => entry === host || entry === bare);
}

function compact(values: Record<string, string | null>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter((e): e is [string, string] => e[1] !== null));
}
