export {
  MAX_MATCH_LENGTH,
  buildExposedSecretReportData,
  exposedSecretSummary,
  redactMatch,
  secretSeverity,
} from './build.ts';
