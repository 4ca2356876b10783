/** VulnerabilityReports as plain objects, shaped as this operator and Trivy-Operator write them. */
import type { KubernetesObject } from '@kubernetes/client-node';
import { FIRST_SEEN_ANNOTATION } from '../../../src/findings/index.ts';

export interface Vuln {
  id: string;
  pkg: string;
  severity: 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'UNKNOWN';
  installed?: string;
  fixed?: string;
}

export function vulnReport(options: {
  namespace: string;
  workload: string;
  kind?: string;
  container?: string;
  repository?: string;
  tag?: string;
  registry?: string;
  vulns: Vuln[];
  firstSeen?: string;
}): KubernetesObject {
  const kind = options.kind ?? 'ReplicaSet';
  const container = options.container ?? 'app';
  return {
    apiVersion: 'aquasecurity.github.io/v1alpha1',
    kind: 'VulnerabilityReport',
    metadata: {
      name: `${kind.toLowerCase()}-${options.workload}-${container}`,
      namespace: options.namespace,
      labels: {
        'trivy-operator.resource.kind': kind,
        'trivy-operator.resource.name': options.workload,
        'trivy-operator.resource.namespace': options.namespace,
        'trivy-operator.container.name': container,
      },
      ...(options.firstSeen === undefined
        ? {}
        : { annotations: { [FIRST_SEEN_ANNOTATION]: options.firstSeen } }),
    },
    report: {
      registry: { server: options.registry ?? 'registry.example.com' },
      artifact: { repository: options.repository ?? 'shop/web', tag: options.tag ?? '1.0' },
      vulnerabilities: options.vulns.map((v) => ({
        vulnerabilityID: v.id,
        resource: v.pkg,
        installedVersion: v.installed ?? '1.0',
        fixedVersion: v.fixed ?? '',
        severity: v.severity,
        title: v.id,
      })),
    },
  } as KubernetesObject;
}

export const LOG4SHELL: Vuln = {
  id: 'CVE-2021-44228',
  pkg: 'org.apache.logging.log4j:log4j-core',
  severity: 'CRITICAL',
  installed: '2.14.1',
  fixed: '2.15.0',
};
export const LOG4J_2: Vuln = {
  id: 'CVE-2021-45046',
  pkg: 'org.apache.logging.log4j:log4j-core',
  severity: 'CRITICAL',
  installed: '2.14.1',
  fixed: '2.16.0',
};
export const LODASH: Vuln = {
  id: 'CVE-2021-23337',
  pkg: 'lodash',
  severity: 'HIGH',
  installed: '4.17.20',
  fixed: '4.17.21',
};
export const ZLIB: Vuln = { id: 'TEST-2026-0002', pkg: 'zlib1g', severity: 'LOW' };
