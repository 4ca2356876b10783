/**
 * Trivy-Operator's resource-spec-hash reproduced: for objects as the API server serves them
 * (fixtures/spec-hash-cases.json: Pods with quantities, probes and security contexts, workloads,
 * Services, a ConfigMap and a Service with the last-applied annotation, RBAC, network, quota and
 * volume kinds, a Node), specHashOf gives the hash scripts/spec-hash computes in Go. With Go
 * installed, the Go program is built and the committed layout and hashes are checked against it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SPEC_HASH_KINDS, goSpewText, specHashOf } from '../../../src/configaudit/spec-hash.ts';
import { goSpecHashes, specHashTool } from './spec-hash-tool.ts';

interface Case {
  hash: string;
  object: Record<string, unknown> & { kind: string; metadata: { name: string; annotations?: unknown } };
}

const { cases } = JSON.parse(
  readFileSync(new URL('./fixtures/spec-hash-cases.json', import.meta.url), 'utf8'),
) as { cases: Case[] };
const layoutFile = new URL('../../../src/configaudit/go-structs.generated.json', import.meta.url);

describe('resource-spec-hash as Trivy-Operator v0.32.0 computes it', () => {
  for (const { hash, object } of cases) {
    it(`${object.kind} ${object.metadata.name}${object.metadata.annotations ? ' (annotated)' : ''}`, () => {
      assert.equal(specHashOf(object.kind, object), hash);
    });
  }

  it('covers the kinds Trivy-Operator audits, except CustomResourceDefinition', () => {
    const covered = new Set(cases.map((c) => c.object.kind));
    for (const kind of [
      'Pod',
      'Deployment',
      'DaemonSet',
      'StatefulSet',
      'CronJob',
      'Job',
      'Service',
      'ConfigMap',
    ])
      assert.ok(covered.has(kind), kind);
    assert.ok(!SPEC_HASH_KINDS.includes('CustomResourceDefinition'));
  });

  it('prints a workload by its pod spec only, a Service whole with apiVersion and kind', () => {
    const pod = cases.find((c) => c.object.kind === 'Pod')?.object;
    assert.match(goSpewText('Pod', pod ?? {}) ?? '', /^\(v1\.PodSpec\)\{Volumes:/);
    const service = cases.find((c) => c.object.kind === 'Service')?.object;
    assert.match(
      goSpewText('Service', service ?? {}) ?? '',
      /^\(\*v1\.Service\)\{TypeMeta:\(v1\.TypeMeta\)\{Kind:\(string\)Service APIVersion:\(string\)v1\}/,
    );
  });

  it('gives no hash where Go would print what is not reproduced (a quantity beyond int64)', () => {
    const pod = {
      kind: 'Pod',
      spec: { containers: [{ name: 'c', resources: { limits: { memory: '100000000000000000000' } } }] },
    };
    assert.equal(specHashOf('Pod', pod), undefined);
    assert.equal(specHashOf('CustomResourceDefinition', {}), undefined);
  });

  const binary = specHashTool();
  it(
    'the committed Go layout and hashes are what scripts/spec-hash gives now',
    { skip: binary === undefined ? 'Go is not installed' : false },
    () => {
      // Compared as data: the committed file is kept in Prettier's layout.
      const layout: unknown = JSON.parse(execFileSync(binary ?? '', ['schema']).toString());
      assert.deepEqual(
        JSON.parse(readFileSync(layoutFile, 'utf8')),
        layout,
        'regenerate: spec-hash schema > src/configaudit/go-structs.generated.json, then prettier --write it',
      );
      assert.deepEqual(
        goSpecHashes(
          binary ?? '',
          cases.map((c) => c.object),
        ),
        cases.map((c) => c.hash),
      );
    },
  );
});
