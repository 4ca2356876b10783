import type { V1Container, V1Pod } from '@kubernetes/client-node';

/**
 * How the harness kubelet runs a pod's containers as local processes. Each container's
 * `command` + `args` (Kubernetes semantics: `$(VAR)` expanded from its env; `args` alone follow the
 * image's entrypoint) are executed directly, usually `/bin/sh -c …`, with:
 * - the container's env (values, secretKeyRef, configMapKeyRef, fieldRef, envFrom) on top of a
 *   small base (PATH, HOME per container, HOSTNAME = pod name) and `env` below;
 * - every volume mount's mountPath (and terminationMessagePath) rewritten, wherever it appears as a
 *   path in the command line, env values and workingDir, to a per-pod host directory, so emptyDirs
 *   are shared between the pod's containers and private to the pod;
 * - stdout and stderr, interleaved, as the container log.
 */
export interface RunSpec {
  /** Directories put first on PATH (the stand-in Trivy's bin directory, for one). */
  pathPrepend?: string[];
  /** Environment for every container; the container's own env wins. */
  env?: Record<string, string>;
  /** The image's ENTRYPOINT, for containers that give only `args`; undefined when unknown. */
  entrypoint?: (container: V1Container) => string[] | undefined;
  /**
   * The node's root directory: `hostPath` volumes resolve below it (`/etc/kubernetes` →
   * `<hostRoot>/etc/kubernetes`) instead of on this machine. For pods that read the host, such as
   * the node collector, with a fake node prepared by the test.
   */
  hostRoot?: string;
  /** The image's WORKDIR: where containers that set no `workingDir` start (default: a fresh directory). */
  workingDir?: string;
}

/** Decides which pods run for real (a RunSpec) and which are only reported Running (undefined). */
export type Runner = (pod: V1Pod) => RunSpec | undefined;
