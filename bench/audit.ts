/**
 * npm run bench:audit — config audit throughput: 5,000 resources (Services, ConfigMaps, Roles, Pods
 * in five namespaces) on the real local control plane, audited by the operator as a real process
 * with the pinned Trivy binary. While it audits, /healthz and /metrics are probed twice a second:
 * the operator must keep answering. The CPU time of the operator and of its Trivy children
 * together, and the peak RSS of each, come from /proc (sampled every 200 ms; reaped children's
 * CPU is in the parent's cutime/cstime). Progress goes to stderr; stdout gets one JSON line.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { kubeRequestJson } from '../src/kube/index.ts';
import { startControlPlane } from '../test/harness/control-plane.ts';
import { installCrds } from '../test/harness/crds.ts';
import { startOperator } from '../test/harness/operator-process.ts';
import { toolPath } from '../test/harness/tools.ts';
import { waitUntil } from '../test/harness/waiting.ts';

const say = (line: string) => process.stderr.write(`[bench:audit] ${line}\n`);
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime+stime(+cutime+cstime) in seconds and RSS in bytes of a process, or undefined once it is gone. */
function procStat(pid: number): { self: number; children: number; rss: number; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const num = (i: number) => Number(fields[i - 3]);
    const rssPages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return {
      ppid: num(4),
      self: (num(14) + num(15)) / TICKS_PER_SECOND,
      children: (num(16) + num(17)) / TICKS_PER_SECOND,
      rss: rssPages * 4096,
    };
  } catch {
    return undefined;
  }
}

/** Direct children of a process (Trivy runs are the operator's direct children). */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
        .split(' ')
        .filter((p) => p !== '')
        .map(Number),
    );
  } catch {
    return [];
  }
}
/** NODE_OPTIONS for the operator process from BENCH_OPERATOR_MAX_HEAP_MIB and BENCH_OPERATOR_CPU_PROF. */
function operatorNodeOptions(): { NODE_OPTIONS?: string } {
  const options: string[] = [];
  if (process.env.BENCH_OPERATOR_MAX_HEAP_MIB)
    options.push(`--max-old-space-size=${Number(process.env.BENCH_OPERATOR_MAX_HEAP_MIB)}`);
  const profileDir = process.env.BENCH_OPERATOR_CPU_PROF;
  if (profileDir) {
    // Node 20 refuses --cpu-prof in NODE_OPTIONS: a preloaded module runs the inspector's profiler
    // instead and writes the profile when the process exits (same-thread posts answer at once).
    mkdirSync(profileDir, { recursive: true });
    const preload = path.join(profileDir, 'cpu-profile-preload.mjs');
    writeFileSync(
      preload,
      [
        "import { Session } from 'node:inspector';",
        "import { writeFileSync } from 'node:fs';",
        'const session = new Session();',
        'session.connect();',
        "session.post('Profiler.enable');",
        "session.post('Profiler.start');",
        "process.on('exit', () => session.post('Profiler.stop', (err, result) => {",
        `  if (!err) writeFileSync(${JSON.stringify(path.join(profileDir, 'operator.cpuprofile'))}, JSON.stringify(result.profile));`,
        '}));',
      ].join('\n'),
    );
    options.push(`--import=${preload}`);
  }
  return options.length > 0 ? { NODE_OPTIONS: options.join(' ') } : {};
}

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
    // BENCH_OPERATOR_CPU_PROF=<dir> writes a V8 CPU profile of the operator there when it stops.
    ...operatorNodeOptions(),
  });
  try {
    // Probe health and metrics while the audit runs (from when the operator listens).
    await operator.waitForReady(120_000);
    let probes = 0;
    let failures = 0;
    let slowestMs = 0;
    let rssMax = 0;
    let probing = true;
    const operatorPid = operator.child.pid ?? 0;
    // From the process's start: its start-up (tsx compiling the sources) counts too.
    const cpuAtStart = { self: 0, children: 0 };
    let operatorRssPeak = 0;
    let trivyRssPeak = 0;
    let trivyRunsSeen = 0;
    const seen = new Set<number>();
    // Children still running at the end are not reaped yet: their own CPU is added then.
    const liveChildCpu = new Map<number, number>();
    const sampler = setInterval(() => {
      const operatorStat = procStat(operatorPid);
      if (operatorStat) operatorRssPeak = Math.max(operatorRssPeak, operatorStat.rss);
      let trivyRss = 0;
      liveChildCpu.clear();
      for (const pid of childrenOf(operatorPid)) {
        const child = procStat(pid);
        if (!child) continue;
        if (!seen.has(pid)) {
          seen.add(pid);
          trivyRunsSeen += 1;
        }
        trivyRss += child.rss;
        liveChildCpu.set(pid, child.self + child.children);
      }
      trivyRssPeak = Math.max(trivyRssPeak, trivyRss);
    }, 200);
    const prober = (async () => {
      while (probing) {
        for (const path of ['/healthz', '/metrics']) {
          const t0 = Date.now();
          try {
            const res = await fetch(`${operator.baseUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
            const body = await res.text();
            if (!res.ok) failures += 1;
            const rss = Number(/^process_resident_memory_bytes (\d+)/m.exec(body)?.[1] ?? 0);
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
    clearInterval(sampler);
    const cpuAtEnd = procStat(operatorPid);
    const cpuSeconds =
      (cpuAtEnd?.self ?? 0) +
      (cpuAtEnd?.children ?? 0) -
      cpuAtStart.self -
      cpuAtStart.children +
      [...liveChildCpu.values()].reduce((sum, cpu) => sum + cpu, 0);
    probing = false;
    await prober;
    say(
      `CPU of the operator and its Trivy runs: ${cpuSeconds.toFixed(1)} s (${(cpuSeconds / TOTAL).toFixed(4)} s per resource; operator alone ${(cpuAtEnd?.self ?? 0).toFixed(1)} s), ${trivyRunsSeen} Trivy runs seen`,
    );
    say(`health/metrics probes while auditing: ${probes}, failed: ${failures}, slowest: ${slowestMs} ms`);
    process.stdout.write(
      `${JSON.stringify({
        resources: TOTAL,
        seconds: Math.round(seconds * 10) / 10,
        resourcesPerSecond: Math.round((TOTAL / seconds) * 10) / 10,
        operatorRssMiB: Math.round((Math.max(rssMax, operatorRssPeak) / 1024 / 1024) * 10) / 10,
        cpuSeconds: Math.round(cpuSeconds * 10) / 10,
        trivyPeakRssMiB: Math.round((trivyRssPeak / 1024 / 1024) * 10) / 10,
      })}\n`,
    );
    if (failures > 0) process.exitCode = 1;
  } finally {
    await operator.stop();
  }
} finally {
  await cp.stop();
}
