/** Image references split into registry, repository, tag and digest with Docker's defaults. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLookoutError } from '../../../src/errors/index.ts';
import {
  formatImageReference,
  imageKey,
  parseImageReference,
  type ImageReference,
} from '../../../src/workloads/index.ts';

const DIGEST = 'sha256:4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac';

describe('parseImageReference', () => {
  const cases: [string, ImageReference][] = [
    ['nginx', { registry: 'index.docker.io', repository: 'library/nginx', tag: 'latest' }],
    ['nginx:1.25', { registry: 'index.docker.io', repository: 'library/nginx', tag: '1.25' }],
    ['bitnami/redis:7.2', { registry: 'index.docker.io', repository: 'bitnami/redis', tag: '7.2' }],
    ['docker.io/nginx', { registry: 'index.docker.io', repository: 'library/nginx', tag: 'latest' }],
    [
      'docker.io/library/nginx:1.25',
      { registry: 'index.docker.io', repository: 'library/nginx', tag: '1.25' },
    ],
    ['index.docker.io/nginx', { registry: 'index.docker.io', repository: 'library/nginx', tag: 'latest' }],
    ['localhost:5000/x', { registry: 'localhost:5000', repository: 'x', tag: 'latest' }],
    ['localhost/x:dev', { registry: 'localhost', repository: 'x', tag: 'dev' }],
    ['ghcr.io/a/b:1', { registry: 'ghcr.io', repository: 'a/b', tag: '1' }],
    [`ghcr.io/a/b:1@${DIGEST}`, { registry: 'ghcr.io', repository: 'a/b', tag: '1', digest: DIGEST }],
    [`ghcr.io/a/b@${DIGEST}`, { registry: 'ghcr.io', repository: 'a/b', digest: DIGEST }],
    [`nginx@${DIGEST}`, { registry: 'index.docker.io', repository: 'library/nginx', digest: DIGEST }],
    [
      'registry.example.com:8443/team/sub/app:v2.0.1-rc.1',
      { registry: 'registry.example.com:8443', repository: 'team/sub/app', tag: 'v2.0.1-rc.1' },
    ],
    [
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api:2.4.0',
      { registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com', repository: 'shop/api', tag: '2.4.0' },
    ],
    ['[::1]:5000/app:1', { registry: '[::1]:5000', repository: 'app', tag: '1' }],
    ['my_org/my-app__x:1', { registry: 'index.docker.io', repository: 'my_org/my-app__x', tag: '1' }],
  ];
  for (const [reference, expected] of cases) {
    it(`${reference} → ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(parseImageReference(reference), expected);
    });
  }

  const invalid: [string, RegExp][] = [
    ['', /is empty/],
    ['Nginx:1.25', /not a repository/],
    ['nginx:1.25:extra', /not a valid tag/],
    ['nginx@sha256:abc', /not a sha256 or sha512 digest/],
    ['nginx@latest', /not a sha256 or sha512 digest/],
    ['ghcr.io/', /not a repository/],
    ['nginx: 1.25', /not a valid tag/],
    ['bad host.io/app', /not a repository|not a registry host/],
  ];
  for (const [reference, message] of invalid) {
    it(`rejects ${JSON.stringify(reference)} with a SCAN_FAILED error naming it`, () => {
      assert.throws(
        () => parseImageReference(reference),
        (err: unknown) =>
          isLookoutError(err, 'TL_SCAN_FAILED') &&
          err.message.includes(JSON.stringify(reference)) &&
          message.test(err.message),
      );
    });
  }
});

describe('formatImageReference', () => {
  it('writes the full reference back, registry and library/ included', () => {
    assert.equal(formatImageReference(parseImageReference('nginx')), 'index.docker.io/library/nginx:latest');
    assert.equal(
      formatImageReference(parseImageReference(`ghcr.io/a/b:1@${DIGEST}`)),
      `ghcr.io/a/b:1@${DIGEST}`,
    );
    assert.equal(formatImageReference(parseImageReference(`ghcr.io/a/b@${DIGEST}`)), `ghcr.io/a/b@${DIGEST}`);
  });
});

describe('imageKey', () => {
  it('keys an image by registry, repository and digest, whatever tag it was pulled by', () => {
    const byTag = parseImageReference('nginx:1.25');
    const byLatest = parseImageReference('docker.io/library/nginx');
    assert.equal(
      imageKey(byTag.registry, byTag.repository, DIGEST),
      `index.docker.io/library/nginx@${DIGEST}`,
    );
    assert.equal(
      imageKey(byTag.registry, byTag.repository, DIGEST),
      imageKey(byLatest.registry, byLatest.repository, DIGEST),
    );
  });
});
