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
  const fatal = (err: string) => `2026-12-02T10:00:00Z\t\u001b[31mFATAL\u001b[0m\tFatal error\t${err}`;
  /** Trivy's message when every image source failed; only the remote part is about the registry. */
  const sources = (remote: string) =>
    fatal(
      [
        'run error: image scan error: scan error: unable to initialize a scan service: unable to initialize container image: unable to find the specified image "198.51.100.1:5001/t/app:1" in ["docker" "containerd" "podman" "remote"]: 4 errors occurred:',
        '\t* docker error: unable to inspect the image (198.51.100.1:5001/t/app:1): Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
        '\t* containerd error: containerd socket not found: /run/containerd/containerd.sock',
        '\t* podman error: unable to initialize Podman client: no podman socket found: stat podman/podman.sock: no such file or directory',
        `\t* remote error: ${remote}`,
      ].join('\n'),
    );

  for (const [what, failed, reason] of [
    ['a Job past its deadline', { log: '', jobReason: 'DeadlineExceeded' }, FailureReason.timeout],
    [
      'a container killed for memory',
      { log: 'INFO Scanning...', containerReason: 'OOMKilled' },
      FailureReason.oomKilled,
    ],
    [
      'a registry refusing credentials',
      {
        log: sources(
          'GET https://198.51.100.1:5002/v2/t/app/manifests/1: UNAUTHORIZED: authentication required; [map[Action:pull Class: Name:t/app Type:repository]]',
        ),
      },
      FailureReason.registryAuth,
    ],
    [
      'an image deleted from the registry',
      {
        log: sources(
          'GET https://198.51.100.1:5001/v2/t/app/manifests/1: MANIFEST_UNKNOWN: manifest unknown; map[Tag:1]',
        ),
      },
      FailureReason.imageNotFound,
    ],
    [
      'a registry that is down (the docker bullet says "connect" too, and is ignored)',
      {
        log: sources(
          'Get "https://198.51.100.1:5001/v2/": dial tcp 198.51.100.1:5001: connect: connection refused',
        ),
      },
      FailureReason.registryUnreachable,
    ],
    [
      'a self-signed certificate without trivy.insecureRegistries',
      {
        log: sources(
          'Get "https://198.51.100.1:5003/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority',
        ),
      },
      FailureReason.registryTls,
    ],
    [
      'an unreadable file next to a certificate error (a file-system refusal is no registry refusal)',
      {
        log: fatal(
          'open /var/ssl-cert/ca.pem: permission denied; Get "https://198.51.100.1:5003/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority',
        ),
      },
      FailureReason.registryTls,
    ],
    [
      'a plain-HTTP registry without trivy.nonSslRegistries',
      {
        log: sources('Get "https://198.51.100.1:5001/v2/": http: server gave HTTP response to HTTPS client'),
      },
      FailureReason.registryTls,
    ],
    [
      'a missing DB repository',
      {
        log: fatal(
          'run error: init error: DB error: failed to download vulnerability DB: OCI artifact error: failed to download vulnerability DB: failed to download artifact from 198.51.100.1:5001/nothing:2: OCI repository error: GET http://198.51.100.1:5001/v2/nothing/manifests/2: NAME_UNKNOWN: repository name not known to registry',
        ),
      },
      FailureReason.dbDownload,
    ],
    [
      'an unreachable Java DB',
      {
        log: fatal(
          'post analysis error: post analysis error: Unable to initialize the Java DB: Java DB update failed: OCI artifact error: failed to download Java DB: connection refused',
        ),
      },
      FailureReason.dbDownload,
    ],
    ['a DNS failure', { log: 'dial tcp: lookup r.example: no such host' }, FailureReason.registryUnreachable],
    ['anything else', { log: 'panic: something odd' }, FailureReason.scannerError],
  ] as const) {
    it(`classifies ${what} as ${reason}`, () => assert.equal(classifyFailure(failed), reason));
  }

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
