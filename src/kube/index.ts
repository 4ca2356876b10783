export { loadKubeConfig } from './config.ts';
export {
  apiErrorMessage,
  apiErrorReason,
  apiErrorStatus,
  isConflict,
  isGone,
  isNotFound,
  kubeError,
} from './errors.ts';
export { backoffDelay, defaultBackoff, type BackoffOptions } from './backoff.ts';
export { KnownObjects, objectKey, type WatchEventType } from './known-objects.ts';
export { KubeHttpError, kubeRequestJson, openKubeRequest, type KubeRequest } from './request.ts';
export { ResourceWatcher, type RestartReason, type WatchHandlers, type WatcherOptions } from './watcher.ts';
export { LeaderElection, type LeaderElectionOptions } from './leader-election.ts';
export {
  Informers,
  type InformerHandler,
  type InformerSource,
  type InformerStatus,
  type InformersOptions,
  type Subscription,
  type SubscriptionGroup,
  type SubscribeOptions,
} from './informers.ts';
export { WorkQueue, type WorkQueueProbe, type WorkQueueSink } from './work-queue.ts';
export {
  Controller,
  type BatchReconcile,
  type ControllerOptions,
  type ReconcileOutcome,
  type ReconcileResult,
  type RuntimeObserver,
} from './controller.ts';
export { JobClient, type JobManifests, type JobPodResult } from './jobs.ts';
export { JobRunner, type FinishedJob, type JobRunnerOptions } from './job-runner.ts';
export { WorkloadEvents } from './events.ts';
