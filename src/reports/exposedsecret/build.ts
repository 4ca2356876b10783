/**
 * Trivy's image result → the `.report` of an ExposedSecretReport. The matched line never carries the
 * secret: Trivy masks it with `*`, and a line that does not look masked is masked here entirely.
 */
import type {
  ExposedSecret,
  ExposedSecretReportData,
  ExposedSecretSummary,
  SecretSeverity,
} from '../../crds/index.ts';
import {
  artifactOf,
  isSeverity,
  registryOf,
  rfc3339Seconds,
  scannerOf,
  type ImageReportOptions,
} from '../common/report-parts.ts';
import type { TrivyImageResult, TrivySecret } from '../common/trivy-result.ts';

/** Longest match kept: the line is context for a human, and whole minified files make reports huge. */
export const MAX_MATCH_LENGTH = 256;

/** Trivy replaces each character of the secret with `*`, so a masked line has a run of them. */
const MASKED = /\*{3,}/;

/**
 * The match as it may be stored: Trivy's masked line (cut to {@link MAX_MATCH_LENGTH}), or, when the
 * line shows no mask, every non-blank character replaced with `*` (we cannot tell where the secret
 * is, so nothing of it may survive).
 */
export function redactMatch(match: string): string {
  const redacted = MASKED.test(match) ? match : match.replace(/\S/g, '*');
  const chars = [...redacted];
  return chars.length > MAX_MATCH_LENGTH ? `${chars.slice(0, MAX_MATCH_LENGTH - 1).join('')}…` : redacted;
}

/**
 * The schema's severities for secrets have no UNKNOWN; a finding without a known severity is reported
 * as LOW, which keeps it visible without inflating high-severity alerts.
 */
export function secretSeverity(severity: string): SecretSeverity {
  const upper = severity.toUpperCase();
  return isSeverity(upper) && upper !== 'UNKNOWN' ? upper : 'LOW';
}

function toExposedSecret(secret: TrivySecret, target: string): ExposedSecret {
  return {
    target,
    ruleID: secret.ruleID,
    title: secret.title,
    category: secret.category,
    severity: secretSeverity(secret.severity),
    match: redactMatch(secret.match),
  };
}

export function exposedSecretSummary(secrets: readonly ExposedSecret[]): ExposedSecretSummary {
  const summary: ExposedSecretSummary = { criticalCount: 0, highCount: 0, mediumCount: 0, lowCount: 0 };
  for (const { severity } of secrets) {
    if (severity === 'CRITICAL') summary.criticalCount++;
    else if (severity === 'HIGH') summary.highCount++;
    else if (severity === 'MEDIUM') summary.mediumCount++;
    else summary.lowCount++;
  }
  return summary;
}

/** The `.report` of the ExposedSecretReport for one image. Pure: same input, same output. */
export function buildExposedSecretReportData(
  result: TrivyImageResult,
  options: ImageReportOptions,
): ExposedSecretReportData {
  const secrets = result.results.flatMap((target) =>
    target.secrets.map((secret) => toExposedSecret(secret, target.target)),
  );
  return {
    updateTimestamp: rfc3339Seconds(options.now),
    scanner: scannerOf(options.scannerVersion),
    registry: registryOf(options.image),
    artifact: artifactOf(options.image, result),
    summary: exposedSecretSummary(secrets),
    secrets,
  };
}
