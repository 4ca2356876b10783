/** Pod specs of every workload kind, the images their containers run, and digests from pod status. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1PodSpec } from '@kubernetes/client-node';
import {
  asWorkload,
  containerImages,
  digestFromImageID,
  imageDigestsFromPodStatus,
  podSpecOf,
} from '../../../src/workloads/index.ts';

const spec: V1PodSpec = {
  initContainers: [{ name: 'migrate', image: 'ghcr.io/acme/migrate:1.2' }],
  containers: [
    { name: 'app', image: 'nginx:1.25' },
    { name: 'sidecar', image: 'envoyproxy/envoy:v1.30.1' },
  ],
  ephemeralContainers: [{ name: 'debugger', image: 'busybox:1.36' }],
};
const template = { spec };
const DIGEST = 'sha256:4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac';

describe('podSpecOf', () => {
  it("returns a Pod's own spec", () => {
    assert.equal(podSpecOf(asWorkload('Pod', { spec })), spec);
  });

  for (const kind of [
    'ReplicaSet',
    'ReplicationController',
    'StatefulSet',
    'DaemonSet',
    'Job',
    'Deployment',
  ] as const) {
    it(`returns the pod template's spec of a ${kind}`, () => {
      const object = asWorkload(kind, { spec: { selector: {}, template } } as never);
      assert.equal(podSpecOf(object), spec);
    });
  }

  it("returns a CronJob's jobTemplate pod spec", () => {
    const cronJob = asWorkload('CronJob', {
      spec: { schedule: '@daily', jobTemplate: { spec: { template } } },
    });
    assert.equal(podSpecOf(cronJob), spec);
  });

  it('returns undefined when the object has no spec', () => {
    assert.equal(podSpecOf(asWorkload('CronJob', { metadata: { name: 'x' } })), undefined);
  });
});

describe('containerImages', () => {
  it('lists containers, then init, then ephemeral containers, each with its kind', () => {
    assert.deepEqual(containerImages(spec), [
      { container: 'app', image: 'nginx:1.25', kind: 'container' },
      { container: 'sidecar', image: 'envoyproxy/envoy:v1.30.1', kind: 'container' },
      { container: 'migrate', image: 'ghcr.io/acme/migrate:1.2', kind: 'init' },
      { container: 'debugger', image: 'busybox:1.36', kind: 'ephemeral' },
    ]);
  });

  it('leaves out init containers (skipInitContainers) and ephemeral ones on request', () => {
    assert.deepEqual(
      containerImages(spec, { includeInit: false, includeEphemeral: false }).map((c) => c.container),
      ['app', 'sidecar'],
    );
  });

  it('gives nothing for a missing spec and skips a container without image', () => {
    assert.deepEqual(containerImages(undefined), []);
    assert.deepEqual(containerImages({ containers: [{ name: 'x' }] }), []);
  });
});

describe('imageDigestsFromPodStatus', () => {
  it('reads digests of all container kinds from docker-pullable://, containerd and CRI-O image IDs', () => {
    const digests = imageDigestsFromPodStatus({
      containerStatuses: [
        {
          name: 'app',
          image: 'nginx:1.25',
          imageID: `docker-pullable://nginx@${DIGEST}`,
          ready: true,
          restartCount: 0,
        },
        {
          name: 'sidecar',
          image: 'docker.io/envoyproxy/envoy:v1.30.1',
          imageID: `docker.io/envoyproxy/envoy@${DIGEST}`,
          ready: true,
          restartCount: 0,
        },
      ],
      initContainerStatuses: [
        {
          name: 'migrate',
          image: 'ghcr.io/acme/migrate:1.2',
          imageID: `ghcr.io/acme/migrate@${DIGEST}`,
          ready: false,
          restartCount: 0,
        },
      ],
      ephemeralContainerStatuses: [
        { name: 'debugger', image: 'busybox:1.36', imageID: '', ready: false, restartCount: 0 },
      ],
    });
    assert.deepEqual(digests, { app: DIGEST, sidecar: DIGEST, migrate: DIGEST });
  });

  it('gives nothing for a pod that has not started or has no status', () => {
    assert.deepEqual(imageDigestsFromPodStatus(undefined), {});
    assert.deepEqual(imageDigestsFromPodStatus({ phase: 'Pending' }), {});
  });
});

describe('digestFromImageID', () => {
  const cases: [string | undefined, string | undefined][] = [
    [`docker-pullable://repo.example.com:5000/team/app@${DIGEST}`, DIGEST],
    [`localhost:5000/app@${DIGEST}`, DIGEST],
    // Local image config IDs: no registry manifest to scan by digest.
    [`docker://${DIGEST}`, undefined],
    [DIGEST, undefined],
    ['docker-pullable://nginx@sha256:abc', undefined],
    ['', undefined],
    [undefined, undefined],
  ];
  for (const [imageID, digest] of cases) {
    it(`${JSON.stringify(imageID)} → ${digest ?? 'no digest'}`, () => {
      assert.equal(digestFromImageID(imageID), digest);
    });
  }
});
