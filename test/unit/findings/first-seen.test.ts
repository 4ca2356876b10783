import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  findingKey,
  formatFirstSeen,
  parseFirstSeen,
  type FindingKey,
  type Stamp,
} from '../../../src/findings/index.ts';

const T1 = Date.parse('2026-12-01T10:00:00Z') / 1000;
const T2 = Date.parse('2026-12-03T04:00:00Z') / 1000;

describe('first-seen annotation', () => {
  it('round-trips stamps grouped by time, baseline marked, in a stable order', () => {
    const a = findingKey('CVE-2021-44228', 'org.apache.logging.log4j:log4j-core');
    const b = findingKey('CVE-2021-23337', 'lodash');
    const c = findingKey('TEST-2026-0003', 'liblz4-1');
    const stamps = new Map<FindingKey, Stamp>([
      [a, { at: T2, baseline: false }],
      [b, { at: T2, baseline: false }],
      [c, { at: T1, baseline: true }],
    ]);
    const { value, omitted } = formatFirstSeen(stamps, [a, b, c]);
    assert.equal(omitted, 0);
    assert.equal(
      value,
      '{"2026-12-01T10:00:00Z baseline":["TEST-2026-0003 liblz4-1"],"2026-12-03T04:00:00Z":["CVE-2021-23337 lodash","CVE-2021-44228 org.apache.logging.log4j:log4j-core"]}',
    );
    assert.deepEqual(parseFirstSeen(value), stamps);
    // Order of the input does not change the text: an unchanged set is never rewritten.
    assert.equal(formatFirstSeen(stamps, [c, b, a]).value, value);
  });

  it('ignores what it cannot read, entry by entry, and keeps the earliest of duplicates', () => {
    assert.equal(parseFirstSeen(undefined).size, 0);
    assert.equal(parseFirstSeen('not json').size, 0);
    assert.equal(parseFirstSeen('["a"]').size, 0);
    const parsed = parseFirstSeen(
      JSON.stringify({
        yesterday: ['CVE-1 a'],
        '2026-12-03T04:00:00Z later': ['CVE-2 b'],
        '2026-12-03T04:00:00Z': ['CVE-3 c', 42, 'no-space', 'CVE-4 d'],
        '2026-12-01T10:00:00Z': ['CVE-4 d'],
      }),
    );
    assert.deepEqual([...parsed.entries()].sort(), [
      ['CVE-3 c', { at: T2, baseline: false }],
      ['CVE-4 d', { at: T1, baseline: false }],
    ]);
  });

  it('past its size budget leaves out the entries listed last (lowest severity) and counts them', () => {
    const keys: FindingKey[] = [];
    const stamps = new Map<FindingKey, Stamp>();
    for (let i = 0; i < 6000; i++) {
      const key = findingKey(`CVE-2026-${String(i).padStart(5, '0')}`, `package-with-a-long-name-${i}`);
      keys.push(key);
      stamps.set(key, { at: T2, baseline: false });
    }
    const { value, omitted } = formatFirstSeen(stamps, keys);
    assert.ok(Buffer.byteLength(value) <= 128 * 1024, `${Buffer.byteLength(value)} bytes`);
    assert.ok(omitted > 0);
    const kept = parseFirstSeen(value);
    assert.equal(kept.size + omitted, 6000);
    assert.ok(kept.has(keys[0]!), 'the first-listed entries are kept');
    assert.ok(!kept.has(keys[5999]!), 'the last-listed entries are left out');
  });
});
