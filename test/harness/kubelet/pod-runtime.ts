import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig, V1Container, V1Pod, V1PodCondition } from '@kubernetes/client-node';
import { KubeHttpError, kubeRequestJson } from '../../../src/kube/index.ts';
import {
  ContainerConfigError,
  ObjectReader,
  containerArgv,
  containerEnv,
  containerPathMap,
  podVolumes,
  rewritePaths,
} from './containers.ts';
import type { ImageDigests, ImageIdFormat } from './images.ts';
import type { LogSource } from './log-server.ts';
import { ProcessReaper } from './reaper.ts';
import type { RunSpec } from './types.ts';

/** What every pod runtime of one harness kubelet shares. */
export interface RuntimeContext {
  kc: KubeConfig;
  digests: ImageDigests;
  imageIdFormat: ImageIdFormat;
  reaper: ProcessReaper;
  /** The node's (and every pod's) IP. */
  hostIP: string;
  allocatable: Record<string, string>;
  /** Directories on PATH before the system's, after the RunSpec's own. */
  basePath: string[];
  /** Environment under the RunSpec's and the container's (the stand-in Trivy's config file). */
  baseEnv: Record<string, string>;
  /** The image's ENTRYPOINT when neither the container nor the RunSpec gives one. */
  defaultEntrypoint(container: V1Container): string[] | undefined;
  /** Upper bound on the SIGTERM → SIGKILL wait, whatever terminationGracePeriodSeconds says. */
  killGraceMs: number;
  /** How often a container waiting for a missing Secret/ConfigMap tries again. */
  configRetryMs: number;
  log(message: string, details?: Record<string, unknown>): void;
}

type Phase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

interface Terminated {
  exitCode: number;
  signal?: number;
  reason: string;
  message?: string;
  startedAt: string;
  finishedAt: string;
  containerID?: string;
}

interface ContainerRecord {
  spec: V1Container;
  kind: 'init' | 'sidecar' | 'regular';
  dir: string;
  waiting: { reason: string; message?: string } | undefined;
  running: { startedAt: string } | undefined;
  terminated: Terminated | undefined;
  lastTerminated: Terminated | undefined;
  restartCount: number;
  containerID: string | undefined;
  logFile: string | undefined;
  previousLogFile: string | undefined;
  pgid: number | undefined;
  exited: Promise<number> | undefined;
}

/** The conditions the kubelet owns; others (PodScheduled, DisruptionTarget …) are kept as they are. */
const KUBELET_CONDITIONS = new Set(['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready']);

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/**
 * One pod on the harness node, from first sight to deletion: runs its containers as processes (a
 * runner pod) or only reports them running (any other pod), writes its status the way the real
 * kubelet does (merge patch of the status subresource, with the pod's UID as precondition), and
 * finishes a graceful deletion by killing what runs and deleting with gracePeriodSeconds=0.
 */
