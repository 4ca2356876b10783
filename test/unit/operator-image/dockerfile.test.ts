/**
 * The Dockerfile is the source of truth for the operator image built without Docker
 * (test/harness/operator-image): the two agree on user, entrypoint, exposed port, working
 * directory, environment, the files shipped, the Node major version and the Trivy version, and a
 * change to any of them in the Dockerfile alone is caught.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { dockerfileDisagreements, parseDockerfile } from '../../harness/operator-image/dockerfile.ts';
import {
  operatorCopies,
  operatorImageConfig,
  operatorNode,
  operatorTrivyVersion,
} from '../../harness/operator-image/spec.ts';
import { repoRoot } from '../../harness/tools.ts';

const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');

/** The Dockerfile with one line replaced; fails if the line is not there (the test would be void). */
function edited(from: string | RegExp, to: string): string {
  const out = dockerfile.replace(from, to);
  assert.notEqual(out, dockerfile, `the Dockerfile no longer contains ${String(from)}`);
  return out;
}

describe('operator image vs Dockerfile', () => {
  it('agree on everything the image is made of and runs as', () => {
    assert.deepEqual(dockerfileDisagreements(dockerfile), []);
  });

  it('reads the final stage as Docker does', () => {
    const { final, args } = parseDockerfile(dockerfile);
    assert.equal(final.from, `node:${operatorNode.major}-bookworm-slim`);
    assert.equal(final.user, operatorImageConfig.User);
    assert.equal(final.workdir, '/app');
    assert.deepEqual(final.exposedPorts, ['8080/tcp']);
    assert.deepEqual(final.entrypoint, operatorImageConfig.Entrypoint);
    assert.deepEqual(
      final.copies.map((c) => c.dest),
      operatorCopies.map((c) => c.path),
    );
    // Docker-only: Kubernetes ignores HEALTHCHECK and uses the chart's probes.
    assert.equal(final.healthcheck, true);
    assert.equal(args.TRIVY_VERSION, operatorTrivyVersion);
  });

  it('keeps the Trivy pin in step with scripts/setup-tools.sh, which builds the binary shipped', () => {
    const setup = readFileSync(path.join(repoRoot, 'scripts', 'setup-tools.sh'), 'utf8');
    assert.match(
      setup,
      new RegExp(`TRIVY_VERSION="\\$\\{TRIVY_VERSION:-${operatorTrivyVersion.replace(/\./g, '\\.')}\\}"`),
    );
  });

  const changes: [string, string | RegExp, string, RegExp][] = [
    ['user', 'USER 65532:65532', 'USER 1000:1000', /^USER/],
    ['entrypoint', '"dist/main.js"]', '"dist/index.js"]', /^ENTRYPOINT/],
    ['exposed port', 'EXPOSE 8080', 'EXPOSE 9090', /^EXPOSE/],
    ['working directory', 'WORKDIR /app', 'WORKDIR /opt/app', /^WORKDIR|^files shipped/],
    [
      'environment',
      'ENV NODE_ENV=production',
      'ENV NODE_ENV=production NODE_OPTIONS=--max-old-space-size=256',
      /^ENV NODE_OPTIONS/,
    ],
    ['a file dropped', /COPY --chown=root:root package\.json \.\/\n/, '', /^files shipped/],
    [
      'a file added',
      'COPY --chown=root:root package.json ./',
      'COPY --chown=root:root package.json ./\nCOPY --chown=root:root README.md ./',
      /^files shipped/,
    ],
    [
      'ownership',
      'COPY --chown=root:root package.json',
      'COPY package.json',
      /^COPY \/app\/package\.json owner/,
    ],
    [
      'Node major version',
      'ARG NODE_VERSION=24',
      'ARG NODE_VERSION=22',
      /^Node major version|^ARG NODE_VERSION/,
    ],
    ['Trivy version', 'ARG TRIVY_VERSION=v0.74.0', 'ARG TRIVY_VERSION=v0.75.0', /^ARG TRIVY_VERSION/],
    ['build inputs', 'COPY src ./src', 'COPY src ./src\nCOPY assets ./assets', /^files the build stage/],
  ];
  for (const [what, from, to, expected] of changes) {
    it(`catches a change to the Dockerfile alone: ${what}`, () => {
      const found = dockerfileDisagreements(edited(from, to));
      assert.ok(
        found.some((d) => expected.test(d)),
        `expected a disagreement matching ${String(expected)}, got ${JSON.stringify(found)}`,
      );
    });
  }

  it('refuses final-stage instructions it does not model rather than ignoring them', () => {
    assert.throws(
      () => parseDockerfile(edited('USER 65532:65532', 'RUN rm -rf /tmp\nUSER 65532:65532')),
      /RUN in the final stage/,
    );
  });
});
