export { ScanController, type ScanControllerOptions, type ScanObserver } from './controller.ts';
export { imageReportKinds } from './scan-results.ts';
export { buildScanJob, type ScanJobInput, type RegistryCredentials } from './job-manifest.ts';
export { FailureReason } from './result.ts';
export { ScanAnnotation, ScanLabel, scanJobName } from './names.ts';
