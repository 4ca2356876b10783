/**
 * Real scans on the real node: the test images, the Trivy image and the offline Trivy DBs pushed to
 * the local registries, and the operator settings that point scan Jobs at them, the way an
 * air-gapped cluster points Trivy-Operator at its own registry (trivy.repository, trivy.dbRepository,
 * trivy.javaDbRepository, trivy.dbRepositoryInsecure, trivy.nonSslRegistries,
 * trivy.insecureRegistries). Pushing is idempotent (blobs the registry has are skipped), so every
 * test file calls this and only the first pays for the uploads.
 */
import { CoreV1Api, type V1Job, type V1Secret } from '@kubernetes/client-node';
import { ResourceWatcher } from '../../src/kube/index.ts';
import { createLogger } from '../../src/logging/index.ts';
import { SCAN_JOB_COMPONENT, ScanAnnotation, ScanLabel } from '../../src/scanning/names.ts';
import type { NodeInfo, RegistryInfo } from './node-stack.ts';
import type { TestCluster } from './test-cluster.ts';
import { waitUntil } from './waiting.ts';
import { realNodePlacement } from './node/index.ts';
import { pushLayout, type RegistryEndpoint } from './registry/index.ts';
import type { RegistryFlavour } from './registry/index.ts';
import {
  buildJavaDb,
  buildTestImages,
  buildTrivyDb,
  type BuiltTestImage,
  type DbVersion,
  type TestImageName,
} from './images/index.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeVariantLayout } from './oci/layout.ts';

/** A test image as workloads name it: `host:port/repository:tag`, and the digest the registry serves. */
export interface PublishedImage {
  name: TestImageName;
  ref: string;
  digest: string;
  registry: RegistryFlavour;
  built: BuiltTestImage;
}

export interface RealScans {
  node: NodeInfo;
  registries: Record<RegistryFlavour, RegistryInfo>;
  /** The workload images in the plain-HTTP registry (the Trivy image is `trivy`). */
  images: Record<TestImageName, PublishedImage>;
  /**
   * Pushes one test image to a registry flavour, under its own repository or `repository`. With a
   * repository it is a variant of the image with a config and digest of its own: containerd
   * identifies images by config digest and reports identical content under the name it first
   * pulled it as, so only a new config is a new image to the runtime and to the operator.
   */
  publishImage(name: TestImageName, flavour: RegistryFlavour, repository?: string): Promise<PublishedImage>;
  /**
   * Pushes a DB version as `<dbRepository>:2`, where every new scan Job downloads it from, as
   * Trivy-Operator's users update their mirror. Each test file passes its own `dbRepository`, in
   * whichever local registry it names.
   */
  publishDb(version: DbVersion, dbRepository: string): Promise<void>;
  /** The DB repository (without tag) of a test file, in the plain-HTTP registry. */
  dbRepositoryFor(name: string): string;
  /** The Java DB repository (without tag), in the plain-HTTP registry. */
  javaDbRepository: string;
  /** Pod spec fields that put a workload on the real node. */
  placement: ReturnType<typeof realNodePlacement>;
  /**
   * The operator's environment for real scans: the Trivy image, DBs and registries above, and scan
   * Jobs placed on the real node. `dbRepository` as from dbRepositoryFor.
   */
  operatorEnv(dbRepository: string): Record<string, string>;
}

const TEST_REPOSITORY_PREFIX = 'trivy-lookout-test';

function endpoint(info: RegistryInfo): RegistryEndpoint {
  return {
    host: info.host,
    url: info.url,
    ...(info.credentials ? { credentials: info.credentials } : {}),
    ...(info.caFile ? { caPem: readFileSync(info.caFile, 'utf8') } : {}),
  };
}

export async function useRealScans(cluster: {
  node?: NodeInfo;
  registries?: Record<RegistryFlavour, RegistryInfo>;
}): Promise<RealScans> {
  const { node, registries } = cluster;
  if (!node || !registries) {
    throw new Error('this test needs the real node: call useTestCluster({ node: true })');
  }
  const built = await buildTestImages();
  const publish = async (
    name: TestImageName,
    flavour: RegistryFlavour,
    repository?: string,
  ): Promise<PublishedImage> => {
    const image = built[name];
    const registry = registries[flavour];
    const reference = repository ? `${TEST_REPOSITORY_PREFIX}/${repository}:${image.tag}` : image.reference;
    const layoutDir = repository
      ? writeVariantLayout(image.layoutDir, mkdtempSync(path.join(os.tmpdir(), 'tl-variant-')), repository)
          .dir
      : image.layoutDir;
    const { digest } = await pushLayout(endpoint(registry), layoutDir, reference);
    if (repository) rmSync(layoutDir, { recursive: true, force: true });
    return { name, ref: `${registry.host}/${reference}`, digest, registry: flavour, built: image };
  };
  const images = {} as Record<TestImageName, PublishedImage>;
  for (const name of Object.keys(built) as TestImageName[]) images[name] = await publish(name, 'http');

  const http = registries.http;
  const javaDbRepository = `${http.host}/${TEST_REPOSITORY_PREFIX}/trivy-java-db`;
  const javaDb = await buildJavaDb();
  await pushLayout(endpoint(http), javaDb.layoutDir, `${TEST_REPOSITORY_PREFIX}/trivy-java-db:1`);

  const trivy = images.trivy;
  const placement = realNodePlacement(node.name);
  return {
    node,
    registries,
    images,
    publishImage: publish,
    async publishDb(version, dbRepository) {
      const db = await buildTrivyDb(version);
      // Whichever local registry the repository names (the auth one for login tests).
      const registry = Object.values(registries).find((r) => dbRepository.startsWith(`${r.host}/`)) ?? http;
      const repository = dbRepository.slice(registry.host.length + 1);
      await pushLayout(endpoint(registry), db.layoutDir, `${repository}:2`);
    },
    dbRepositoryFor: (name) => `${http.host}/${TEST_REPOSITORY_PREFIX}/${name}/trivy-db`,
    javaDbRepository,
    placement,
    operatorEnv: (dbRepository) => ({
      OPERATOR_TRIVY_REPOSITORY: trivy.ref.slice(0, trivy.ref.lastIndexOf(':')),
      OPERATOR_TRIVY_TAG: trivy.built.tag,
      OPERATOR_TRIVY_DB_REPOSITORY: dbRepository,
      OPERATOR_TRIVY_JAVA_DB_REPOSITORY: javaDbRepository,
      OPERATOR_TRIVY_DB_REPOSITORY_INSECURE: 'true',
      OPERATOR_TRIVY_NON_SSL_REGISTRIES: [registries.http.host, registries.auth.host].join(','),
      OPERATOR_TRIVY_INSECURE_REGISTRIES: registries.tls.host,
      OPERATOR_TRIVY_OPERATOR_SCAN_JOB_TOLERATIONS: JSON.stringify(placement.tolerations),
      OPERATOR_TRIVY_OPERATOR_SCAN_JOB_NODE_SELECTOR: JSON.stringify(placement.nodeSelector),
    }),
  };
}

