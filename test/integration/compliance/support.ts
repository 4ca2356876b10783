/**
 * The compliance integration tests' small cluster: the shipped specs (from deploy/compliance/) and
 * audit reports with known misconfigurations, created through the API as the config-audit side
 * writes them. The report CRDs are the interface between the two halves, so nothing else is needed.
 */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import yaml from 'js-yaml';
import type { ComplianceManifest, CronScheduler } from '../../../src/compliance/index.ts';
import type { ClusterComplianceReport, ReportKindName } from '../../../src/crds/index.ts';
import { repoRoot } from '../../harness/tools.ts';

/** A shipped spec as a ClusterComplianceReport named `<id>-<suffix>`, so parallel clusters never clash. */
export function shippedSpec(
  id: string,
  suffix: string,
  overrides: { cron?: string; reportType?: 'summary' | 'all' } = {},
): ComplianceManifest {
  const manifest = yaml.load(
    readFileSync(`${repoRoot}/deploy/compliance/${id}.yaml`, 'utf8'),
  ) as ComplianceManifest;
  return {
    ...manifest,
    metadata: { ...manifest.metadata, name: `${id}-${suffix}` },
    spec: { ...manifest.spec, ...overrides },
  };
}

export interface CheckInput {
  readonly id: string;
  readonly success?: boolean;
  readonly severity?: string;
  readonly message?: string;
}

/** An audit report (config audit, RBAC or infra) with the given checks, as the audit side writes it. */
export function auditReport(
  kind: ReportKindName,
  name: string,
  namespace: string | undefined,
  checks: readonly CheckInput[],
): { kind: string; metadata: { name: string; namespace?: string } } & Record<string, unknown> {
  return {
    apiVersion: 'aquasecurity.github.io/v1alpha1',
    kind,
    metadata: { name, ...(namespace ? { namespace } : {}) },
    report: {
      updateTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      scanner: { name: 'Trivy', vendor: 'Aqua Security', version: '0.74.0' },
      summary: {
        criticalCount: 0,
        highCount: checks.filter((c) => !c.success).length,
        mediumCount: 0,
        lowCount: 0,
      },
      checks: checks.map((check) => ({
        checkID: check.id,
        title: `Check ${check.id}`,
        description: `What ${check.id} is about`,
        severity: check.severity ?? 'HIGH',
        category: 'Kubernetes Security Check',
        messages: check.message ? [check.message] : [],
        remediation: 'Fix it',
        success: check.success ?? false,
      })),
    },
  };
}

/** node-cron stand-in: records each report's schedule; the test fires the ticks with its own clock. */
export class RecordingScheduler {
  readonly active = new Map<string, { cron: string; fire: (at: Date) => void }>();
  readonly history: string[] = [];
  private next = 0;

  readonly scheduler: CronScheduler = (cron, onTick) => {
    const id = `tick-${this.next++}`;
    this.active.set(id, { cron, fire: onTick });
    this.history.push(`start ${cron}`);
    return {
      stop: () => {
        this.active.delete(id);
        this.history.push(`stop ${cron}`);
      },
    };
  };

  crons(): string[] {
    return [...this.active.values()].map((entry) => entry.cron).sort();
  }

  /** Fires every active tick source, as node-cron would at `at`. */
  fireAll(at: Date): void {
    for (const entry of this.active.values()) entry.fire(at);
  }
}

/** Log lines written by a logger created on this stream. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];

  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.startsWith('{')) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    done();
  }

  updates(report: string): number {
    return this.lines.filter((l) => l.msg === 'compliance report updated' && l.report === report).length;
  }
}

/** Per-control `totalFail` from the summaryReport (undefined for manual controls). */
export function totalFails(report: ClusterComplianceReport): Map<string, number | undefined> {
  return new Map((report.status?.summaryReport?.controlCheck ?? []).map((c) => [c.id ?? '', c.totalFail]));
}
