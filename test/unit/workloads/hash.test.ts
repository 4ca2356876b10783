/**
 * Hashes: name hashes equal to Trivy-Operator's (so hashed report names match the reports it wrote),
 * spec hashes that are stable across processes and key order and change with what matters.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  asWorkload,
  canonicalJson,
  isValidLabelValue,
  nameHash,
  resourceSpecHash,
} from '../../../src/workloads/index.ts';

describe('nameHash', () => {
  // Expected values from Trivy-Operator's own tests (pkg/configauditreport/builder_test.go).
  it('equals Trivy-Operator ComputeHash of a string', () => {
    assert.equal(nameHash('system:controller:node-controller'), '6f69bb5b79');
    assert.equal(nameHash('pod-Reader'), '65c67c5c64');
  });

  it('is a valid label value for any input', () => {
    for (const text of ['', 'a', 'x'.repeat(500), 'ümlaut/ünicode:*'])
      assert.ok(isValidLabelValue(nameHash(text)));
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined and null members, keeping array order', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined }], c: null }, e: undefined }),
      '{"a":{"d":[3,{"z":1}]},"b":1}',
    );
  });

  it('gives equal text for objects that differ only in key order', () => {
    assert.equal(canonicalJson({ x: 1, y: { p: 1, q: 2 } }), canonicalJson({ y: { q: 2, p: 1 }, x: 1 }));
  });
});

describe('resourceSpecHash', () => {
  const podSpec = {
    containers: [{ name: 'app', image: 'nginx:1.25', ports: [{ containerPort: 80, protocol: 'TCP' }] }],
    restartPolicy: 'Always',
  };
  const deployment = asWorkload('Deployment', {
    metadata: { name: 'web', namespace: 'shop', resourceVersion: '1' },
    spec: { selector: {}, template: { metadata: { labels: { app: 'web' } }, spec: podSpec } },
  });

  it('is pinned, so that an upgrade does not make every report stale', () => {
    assert.equal(resourceSpecHash(asWorkload('Pod', { spec: podSpec })), '7467bf6447');
  });

  it('hashes the pod spec only: a ReplicaSet and a CronJob with the same spec agree with the Pod', () => {
    const fromPod = resourceSpecHash(asWorkload('Pod', { metadata: { name: 'p' }, spec: podSpec }));
    const fromReplicaSet = resourceSpecHash(
      asWorkload('ReplicaSet', {
        metadata: { name: 'web-1', labels: { x: 'y' } },
        spec: { replicas: 3, selector: {}, template: { spec: podSpec } },
        status: { replicas: 3 },
      }),
    );
    const fromCronJob = resourceSpecHash(
      asWorkload('CronJob', {
        spec: { schedule: '@daily', jobTemplate: { spec: { template: { spec: podSpec } } } },
      }),
    );
    assert.equal(fromReplicaSet, fromPod);
    assert.equal(fromCronJob, fromPod);
    assert.equal(resourceSpecHash(deployment), fromPod);
  });

  it('does not depend on key order or on undefined members', () => {
    const reordered = {
      restartPolicy: 'Always',
      nodeSelector: undefined,
      containers: [{ ports: [{ protocol: 'TCP', containerPort: 80 }], image: 'nginx:1.25', name: 'app' }],
    };
    assert.equal(
      resourceSpecHash(asWorkload('Pod', { spec: reordered })),
      resourceSpecHash(asWorkload('Pod', { spec: podSpec })),
    );
  });

  it('changes when an image changes, not when the scheduler sets nodeName', () => {
    const base = resourceSpecHash(asWorkload('Pod', { spec: podSpec }));
    const scheduled = resourceSpecHash(asWorkload('Pod', { spec: { ...podSpec, nodeName: 'node-1' } }));
    const newImage = resourceSpecHash(
      asWorkload('Pod', { spec: { ...podSpec, containers: [{ name: 'app', image: 'nginx:1.26' }] } }),
    );
    assert.equal(scheduled, base);
    assert.notEqual(newImage, base);
  });

  it('hashes other objects whole, minus status and the metadata the API server bumps', () => {
    const configMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'cfg',
        namespace: 'shop',
        resourceVersion: '10',
        managedFields: [{ manager: 'kubectl' }],
      },
      data: { key: 'value' },
    };
    const rewritten = {
      ...configMap,
      metadata: { ...configMap.metadata, resourceVersion: '11', managedFields: [] },
    };
    const changed = { ...configMap, data: { key: 'other' } };
    assert.equal(resourceSpecHash(rewritten), resourceSpecHash(configMap));
    assert.notEqual(resourceSpecHash(changed), resourceSpecHash(configMap));
  });

  it('is a valid label value', () => {
    assert.ok(isValidLabelValue(resourceSpecHash(deployment)));
  });

  it('is the same in another process', () => {
    const module = new URL('../../../src/workloads/index.ts', import.meta.url).href;
    const script = `import { asWorkload, resourceSpecHash } from ${JSON.stringify(module)};
      process.stdout.write(resourceSpecHash(asWorkload('Pod', { spec: ${JSON.stringify(podSpec)} })));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      // tsx resolves from the working directory: run in the repository root.
      cwd: fileURLToPath(new URL('../../../', import.meta.url)),
    });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, resourceSpecHash(asWorkload('Pod', { spec: podSpec })));
  });
});
