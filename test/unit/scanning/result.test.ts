import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { ErrorCodes, isLookoutError } from '../../../src/errors/index.ts';
import {
  classifyFailure,
  decodeScanLog,
  failureSummary,
  FailureReason,
  scanDatabasesFromLog,
} from '../../../src/scanning/result.ts';

describe('decodeScanLog', () => {
  it('decodes base64 of gzip, with line wrapping as base64(1) prints it', () => {
    const json = JSON.stringify({ SchemaVersion: 2, Results: [] });
    const b64 = gzipSync(json)
      .toString('base64')
      .replace(/(.{76})/g, '$1\n');
    assert.equal(decodeScanLog(`${b64}\n`), json);
  });

  it('ignores the trivy version line that follows the result', () => {
    const json = JSON.stringify({ SchemaVersion: 2, Results: [] });
    const log = `${gzipSync(json).toString('base64')}\ntrivy-version: {"Version":"0.74.0"}\n`;
    assert.equal(decodeScanLog(log), json);
  });

  for (const [what, log, message] of [
    ['empty output', '  \n', /no output/],
    ['a Trivy log line instead of data', '2025-01-01T00:00:00Z FATAL boom', /not base64/],
    ['base64 that is not gzip', Buffer.from('plain text').toString('base64'), /not gzip/],
  ] as const) {
    it(`rejects ${what} with TRIVY_OUTPUT_INVALID`, () => {
      assert.throws(
        () => decodeScanLog(log),
        (err: unknown) => isLookoutError(err, ErrorCodes.TRIVY_OUTPUT_INVALID) && message.test(err.message),
      );
    });
  }
});

describe('classifyFailure', () => {
  it('maps Trivy error logs and Job reasons to a small set of reasons', () => {
    assert.equal(classifyFailure('', 'DeadlineExceeded'), FailureReason.timeout);
    assert.equal(
      classifyFailure(
        'FATAL image scan error: GET https://r.example/v2/: UNAUTHORIZED: authentication required',
      ),
      FailureReason.registryAuth,
    );
    assert.equal(
      classifyFailure('FATAL unable to find the specified image "x:1"'),
      FailureReason.imageNotFound,
    );
    assert.equal(
      classifyFailure('dial tcp: lookup r.example: no such host'),
      FailureReason.registryUnreachable,
    );
    assert.equal(classifyFailure('panic: something odd'), FailureReason.scannerError);
  });

  it('summarises the fatal line of a log', () => {
    assert.equal(failureSummary('INFO a\nFATAL b: c\nINFO d'), 'FATAL b: c');
    assert.equal(failureSummary(''), 'no output');
    assert.equal(failureSummary('x'.repeat(400)).length, 300);
  });
});

describe('scanDatabasesFromLog', () => {
  const result = gzipSync('{}').toString('base64');
  it('reads the build times of the DBs the scan used from the trivy version line', () => {
    const log = `${result}\ntrivy-version: {"Version":"0.74.0","VulnerabilityDB":{"Version":2,"UpdatedAt":"2026-11-26T06:12:05.5Z","DownloadedAt":"2026-11-26T09:00:00Z"},"JavaDB":{"Version":1,"UpdatedAt":"2026-11-20T01:00:00Z"}}\n`;
    assert.deepEqual(scanDatabasesFromLog(log), {
      vulnerabilities: new Date('2026-11-26T06:12:05.5Z'),
      javaIndex: new Date('2026-11-20T01:00:00Z'),
    });
  });

  for (const [what, log] of [
    ['no version line (an older scan pod)', `${result}\n`],
    ['no DB in the cache (ClientServer mode)', `${result}\ntrivy-version: {"Version":"0.74.0"}`],
    ['trivy version failed', `${result}\ntrivy-version: {}`],
    ['a zero time', `${result}\ntrivy-version: {"VulnerabilityDB":{"UpdatedAt":"0001-01-01T00:00:00Z"}}`],
    ['garbage', `${result}\ntrivy-version: not json`],
  ] as const) {
    it(`gives nothing, without error, for ${what}`, () => assert.deepEqual(scanDatabasesFromLog(log), {}));
  }
});
