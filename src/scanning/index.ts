export { ScanController, type ScanControllerOptions, type ScanObserver } from './controller.ts';
export { imageReportKinds } from './scan-results.ts';
export {
  buildScanJob,
  type ScanJobInput,
  type ScanJobManifests,
  type RegistryCredentials,
} from './job-manifest.ts';
export { FailureReason } from './result.ts';
export { ScanAnnotation, ScanLabel, scanJobName } from './names.ts';
// Reused by the infra assessment's node-collector Jobs.
export { ScanJobs } from './scan-jobs.ts';
