export { OperatorHealthMetrics } from './operator-health.ts';
export { registryHandler } from './handler.ts';
