import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiErrorMessage, isConflict, isNotFound } from './errors.ts';
import { kubeRequestJson } from './request.ts';

export interface LeaderElectionOptions {
  kc: KubeConfig;
  namespace: string;
  /** Lease name; every replica must use the same. */
  name: string;
  log: Logger;
  /** How long a lease is valid without renewal (client-go's default 15 s). */
  leaseDurationMs?: number;
  /** Renew period while leading; must be well under the lease duration. */
  renewIntervalMs?: number;
  /** How often a follower checks whether the lease is free. */
  retryIntervalMs?: number;
  /**
   * Called on gaining and losing the lease, one after another and never overlapping: a stop waits
   * for the start it undoes. The lease keeps being renewed while they run.
   */
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
  identity?: string;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** metav1.MicroTime wants exactly six fractional digits. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Leader election on a coordination.k8s.io Lease, as client-go does it: the holder renews the
 * lease; others take it over once it has not been renewed for its duration. A leader that cannot
 * renew in time steps down before another replica may take over, so two never act at once.
 */
export class LeaderElection {
  readonly identity: string;
  private readonly leaseDurationMs: number;
  private readonly renewIntervalMs: number;
  private readonly retryIntervalMs: number;
  private leading = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  /** The leadership callbacks, chained: see `onStartedLeading`. */
  private transitions: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();

  constructor(private readonly o: LeaderElectionOptions) {
    this.identity = o.identity ?? `${os.hostname()}_${randomBytes(4).toString('hex')}`;
    this.leaseDurationMs = o.leaseDurationMs ?? 15_000;
    this.renewIntervalMs = o.renewIntervalMs ?? 5_000;
    this.retryIntervalMs = o.retryIntervalMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Steps down and releases the lease so a successor need not wait for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.loop;
    await this.transitions;
    if (this.leading) {
      this.leading = false;
      await this.o.onStoppedLeading();
      await this.release().catch((err: unknown) =>
        this.o.log.warn({ err: apiErrorMessage(err) }, 'could not release the lease'),
      );
    }
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases`;
  }

  private async run(): Promise<void> {
    let lastRenew = 0;
    while (!this.stopped) {
      let held = false;
      try {
        held = await this.tryAcquireOrRenew();
      } catch (err) {
        this.o.log.warn({ err: apiErrorMessage(err), lease: this.o.name }, 'leader election request failed');
      }
      if (held) lastRenew = Date.now();
      if (held && !this.leading) {
        this.leading = true;
        this.o.log.info({ identity: this.identity, lease: this.o.name }, 'became leader');
        this.transition('start');
      } else if (
        !held &&
        this.leading &&
        Date.now() - lastRenew > this.leaseDurationMs - this.renewIntervalMs
      ) {
        // Renewal kept failing: stop acting before the lease can have expired for the others.
        this.leading = false;
        this.o.log.warn({ identity: this.identity, lease: this.o.name }, 'lost leadership');
        this.transition('stop');
      }
      await sleep(this.leading ? this.renewIntervalMs : this.retryIntervalMs, undefined, {
        signal: this.abort.signal,
      }).catch(() => {});
    }
  }

  /**
   * Queues a leadership callback behind the previous one. Off the renewal loop, because a start
   * that outlasts the lease (caches syncing on a big cluster) would otherwise let it lapse, and a
   * second replica would lead while this one still acts.
   */
  private transition(kind: 'start' | 'stop'): void {
    const callback = kind === 'start' ? this.o.onStartedLeading : this.o.onStoppedLeading;
    this.transitions = this.transitions
      .then(() => callback())
      .catch((err: unknown) => this.o.log.error({ err, lease: this.o.name }, `leadership ${kind} failed`));
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    let lease: Lease | undefined;
    try {
      lease = await kubeRequestJson<Lease>(this.o.kc, { path: `${this.path}/${this.o.name}` });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const durationSeconds = Math.round(this.leaseDurationMs / 1000);
    if (!lease) {
      try {
        await kubeRequestJson(this.o.kc, {
          method: 'POST',
          path: this.path,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.o.name, namespace: this.o.namespace },
            spec: {
              holderIdentity: this.identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: microTime(now),
              renewTime: microTime(now),
              leaseTransitions: 0,
            },
          },
        });
        return true;
      } catch (err) {
        if (isConflict(err)) return false; // another replica created it first
        throw err;
      }
    }
    const holder = lease.spec.holderIdentity ?? '';
    const renewedAt = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : 0;
    const validFor = (lease.spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    const ours = holder === this.identity;
    if (!ours && holder !== '' && renewedAt + validFor > now.getTime()) return false;
    const spec = {
      ...lease.spec,
      holderIdentity: this.identity,
      leaseDurationSeconds: durationSeconds,
      renewTime: microTime(now),
      ...(ours
        ? {}
        : { acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 }),
    };
    try {
      await kubeRequestJson(this.o.kc, {
        method: 'PUT',
        path: `${this.path}/${this.o.name}`,
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: lease.metadata, spec },
      });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  private async release(): Promise<void> {
    const lease = await kubeRequestJson<Lease>(this.o.kc, { path: `${this.path}/${this.o.name}` });
    if (lease.spec.holderIdentity !== this.identity) return;
    await kubeRequestJson(this.o.kc, {
      method: 'PUT',
      path: `${this.path}/${this.o.name}`,
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: lease.metadata,
        spec: {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(new Date()),
        },
      },
    });
    this.o.log.info({ lease: this.o.name }, 'released the lease');
  }
}
