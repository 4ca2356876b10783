/**
 * Owner resolution and skip decisions, as Trivy-Operator makes them: controlled Pods and CronJob Jobs
 * are covered by their owners, Deployments by their active ReplicaSet.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Deployment, V1OwnerReference, V1ReplicaSet } from '@kubernetes/client-node';
import {
  SkipReason,
  activeReplicaSetOf,
  asWorkload,
  controllerOf,
  reportOwner,
  skipReason,
  targetWorkloads,
  workloadRef,
  type WorkloadObject,
  type WorkloadRef,
} from '../../../src/workloads/index.ts';

const owner = (kind: string, name: string, apiVersion: string, controller = true): V1OwnerReference => ({
  apiVersion,
  kind,
  name,
  uid: `uid-${name}`,
  controller,
});

const pod = (ownerReferences: V1OwnerReference[] = [], extra: Record<string, unknown> = {}): WorkloadObject =>
  asWorkload('Pod', {
    metadata: { name: 'web-abc12', namespace: 'shop', uid: 'uid-pod', ownerReferences, ...extra },
    spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] },
  });

const replicaSet = (
  name: string,
  revision: string,
  replicas: number,
  deploymentUid = 'uid-web',
): V1ReplicaSet =>
  asWorkload('ReplicaSet', {
    metadata: {
      name,
      namespace: 'shop',
      uid: `uid-${name}`,
      annotations: { 'deployment.kubernetes.io/revision': revision },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: deploymentUid, controller: true },
      ],
    },
    spec: { selector: {}, template: { spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] } } },
    status: { replicas },
  });

const deployment: V1Deployment = asWorkload('Deployment', {
  metadata: {
    name: 'web',
    namespace: 'shop',
    uid: 'uid-web',
    annotations: { 'deployment.kubernetes.io/revision': '3' },
  },
  spec: { selector: {}, template: { spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] } } },
});

describe('controllerOf', () => {
  it('returns the ownerReference with controller: true, ignoring other owners', () => {
    const controller = owner('ReplicaSet', 'web-5d9', 'apps/v1');
    const object = pod([owner('ConfigMap', 'x', 'v1', false), controller]);
    assert.deepEqual(controllerOf(object), controller);
  });

  it('returns undefined without a controller', () => {
    assert.equal(controllerOf(pod([owner('ConfigMap', 'x', 'v1', false)])), undefined);
    assert.equal(controllerOf({}), undefined);
  });
});

describe('workloadRef and asWorkload', () => {
  it('fills in kind and apiVersion for list items and reads identity from metadata', () => {
    const object = asWorkload('StatefulSet', { metadata: { name: 'db', namespace: 'shop', uid: 'u1' } });
    assert.deepEqual(workloadRef(object), {
      kind: 'StatefulSet',
      namespace: 'shop',
      name: 'db',
      uid: 'u1',
      apiVersion: 'apps/v1',
    });
  });

  it('returns the object itself when kind and apiVersion are already set', () => {
    const object = { kind: 'Job' as const, apiVersion: 'batch/v1', metadata: { name: 'j' } };
    assert.equal(asWorkload('Job', object), object);
  });

  it('refuses a Deployment, which never owns reports', () => {
    assert.throws(() => workloadRef(asWorkload('Deployment', deployment)), TypeError);
  });
});

describe('reportOwner', () => {
  const ownerRef = (kind: WorkloadRef['kind'], name: string, apiVersion: string): WorkloadRef => ({
    kind,
    name,
    namespace: 'shop',
    uid: `uid-${name}`,
    apiVersion,
  });

  for (const [kind, apiVersion] of [
    ['ReplicaSet', 'apps/v1'],
    ['ReplicationController', 'v1'],
    ['StatefulSet', 'apps/v1'],
    ['DaemonSet', 'apps/v1'],
    ['Job', 'batch/v1'],
  ] as const) {
    it(`reports a Pod controlled by a ${kind} under the ${kind}`, () => {
      assert.deepEqual(reportOwner(pod([owner(kind, 'ctl', apiVersion)])), ownerRef(kind, 'ctl', apiVersion));
    });
  }

  it('reports a bare Pod, or one run by a non-built-in controller, under itself', () => {
    const self = { kind: 'Pod', name: 'web-abc12', namespace: 'shop', uid: 'uid-pod', apiVersion: 'v1' };
    assert.deepEqual(reportOwner(pod()), self);
    assert.deepEqual(reportOwner(pod([owner('StrimziPodSet', 'kafka', 'core.strimzi.io/v1beta2')])), self);
  });

  it('follows a Pod of a Job on to the CronJob when the lookup knows the Job', () => {
    const job = asWorkload('Job', {
      metadata: {
        name: 'backup-29000',
        namespace: 'shop',
        ownerReferences: [owner('CronJob', 'backup', 'batch/v1')],
      },
    });
    const lookup = (ref: WorkloadRef): WorkloadObject | undefined =>
      ref.name === 'backup-29000' ? job : undefined;
    const podOfJob = pod([owner('Job', 'backup-29000', 'batch/v1')]);
    assert.deepEqual(reportOwner(podOfJob, lookup), ownerRef('CronJob', 'backup', 'batch/v1'));
    assert.deepEqual(
      reportOwner(podOfJob),
      ownerRef('Job', 'backup-29000', 'batch/v1'),
      'without lookup: the Job',
    );
    assert.deepEqual(
      reportOwner(podOfJob, () => undefined),
      ownerRef('Job', 'backup-29000', 'batch/v1'),
    );
  });

  it('reports a Job of a CronJob under the CronJob, a standalone Job under itself', () => {
    const cronJobJob = asWorkload('Job', {
      metadata: { name: 'b-1', namespace: 'shop', ownerReferences: [owner('CronJob', 'backup', 'batch/v1')] },
    });
    assert.deepEqual(reportOwner(cronJobJob), ownerRef('CronJob', 'backup', 'batch/v1'));
    const standalone = asWorkload('Job', {
      metadata: { name: 'migrate', namespace: 'shop', uid: 'uid-migrate' },
    });
    assert.deepEqual(reportOwner(standalone), ownerRef('Job', 'migrate', 'batch/v1'));
  });

  it('gives no owner for a Deployment (its active ReplicaSet is scanned)', () => {
    assert.equal(reportOwner(asWorkload('Deployment', deployment)), undefined);
  });
});

describe('activeReplicaSetOf', () => {
  it("picks the ReplicaSet controlled by the Deployment with the Deployment's revision", () => {
    const old = replicaSet('web-old', '2', 0);
    const current = replicaSet('web-new', '3', 2);
    const otherDeployment = replicaSet('other-new', '3', 1, 'uid-other');
    assert.equal(activeReplicaSetOf(deployment, [otherDeployment, old, current]), current);
  });

  it('returns undefined when no ReplicaSet has the current revision', () => {
    assert.equal(activeReplicaSetOf(deployment, [replicaSet('web-old', '2', 1)]), undefined);
  });
});

describe('skipReason', () => {
  const cases: [string, WorkloadObject, Parameters<typeof skipReason>[1], SkipReason | undefined][] = [
    ['a bare Pod is scanned', pod(), {}, undefined],
    [
      'a Pod controlled by a ReplicaSet',
      pod([owner('ReplicaSet', 'web-5d9', 'apps/v1')]),
      {},
      SkipReason.controlledPod,
    ],
    ['a Pod controlled by a Job', pod([owner('Job', 'j', 'batch/v1')]), {}, SkipReason.controlledPod],
    [
      'a Pod controlled by a custom controller is scanned',
      pod([owner('StrimziPodSet', 'kafka', 'core.strimzi.io/v1beta2')]),
      {},
      undefined,
    ],
    [
      'an OpenShift deployer Pod',
      pod([], { annotations: { 'openshift.io/deployment-config.name': 'web' } }),
      {},
      SkipReason.deployerPod,
    ],
    [
      'a scan Job Pod of Trivy-Operator',
      pod([], { labels: { 'app.kubernetes.io/managed-by': 'trivy-operator' } }),
      {},
      SkipReason.managedByScanner,
    ],
    [
      'a scan Job Pod of ours',
      pod([], { labels: { 'app.kubernetes.io/managed-by': 'trivy-lookout' } }),
      {},
      SkipReason.managedByScanner,
    ],
    [
      'an object managed by Helm is scanned',
      pod([], { labels: { 'app.kubernetes.io/managed-by': 'Helm' } }),
      {},
      undefined,
    ],
    [
      'an object with a skip label, whatever its value',
      pod([], { labels: { 'trivy.skip': 'false' } }),
      { skipResourceByLabels: ['trivy.skip'] },
      SkipReason.skipLabel,
    ],
    ['an object being deleted', pod([], { deletionTimestamp: new Date(0) }), {}, SkipReason.beingDeleted],
    ['a kind not in targetWorkloads', pod(), { targetWorkloads: ['replicaset'] }, SkipReason.notTargeted],
    ['a Deployment', asWorkload('Deployment', deployment), {}, SkipReason.deployment],
    [
      'a Job of a CronJob',
      asWorkload('Job', { metadata: { name: 'b-1', ownerReferences: [owner('CronJob', 'b', 'batch/v1')] } }),
      {},
      SkipReason.cronJobJob,
    ],
    ['a standalone Job is scanned', asWorkload('Job', { metadata: { name: 'migrate' } }), {}, undefined],
    ['a ReplicaSet with pods', asWorkload('ReplicaSet', replicaSet('web-new', '3', 2)), {}, undefined],
    [
      'a ReplicaSet with 0 replicas',
      asWorkload('ReplicaSet', replicaSet('web-new', '3', 0)),
      {},
      SkipReason.noPods,
    ],
    [
      'a ReplicaSet whose status is not written yet',
      asWorkload('ReplicaSet', { metadata: { name: 'fresh' } }),
      {},
      SkipReason.noPods,
    ],
    [
      'an older revision of a known Deployment',
      asWorkload('ReplicaSet', replicaSet('web-old', '2', 1)),
      { deployment },
      SkipReason.inactiveRevision,
    ],
    [
      'the current revision of a known Deployment',
      asWorkload('ReplicaSet', replicaSet('web-new', '3', 1)),
      { deployment },
      undefined,
    ],
    [
      'an older revision when the Deployment is not known',
      asWorkload('ReplicaSet', replicaSet('web-old', '2', 1)),
      {},
      undefined,
    ],
    [
      'a StatefulSet without pods',
      asWorkload('StatefulSet', { metadata: { name: 'db' }, status: { replicas: 0 } }),
      {},
      SkipReason.noPods,
    ],
    [
      'a ReplicationController without pods',
      asWorkload('ReplicationController', { metadata: { name: 'rc' }, status: { replicas: 0 } }),
      {},
      SkipReason.noPods,
    ],
    ['a DaemonSet is scanned', asWorkload('DaemonSet', { metadata: { name: 'agent' } }), {}, undefined],
    ['a CronJob is scanned', asWorkload('CronJob', { metadata: { name: 'backup' } }), {}, undefined],
  ];
  for (const [what, object, options, expected] of cases) {
    it(`${what}: ${expected ?? 'not skipped'}`, () => {
      assert.equal(skipReason(object, options), expected);
      assert.equal(skipReason(object, options) !== undefined, expected !== undefined);
    });
  }
});

describe('targetWorkloads', () => {
  it('keeps the objects whose kind is listed, case-insensitively', () => {
    const objects = [
      asWorkload('Pod', { metadata: { name: 'p' } }),
      asWorkload('CronJob', { metadata: { name: 'c' } }),
      asWorkload('ReplicaSet', { metadata: { name: 'r' } }),
    ];
    const kept = targetWorkloads(objects, ['pod', 'CRONJOB']).map((object) => object.metadata?.name);
    assert.deepEqual(kept, ['p', 'c']);
  });
});
