/**
 * The config audit on the controller runtime, against a fake API server, a fake Trivy and watch
 * events fed by hand: watch handlers only queue, a batch is one kind in one Trivy run, what is
 * current or gone by its turn costs nothing, and what failed is retried (alone) by the runtime.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubernetesObject } from '@kubernetes/client-node';
import pino from 'pino';
import { loadConfig } from '../../../src/config/index.ts';
import {
  ConfigAuditController,
  type Manifest,
  type TrivyConfigEngine,
  type TrivyMisconfiguration,
} from '../../../src/configaudit/index.ts';
import { ErrorCodes, LookoutError } from '../../../src/errors/index.ts';
import type { InformerHandler, Informers, WatchEventType } from '../../../src/kube/index.ts';
import type { TargetNamespaces } from '../../../src/workloads/index.ts';
import { FakeApiServer } from '../support/fake-api.ts';

const silent = pino({ level: 'silent' });
const REPORTS = '/apis/aquasecurity.github.io/v1alpha1/namespaces/app/configauditreports';

/** Trivy that finds nothing: records each run's objects; `beforeRun` may throw to fail one. */
class FakeTrivy {
  readonly runs: string[][] = [];
  beforeRun: ((objects: string[]) => Promise<void> | void) | undefined;

  version = () => Promise.resolve('0.74.0');
  rejectedModules = () => Promise.resolve([]);
  close = () => Promise.resolve();

  async runEach(
    manifests: readonly Manifest[],
    _modules: unknown,
    _options: unknown,
    onResult: (file: string, items: TrivyMisconfiguration[]) => Promise<void> | void,
  ): Promise<void> {
    const objects = manifests.map(({ object }) => {
      const { kind, metadata } = object as KubernetesObject;
      return `${kind}/${metadata?.name}`;
    });
    this.runs.push(objects);
    await this.beforeRun?.(objects);
    for (const manifest of manifests) await onResult(manifest.file, []);
  }
}

/** Hands the watch events to the controller, as the shared informers would. */
class FakeInformers {
  private readonly handlers = new Map<string, InformerHandler<KubernetesObject>>();
  readonly informers = {
    group: () => ({
      watch: (source: { path: string }, handler: InformerHandler<KubernetesObject>) => {
        this.handlers.set(source.path, handler);
        return { synced: true, waitForSync: () => Promise.resolve(), unsubscribe: () => Promise.resolve() };
      },
      stop: () => Promise.resolve(),
    }),
  } as unknown as Informers;

  /** Delivers an event to the watch of the collection whose path ends with `/plural`. */
  async emit(plural: string, type: WatchEventType, object: KubernetesObject): Promise<void> {
    const path = [...this.handlers.keys()].find((p) => p.endsWith(`/${plural}`));
    assert.ok(path, `a watch of ${plural}`);
    await this.handlers.get(path)?.(type, object);
  }
}

const service = (name: string): KubernetesObject & { spec: unknown } => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'app', uid: `uid-${name}` },
  spec: { ports: [{ port: 80 }] },
});
const role = (name: string): KubernetesObject & { rules: unknown } => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'Role',
  metadata: { name, namespace: 'app', uid: `uid-${name}` },
  rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }],
});

async function until(what: string, ready: () => boolean, timeoutMs = 3_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !ready(); await sleep(5))
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

