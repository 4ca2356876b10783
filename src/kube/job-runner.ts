import type { KubeConfig, V1Job } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Controller, type RuntimeObserver } from './controller.ts';
import type { Informers, SubscriptionGroup } from './informers.ts';
import { JobClient, type JobManifests, type JobPodResult } from './jobs.ts';

/** How a Job ended, as its conditions say. */
export interface FinishedJob {
  name: string;
  /** What the Job works on (an image, a node), from the Job's own annotation. */
  key: string;
  succeeded: boolean;
  /** The Job's condition reason when it failed: DeadlineExceeded, BackoffLimitExceeded, … */
  reason: string | undefined;
  startedAt: number;
}

export interface JobRunnerOptions {
  /** Names the queue in metrics and logs: `scan-jobs`, `node-collector-jobs`. */
  name: string;
  kc: KubeConfig;
  informers: Informers;
  namespace: string;
  /** Selects this runner's Jobs (a label selector). */
  labelSelector: string;
  /** The annotation on each Job that names what it works on. */
  keyAnnotation: string;
  /** Jobs running at once at most. */
  limit: number;
  /** The main container, whose log is the result. */
  container: string;
  /**
   * Files a finished Job's outcome (reads its result, writes reports). Throw to keep the Job and
   * retry with backoff: the result must not be lost to a refused write.
   */
  finished(job: FinishedJob, result: () => Promise<JobPodResult | undefined>): Promise<void>;
  /** A Job went away before it finished (deleted by someone, or its node drained). */
  vanished?(key: string, name: string): void;
  /** A slot came free, or the runner synced: start what waits. */
  onSlotFree(): void;
  resyncMs: number;
  log: Logger;
  runtime?: RuntimeObserver;
  now?: () => number;
}

/**
 * Runs the operator's Jobs: creates them (adopting one of the same name that already runs, from
 * before a restart or another replica), counts what runs against the limit, and once a Job
 * finishes hands its outcome over exactly once, then deletes it. Reconciled by Job name from the
 * shared watch of the runner's Jobs, so nothing is lost to a failed call or a missed event.
 */
export class JobRunner {
  private readonly client: JobClient;
  private readonly controller: Controller<string>;
  private readonly watchers: SubscriptionGroup;
  private readonly cache = new Map<string, V1Job>();
  /** Key of every Job seen, kept after its deletion to clean up after it. */
  private readonly keyOfJob = new Map<string, string>();
  /** Key → the Job that runs for it and since when. */
  private readonly runningJobs = new Map<string, { name: string; startedAt: number }>();
  /** Finished Jobs already handed over, by name: the uid of the one handled. */
  private readonly handled = new Map<string, string>();
  private readonly now: () => number;

  constructor(private readonly o: JobRunnerOptions) {
    this.now = o.now ?? Date.now;
    this.client = new JobClient(o.kc, o.namespace);
    this.watchers = o.informers.group(o.name);
    this.controller = new Controller<string>({
      name: o.name,
      keyOf: (name) => name,
      reconcile: (name) => this.reconcile(name),
      log: o.log,
      ...(o.runtime ? { observer: o.runtime } : {}),
      resync: { everyMs: o.resyncMs, keys: () => this.cache.keys() },
    });
  }

  /** Jobs running now. */
  get running(): number {
    return this.runningJobs.size;
  }

  /** Free slots under the limit. */
  get free(): number {
    return Math.max(0, this.o.limit - this.runningJobs.size);
  }

  isRunning(key: string): boolean {
    return this.runningJobs.has(key);
  }

  /** Lists the existing Jobs and files those that finished while nobody was looking. */
  async start(): Promise<void> {
    const jobs = this.watchers.watch<V1Job>(
      { path: `/apis/batch/v1/namespaces/${this.o.namespace}/jobs`, labelSelector: this.o.labelSelector },
      (type, job) => {
        const name = job.metadata?.name ?? '';
        const key = job.metadata?.annotations?.[this.o.keyAnnotation];
        if (key !== undefined) this.keyOfJob.set(name, key);
        else if (!this.keyOfJob.has(name)) return;
        if (type === 'DELETED') this.cache.delete(name);
        else this.cache.set(name, job);
        this.controller.enqueue(name);
      },
    );
    await jobs.waitForSync();
    this.controller.start();
    await this.controller.idle();
  }

  async stop(): Promise<void> {
    // The queue stops taking keys at once: a filing its owner aborts meanwhile is not retried.
    const stopping = this.controller.stop();
    await this.watchers.stop();
    await stopping;
  }

  /**
   * Creates the Job for the key and counts it as running. An existing Job of the same name is
   * adopted ('exists'). Throws when the API refuses; nothing is counted then.
   */
  async create(key: string, manifests: JobManifests): Promise<'created' | 'exists'> {
    const name = manifests.job.metadata?.name ?? '';
    const outcome = await this.client.create(manifests);
    this.keyOfJob.set(name, key);
    if (!this.runningJobs.has(key)) this.runningJobs.set(key, { name, startedAt: this.now() });
    return outcome;
  }

  /** Deletes the key's running Job (what it worked on went away). */
  async cancel(key: string): Promise<void> {
    const running = this.runningJobs.get(key);
    if (running) await this.client.delete(running.name);
  }

  private async reconcile(name: string): Promise<void> {
    const key = this.keyOfJob.get(name);
    if (key === undefined) return;
    const job = this.cache.get(name);
    if (!job) {
      this.keyOfJob.delete(name);
      this.handled.delete(name);
      if (this.runningJobs.get(key)?.name === name) {
        this.runningJobs.delete(key);
        this.o.log.info({ key, job: name }, 'job deleted before it finished');
        this.o.vanished?.(key, name);
      }
      this.o.onSlotFree();
      return;
    }
    const finished = job.status?.conditions?.find(
      (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
    );
    if (!finished) {
      // Running: ours from before a restart, or another replica's. Count it; never start a twin.
      if (!this.runningJobs.has(key)) {
        const startedAt = job.status?.startTime ? new Date(job.status.startTime).getTime() : this.now();
        this.runningJobs.set(key, { name, startedAt });
      }
      return;
    }
    const uid = job.metadata?.uid ?? name;
    if (this.handled.get(name) === uid) return;
    await this.o.finished(
      {
        name,
        key,
        succeeded: finished.type === 'Complete',
        reason: finished.reason,
        startedAt: this.runningJobs.get(key)?.startedAt ?? this.now(),
      },
      () => this.client.readResult(name, this.o.container),
    );
    this.handled.set(name, uid);
    if (this.runningJobs.get(key)?.name === name) this.runningJobs.delete(key);
    await this.client
      .delete(name)
      .catch((err: unknown) => this.o.log.warn({ err, job: name }, 'could not delete finished job'));
    this.o.onSlotFree();
  }
}
