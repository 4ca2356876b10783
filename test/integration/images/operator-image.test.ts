/**
 * The operator image built without Docker (test/harness/operator-image), checked on the layout
 * itself: its config is the Dockerfile's (the unit test ties spec.ts to the Dockerfile), it ships
 * exactly the Dockerfile's files, root-owned and world-readable, with production dependencies
 * only, and it runs: Node 24 and the pinned Trivy start as UID 65532 on a read-only root with only
 * /tmp writable, and the entrypoint loads every module and stops only for want of a kubeconfig.
 * It also pushes to a local registry under the digest it was built with. Needs apt, npm and the
 * tools of scripts/setup-tools.sh for a first build, and root for the mount namespace.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../../harness/images/build.ts';
import {
  buildOperatorImage,
  operatorCopies,
  operatorDebianSuite,
  operatorImageConfig,
  operatorNode,
  operatorTrivyVersion,
  publishOperatorImage,
  type BuiltOperatorImage,
} from '../../harness/operator-image/index.ts';
import { imageConfig, runInImage, unpackImage } from '../../harness/operator-image/rootfs.ts';
import { manifestDigest, startRegistry } from '../../harness/registry/index.ts';
import { repoRoot } from '../../harness/tools.ts';

const asRoot = process.getuid?.() === 0;

interface PackageLock {
  packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>;
}

describe('operator image', () => {
  let image: BuiltOperatorImage;
  let root: string;

  before(async () => {
    const started = Date.now();
    image = await buildOperatorImage();
    // Measured on 2 shared cores: 106 s with an empty cache, 40-50 s with the downloads cached, 1-3 s cached.
    console.log(`operator image ${image.reference}: ${(Date.now() - started) / 1000} s, ${image.size} bytes`);
    root = mkdtempSync(path.join(os.tmpdir(), 'trivy-lookout-operator-rootfs-'));
    await unpackImage(image.layoutDir, root);
  });

  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('has the runtime config of the Dockerfile, for linux/amd64', () => {
    const config = imageConfig(image.layoutDir);
    assert.equal(config.os, 'linux');
    assert.equal(config.architecture, 'amd64');
    assert.deepEqual(config.config, operatorImageConfig);
    assert.deepEqual(
      config.rootfs.diff_ids,
      image.layers.map((l) => l.diffId),
    );
  });

  it("ships the Dockerfile's files, one layer per COPY after the Debian and Node base", () => {
    assert.deepEqual(
      image.layers.map((l) => l.path),
      ['/', operatorNode.path, ...operatorCopies.map((c) => c.path)],
    );
    for (const p of [operatorNode.path, ...operatorCopies.map((c) => c.path)]) {
      assert.ok(existsSync(path.join(root, p)), `${p} missing`);
    }
    // The entrypoint, and the node collector's command (it runs in this image too).
    for (const f of ['dist/main.js', 'dist/main.js.map', 'dist/nodecollector/main.js']) {
      assert.ok(existsSync(path.join(root, 'app', f)), `/app/${f} missing`);
    }
    assert.deepEqual(
      JSON.parse(readFileSync(path.join(root, 'app', 'package.json'), 'utf8')),
      JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')),
    );
  });

  it('is all root-owned and world-readable, with /tmp the only world-writable folder', () => {
    const bad: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir)) {
        const p = path.join(dir, entry);
        const st = lstatSync(p);
        const rel = `/${path.relative(root, p)}`;
        if (st.uid !== 0 || st.gid !== 0) bad.push(`${rel} owned by ${st.uid}:${st.gid}`);
        if (st.isSymbolicLink()) continue;
        if (!(st.mode & 0o004)) bad.push(`${rel} not world-readable`);
        if (st.isDirectory() && !(st.mode & 0o001)) bad.push(`${rel} not world-searchable`);
        if (st.mode & 0o002 && rel !== '/tmp') bad.push(`${rel} world-writable`);
        if (st.isDirectory()) walk(p);
      }
    };
    walk(root);
    assert.deepEqual(bad, []);
    assert.equal(lstatSync(path.join(root, 'tmp')).mode & 0o7777, 0o1777);
  });

  it('has the production dependencies and none of the development ones', () => {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const modules = path.join(root, 'app', 'node_modules');
    for (const dep of Object.keys(pkg.dependencies)) assert.ok(existsSync(path.join(modules, dep)), dep);
    // Every package the lock marks development-only (also the transitive ones) is absent. Some
    // devDependencies are production ones too (@kubernetes/client-node needs @types/js-yaml).
    const lock = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as PackageLock;
    const devOnly = Object.entries(lock.packages)
      .filter(([k, v]) => k.startsWith('node_modules/') && v.dev)
      .map(([k]) => k);
    for (const tool of ['typescript', 'tsx', 'esbuild', 'eslint', 'prettier', 'typescript-eslint']) {
      assert.ok(devOnly.includes(`node_modules/${tool}`), `${tool} is not development-only in the lock`);
    }
    assert.deepEqual(
      devOnly.filter((k) => existsSync(path.join(root, 'app', k))),
      [],
    );
  });

  it('records its Debian packages as dpkg does, on Debian 12', () => {
    const osRelease = readFileSync(path.join(root, 'usr', 'lib', 'os-release'), 'utf8');
    assert.match(osRelease, new RegExp(`^VERSION_CODENAME=${operatorDebianSuite}$`, 'm'));
    const status = readFileSync(path.join(root, 'var', 'lib', 'dpkg', 'status'), 'utf8');
    for (const deb of image.debPackages) {
      assert.match(
        status,
        new RegExp(`^Package: ${deb.package.replace(/\+/g, '\\+')}\nStatus: install ok installed`, 'm'),
      );
    }
  });

  it('pins the Node package with the integrity the npm registry publishes', async () => {
    const published = (
      await run('npm', ['view', `${operatorNode.package}@${operatorNode.version}`, 'dist.integrity'])
    ).trim();
    assert.equal(published, operatorNode.integrity);
  });

  describe('running as the chart runs it', { skip: !asRoot && 'needs root (mount namespaces)' }, () => {
    it(`runs Node ${operatorNode.major} as 65532 on a read-only root with a writable /tmp`, async () => {
      const version = await runInImage(root, operatorImageConfig, { argv: ['node', '--version'] });
      assert.equal(version.code, 0, version.stderr);
      assert.match(version.stdout.trim(), new RegExp(`^v${operatorNode.major}\\.`));
      assert.equal(version.stdout.trim(), `v${operatorNode.version}`);

      const probe = [
        "const fs = require('node:fs');",
        "fs.writeFileSync('/tmp/probe', 'x');",
        "let rootFs = 'writable'; try { fs.writeFileSync('/app/probe', 'x'); } catch (e) { rootFs = e.code; }",
        'console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(),',
        '  cwd: process.cwd(), env: process.env.NODE_ENV, rootFs }));',
      ].join('\n');
      const res = await runInImage(root, operatorImageConfig, { argv: ['node', '-e', probe] });
      assert.equal(res.code, 0, res.stderr);
      assert.deepEqual(JSON.parse(res.stdout), {
        uid: 65532,
        gid: 65532,
        groups: [65532],
        cwd: '/app',
        env: 'production',
        rootFs: 'EROFS',
      });
    });

    it(`runs the pinned Trivy (${operatorTrivyVersion}) from PATH`, async () => {
      const res = await runInImage(root, operatorImageConfig, {
        argv: ['trivy', '--version', '--cache-dir', '/tmp/trivy'],
      });
      assert.equal(res.code, 0, res.stderr);
      assert.match(
        res.stdout,
        new RegExp(`^Version: ${operatorTrivyVersion.replace(/^v/, '').replace(/\./g, '\\.')}$`, 'm'),
      );
    });

    it('starts the entrypoint: every module loads, and it stops only for want of a kubeconfig', async () => {
      const res = await runInImage(root, operatorImageConfig, { args: ['--kubeconfig', '/nonexistent'] });
      assert.equal(res.code, 1, res.stderr);
      const lines = res.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { msg: string; code?: string; err?: { message: string } });
      assert.ok(
        lines.some((l) => l.msg === 'starting trivy-lookout'),
        res.stdout,
      );
      const failure = lines.find((l) => l.msg === 'trivy-lookout failed to start');
      assert.equal(failure?.code, 'TL_KUBE_CONFIG', res.stdout);
      assert.match(failure?.err?.message ?? '', /cannot load Kubernetes credentials from \/nonexistent/);
      assert.equal(res.stderr, '');
    });
  });

  it(
    'pushes to a local registry under the digest it was built with',
    { skip: !asRoot && 'needs root' },
    async () => {
      const registry = await startRegistry({ flavour: 'http', host: '127.0.0.1' });
      try {
        const pushed = await publishOperatorImage(registry, { image });
        assert.equal(pushed.digest, image.manifestDigest);
        assert.equal(pushed.ref, `${registry.host}/${image.repository}:${image.tag}`);
        assert.equal(
          await manifestDigest(registry, `${image.repository}:${image.tag}`),
          image.manifestDigest,
        );
      } finally {
        await registry.stop();
      }
    },
  );
});
