/**
 * The harness pieces for tests of the operator's runtime against a real API server: etcd
 * compacted on demand (a watch resumed from a compacted resourceVersion gets 410 Gone), the API
 * server's audit log of watch requests, and a validating admission webhook served by the test.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { startAdmissionWebhook } from '../../harness/admission-webhook.ts';
import { countByTarget, watchRequests } from '../../harness/audit-log.ts';
import { startControlPlane, type ControlPlane } from '../../harness/control-plane.ts';
import { eventually } from '../../harness/waiting.ts';

interface WatchEvent {
  type: string;
  object: { code?: number; reason?: string; message?: string; metadata?: { resourceVersion?: string } };
}

// Its own control plane: the watch cache, the audit log and the extra user are start-up flags.
describe('runtime harness: etcd compaction, audit log, admission webhook', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  const namespace = 'runtime-harness';

  before(async () => {
    cp = await startControlPlane({
      controllerManager: false,
      scheduler: false,
      watchCache: { disabledFor: ['configmaps'] },
      auditLog: true,
      users: ['watcher'],
    });
    core = cp.kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(async () => cp?.stop());

  /**
   * Opens a watch with node:https and collects its events until the server ends the stream or
   * `ms` pass. `userAgent: null` sends no User-Agent header at all.
   */
  function watchFor(
    apiPath: string,
    ms: number,
    auth: { token?: string; userAgent?: string | null } = {},
  ): Promise<{ status: number; events: WatchEvent[]; endedByServer: boolean }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { authorization: `Bearer ${auth.token ?? cp.adminToken}` };
      if (auth.userAgent) headers['user-agent'] = auth.userAgent;
      const req = https.request(cp.server + apiPath, { ca: cp.caPem, headers }, (res) => {
        let text = '';
        let endedByServer = false;
        const done = () => {
          clearTimeout(timer);
          req.destroy();
          const events = text
            .split('\n')
            .filter((line) => line.trim())
            .map((line) => JSON.parse(line) as WatchEvent);
          resolve({ status: res.statusCode ?? 0, events, endedByServer });
        };
        const timer = setTimeout(done, ms);
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          endedByServer = true;
          done();
        });
      });
      req.on('error', (err) => {
        if (!req.destroyed) reject(err);
      });
      req.end();
    });
  }

  const configMap = (name: string, value: string): V1ConfigMap => ({
    metadata: { name, namespace },
    data: { value },
  });

  it('compacting etcd makes a watch re-opened from an old resourceVersion get 410 Gone', async () => {
    const created = await core.createNamespacedConfigMap({ namespace, body: configMap('compacted', '0') });
    const oldRv = created.metadata?.resourceVersion ?? '';
    // The same writes to a Secret, whose watch cache stays on, for contrast.
    const secret = await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'cached' }, stringData: { value: '0' } },
    });
    const oldSecretRv = secret.metadata?.resourceVersion ?? '';
    let latest = '';
    for (let i = 1; i <= 20; i++) {
      const cm = await core.replaceNamespacedConfigMap({
        name: 'compacted',
        namespace,
        body: configMap('compacted', String(i)),
      });
      latest = cm.metadata?.resourceVersion ?? '';
      await core.replaceNamespacedSecret({
        name: 'cached',
        namespace,
        body: { metadata: { name: 'cached' }, stringData: { value: String(i) } },
      });
    }

    const { revision } = await cp.compactEtcd();
    assert.ok(revision >= Number(latest), `compacted at ${revision}, last write at ${latest}`);
    // Nothing written since: compacting again is a no-op, not an error.
    assert.ok((await cp.compactEtcd()).revision >= revision);

    const base = `/api/v1/namespaces/${namespace}`;
    const gone = await watchFor(`${base}/configmaps?watch=true&resourceVersion=${oldRv}`, 5_000);
    assert.equal(gone.status, 200, 'a watch answers 200 first, then the error as an event');
    assert.equal(gone.events.length, 1, JSON.stringify(gone.events));
    assert.equal(gone.events[0]?.type, 'ERROR');
    assert.equal(gone.events[0]?.object.code, 410);
    assert.equal(gone.events[0]?.object.reason, 'Expired');
    assert.match(gone.events[0]?.object.message ?? '', /too old/);
    assert.ok(gone.endedByServer, 'the server ends the stream after the ERROR event');

    // A list at exactly the old version is refused outright.
    const list = await core
      .listNamespacedConfigMap({ namespace, resourceVersion: oldRv, resourceVersionMatch: 'Exact' })
      .then(
        () => 200,
        (err: { code?: number }) => err.code,
      );
    assert.equal(list, 410);

    // From the current version the watch is fine.
    const fresh = await watchFor(`${base}/configmaps?watch=true&resourceVersion=${revision}`, 500);
    assert.equal(fresh.status, 200);
    assert.deepEqual(fresh.events, []);

    // With the watch cache on, the compaction goes unnoticed: the missed events are replayed.
    const cached = await watchFor(`${base}/secrets?watch=true&resourceVersion=${oldSecretRv}`, 1_000);
    assert.equal(cached.status, 200);
    assert.equal(cached.events.length, 20);
    assert.ok(cached.events.every((e) => e.type === 'MODIFIED'));
  });

  it('the audit log tells watch requests apart by user, user agent and target', async () => {
    const token = tokenOf(cp.kubeconfigFor('watcher'));
    const userAgent = 'runtime-harness-test/1.0';
    const base = `/api/v1/namespaces/${namespace}`;
    await Promise.all([
      watchFor(`${base}/configmaps?watch=true&labelSelector=app%3Dx`, 300, { token, userAgent }),
      watchFor(`${base}/configmaps?watch=true&labelSelector=app%3Dx`, 300, { token, userAgent }),
      watchFor(`${base}/pods?watch=true&fieldSelector=spec.nodeName%3Dn1`, 300, { token, userAgent }),
      watchFor('/api/v1/nodes?watch=true', 300, { token, userAgent }),
      // No User-Agent header, as the operator's own node:https requests.
      watchFor('/api/v1/services?watch=true', 300, { token, userAgent: null }),
      // The admin's: someone else.
      watchFor(`${base}/secrets?watch=true`, 300, { userAgent }),
    ]);

    const mine = watchRequests(cp, { user: 'watcher' });
    assert.deepEqual(countByTarget(mine), {
      [`configmaps in ${namespace} labelSelector=app=x`]: 2,
      [`pods in ${namespace} fieldSelector=spec.nodeName=n1`]: 1,
      'nodes in all namespaces': 1,
      'services in all namespaces': 1,
    });
    // Once per request, though a watch logs two or three stages.
    assert.equal(new Set(mine.map((r) => r.auditID)).size, mine.length);
    assert.ok(mine.every((r) => r.stage === 'RequestReceived' && r.verb === 'watch'));
    await eventually(() => assert.ok(watchRequests(cp, { user: 'watcher' }).every((r) => r.completed)));

    assert.deepEqual(countByTarget(watchRequests(cp, { user: 'watcher', userAgent: /^$/ })), {
      'services in all namespaces': 1,
    });
    assert.deepEqual(countByTarget(watchRequests(cp, { userAgent: 'runtime-harness-test' })), {
      [`configmaps in ${namespace} labelSelector=app=x`]: 2,
      [`pods in ${namespace} fieldSelector=spec.nodeName=n1`]: 1,
      'nodes in all namespaces': 1,
      [`secrets in ${namespace}`]: 1,
    });
    assert.deepEqual(
      watchRequests(cp, { user: 'admin', userAgent: 'runtime-harness-test' }).map((r) => r.requestURI),
      [`${base}/secrets?watch=true`],
    );
    // The API server's own informers are in the log too, under their own name.
    assert.ok(watchRequests(cp, { user: 'system:apiserver' }).length > 0);
  });

  it('a webhook served by the test refuses requests while told to deny, and lets them pass after', async () => {
    const webhook = await startAdmissionWebhook(cp.kubeConfig(), {
      rules: [
        { apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'], operations: ['CREATE', 'UPDATE'] },
      ],
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
      timeoutSeconds: 3,
    });
    try {
      webhook.deny('reports are frozen for this test');
      const refused = await core
        .createNamespacedConfigMap({ namespace, body: configMap('refused', '1') })
        .then(
          () => undefined,
          (err: { code?: number; body?: unknown }) => err,
        );
      assert.ok(refused, 'the create must fail');
      assert.equal(refused.code, 403);
      const body = JSON.parse(String(refused.body)) as { message?: string };
      assert.equal(
        body.message,
        `admission webhook "${webhook.webhookName}" denied the request: reports are frozen for this test`,
      );

      webhook.allow();
      await core.createNamespacedConfigMap({ namespace, body: configMap('allowed', '1') });
      assert.deepEqual(webhook.counts(), { allowed: 1, denied: 1 });
      assert.deepEqual(
        webhook.calls.map((c) => [c.operation, c.resource, c.namespace, c.name, c.user, c.allowed]),
        [
          ['CREATE', 'configmaps', namespace, 'refused', 'admin', false],
          ['CREATE', 'configmaps', namespace, 'allowed', 'admin', true],
        ],
      );
      webhook.deny('still frozen');
    } finally {
      await webhook.stop();
    }
    // Gone for good: with failurePolicy Fail, a configuration left behind would now fail this.
    await core.createNamespacedConfigMap({ namespace, body: configMap('after-stop', '1') });
    assert.equal(webhook.counts().denied, 1);
  });
});

function tokenOf(kubeconfigPath: string): string {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const token = kc.getCurrentUser()?.token;
  if (!token) throw new Error(`no token in ${kubeconfigPath}`);
  return token;
}
