/**
 * Infra assessment: node-collector Jobs → ClusterInfraAssessmentReport per node, and control-plane
 * pods in kube-system → InfraAssessmentReport, both from Trivy's KCV checks.
 */
export {
  InfraAssessmentController,
  type InfraAssessmentControllerOptions,
  type InfraEvaluator,
} from './controller.ts';
export {
  NODE_COLLECTOR_COMMAND,
  NODE_COLLECTOR_COMPONENT,
  NODE_COLLECTOR_CONTAINER,
  NODE_NAME_ANNOTATION,
  buildNodeCollectorJob,
  nodeCollectorJobName,
  nodePlacement,
  nodeType,
  tolerates,
  type Placement,
  type SkipReason,
} from './node-collector-job.ts';
export {
  ASSESSED_AT_ANNOTATION,
  CONTROL_PLANE_COMPONENTS,
  CONTROL_PLANE_NAMESPACE,
  buildNodeReport,
  buildPodReport,
  checksHash,
  isControlPlanePod,
  nodeSpecHash,
  parseNodeCollectorLog,
  podManifest,
  podSpecHash,
  type InfraReportInput,
  type InfraReportKind,
  type InfraReportObject,
} from './reports.ts';
export { InfraReportStore } from './report-store.ts';
