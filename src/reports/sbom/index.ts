export { bomFromCycloneDx, buildSbomReportData, clusterSbomReportName } from './build.ts';
