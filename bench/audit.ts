/**
 * npm run bench:audit — config audit throughput: 5,000 resources (Services, ConfigMaps, Roles, Pods
 * in five namespaces) on the real local control plane, audited by the operator as a real process
 * with the pinned Trivy binary. While it audits, /healthz and /metrics are probed twice a second:
 * the operator must keep answering. Progress goes to stderr; stdout gets one JSON line.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { kubeRequestJson } from '../src/kube/index.ts';
import { startControlPlane } from '../test/harness/control-plane.ts';
import { installCrds } from '../test/harness/crds.ts';
import { startOperator } from '../test/harness/operator-process.ts';
import { toolPath } from '../test/harness/tools.ts';
import { waitUntil } from '../test/harness/waiting.ts';

const say = (line: string) => process.stderr.write(`[bench:audit] ${line}\n`);
const NAMESPACES = ['bench-a', 'bench-b', 'bench-c', 'bench-d', 'bench-e'];
const PER_NAMESPACE = { services: 400, configMaps: 300, roles: 200, pods: 100 };
const TOTAL =
  NAMESPACES.length *
  (PER_NAMESPACE.services + PER_NAMESPACE.configMaps + PER_NAMESPACE.roles + PER_NAMESPACE.pods);

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

const cp = await startControlPlane({ log: say });
try {
  const kc = cp.kubeConfig();
  await installCrds(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  for (const name of ['trivy-system', ...NAMESPACES])
    await core.createNamespace({ body: { metadata: { name } } });
  await waitUntil('default service accounts', async () =>
    (
      await Promise.all(
        NAMESPACES.map((namespace) =>
          core.readNamespacedServiceAccount({ name: 'default', namespace }).then(
            () => true,
            () => false,
          ),
        ),
      )
    ).every(Boolean),
  );

  say(`creating ${TOTAL} resources`);
  const creations: (() => Promise<unknown>)[] = [];
  for (const namespace of NAMESPACES) {
    for (let i = 0; i < PER_NAMESPACE.services; i++) {
      creations.push(() =>
        core.createNamespacedService({
          namespace,
          body: {
            metadata: { name: `svc-${i}` },
            spec: { clusterIP: 'None', ports: [{ port: 80 + (i % 10) }], selector: { app: `a${i}` } },
          },
        }),
      );
    }
    for (let i = 0; i < PER_NAMESPACE.configMaps; i++) {
      creations.push(() =>
        core.createNamespacedConfigMap({
          namespace,
          body: { metadata: { name: `cm-${i}` }, data: { key: `value-${i}` } },
        }),
      );
    }
    for (let i = 0; i < PER_NAMESPACE.roles; i++) {
      const verbs = i % 5 === 0 ? ['*'] : ['get', 'list'];
      const resources = i % 3 === 0 ? ['secrets'] : ['pods', 'configmaps'];
      creations.push(() =>
        rbac.createNamespacedRole({
          namespace,
          body: { metadata: { name: `role-${i}` }, rules: [{ apiGroups: [''], resources, verbs }] },
        }),
      );
    }
    for (let i = 0; i < PER_NAMESPACE.pods; i++) {
      creations.push(() =>
        core.createNamespacedPod({
          namespace,
          body: {
            metadata: { name: `pod-${i}`, labels: { app: `a${i}` } },
            spec: {
              containers: [
                {
                  name: 'c',
                  image: 'nginx:1.27',
                  securityContext: i % 2 === 0 ? { privileged: true } : { runAsNonRoot: true },
                },
              ],
            },
          },
        }),
      );
    }
  }
  await inParallel(creations, 16, (create) => create());
  say('resources created; starting the operator');

  const started = Date.now();
  const operator = await startOperator(cp.kubeconfigPath, {
    OPERATOR_TARGET_NAMESPACES: 'bench-*',
    OPERATOR_LEADER_ELECTION_ENABLED: 'false',
    OPERATOR_CONFIG_AUDIT_TRIVY_BINARY: toolPath('trivy'),
    // Only the kinds created here (and ClusterRoles, which every cluster has).
    OPERATOR_TRIVY_SUPPORTED_CONFIG_AUDIT_KINDS: 'Workload,Service,ConfigMap,Role,ClusterRole',
    OPERATOR_TARGET_WORKLOADS: 'pod',
    OPERATOR_LOG_LEVEL: 'warn',
    // BENCH_OPERATOR_MAX_HEAP_MIB caps V8's heap as a container memory limit would: on a big machine
    // V8 grows lazily, so the uncapped RSS says more about V8 than about what the operator keeps.
    ...(process.env.BENCH_OPERATOR_MAX_HEAP_MIB
      ? { NODE_OPTIONS: `--max-old-space-size=${Number(process.env.BENCH_OPERATOR_MAX_HEAP_MIB)}` }
      : {}),
  });
  try {
    // Probe health and metrics while the audit runs (from when the operator listens).
    await operator.waitForReady(120_000);
    let probes = 0;
    let failures = 0;
    let slowestMs = 0;
    let rssMax = 0;
    let probing = true;
    const prober = (async () => {
      while (probing) {
        for (const path of ['/healthz', '/metrics']) {
          const t0 = Date.now();
          try {
            const res = await fetch(`${operator.baseUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
            const body = await res.text();
            if (!res.ok) failures += 1;
            const rss = Number(/^trivy_lookout_process_resident_memory_bytes (\d+)/m.exec(body)?.[1] ?? 0);
            rssMax = Math.max(rssMax, rss);
          } catch {
            failures += 1;
          }
          probes += 1;
          slowestMs = Math.max(slowestMs, Date.now() - t0);
        }
        await sleep(500);
      }
    })();

    const countReports = async (): Promise<number> => {
      let count = 0;
      for (const plural of ['configauditreports', 'rbacassessmentreports']) {
        for (const namespace of NAMESPACES) {
          let token: string | undefined;
          do {
            const page = await kubeRequestJson<{ metadata?: { continue?: string }; items?: unknown[] }>(kc, {
              path: `/apis/aquasecurity.github.io/v1alpha1/namespaces/${namespace}/${plural}`,
              query: { limit: 500, continue: token },
              accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1',
            });
            count += page.items?.length ?? 0;
            token = page.metadata?.continue || undefined;
          } while (token);
        }
      }
      return count;
    };
    // Each namespace also has its kube-root-ca.crt ConfigMap, audited like the others.
    const expected = TOTAL + NAMESPACES.length;
    let last = -1;
    await waitUntil(
      `${expected} reports`,
      async () => {
        const count = await countReports();
        if (count !== last)
          say(`${count}/${expected} reports after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        last = count;
        return count >= expected;
      },
      1_800_000,
      2_000,
    );
    const seconds = (Date.now() - started) / 1000;
    probing = false;
    await prober;
    say(`health/metrics probes while auditing: ${probes}, failed: ${failures}, slowest: ${slowestMs} ms`);
    process.stdout.write(
      `${JSON.stringify({
        resources: TOTAL,
        seconds: Math.round(seconds * 10) / 10,
        resourcesPerSecond: Math.round((TOTAL / seconds) * 10) / 10,
        operatorRssMiB: Math.round((rssMax / 1024 / 1024) * 10) / 10,
      })}\n`,
    );
    if (failures > 0) process.exitCode = 1;
  } finally {
    await operator.stop();
  }
} finally {
  await cp.stop();
}
