/**
 * One spelling per check. The same check is written `KSV017`, `KSV-0017` or `AVD-KSV-0017`
 * depending on the Trivy version that produced a report and the age of a compliance spec
 * (Trivy-Operator maps `KSV113` to `AVD-KSV-0113` before matching). Both sides of the match go
 * through this, so any pairing of old and new spellings meets.
 */

const PREFIXED_NUMBER = /^(?:AVD-)?([A-Z]+)-?(\d+)$/;

/** Canonical form `PREFIX-NNNN` (e.g. `KSV-0017`); IDs of another shape are only trimmed and upper-cased. */
export function normaliseCheckId(id: string): string {
  const upper = id.trim().toUpperCase();
  const match = PREFIXED_NUMBER.exec(upper);
  if (!match) return upper;
  const [, prefix = '', digits = ''] = match;
  const number = digits.replace(/^0+(?=\d)/, '');
  return `${prefix}-${number.padStart(4, '0')}`;
}

/** The `AVD-` spelling that Trivy-Operator's shipped specs use, e.g. `AVD-KSV-0017`. */
export function avdCheckId(id: string): string {
  const canonical = normaliseCheckId(id);
  return PREFIXED_NUMBER.test(canonical) ? `AVD-${canonical}` : canonical;
}
