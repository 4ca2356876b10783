/**
 * The shared informers (src/kube/informers.ts) against a real API server, no node.
 *
 * 1. Expired watch. In: a subscriber on the ConfigMaps of one namespace, watched through a TCP link
 *    of its own (test/harness/tcp-proxy.ts) to an API server whose watch cache is off for
 *    ConfigMaps; the link is cut, ConfigMaps are created, updated, deleted and deleted-and-recreated
 *    meanwhile, etcd is compacted, and the link healed. Out: the watch, resumed from its old
 *    resourceVersion, gets a real 410 (the informer reports restart reason `gone`), relists, and the
 *    subscriber's view (built only from the ADDED/MODIFIED/DELETED it was handed) equals the API's
 *    list: each missed change arrives exactly once (deletions as DELETED), unchanged objects not at
 *    all, and the watch goes on after it.
 * 2. One watch per resource. In: two subscribers on one collection, a metadata-only one, then a
 *    full one after the first has synced, in a process whose requests the audit log names (user
 *    `operator`). Out: one informer with two subscribers; the late subscriber gets every existing
 *    object as ADDED, whole (with data); the first gets nothing twice; the audit log shows the
 *    relist's one re-opened watch and never two watches of the target at once, one open at the end
 *    and none once both have unsubscribed.
 * 3. Metadata only. A metadata-only subscriber gets PartialObjectMetadata (labels, no data); one
 *    wanting whole objects that joins while the informer's first list of metadata is under way is
 *    handed whole objects only, after a list of its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { Informers, type RestartReason, type WatchEventType } from '../../../src/kube/index.ts';
import { createLogger } from '../../../src/logging/index.ts';
import {
  auditedRequests,
  groupByTarget,
  overlappingRequests,
  watchRequests,
} from '../../harness/audit-log.ts';
import { kubeconfigYaml, startControlPlane, type ControlPlane } from '../../harness/control-plane.ts';
import { startTcpProxy, type TcpProxy } from '../../harness/tcp-proxy.ts';
import { eventually } from '../../harness/waiting.ts';

interface Seen {
  uid: string;
  resourceVersion: string;
  value: string | undefined;
}

// Its own control plane: the watch cache, the audit log and the extra user are start-up flags.
describe('shared informers against a real API server', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let core: CoreV1Api;

  before(async () => {
    cp = await startControlPlane({
      controllerManager: false,
      scheduler: false,
      watchCache: { disabledFor: ['configmaps'] },
      auditLog: true,
      users: ['operator'],
    });
    core = cp.kubeConfig().makeApiClient(CoreV1Api);
  });
  after(async () => cp?.stop());

  const configMap = (namespace: string, name: string, value: string): V1ConfigMap => ({
    metadata: { name, namespace },
    data: { value },
  });

  /** What the API server holds now, as a subscriber's view would have it. */
  async function apiView(namespace: string): Promise<Map<string, Seen>> {
    const list = await core.listNamespacedConfigMap({ namespace });
    return new Map(
      list.items
        // The namespace's own kube-root-ca.crt comes and goes with the controller manager (off here).
        .filter((cm) => cm.metadata?.name !== 'kube-root-ca.crt')
        .map((cm) => [cm.metadata?.name ?? '', seen(cm)]),
    );
  }

  const seen = (cm: V1ConfigMap): Seen => ({
    uid: cm.metadata?.uid ?? '',
    resourceVersion: cm.metadata?.resourceVersion ?? '',
    value: cm.data?.value,
  });

  it('a watch resumed from a compacted resourceVersion gets 410, relists, and the subscriber misses nothing', async () => {
    const namespace = 'informers-gone';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    for (const name of ['keep-1', 'keep-2', 'upd-1', 'upd-2', 'del-1', 'del-2', 'recreated'])
      await core.createNamespacedConfigMap({ namespace, body: configMap(namespace, name, 'v1') });

    // The informer reaches the API server through a link the test can cut; the test's own writes
    // go straight to it.
    const proxy: TcpProxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(cp.server).port) });
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfigYaml(`https://127.0.0.1:${proxy.port}`, cp.caPem, cp.adminToken));
    const restarts: { watch: string; reason: RestartReason; at: number }[] = [];
    const informers = new Informers({
      kc,
      log: createLogger('silent'),
      onRestart: (watch, reason) => restarts.push({ watch, reason, at: Date.now() }),
      // No server-side timeout during the test: every restart below is the partition's doing.
      watchTimeoutSeconds: 600,
      backoff: { initialMs: 500, maxMs: 2_000 },
    });
    const view = new Map<string, Seen>();
    const events: string[] = [];
    try {
      const subscription = informers.subscribe<V1ConfigMap>(
        'gone-test',
        { path: `/api/v1/namespaces/${namespace}/configmaps` },
        (type: WatchEventType, cm) => {
          const name = cm.metadata?.name ?? '';
          if (name === 'kube-root-ca.crt') return;
          events.push(`${type} ${name}`);
          if (type === 'DELETED') view.delete(name);
          else view.set(name, seen(cm));
        },
      );
      await subscription.waitForSync();
      assert.deepEqual(view, await apiView(namespace));
      assert.equal(events.length, 7);

      // A live event: the watch is open, and its resourceVersion is this write's.
      await core.createNamespacedConfigMap({ namespace, body: configMap(namespace, 'live-1', 'v1') });
      await eventually(() => assert.deepEqual(events.slice(7), ['ADDED live-1']));
      events.length = 0;
      assert.equal(restarts.length, 0, JSON.stringify(restarts));

      // The partition: the watch connection is reset, and every reconnection too.
      const cutAt = Date.now();
      proxy.cut();
      await eventually(() => {
        assert.ok(restarts.length > 0, 'the informer noticed the cut');
        assert.ok(proxy.refused >= 1, 'and tried to reconnect at least once');
      });

      // What it misses: two creates, three updates, two deletes, a delete and re-create.
      await core.createNamespacedConfigMap({ namespace, body: configMap(namespace, 'new-1', 'v1') });
      await core.createNamespacedConfigMap({ namespace, body: configMap(namespace, 'new-2', 'v1') });
      await core.replaceNamespacedConfigMap({
        name: 'upd-1',
        namespace,
        body: configMap(namespace, 'upd-1', 'v2'),
      });
      for (const value of ['v2', 'v3'])
        await core.replaceNamespacedConfigMap({
          name: 'upd-2',
          namespace,
          body: configMap(namespace, 'upd-2', value),
        });
      await core.deleteNamespacedConfigMap({ name: 'del-1', namespace });
      await core.deleteNamespacedConfigMap({ name: 'del-2', namespace });
      const before = (await apiView(namespace)).get('recreated');
      await core.deleteNamespacedConfigMap({ name: 'recreated', namespace });
      const last = await core.createNamespacedConfigMap({
        namespace,
        body: configMap(namespace, 'recreated', 'v2'),
      });
      assert.deepEqual(events, [], 'nothing reaches the subscriber through the cut link');

      // Every revision the watch would resume from is gone from etcd.
      const { revision } = await cp.compactEtcd();
      assert.ok(revision >= Number(last.metadata?.resourceVersion));
      proxy.heal();

      const name = `configmaps@${namespace}`;
      await eventually(
        () => assert.ok(restarts.some((r) => r.watch === name && r.reason === 'gone' && r.at > cutAt)),
        30_000,
      );
      const expected = await apiView(namespace);
      await eventually(() => assert.deepEqual(view, expected), 30_000);
      // Each missed change once, as the event it amounts to; the unchanged objects not at all.
      assert.deepEqual([...events].sort(), [
        'ADDED new-1',
        'ADDED new-2',
        'DELETED del-1',
        'DELETED del-2',
        'MODIFIED recreated',
        'MODIFIED upd-1',
        'MODIFIED upd-2',
      ]);
      // The object deleted and re-created under the same name is the new one.
      assert.notEqual(view.get('recreated')?.uid, before?.uid);
      assert.equal(view.get('recreated')?.value, 'v2');
      assert.equal(view.get('upd-2')?.value, 'v3');
      // Every restart reason the informer gave, in order: the cut (a reset watch, refused
      // reconnections), then the expired resourceVersion, and nothing after it.
      const since = restarts.filter((r) => r.at >= cutAt).map((r) => r.reason);
      assert.equal(since.at(-1), 'gone', since.join(','));
      assert.ok(
        since.slice(0, -1).every((r) => r === 'error' || r === 'closed'),
        since.join(','),
      );

      // The watch after the relist carries on.
      events.length = 0;
      await core.createNamespacedConfigMap({ namespace, body: configMap(namespace, 'after-1', 'v1') });
      await eventually(() => assert.deepEqual(events, ['ADDED after-1']));
      assert.deepEqual(
        informers.status().map((s) => [s.name, s.subscribers, s.objects]),
        [[name, 1, (await apiView(namespace)).size]],
      );
    } finally {
      await informers.stop();
      await proxy.close();
    }
  });

  it('two subscribers of one collection share one watch; the late one gets everything, the first nothing twice', async () => {
    const namespace = 'informers-shared';
    const target = `configmaps in ${namespace}`;
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    for (const name of ['shared-1', 'shared-2', 'shared-3', 'shared-4'])
      await core.createNamespacedConfigMap({ namespace, body: configMap(namespace, name, `${name}-v1`) });

    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigFor('operator'));
    const restarts: RestartReason[] = [];
    const informers = new Informers({
      kc,
      log: createLogger('silent'),
      onRestart: (_watch, reason) => restarts.push(reason),
      watchTimeoutSeconds: 600,
    });
    type Received = { type: WatchEventType; name: string; rv: string; kind?: string; value?: string };
    const record =
      (into: Received[]) =>
      (type: WatchEventType, cm: V1ConfigMap & { kind?: string }): void => {
        const name = cm.metadata?.name ?? '';
        if (name === 'kube-root-ca.crt') return;
        into.push({
          type,
          name,
          rv: cm.metadata?.resourceVersion ?? '',
          ...(cm.kind ? { kind: cm.kind } : {}),
          ...(cm.data?.value ? { value: cm.data.value } : {}),
        });
      };
    const first: Received[] = [];
    const late: Received[] = [];
    const source = { path: `/api/v1/namespaces/${namespace}/configmaps` };
    const mine = () => watchRequests(cp, { user: 'operator' });
    try {
      const firstSub = informers.subscribe('first', source, record(first), { metadataOnly: true });
      await firstSub.waitForSync();
      assert.deepEqual(
        first.map((e) => [e.type, e.name]).sort(),
        ['shared-1', 'shared-2', 'shared-3', 'shared-4'].map((n) => ['ADDED', n]),
      );
      // A live event: the first watch is open when the late subscriber comes.
      await core.replaceNamespacedConfigMap({
        name: 'shared-1',
        namespace,
        body: configMap(namespace, 'shared-1', 'shared-1-v2'),
      });
      await eventually(() => assert.deepEqual(first.at(-1)?.name, 'shared-1'));
      assert.equal(first.length, 5);
      assert.equal(first.at(-1)?.type, 'MODIFIED');
      await eventually(() => assert.equal(mine().filter((r) => !r.completed).length, 1));

      const lateSub = informers.subscribe('late', source, record(late));
      await lateSub.waitForSync();
      assert.deepEqual(
        informers.status().map((s) => [s.name, s.path, s.subscribers, s.metadataOnly, s.objects]),
        [[`configmaps@${namespace}`, source.path, 2, false, 4]],
      );
      // The late subscriber: every object there is, as ADDED, whole.
      const current = await core.listNamespacedConfigMap({ namespace });
      assert.deepEqual(
        late.map((e) => [e.type, e.name, e.rv, e.value]).sort(),
        current.items
          .filter((cm) => cm.metadata?.name !== 'kube-root-ca.crt')
          .map((cm) => ['ADDED', cm.metadata?.name, cm.metadata?.resourceVersion, cm.data?.value])
          .sort(),
      );
      assert.ok(late.every((e) => e.kind === undefined || e.kind === 'ConfigMap'));
      // The first subscriber was handed nothing by the relist: it had all of it.
      assert.equal(first.length, 5);

      // From here on both follow the one watch, and each change reaches each once.
      await core.createNamespacedConfigMap({
        namespace,
        body: configMap(namespace, 'shared-5', 'shared-5-v1'),
      });
      await core.replaceNamespacedConfigMap({
        name: 'shared-2',
        namespace,
        body: configMap(namespace, 'shared-2', 'shared-2-v2'),
      });
      await core.deleteNamespacedConfigMap({ name: 'shared-3', namespace });
      const changes = [
        ['ADDED', 'shared-5'],
        ['MODIFIED', 'shared-2'],
        ['DELETED', 'shared-3'],
      ];
      await eventually(() => {
        assert.deepEqual(
          first.slice(5).map((e) => [e.type, e.name]),
          changes,
        );
        assert.deepEqual(
          late.slice(4).map((e) => [e.type, e.name]),
          changes,
        );
      });
      // Whole objects for the first subscriber now, as the informer serves the late one.
      assert.deepEqual(
        first.slice(5).map((e) => e.value),
        ['shared-5-v1', 'shared-2-v2', 'shared-3-v1'],
      );
      // No duplicates: no (type, object, resourceVersion) was handed to either subscriber twice.
      for (const received of [first, late]) {
        const ids = received.map((e) => `${e.type} ${e.name} ${e.rv}`);
        assert.equal(new Set(ids).size, ids.length, ids.join('\n'));
      }

      // The audit log: one target; a watch before the late subscriber and one after its relist
      // (plus one per restart, none expected); never two at once; one open now.
      assert.equal(restarts.length, 0, JSON.stringify(restarts));
      await eventually(() => {
        const watches = mine();
        const groups = groupByTarget(watches);
        assert.deepEqual(
          groups.map((g) => [g.key, g.count]),
          [[target, 2 + restarts.length]],
        );
        assert.equal(watches.filter((r) => !r.completed).length, 1);
        assert.deepEqual(overlappingRequests(watches), []);
      });
      // One list for the first subscriber, one for the late one.
      assert.equal(auditedRequests(cp, { user: 'operator', verb: 'list' }).length, 2);

      await firstSub.unsubscribe();
      assert.deepEqual(
        informers.status().map((s) => s.subscribers),
        [1],
      );
      await lateSub.unsubscribe();
      assert.deepEqual(informers.status(), []);
      await eventually(() => assert.equal(mine().filter((r) => !r.completed).length, 0));
      assert.equal(mine().length, 2 + restarts.length);
    } finally {
      await informers.stop();
    }
  });

  it('a metadata-only subscriber is handed metadata (PartialObjectMetadata), not whole objects', async () => {
    const namespace = 'informers-metadata';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedConfigMap({ namespace, body: configMap(namespace, 'meta-1', 'v1') });
    const informers = new Informers({ kc: cp.kubeConfig(), log: createLogger('silent') });
    const received: { type: string; kind?: string; labels?: unknown; data?: unknown }[] = [];
    try {
      const subscription = informers.subscribe<V1ConfigMap & { kind?: string }>(
        'metadata-only',
        { path: `/api/v1/namespaces/${namespace}/configmaps` },
        (type, cm) => {
          if (cm.metadata?.name === 'meta-1')
            received.push({ type, kind: cm.kind, labels: cm.metadata.labels, data: cm.data });
        },
        { metadataOnly: true },
      );
      await subscription.waitForSync();
      await core.replaceNamespacedConfigMap({
        name: 'meta-1',
        namespace,
        body: {
          ...configMap(namespace, 'meta-1', 'v2'),
          metadata: { ...configMap(namespace, 'meta-1', 'v2').metadata, labels: { team: 'a' } },
        },
      });
      await eventually(() => assert.equal(received.length, 2));
      assert.deepEqual(received, [
        { type: 'ADDED', kind: 'PartialObjectMetadata', labels: undefined, data: undefined },
        { type: 'MODIFIED', kind: 'PartialObjectMetadata', labels: { team: 'a' }, data: undefined },
      ]);
    } finally {
      await informers.stop();
    }
  });

  it('a subscriber wanting whole objects that joins a metadata-only list under way waits for a list of whole objects', async () => {
    // In: a metadata-only subscriber, then in the same tick (its list already asked for) one that
    // needs whole objects. Out: the second is never handed metadata; each gets every object once.
    const namespace = 'informers-upgrade';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    for (const name of ['up-1', 'up-2'])
      await core.createNamespacedConfigMap({ namespace, body: configMap(namespace, name, name) });
    const informers = new Informers({ kc: cp.kubeConfig(), log: createLogger('silent') });
    const source = { path: `/api/v1/namespaces/${namespace}/configmaps` };
    const seen = { meta: [] as string[], full: [] as string[] };
    try {
      const meta = informers.subscribe<V1ConfigMap>(
        'metadata-only',
        source,
        (type, cm) => void seen.meta.push(`${type} ${cm.metadata?.name}`),
        { metadataOnly: true },
      );
      const full = informers.subscribe<V1ConfigMap>(
        'whole',
        source,
        (type, cm) => void seen.full.push(`${type} ${cm.metadata?.name} ${cm.data?.value ?? 'no data'}`),
      );
      await Promise.all([meta.waitForSync(), full.waitForSync()]);
      assert.deepEqual(seen.full.sort(), ['ADDED up-1 up-1', 'ADDED up-2 up-2']);
      assert.deepEqual(seen.meta.sort(), ['ADDED up-1', 'ADDED up-2']);
      assert.equal(informers.status().find((i) => i.path === source.path)?.metadataOnly, false);
    } finally {
      await informers.stop();
    }
  });

  it('an informer stopped as soon as its first list is in closes its watch at once', async () => {
    const namespace = 'informers-stop';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const informers = new Informers({ kc: cp.kubeConfig(), log: createLogger('silent') });
    const subscription = informers.subscribe(
      'stopped-at-once',
      { path: `/api/v1/namespaces/${namespace}/configmaps` },
      () => {},
    );
    await subscription.waitForSync();
    // In the same tick, as a shutdown or a last unsubscribe can come right after the first list.
    const stopped = await Promise.race([informers.stop().then(() => true), sleep(5_000).then(() => false)]);
    assert.ok(stopped, 'stop() still waiting after 5 s: the watch opened after the stop is still open');
  });
});
