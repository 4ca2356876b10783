/** Shared pieces of the metrics unit tests: fixtures, options, and a snapshot rendered as text. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import yaml from 'js-yaml';
import type { FamilyOptions, Snapshot } from '../../../src/metrics/index.ts';
import { repoRoot, toolPath } from '../../harness/tools.ts';

export type Report = Record<string, unknown> & {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};

export function fixture(name: string): Report {
  const file = path.join(repoRoot, 'test', 'fixtures', 'reports', `${name}.yaml`);
  return yaml.load(readFileSync(file, 'utf8')) as Report;
}

/** Every family on, one resource label. */
export const ALL_FAMILIES: FamilyOptions = {
  findings: true,
  vulnId: true,
  exposedSecretInfo: true,
  configAuditInfo: true,
  rbacAssessmentInfo: true,
  infraAssessmentInfo: true,
  imageInfo: true,
  clusterComplianceInfo: true,
  aggregates: true,
  resourceLabels: ['app'],
  resourceLabelsPrefix: 'k8s_label_',
};

/** The text a gzip scrape of this snapshot decompresses to (without the health series). */
export function snapshotText(snapshot: Snapshot): string {
  const members: Buffer[] = [];
  for (const family of snapshot.families) {
    members.push(family.header);
    for (const member of family.members()) members.push(member);
  }
  // Concatenated members are one gzip stream: decoding them at once checks exactly that.
  return members.length === 0 ? '' : gunzipSync(Buffer.concat(members)).toString('utf8');
}

/** The sample lines of one family (HELP/TYPE excluded), in output order. */
export function familyLines(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

/** Runs `promtool check metrics` on exposition text; returns its exit code and output. */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const result = spawnSync(toolPath('promtool'), ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