describe('ConfigAuditController', () => {
  let api: FakeApiServer;
  let controller: ConfigAuditController | undefined;

  async function start(env: Record<string, string> = {}) {
    api = new FakeApiServer();
    const kc = await api.start();
    const trivy = new FakeTrivy();
    const watches = new FakeInformers();
    const config = loadConfig(
      {
        OPERATOR_NAMESPACE: 'trivy-system',
        OPERATOR_TRIVY_SUPPORTED_CONFIG_AUDIT_KINDS: 'Workload,Service,Role',
        OPERATOR_TARGET_WORKLOADS: 'replicaset',
        OPERATOR_CONFIG_AUDIT_CONCURRENCY: '1',
        OPERATOR_CONFIG_AUDIT_BATCH_DELAY: '10ms',
        OPERATOR_SCAN_JOB_RETRY_AFTER: '20ms',
        ...env,
      },
      () => {
        throw new Error('no file');
      },
    );
    controller = new ConfigAuditController({
      kc,
      config,
      log: silent,
      namespaces: { waitForSync: () => Promise.resolve(), has: () => true } as unknown as TargetNamespaces,
      informers: watches.informers,
      engine: trivy as unknown as TrivyConfigEngine,
    });
    await controller.start();
    assert.equal(controller.synced, true);
    return { trivy, watches, controller };
  }

  afterEach(async () => {
    await controller?.stop();
    controller = undefined;
    await api.stop();
  });

  it('audits one kind per Trivy run, retries a failed report write alone, and leaves current objects alone on a resync', async () => {
    const { trivy, watches } = await start({ OPERATOR_RESYNC_PERIOD: '50ms' });
    for (const object of [service('a'), role('r'), service('b')]) {
      const { namespace, name } = object.metadata ?? {};
      const plural = object.kind === 'Role' ? 'roles' : 'services';
      const prefix = object.kind === 'Role' ? '/apis/rbac.authorization.k8s.io/v1' : '/api/v1';
      api.objects.set(`${prefix}/namespaces/${namespace}/${plural}/${name}`, object);
    }
    api.failures.set(`PATCH ${REPORTS}/service-b`, 1);

    await watches.emit('services', 'ADDED', service('a'));
    await watches.emit('roles', 'ADDED', role('r'));
    await watches.emit('services', 'ADDED', service('b'));
    assert.deepEqual(api.calls, [], 'a watch handler makes no API request');

    await until('b written again', () => api.callsTo(`PATCH ${REPORTS}/service-b`).length >= 2);
    assert.deepEqual(trivy.runs, [['Service/a', 'Service/b'], ['Role/r'], ['Service/b']]);
    assert.equal(api.callsTo(`PATCH ${REPORTS}/service-b`).length, 2);

    // Several resyncs later: every key was looked at again, and nothing was fetched or audited.
    const calls = api.calls.length;
    await sleep(200);
    assert.equal(trivy.runs.length, 3);
    assert.deepEqual(api.calls.slice(calls), []);
  });

  it('a failed Trivy run is retried key by key; a key deleted meanwhile needs nothing', async () => {
    const { trivy, watches } = await start();
    for (const name of ['x', 'y'])
      api.objects.set(`/apis/rbac.authorization.k8s.io/v1/namespaces/app/roles/${name}`, role(name));
    trivy.beforeRun = async () => {
      trivy.beforeRun = undefined;
      api.objects.delete('/apis/rbac.authorization.k8s.io/v1/namespaces/app/roles/y');
      await watches.emit('roles', 'DELETED', role('y'));
      throw new LookoutError(ErrorCodes.AUDIT_FAILED, 'trivy config exited with code 1');
    };
    await watches.emit('roles', 'ADDED', role('x'));
    await watches.emit('roles', 'ADDED', role('y'));

    await until('x audited again', () => trivy.runs.length >= 2);
    await until(
      'the ConfigAuditFailed Events',
      () => api.callsTo('POST /api/v1/namespaces/app/events').length >= 2,
    );
    await sleep(100);
    // An event that changes nothing the audit sees queues nothing.
    await watches.emit('roles', 'MODIFIED', role('x'));
    assert.equal(controller?.pending, 0);
    assert.deepEqual(trivy.runs, [['Role/x', 'Role/y'], ['Role/x']]);
    assert.equal(
      api.callsTo('PATCH /apis/aquasecurity.github.io/v1alpha1/namespaces/app/rbacassessmentreports/role-x')
        .length,
      1,
    );
    assert.deepEqual(api.callsTo('GET /apis/rbac.authorization.k8s.io/v1/namespaces/app/roles/y').length, 1);
  });

  it('deletes the report of a ReplicaSet scaled to zero in the reconcile, retrying a failed delete', async () => {
    const { trivy, watches } = await start({ OPERATOR_RESYNC_PERIOD: '50ms' });
    await watches.emit('configauditreports', 'ADDED', {
      metadata: {
        name: 'replicaset-web-1',
        namespace: 'app',
        labels: { 'resource-spec-hash': 'old', 'plugin-config-hash': 'old' },
      },
    });
    api.failures.set(`DELETE ${REPORTS}/replicaset-web-1`, 1);
    const scaledDown = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'web-1', namespace: 'app', uid: 'uid-web-1' },
      spec: { replicas: 0, template: { spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
      status: { replicas: 0 },
    };
    await watches.emit('replicasets', 'MODIFIED', scaledDown);
    assert.deepEqual(api.calls, [], 'a watch handler makes no API request');

    await until('the delete retried', () => api.callsTo(`DELETE ${REPORTS}/replicaset-web-1`).length >= 2);
    // Resyncs later: deleted once, so never again; and nothing was audited.
    await sleep(200);
    assert.equal(api.callsTo(`DELETE ${REPORTS}/replicaset-web-1`).length, 2);
    assert.deepEqual(trivy.runs, []);
  });

  it('stop() waits for the running Trivy run and starts no other', async () => {
    const { trivy, watches } = await start();
    api.objects.set('/api/v1/namespaces/app/services/slow', service('slow'));
    let release = () => {};
    trivy.beforeRun = () => new Promise<void>((resolve) => (release = resolve));
    await watches.emit('services', 'ADDED', service('slow'));
    await until('the run', () => trivy.runs.length === 1);

    let stopped = false;
    const stopping = controller?.stop().then(() => (stopped = true));
    await watches.emit('services', 'ADDED', service('late'));
    await sleep(50);
    assert.equal(stopped, false);
    release();
    await stopping;
    assert.equal(api.callsTo(`PATCH ${REPORTS}/service-slow`).length, 1, 'its reports are written');
    assert.deepEqual(trivy.runs, [['Service/slow']]);
  });
});
