import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { WORKLOAD_KINDS } from '../../../src/config/index.ts';
import { WorkloadResolver } from '../../../src/scanning/workload-resolver.ts';

// Pods that need no API call (no Job owner); an unreachable server proves none is made.
const kc = new KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: 'c', server: 'https://127.0.0.1:9' }],
  users: [{ name: 'u' }],
  contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
  currentContext: 'x',
});
const ALL = WORKLOAD_KINDS;

function pod(owner?: { apiVersion: string; kind: string; name: string }): V1Pod {
  return {
    metadata: {
      name: 'p',
      namespace: 'ns',
      uid: 'pod-uid',
      ownerReferences: owner ? [{ ...owner, uid: `${owner.name}-uid`, controller: true }] : undefined,
    },
  };
}

describe('WorkloadResolver', () => {
  it('files a ReplicaSet-controlled pod under its ReplicaSet', async () => {
    const resolver = new WorkloadResolver(kc, [...ALL]);
    const owner = await resolver.resolve(pod({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1' }));
    assert.deepEqual(owner, {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      namespace: 'ns',
      name: 'web-1',
      uid: 'web-1-uid',
    });
  });

  it('files a bare pod, and one run by a custom controller, under the pod itself (as Trivy-Operator does)', async () => {
    const resolver = new WorkloadResolver(kc, [...ALL]);
    const self = { apiVersion: 'v1', kind: 'Pod', namespace: 'ns', name: 'p', uid: 'pod-uid' };
    assert.deepEqual(await resolver.resolve(pod()), self);
    assert.deepEqual(
      await resolver.resolve(
        pod({ apiVersion: 'kafka.strimzi.io/v1', kind: 'StrimziPodSet', name: 'kafka' }),
      ),
      self,
    );
  });

  it('drops pods whose workload kind is not targeted', async () => {
    const resolver = new WorkloadResolver(kc, ['statefulset']);
    assert.equal(
      await resolver.resolve(pod({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1' })),
      undefined,
    );
    assert.equal(await resolver.resolve(pod()), undefined);
  });
});