export class PodRuntime {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  private pod: V1Pod;
  private readonly dir: string;
  private readonly containers = new Map<string, ContainerRecord>();
  private readonly conditionTimes = new Map<string, { status: string; time: string }>();
  private startTime: string | undefined;
  private finalPhase: Phase | undefined;
  private reason: string | undefined;
  private message: string | undefined;
  private stopping = false;
  private gone = false;
  private stopped: Promise<void> | undefined;
  private deleting: Promise<void> | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private dirty = false;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly ctx: RuntimeContext,
    pod: V1Pod,
    workDir: string,
    private readonly runSpec: RunSpec | undefined,
  ) {
    this.pod = pod;
    this.uid = pod.metadata?.uid ?? '';
    this.namespace = pod.metadata?.namespace ?? '';
    this.name = pod.metadata?.name ?? '';
    this.dir = path.join(workDir, 'pods', this.uid);
    for (const spec of pod.spec?.initContainers ?? [])
      this.addContainer(spec, spec.restartPolicy === 'Always' ? 'sidecar' : 'init');
    for (const spec of pod.spec?.containers ?? []) this.addContainer(spec, 'regular');
  }

  /** True when this pod's containers run as local processes. */
  get isRunner(): boolean {
    return this.runSpec !== undefined;
  }

  get isTerminal(): boolean {
    return this.finalPhase === 'Succeeded' || this.finalPhase === 'Failed';
  }

  get processCount(): number {
    return [...this.containers.values()].filter((c) => c.pgid !== undefined).length;
  }

  private addContainer(spec: V1Container, kind: ContainerRecord['kind']): void {
    this.containers.set(spec.name, {
      spec,
      kind,
      dir: path.join(this.dir, 'containers', spec.name),
      waiting: {
        reason:
          kind === 'regular' && this.pod.spec?.initContainers?.length
            ? 'PodInitializing'
            : 'ContainerCreating',
      },
      running: undefined,
      terminated: undefined,
      lastTerminated: undefined,
      restartCount: 0,
      containerID: undefined,
      logFile: undefined,
      previousLogFile: undefined,
      pgid: undefined,
      exited: undefined,
    });
  }

  private get records(): ContainerRecord[] {
    return [...this.containers.values()];
  }

  /** Starts handling the pod as first seen (possibly left behind by an earlier harness kubelet). */
  start(): void {
    const phase = this.pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      // Finished under an earlier kubelet: nothing to run, nothing to report.
      this.finalPhase = phase;
      this.stopping = true;
      return;
    }
    mkdirSync(this.dir, { recursive: true });
    this.startTime = this.pod.status?.startTime
      ? new Date(this.pod.status.startTime).toISOString().replace(/\.\d+Z$/, 'Z')
      : now();
    this.armDeadline();
    if (!this.runSpec) {
      this.reportRunning();
      return;
    }
    const started = (this.pod.status?.containerStatuses ?? []).some(
      (s) => s.state?.running || s.state?.terminated,
    );
    if (started) {
      // Its processes belonged to an earlier harness kubelet and are gone: say so, as a kubelet does.
      for (const c of this.records) this.markLost(c);
      this.finalPhase = 'Failed';
      this.push();
      return;
    }
    this.running = this.run(this.runSpec).catch((err: unknown) => {
      this.ctx.log('pod run failed', { pod: `${this.namespace}/${this.name}`, err: String(err) });
    });
  }

  /** A newer version of the pod from the watch. */
  observe(pod: V1Pod): void {
    this.pod = pod;
    if (pod.metadata?.deletionTimestamp) void this.terminate('deleted');
  }

  /** The pod was removed from the API: stop everything at once and forget it. */
  dispose(): void {
    this.stopping = true;
    this.gone = true;
    clearTimeout(this.deadlineTimer);
    for (const c of this.records) if (c.pgid !== undefined) ProcessReaper.signal(c.pgid, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Kills what runs (SIGTERM, then SIGKILL after the grace period) and waits for it. */
  async killAll(graceMs: number): Promise<void> {
    this.stopping = true;
    const live = this.records.filter((c) => c.pgid !== undefined);
    for (const c of live) ProcessReaper.signal(c.pgid as number, 'SIGTERM');
    const exits = Promise.all(live.map((c) => c.exited));
    const timer = setTimeout(() => {
      for (const c of live) if (c.pgid !== undefined) ProcessReaper.signal(c.pgid, 'SIGKILL');
    }, graceMs);
    await exits;
    clearTimeout(timer);
  }

  logSource(containerName: string, previous: boolean): LogSource | { status: number; message: string } {
    const c = this.containers.get(containerName);
    if (!c)
      return {
        status: 404,
        message: `container "${containerName}" not found in pod "${this.namespace}/${this.name}"`,
      };
    const file = previous ? c.previousLogFile : c.logFile;
    if (!file) {
      if (previous)
        return {
          status: 400,
          message: `previous terminated container "${containerName}" in pod "${this.name}" not found`,
        };
      if (this.isTerminal && !c.containerID)
        return {
          status: 404,
          message: `the log of container "${containerName}" in pod "${this.name}" was written by an earlier harness kubelet`,
        };
      return {
        status: 400,
        message: `container "${containerName}" in pod "${this.name}" is waiting to start: ${c.waiting?.reason ?? 'ContainerCreating'}`,
      };
    }
    return { file, running: () => c.running !== undefined && c.logFile === file };
  }

  /**
   * Graceful termination: kill, report the final status, and, for a deletion, delete with
   * gracePeriodSeconds=0 as the kubelet does to let the API server remove the pod.
   */
  async terminate(cause: 'deleted' | 'deadline'): Promise<void> {
    this.stopped ??= this.stopAndReport(cause);
    await this.stopped;
    if (cause === 'deleted') {
      this.deleting ??= this.deleteNow();
      await this.deleting;
    }
  }

  private async stopAndReport(cause: 'deleted' | 'deadline'): Promise<void> {
    clearTimeout(this.deadlineTimer);
    const alreadyFinal = this.isTerminal;
    const graceSeconds =
      this.pod.metadata?.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    await this.killAll(Math.min(graceSeconds * 1000, this.ctx.killGraceMs));
    await this.running;
    if (!alreadyFinal) {
      for (const c of this.records) {
        if (c.running && !this.runSpec) {
          // A workload pod that was only reported running: its "process" stops cleanly.
          c.terminated = {
            exitCode: 0,
            reason: 'Completed',
            startedAt: c.running.startedAt,
            finishedAt: now(),
            containerID: c.containerID,
          };
          c.running = undefined;
        } else if (!c.terminated) {
          this.markLost(c);
        }
      }
      if (cause === 'deadline') {
        this.finalPhase = 'Failed';
        this.reason = 'DeadlineExceeded';
        this.message = 'Pod was active on the node longer than the specified deadline';
      } else {
        this.finalPhase = this.records.every((c) => c.kind !== 'regular' || c.terminated?.exitCode === 0)
          ? 'Succeeded'
          : 'Failed';
      }
      this.push();
    }
    await this.flush();
  }

  private markLost(c: ContainerRecord): void {
    c.terminated = {
      exitCode: 137,
      reason: 'ContainerStatusUnknown',
      message: 'The container could not be located when the pod was terminated',
      startedAt: c.running?.startedAt ?? now(),
      finishedAt: now(),
    };
    c.running = undefined;
    c.waiting = undefined;
  }

  private armDeadline(): void {
    const seconds = this.pod.spec?.activeDeadlineSeconds;
    if (!seconds || !this.startTime) return;
    const remaining = new Date(this.startTime).getTime() + seconds * 1000 - Date.now();
    this.deadlineTimer = setTimeout(() => void this.terminate('deadline'), Math.max(0, remaining));
    this.deadlineTimer.unref();
  }

  private async deleteNow(): Promise<void> {
    try {
      await kubeRequestJson(this.ctx.kc, {
        method: 'DELETE',
        path: `/api/v1/namespaces/${this.namespace}/pods/${this.name}`,
        body: {
          kind: 'DeleteOptions',
          apiVersion: 'v1',
          gracePeriodSeconds: 0,
          preconditions: { uid: this.uid },
        },
      });
    } catch (err) {
      if (!(err instanceof KubeHttpError && (err.code === 404 || err.code === 409))) {
        this.ctx.log('pod deletion failed', { pod: `${this.namespace}/${this.name}`, err: String(err) });
      }
    }
  }

  /** An ordinary workload pod: every container "runs" at once, with its image's digest. */
  private reportRunning(): void {
    const at = now();
    for (const c of this.records) {
      mkdirSync(c.dir, { recursive: true });
      c.logFile = path.join(c.dir, '0.log');
      writeFileSync(c.logFile, '');
      c.containerID = newContainerId();
      c.waiting = undefined;
      if (c.kind === 'init')
        c.terminated = {
          exitCode: 0,
          reason: 'Completed',
          startedAt: at,
          finishedAt: at,
          containerID: c.containerID,
        };
      else c.running = { startedAt: at };
    }
    this.push();
  }

  private async run(spec: RunSpec): Promise<void> {
    this.push();
    // A fresh reader per attempt: an object that was missing may have been created since.
    const volumes = await this.retryUntilConfigured(this.records, () =>
      podVolumes(new ObjectReader(this.ctx.kc, this.namespace), this.pod, this.dir, spec.hostRoot),
    );
    if (!volumes || this.stopping) return;
    const sidecars: Promise<boolean>[] = [];
    for (const c of this.records.filter((r) => r.kind !== 'regular')) {
      if (c.kind === 'sidecar') {
        sidecars.push(this.runContainer(c, spec, volumes));
        continue;
      }
      const ok = await this.runContainer(c, spec, volumes);
      if (this.stopping) return;
      if (!ok) {
        this.finish();
        return;
      }
    }
    for (const c of this.records.filter((r) => r.kind === 'regular'))
      c.waiting = { reason: 'ContainerCreating' };
    this.push();
    await Promise.all(
      this.records.filter((r) => r.kind === 'regular').map((c) => this.runContainer(c, spec, volumes)),
    );
    if (this.stopping) return;
    // Sidecars end with the pod's main containers.
    const live = this.records.filter((c) => c.kind === 'sidecar' && c.pgid !== undefined);
    for (const c of live) ProcessReaper.signal(c.pgid as number, 'SIGTERM');
    await Promise.all(sidecars);
    this.finish();
  }

  private finish(): void {
    clearTimeout(this.deadlineTimer);
    const failedInit = this.records.some(
      (c) => c.kind === 'init' && c.terminated && c.terminated.exitCode !== 0,
    );
    const allOk = this.records.every((c) => c.kind !== 'regular' || c.terminated?.exitCode === 0);
    this.finalPhase = !failedInit && allOk ? 'Succeeded' : 'Failed';
    for (const c of this.records) {
      if (!c.terminated && !c.running) c.waiting = { reason: 'PodInitializing' };
    }
    this.push();
  }

  /** Runs `attempt` until it stops failing for a missing object, showing the reason meanwhile. */
  private async retryUntilConfigured<T>(
    waiting: ContainerRecord[],
    attempt: () => Promise<T>,
  ): Promise<T | undefined> {
    for (;;) {
      if (this.stopping) return undefined;
      try {
        return await attempt();
      } catch (err) {
        const reason = err instanceof ContainerConfigError ? err.reason : 'ContainerCreating';
        for (const c of waiting)
          c.waiting = { reason, message: err instanceof Error ? err.message : String(err) };
        this.push();
        await sleep(this.ctx.configRetryMs);
      }
    }
  }

  private shouldRestart(c: ContainerRecord, exitCode: number): boolean {
    const policy = c.kind === 'sidecar' ? 'Always' : (this.pod.spec?.restartPolicy ?? 'Always');
    if (c.kind === 'init') return policy !== 'Never' && exitCode !== 0;
    return policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
  }

  /** One container, with restarts as the pod's restartPolicy asks; resolves with whether it succeeded. */
  private async runContainer(
    c: ContainerRecord,
    spec: RunSpec,
    volumes: Map<string, string>,
  ): Promise<boolean> {
    mkdirSync(path.join(c.dir, 'home'), { recursive: true });
    const terminationLog = path.join(c.dir, 'termination-log');
    for (;;) {
      const prepared = await this.retryUntilConfigured([c], async () => {
        const reader = new ObjectReader(this.ctx.kc, this.namespace);
        const containerEnvVars = await containerEnv(
          reader,
          this.pod,
          c.spec,
          this.ctx.hostIP,
          this.ctx.allocatable,
        );
        const paths = containerPathMap(c.spec, volumes, terminationLog);
        const entrypoint = (container: V1Container) =>
          spec.entrypoint?.(container) ?? this.ctx.defaultEntrypoint(container);
        const argv = containerArgv(c.spec, containerEnvVars, { ...spec, entrypoint }, paths);
        const env: Record<string, string> = {
          HOME: path.join(c.dir, 'home'),
          HOSTNAME: this.name,
          ...this.ctx.baseEnv,
          ...spec.env,
        };
        for (const [key, value] of Object.entries(containerEnvVars)) env[key] = rewritePaths(value, paths);
        const systemPath = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
        env.PATH = [...(spec.pathPrepend ?? []), ...this.ctx.basePath, env.PATH ?? systemPath].join(':');
        const cwd = c.spec.workingDir
          ? rewritePaths(c.spec.workingDir, paths)
          : (spec.workingDir ?? path.join(c.dir, 'home'));
        mkdirSync(cwd, { recursive: true });
        return { argv, env, cwd };
      });
      if (!prepared || this.stopping) return false;
      writeFileSync(terminationLog, '');
      const exitCode = await this.exec(c, prepared.argv, prepared.env, prepared.cwd, terminationLog);
      if (this.stopping) return exitCode === 0;
      if (!this.shouldRestart(c, exitCode)) return exitCode === 0;
      c.restartCount += 1;
      c.lastTerminated = c.terminated;
      c.terminated = undefined;
      c.waiting = {
        reason: 'CrashLoopBackOff',
        message: `back-off restarting failed container ${c.spec.name}`,
      };
      this.push();
      await sleep(Math.min(1000 * c.restartCount, 10_000));
      if (this.stopping) return false;
    }
  }

  private exec(
    c: ContainerRecord,
    argv: string[],
    env: Record<string, string>,
    cwd: string,
    terminationLog: string,
  ): Promise<number> {
    c.previousLogFile = c.logFile;
    c.logFile = path.join(c.dir, `${c.restartCount}.log`);
    c.containerID = newContainerId();
    // The child writes straight into the log file: no copy through this process, however large.
    const fd = openSync(c.logFile, 'a');
    let child;
    try {
      child = spawn(argv[0] as string, argv.slice(1), {
        cwd,
        env,
        stdio: ['ignore', fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    const startedAt = now();
    // Known at once (not on 'spawn'), so that a kill racing with the start does not miss it.
    c.pgid = child.pid;
    if (c.pgid !== undefined) this.ctx.reaper.add(c.pgid);
    c.exited = new Promise<number>((resolve) => {
      let settled = false;
      child.once('spawn', () => {
        c.waiting = undefined;
        c.running = { startedAt };
        this.push();
      });
      child.once('error', (err) => {
        if (settled) return;
        settled = true;
        if (c.pgid !== undefined) this.ctx.reaper.remove(c.pgid);
        c.pgid = undefined;
        c.waiting = undefined;
        c.running = undefined;
        c.terminated = {
          exitCode: 128,
          reason: 'StartError',
          message: `failed to start container "${c.spec.name}": exec: "${argv[0]}": ${err.message}`,
          startedAt,
          finishedAt: now(),
          containerID: c.containerID,
        };
        this.push();
        resolve(128);
      });
      child.once('exit', (code, signal) => {
        if (settled) return;
        settled = true;
        if (c.pgid !== undefined) {
          // Whatever the main process left behind dies with the container, as in a real one.
          ProcessReaper.signal(c.pgid, 'SIGKILL');
          this.ctx.reaper.remove(c.pgid);
        }
        c.pgid = undefined;
        const signalNumber = signal ? osConstants.signals[signal] : undefined;
        const exitCode = code ?? 128 + (signalNumber ?? 9);
        c.running = undefined;
        c.terminated = {
          exitCode,
          ...(signalNumber ? { signal: signalNumber } : {}),
          reason: exitCode === 0 ? 'Completed' : 'Error',
          message: terminationMessage(c.spec, terminationLog, c.logFile as string, exitCode),
          startedAt,
          finishedAt: now(),
          containerID: c.containerID,
        };
        this.push();
        resolve(exitCode);
      });
    });
    return c.exited;
  }

  // ---- status ----

  private push(): void {
    if (this.gone) return;
    this.dirty = true;
    this.writing ??= this.writeLoop();
  }

  /** Resolves once every status change so far has reached the API server (or the pod is gone). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeLoop(): Promise<void> {
    let attempt = 0;
    try {
      while (this.dirty && !this.gone) {
        this.dirty = false;
        try {
          await kubeRequestJson(this.ctx.kc, {
            method: 'PATCH',
            path: `/api/v1/namespaces/${this.namespace}/pods/${this.name}/status`,
            contentType: 'application/merge-patch+json',
            // The UID makes the patch fail (409) on a newer pod of the same name, as the kubelet's does.
            body: { metadata: { uid: this.uid }, status: this.buildStatus() },
          });
          attempt = 0;
        } catch (err) {
          if (err instanceof KubeHttpError && (err.code === 404 || err.code === 409)) {
            this.gone = true;
            return;
          }
          this.dirty = true;
          this.ctx.log('pod status update failed; retrying', {
            pod: `${this.namespace}/${this.name}`,
            err: String(err),
          });
          await sleep(Math.min(200 * 2 ** attempt++, 5_000));
        }
      }
    } finally {
      this.writing = undefined;
    }
  }

  private condition(
    type: string,
    status: boolean,
    reason?: string,
    message?: string,
  ): Record<string, unknown> {
    const value = status ? 'True' : 'False';
    const previous = this.conditionTimes.get(type);
    const time = previous && previous.status === value ? previous.time : now();
    this.conditionTimes.set(type, { status: value, time });
    return {
      type,
      status: value,
      lastProbeTime: null,
      lastTransitionTime: time,
      ...(reason ? { reason } : {}),
      ...(message ? { message } : {}),
    };
  }

  private phase(): Phase {
    if (this.finalPhase) return this.finalPhase;
    return this.records.some((c) => c.kind === 'regular' && (c.running || c.terminated))
      ? 'Running'
      : 'Pending';
  }

  private containerStatus(c: ContainerRecord): Record<string, unknown> {
    const image = c.spec.image ?? '';
    const started = c.containerID !== undefined && (c.running !== undefined || c.terminated !== undefined);
    const terminated = (t: Terminated) => ({
      exitCode: t.exitCode,
      ...(t.signal ? { signal: t.signal } : {}),
      reason: t.reason,
      ...(t.message ? { message: t.message } : {}),
      startedAt: t.startedAt,
      finishedAt: t.finishedAt,
      ...(t.containerID ? { containerID: t.containerID } : {}),
    });
    const state = c.running
      ? { running: { startedAt: c.running.startedAt } }
      : c.terminated
        ? { terminated: terminated(c.terminated) }
        : {
            waiting: {
              reason: c.waiting?.reason ?? 'ContainerCreating',
              ...(c.waiting?.message ? { message: c.waiting.message } : {}),
            },
          };
    return {
      name: c.spec.name,
      image: this.ctx.digests.statusImage(image, this.ctx.imageIdFormat),
      imageID: started ? this.ctx.digests.imageId(image, this.ctx.imageIdFormat) : '',
      ...(started ? { containerID: c.containerID } : {}),
      ready: c.running !== undefined && c.kind !== 'init',
      started: c.running !== undefined,
      restartCount: c.restartCount,
      state,
      lastState: c.lastTerminated ? { terminated: terminated(c.lastTerminated) } : {},
    };
  }

  private buildStatus(): Record<string, unknown> {
    const phase = this.phase();
    const terminal = phase === 'Succeeded' || phase === 'Failed';
    const initPending = this.records.filter(
      (c) =>
        (c.kind === 'init' && c.terminated?.exitCode !== 0) ||
        (c.kind === 'sidecar' && !c.running && !terminal),
    );
    const unready = this.records.filter((c) => c.kind !== 'init' && !c.running);
    const names = (list: ContainerRecord[]) => `[${list.map((c) => c.spec.name).join(' ')}]`;
    const managed = [
      this.condition('PodReadyToStartContainers', !terminal || this.isRunner),
      this.condition(
        'Initialized',
        initPending.length === 0,
        initPending.length ? 'ContainersNotInitialized' : terminal ? 'PodCompleted' : undefined,
        initPending.length ? `containers with incomplete status: ${names(initPending)}` : undefined,
      ),
      this.condition(
        'Ready',
        !terminal && unready.length === 0,
        terminal ? 'PodCompleted' : unready.length ? 'ContainersNotReady' : undefined,
        !terminal && unready.length ? `containers with unready status: ${names(unready)}` : undefined,
      ),
      this.condition(
        'ContainersReady',
        !terminal && unready.length === 0,
        terminal ? 'PodCompleted' : unready.length ? 'ContainersNotReady' : undefined,
        !terminal && unready.length ? `containers with unready status: ${names(unready)}` : undefined,
      ),
    ];
    const foreign = (this.pod.status?.conditions ?? []).filter(
      (c: V1PodCondition) => !KUBELET_CONDITIONS.has(c.type),
    );
    const ip = this.ctx.hostIP;
    return {
      phase,
      conditions: [...foreign, ...managed],
      hostIP: ip,
      hostIPs: [{ ip }],
      podIP: ip,
      podIPs: [{ ip }],
      startTime: this.startTime,
      reason: this.reason ?? null,
      message: this.message ?? null,
      initContainerStatuses: this.records
        .filter((c) => c.kind !== 'regular')
        .map((c) => this.containerStatus(c)),
      containerStatuses: this.records.filter((c) => c.kind === 'regular').map((c) => this.containerStatus(c)),
    };
  }
}

function newContainerId(): string {
  return `containerd://${randomBytes(32).toString('hex')}`;
}

/** The kubelet's termination message: the file's contents, else (FallbackToLogsOnError, on failure) the log's tail. */
function terminationMessage(
  spec: V1Container,
  file: string,
  logFile: string,
  exitCode: number,
): string | undefined {
  try {
    const text = readFileSync(file).subarray(0, 4096).toString('utf8');
    if (text) return text;
  } catch {
    // No message file: fall through to the log.
  }
  if (spec.terminationMessagePolicy !== 'FallbackToLogsOnError' || exitCode === 0) return undefined;
  try {
    const size = statSync(logFile).size;
    const fd = openSync(logFile, 'r');
    try {
      const length = Math.min(size, 2048);
      const buffer = Buffer.alloc(length);
      let read = 0;
      while (read < length) {
        const n = readSync(fd, buffer, read, length - read, size - length + read);
        if (n === 0) break;
        read += n;
      }
      const lines = buffer.subarray(0, read).toString('utf8').split('\n');
      return lines.slice(-81).join('\n') || undefined;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}