/** A `kubernetes.io/dockerconfigjson` Secret holding a local registry's credentials. */
export function pullSecret(name: string, registry: RegistryInfo): V1Secret {
  const creds = registry.credentials;
  if (!creds) throw new Error(`the ${registry.flavour} registry takes no credentials`);
  const auth = Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
  return {
    metadata: { name },
    type: 'kubernetes.io/dockerconfigjson',
    stringData: { '.dockerconfigjson': JSON.stringify({ auths: { [registry.host]: { auth } } }) },
  };
}

/**
 * Pulls `image` onto the real node once, from a namespace of its own that the operator does not
 * watch (with the credentials of the registry it lives in, if it takes any). A workload can then
 * run it from the node's cache without credentials (IfNotPresent), as on nodes teams share, while
 * its scan, which pulls from the registry itself, has none; or run it after the image is deleted
 * from the registry.
 */
export async function warmNodeCache(
  cluster: Pick<TestCluster, 'createNamespace' | 'kubeConfig'>,
  scans: RealScans,
  image: PublishedImage,
): Promise<void> {
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  const namespace = await cluster.createNamespace('warm');
  const registry = scans.registries[image.registry];
  if (registry.credentials)
    await core.createNamespacedSecret({ namespace, body: pullSecret('regcred', registry) });
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'warm' },
      spec: {
        ...scans.placement,
        terminationGracePeriodSeconds: 1,
        ...(registry.credentials ? { imagePullSecrets: [{ name: 'regcred' }] } : {}),
        containers: [{ name: 'main', image: image.ref }],
      },
    },
  });
  await waitUntil(
    `${image.ref} pulled onto the real node`,
    async () => (await core.readNamespacedPod({ name: 'warm', namespace })).status?.phase === 'Running',
    240_000,
    1_000,
  );
}

/**
 * The operator's environment when only image scanning is under test: the other leader-only
 * controllers stay off (their node-collector Jobs would wait for the operator image on every node).
 */
export const IMAGE_SCANNING_ONLY: Readonly<Record<string, string>> = {
  OPERATOR_LEADER_ELECTION_ENABLED: 'false',
  OPERATOR_CLUSTER_COMPLIANCE_ENABLED: 'false',
  OPERATOR_CONFIG_AUDIT_SCANNER_ENABLED: 'false',
  OPERATOR_RBAC_ASSESSMENT_SCANNER_ENABLED: 'false',
  OPERATOR_INFRA_ASSESSMENT_SCANNER_ENABLED: 'false',
};

/**
 * Counts the scan Jobs created in an operator namespace: UID → the image reference it scans (by
 * UID, so a re-listing watch does not count one twice). Stop it with `stop()`.
 */
export async function watchScanJobs(
  cluster: Pick<TestCluster, 'kubeConfig'>,
  namespace: string,
): Promise<{ jobs: Map<string, string>; objects: Map<string, V1Job>; stop: () => Promise<void> }> {
  const jobs = new Map<string, string>();
  /** The Jobs as first seen (UID → Job), for what their pods were given. */
  const objects = new Map<string, V1Job>();
  const watch = new ResourceWatcher<V1Job>(
    cluster.kubeConfig(),
    {
      path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
      labelSelector: `${ScanLabel.component}=${SCAN_JOB_COMPONENT}`,
      log: createLogger('silent'),
    },
    {
      onEvent: (type, job) => {
        const uid = job.metadata?.uid;
        if (type !== 'DELETED' && uid && !jobs.has(uid)) {
          jobs.set(uid, job.metadata?.annotations?.[ScanAnnotation.imageRef] ?? '');
          objects.set(uid, job);
        }
      },
    },
  );
  watch.start();
  await watch.waitForSync();
  return { jobs, objects, stop: () => watch.stop() };
}
