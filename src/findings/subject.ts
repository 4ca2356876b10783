/**
 * What a VulnerabilityReport is about and what it found, read from the object the API server
 * returns, whoever wrote it (this operator or Trivy-Operator: the labels and fields are the same).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { ReportAnnotation, ReportLabel, SEVERITIES, type Severity } from '../crds/index.ts';

/** The workload container a report is about and the image it runs. */
export interface ReportSubject {
  readonly namespace: string;
  /** The report's own name. */
  readonly report: string;
  readonly resourceKind: string;
  readonly resourceName: string;
  readonly containerName: string;
  readonly registry: string;
  readonly repository: string;
  readonly tag: string;
  readonly digest: string;
}

/** One finding as the report lists it. */
export interface ReportFinding {
  readonly vulnerabilityId: string;
  readonly package: string;
  readonly installedVersion: string;
  readonly fixedVersion: string;
  readonly severity: Severity;
}

type Fields = Record<string, unknown>;
const object = (value: unknown): Fields | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : undefined;
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

export function reportSubject(obj: KubernetesObject): ReportSubject {
  const labels = obj.metadata?.labels ?? {};
  const annotations = obj.metadata?.annotations ?? {};
  const report = object((obj as Fields).report) ?? {};
  const artifact = object(report.artifact) ?? {};
  return {
    namespace: obj.metadata?.namespace ?? '',
    report: obj.metadata?.name ?? '',
    resourceKind: labels[ReportLabel.resourceKind] ?? '',
    // A name too long for a label is in the annotation (the label then carries a hash).
    resourceName: labels[ReportLabel.resourceName] || annotations[ReportAnnotation.resourceName] || '',
    containerName: labels[ReportLabel.containerName] ?? '',
    registry: text(object(report.registry)?.server),
    repository: text(artifact.repository),
    tag: text(artifact.tag),
    digest: text(artifact.digest),
  };
}

/** `registry/repository:tag` (or `@digest` without a tag), as people write an image. */
export function imageName(
  subject: Pick<ReportSubject, 'registry' | 'repository' | 'tag' | 'digest'>,
): string {
  const base = subject.registry ? `${subject.registry}/${subject.repository}` : subject.repository;
  if (subject.tag) return `${base}:${subject.tag}`;
  return subject.digest ? `${base}@${subject.digest}` : base;
}

function severityOf(value: unknown): Severity {
  const upper = text(value).toUpperCase();
  return (SEVERITIES as readonly string[]).includes(upper) ? (upper as Severity) : 'UNKNOWN';
}

/** The report's findings; entries without an ID are skipped (nothing could name them). */
export function reportFindings(obj: KubernetesObject): ReportFinding[] {
  const list = object((obj as Fields).report)?.vulnerabilities;
  if (!Array.isArray(list)) return [];
  const out: ReportFinding[] = [];
  for (const item of list) {
    const v = object(item);
    if (!v || !text(v.vulnerabilityID)) continue;
    out.push({
      vulnerabilityId: text(v.vulnerabilityID),
      package: text(v.resource),
      installedVersion: text(v.installedVersion),
      fixedVersion: text(v.fixedVersion),
      severity: severityOf(v.severity),
    });
  }
  return out;
}

/** What a vulnerability ID may look like (CVE-…, GHSA-…, DSA-…, TEMP-…): letters, digits, . _ : -. */
export function isVulnerabilityId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/.test(id);
}

/** IDs are compared as Trivy prints them (upper case), so `cve-2021-44228` finds CVE-2021-44228. */
export function normalizeVulnerabilityId(id: string): string {
  return id.trim().toUpperCase();
}
