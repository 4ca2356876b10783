/**
 * The engine with the real, pinned Trivy binary: Trivy's own checks on real manifests, with no
 * network at all (proxy pointing at a closed port, empty cache), custom policies, a broken policy
 * singled out with Trivy's own error, and the failure paths (timeout, bad output, no binary)
 * giving clear errors.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { TrivyConfigEngine, parsePolicyConfigMap, toChecks } from '../../../src/configaudit/index.ts';
import { isLookoutError } from '../../../src/errors/index.ts';
import { toolPath } from '../../harness/tools.ts';

const log = pino({ level: 'silent' });
const ALL = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'] as const;
// No network: every proxy points at a closed port, so any download attempt would fail.
const OFFLINE_ENV = {
  PATH: process.env.PATH,
  HTTPS_PROXY: 'http://127.0.0.1:9',
  HTTP_PROXY: 'http://127.0.0.1:9',
  https_proxy: 'http://127.0.0.1:9',
  http_proxy: 'http://127.0.0.1:9',
  NO_PROXY: '',
};

const privilegedReplicaSet = {
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: { name: 'bad-1', namespace: 'shop' },
  spec: {
    selector: { matchLabels: { app: 'bad' } },
    template: {
      metadata: { labels: { app: 'bad' } },
      spec: {
        hostNetwork: true,
        containers: [{ name: 'web', image: 'nginx:1.27', securityContext: { privileged: true } }],
      },
    },
  },
};
const secretsClusterRole = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name: 'secret-admin' },
  rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['*'] }],
};

const TEAM_POLICY = `# METADATA
# title: "Team label required"
# description: "Every workload carries a team label."
# scope: package
# schemas:
#   - input: schema["kubernetes"]
# custom:
#   id: TEAM001
#   severity: MEDIUM
#   recommended_actions: "Add a team label."
#   input:
#     selector:
#     - type: kubernetes
package trivyoperator.team_label

import rego.v1

deny contains res if {
  not input.metadata.labels.team
  res := result.new(sprintf("%s '%s' has no team label", [input.kind, input.metadata.name]), {})
}
`;

describe('TrivyConfigEngine with the pinned Trivy', () => {
  let tmp: string;
  let engine: TrivyConfigEngine;

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'tl-engine-'));
    engine = new TrivyConfigEngine({
      binary: toolPath('trivy'),
      timeoutMs: 120_000,
      log,
      tmpDir: tmp,
      env: OFFLINE_ENV,
    });
  });
  after(async () => {
    await engine.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('reports its version', async () => {
    assert.equal(await engine.version(), '0.74.0');
  });

  it("evaluates Trivy's built-in checks offline: a privileged workload fails AVD-KSV-0017 with Trivy's title and severity", async () => {
    const results = await engine.run([{ file: '0.json', object: privilegedReplicaSet }]);
    const { checks, infraChecks } = toChecks(results.get('0.json') ?? [], {
      severities: ALL,
      failedOnly: false,
    });
    const byId = new Map(checks.map((c) => [c.checkID, c]));
    assert.deepEqual(
      ['AVD-KSV-0017', 'AVD-KSV-0009', 'AVD-KSV-0014', 'AVD-KSV-0001'].map((id) => [
        id,
        byId.get(id)?.severity,
        byId.get(id)?.success,
      ]),
      [
        ['AVD-KSV-0017', 'HIGH', false],
        ['AVD-KSV-0009', 'HIGH', false],
        ['AVD-KSV-0014', 'HIGH', false],
        ['AVD-KSV-0001', 'MEDIUM', false],
      ],
    );
    assert.equal(byId.get('AVD-KSV-0017')?.title, 'Privileged');
    assert.equal(byId.get('AVD-KSV-0009')?.title, 'Access to host network');
    assert.equal(byId.get('AVD-KSV-0008')?.success, true, 'host IPC is not used: passes');
    // Checks for other kinds do not apply to a ReplicaSet on its own.
    assert.equal(byId.has('AVD-KSV-0041'), false);
    assert.ok(infraChecks.every((c) => c.checkID.startsWith('AVD-KCV')));
  });

  it('assesses a ClusterRole with * on secrets as Trivy does (AVD-KSV-0041, CRITICAL)', async () => {
    const results = await engine.run([{ file: 'cr.json', object: secretsClusterRole }]);
    const failed = toChecks(results.get('cr.json') ?? [], { severities: ALL, failedOnly: true }).checks;
    const manageSecrets = failed.find((c) => c.checkID === 'AVD-KSV-0041');
    assert.equal(manageSecrets?.severity, 'CRITICAL');
    assert.equal(manageSecrets?.title, 'Manage secrets');
    assert.deepEqual(manageSecrets?.messages, [
      "ClusterRole 'secret-admin' shouldn't have access to manage resource 'secrets'",
    ]);
  });

  it('runs custom policies alongside the built-in checks', async () => {
    const set = parsePolicyConfigMap({ 'policy.team.rego': TEAM_POLICY, 'policy.team.kinds': 'Workload' });
    const results = await engine.run([{ file: '0.json', object: privilegedReplicaSet }], set);
    const failed = toChecks(results.get('0.json') ?? [], { severities: ALL, failedOnly: true }).checks;
    const team = failed.find((c) => c.checkID === 'TEAM001');
    assert.deepEqual(team && { ...team, description: undefined }, {
      checkID: 'TEAM001',
      title: 'Team label required',
      description: undefined,
      severity: 'MEDIUM',
      category: 'Kubernetes Security Check',
      messages: ["ReplicaSet 'bad-1' has no team label"],
      remediation: 'Add a team label.',
      success: false,
    });
    assert.ok(
      failed.some((c) => c.checkID === 'AVD-KSV-0017'),
      'built-in checks still run',
    );
  });

  it('singles out a policy Trivy cannot load, with its error, and keeps the good one', async () => {
    const set = parsePolicyConfigMap({
      'policy.team.rego': TEAM_POLICY,
      'policy.team.kinds': 'Workload',
      'policy.broken.rego': 'package trivyoperator.broken\n\ndeny[res] {\n  this is not rego\n}\n',
      'policy.broken.kinds': '*',
    });
    const rejected = await engine.rejectedModules(set);
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0]?.key, 'policy.broken.rego');
    assert.match(
      rejected[0]?.message ?? '',
      /^policy\.broken\.rego was rejected by Trivy: .*rego_parse_error/,
    );
    assert.doesNotMatch(rejected[0]?.message ?? '', new RegExp(tmp.replace(/^\//, '')), 'no temp paths');
    assert.deepEqual(await engine.rejectedModules(parsePolicyConfigMap({})), []);
  });
});

describe('TrivyConfigEngine failures', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'tl-engine-fail-'));
  });
  after(async () => rm(tmp, { recursive: true, force: true }));

  const standIn = async (name: string, body: string) => {
    const file = path.join(tmp, name);
    await writeFile(file, `#!/bin/sh\n${body}\n`);
    await chmod(file, 0o755);
    return file;
  };
  const manifests = [{ file: '0.json', object: privilegedReplicaSet }];

  it('kills a run that takes longer than the timeout and says so', async () => {
    const engine = new TrivyConfigEngine({
      binary: await standIn('slow', 'sleep 30'),
      timeoutMs: 500,
      log,
      tmpDir: tmp,
    });
    await assert.rejects(
      engine.run(manifests),
      (err: unknown) => isLookoutError(err, 'TL_AUDIT_FAILED') && /timed out after 500 ms/.test(err.message),
    );
    await engine.close();
  });

  it('reports output that is not Trivy JSON as invalid output', async () => {
    const script =
      'while [ $# -gt 0 ]; do if [ "$1" = --output ]; then echo "<html>oops" > "$2"; fi; shift; done';
    const engine = new TrivyConfigEngine({
      binary: await standIn('garbage', script),
      timeoutMs: 10_000,
      log,
      tmpDir: tmp,
    });
    await assert.rejects(
      engine.run(manifests),
      (err: unknown) => isLookoutError(err, 'TL_TRIVY_OUTPUT_INVALID') && /not JSON/.test(err.message),
    );
    await engine.close();
  });

  it("passes Trivy's own fatal error on when it exits non-zero", async () => {
    const script = 'echo "2026-01-01T00:00:00Z\tFATAL\tFatal error\trun error: something broke" >&2; exit 1';
    const engine = new TrivyConfigEngine({
      binary: await standIn('fatal', script),
      timeoutMs: 10_000,
      log,
      tmpDir: tmp,
    });
    await assert.rejects(
      engine.run(manifests),
      (err: unknown) =>
        isLookoutError(err, 'TL_AUDIT_FAILED') &&
        err.message === 'trivy config exited with code 1: Fatal error run error: something broke',
    );
    await engine.close();
  });

  it('names a missing binary', async () => {
    const engine = new TrivyConfigEngine({
      binary: path.join(tmp, 'no-such-trivy'),
      timeoutMs: 10_000,
      log,
      tmpDir: tmp,
    });
    await assert.rejects(
      engine.version(),
      (err: unknown) => isLookoutError(err, 'TL_AUDIT_FAILED') && /ENOENT/.test(err.message),
    );
    await engine.close();
  });
});
