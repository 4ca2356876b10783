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
  WatcherSet,
  guardEvents,
  type GuardedWatchSpec,
  type WatchEventHandler,
  type WatcherSetOptions,
} from './watcher-set.ts';
export { WorkloadEvents } from './events.ts';
