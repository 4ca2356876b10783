/**
 * The report client's own logic, with the API server replaced by a scripted request function: the
 * requests it builds, its retries, the size budget and check, the status write with its trimmed
 * annotation, and the adoption of fields earlier writers left (the managedFields below are as a
 * real API server wrote them; test/integration covers the same on one).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  adoptionPlan,
  applyRequest,
  ReportClient,
  reportObjectPath,
  type FieldSet,
  type ManagedFieldsEntry,
  type ReportClientOptions,
} from '../../../src/crds/index.ts';
import { ErrorCodes, isLookoutError } from '../../../src/errors/index.ts';
import { KubeHttpError, type KubeRequest } from '../../../src/kube/index.ts';
import { TRIMMED_ANNOTATION } from '../../../src/reports/index.ts';

const APPLY = 'application/apply-patch+yaml';
const GV = 'aquasecurity.github.io/v1alpha1';

/** A request function that answers from a script, one step per request, and records what it was asked. */
function scripted(...steps: ((req: KubeRequest) => unknown)[]) {
  const requests: KubeRequest[] = [];
  const request = <R>(req: KubeRequest): Promise<R> => {
    requests.push(req);
    const step = steps.shift();
    if (!step) return Promise.reject(new Error(`unexpected request ${req.method ?? 'GET'} ${req.path}`));
    try {
      return Promise.resolve(step(req) as R);
    } catch (err) {
      return Promise.reject(err);
    }
  };
  return { request, requests, left: () => steps.length };
}

const echo = (req: KubeRequest) => req.body;
const fail =
  (code: number, reason = '') =>
  () => {
    throw new KubeHttpError(
      code,
      JSON.stringify({ kind: 'Status', code, reason, message: `answer ${code}` }),
    );
  };

function client(request: ReturnType<typeof scripted>['request'], options: ReportClientOptions = {}) {
  const sleeps: number[] = [];
  const reports = new ReportClient(request, {
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    ...options,
  });
  return { reports, sleeps };
}

const vulnerabilityReport = (extra: { resourceVersion?: string; uid?: string } = {}) => ({
  apiVersion: GV,
  kind: 'VulnerabilityReport',
  metadata: {
    name: 'replicaset-web-abc-main',
    namespace: 'shop',
    labels: { a: '1' },
    ...extra,
  } as {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
  },
  report: { summary: { criticalCount: 1 }, vulnerabilities: [{ id: 'CVE-1' }] },
});

describe('report client: requests', () => {
  it('builds paths for namespaced and cluster-scoped reports, their collections and the status subresource', () => {
    assert.equal(
      reportObjectPath('VulnerabilityReport', 'shop', 'a'),
      `/apis/${GV}/namespaces/shop/vulnerabilityreports/a`,
    );
    assert.equal(
      reportObjectPath('ConfigAuditReport', 'shop'),
      `/apis/${GV}/namespaces/shop/configauditreports`,
    );
    assert.equal(reportObjectPath('ClusterSbomReport', undefined, 'x'), `/apis/${GV}/clustersbomreports/x`);
    // A cluster-scoped kind ignores a namespace it is given.
    assert.equal(
      reportObjectPath('ClusterComplianceReport', 'shop', 'cis', 'status'),
      `/apis/${GV}/clustercompliancereports/cis/status`,
    );
    assert.equal(
      reportObjectPath('ConfigAuditReport', 'a b', 'c/d'),
      `/apis/${GV}/namespaces/a%20b/configauditreports/c%2Fd`,
    );
  });

  it('writes with one forced server-side apply under the trivy-lookout field manager', async () => {
    const api = scripted(echo);
    const { reports } = client(api.request);
    const object = vulnerabilityReport();
    const written = await reports.apply(object);
    assert.deepEqual(api.requests, [
      {
        method: 'PATCH',
        path: `/apis/${GV}/namespaces/shop/vulnerabilityreports/replicaset-web-abc-main`,
        query: { fieldManager: 'trivy-lookout', force: true },
        contentType: APPLY,
        body: object,
      },
    ]);
    assert.deepEqual(written, { object, trimmed: null });
    assert.deepEqual(applyRequest('/x', { a: 1 }, 'other').query, { fieldManager: 'other', force: true });
  });

  it('reads and deletes, a missing report being no error', async () => {
    const api = scripted(
      () => ({ report: { x: 1 } }),
      fail(404),
      () => ({}),
      fail(404),
      fail(403),
    );
    const { reports } = client(api.request);
    assert.deepEqual(await reports.get('SbomReport', 'shop', 'a'), { report: { x: 1 } });
    assert.equal(await reports.get('SbomReport', 'shop', 'b'), undefined);
    assert.equal(await reports.delete('ConfigAuditReport', 'shop', 'a'), true);
    assert.equal(await reports.delete('ClusterConfigAuditReport', undefined, 'b'), false);
    await assert.rejects(reports.delete('ConfigAuditReport', 'shop', 'c'), (err) => {
      assert.ok(isLookoutError(err, ErrorCodes.KUBE_API));
      assert.match(err.message, /^delete ConfigAuditReport failed \(HTTP 403\): answer 403$/);
      assert.deepEqual(err.details, { namespace: 'shop', name: 'c', status: 403 });
      return true;
    });
    assert.deepEqual(
      api.requests.map((r) => `${r.method ?? 'GET'} ${r.path}`),
      [
        `GET /apis/${GV}/namespaces/shop/sbomreports/a`,
        `GET /apis/${GV}/namespaces/shop/sbomreports/b`,
        `DELETE /apis/${GV}/namespaces/shop/configauditreports/a`,
        `DELETE /apis/${GV}/clusterconfigauditreports/b`,
        `DELETE /apis/${GV}/namespaces/shop/configauditreports/c`,
      ],
    );
  });

  it('refuses an object that is not a report kind or has no name, before any request', async () => {
    const api = scripted();
    const { reports } = client(api.request);
    await assert.rejects(
      reports.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }),
      /not a report kind/,
    );
    await assert.rejects(reports.apply({ ...vulnerabilityReport(), metadata: {} }), /has no name/);
    assert.equal(api.requests.length, 0);
  });
});

describe('report client: conflicts', () => {
  it('retries a 409 (a racing create) with backoff, the same body each time', async () => {
    const api = scripted(fail(409, 'AlreadyExists'), fail(409, 'Conflict'), echo);
    const { reports, sleeps } = client(api.request, { backoff: { initialMs: 100, maxMs: 1000 } });
    await reports.apply(vulnerabilityReport());
    assert.equal(api.requests.length, 3);
    assert.deepEqual(api.requests[2], api.requests[0]);
    assert.equal(sleeps.length, 2);
    // backoffDelay: full jitter between half the initial delay and the attempt's ceiling.
    assert.ok(sleeps[0]! >= 50 && sleeps[0]! <= 100, `first delay ${sleeps[0]}`);
    assert.ok(sleeps[1]! >= 50 && sleeps[1]! <= 200, `second delay ${sleeps[1]}`);
  });

  it('gives up after its attempts with the conflict, wrapped, and says how many', async () => {
    const api = scripted(fail(409), fail(409), fail(409));
    const { reports, sleeps } = client(api.request, { attempts: 3 });
    await assert.rejects(reports.apply(vulnerabilityReport()), (err) => {
      assert.ok(isLookoutError(err, ErrorCodes.KUBE_API));
      assert.match(err.message, /^write VulnerabilityReport failed \(HTTP 409\)/);
      assert.equal(err.details.status, 409);
      assert.equal(err.details.attempts, 3);
      assert.equal(err.details.namespace, 'shop');
      return true;
    });
    assert.equal(api.requests.length, 3);
    assert.equal(sleeps.length, 2);
  });

  it('does not retry other failures', async () => {
    const api = scripted(fail(422, 'Invalid'));
    const { reports } = client(api.request);
    await assert.rejects(reports.apply(vulnerabilityReport()), (err) => {
      assert.ok(isLookoutError(err, ErrorCodes.KUBE_API));
      assert.equal(err.details.status, 422);
      assert.match(err.message, /answer 422/);
      return true;
    });
    assert.equal(api.requests.length, 1);
  });

  it('after a precondition conflict, reads the object again and writes what rebase makes of it', async () => {
    const current = { ...vulnerabilityReport({ resourceVersion: '8' }), spec: 'same' };
    const api = scripted(fail(409), () => current, echo);
    const { reports } = client(api.request);
    const seen: unknown[] = [];
    const written = await reports.apply(vulnerabilityReport({ resourceVersion: '7' }), {
      rebase: (now: typeof current) => {
        seen.push(now);
        return vulnerabilityReport({ resourceVersion: now.metadata.resourceVersion });
      },
    });
    assert.deepEqual(seen, [current]);
    assert.equal(
      api.requests[1]?.path,
      `/apis/${GV}/namespaces/shop/vulnerabilityreports/replicaset-web-abc-main`,
    );
    assert.equal(api.requests[1]?.method, undefined);
    assert.equal(
      (api.requests[2]?.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion,
      '8',
    );
    assert.equal(written?.object.metadata.resourceVersion, '8');
  });

  it('writes nothing when rebase declines or the object is gone, and throws a precondition conflict it cannot rebase', async () => {
    const declined = scripted(fail(409), () => vulnerabilityReport({ resourceVersion: '8' }));
    assert.equal(
      await client(declined.request).reports.apply(vulnerabilityReport({ resourceVersion: '7' }), {
        rebase: () => undefined,
      }),
      undefined,
    );
    assert.equal(declined.left(), 0);
    const gone = scripted(fail(409), fail(404));
    assert.equal(
      await client(gone.request).reports.apply(vulnerabilityReport({ uid: 'u1' }), { rebase: (x) => x }),
      undefined,
    );
    const noRebase = scripted(fail(409));
    await assert.rejects(
      client(noRebase.request).reports.apply(vulnerabilityReport({ resourceVersion: '7' })),
      /HTTP 409/,
    );
    assert.equal(noRebase.requests.length, 1);
  });
});

describe('report client: size', () => {
  it('lets fit cut the object to the budget less room for the note, and writes the note as the trimmed annotation', async () => {
    const api = scripted(echo);
    const { reports } = client(api.request, { budgetBytes: 10_000 });
    const budgets: number[] = [];
    const written = await reports.apply(vulnerabilityReport(), {
      fit: (object, maxBytes) => {
        budgets.push(maxBytes);
        return {
          object: { ...object, report: { ...object.report, vulnerabilities: [] } },
          note: 'dropped 1 of 1',
        };
      },
    });
    assert.deepEqual(budgets, [10_000 - 1024]);
    const sent = api.requests[0]?.body as ReturnType<typeof vulnerabilityReport> & {
      metadata: { annotations: Record<string, string> };
    };
    assert.deepEqual(sent.report.vulnerabilities, []);
    assert.deepEqual(sent.metadata.annotations, { [TRIMMED_ANNOTATION]: 'dropped 1 of 1' });
    assert.deepEqual(sent.metadata.labels, { a: '1' });
    assert.equal(written?.trimmed, 'dropped 1 of 1');
  });

  it('sends no trimmed annotation when fit leaves nothing out (the apply then removes an old one)', async () => {
    const api = scripted(echo);
    await client(api.request).reports.apply(vulnerabilityReport(), {
      fit: (object) => ({ object, note: null }),
    });
    assert.deepEqual(api.requests[0]?.body, vulnerabilityReport());
  });

  it('never sends an object over etcd’s limit: one clear error instead of a refused write', async () => {
    const api = scripted();
    const { reports } = client(api.request, { limitBytes: 500 });
    const big = vulnerabilityReport();
    big.report.vulnerabilities = Array.from({ length: 50 }, (_, i) => ({ id: `CVE-${i}` }));
    await assert.rejects(reports.apply(big), (err) => {
      assert.ok(isLookoutError(err, ErrorCodes.REPORT_TOO_LARGE));
      assert.match(
        err.message,
        /^VulnerabilityReport shop\/replicaset-web-abc-main is \d+ bytes, over the 500 bytes/,
      );
      assert.equal(err.details.limit, 500);
      assert.equal(err.details.bytes, Buffer.byteLength(JSON.stringify(big)));
      return true;
    });
    assert.equal(api.requests.length, 0);
  });
});

describe('report client: status subresource', () => {
  const statusBody = (note?: string) => ({
    apiVersion: GV,
    kind: 'ClusterComplianceReport',
    metadata: {
      name: 'cis',
      resourceVersion: '5',
      ...(note ? { annotations: { [TRIMMED_ANNOTATION]: note } } : {}),
    },
    status: { summary: { failCount: 1 } },
  });
  const stored = (annotations?: Record<string, string>) => () => ({
    ...statusBody(),
    metadata: { name: 'cis', uid: 'u1', resourceVersion: '6', ...(annotations ? { annotations } : {}) },
    spec: { cron: '0 * * * *' },
  });

  it('applies only the status, then puts the trimmed note on the object itself, bound to its uid', async () => {
    const api = scripted(stored(), echo);
    const written = await client(api.request).reports.applyStatus(statusBody('cut to 3'));
    assert.equal(written?.trimmed, 'cut to 3');
    assert.deepEqual(api.requests[0], {
      method: 'PATCH',
      path: `/apis/${GV}/clustercompliancereports/cis/status`,
      query: { fieldManager: 'trivy-lookout', force: true },
      contentType: APPLY,
      body: {
        apiVersion: GV,
        kind: 'ClusterComplianceReport',
        metadata: { name: 'cis', resourceVersion: '5' },
        status: { summary: { failCount: 1 } },
      },
    });
    assert.deepEqual(api.requests[1]?.path, `/apis/${GV}/clustercompliancereports/cis`);
    assert.deepEqual(api.requests[1]?.body, {
      apiVersion: GV,
      kind: 'ClusterComplianceReport',
      metadata: { name: 'cis', uid: 'u1', annotations: { [TRIMMED_ANNOTATION]: 'cut to 3' } },
    });
  });

  it('removes the note once there is none, and writes nothing more when the object already says so', async () => {
    const removing = scripted(stored({ [TRIMMED_ANNOTATION]: 'old' }), echo);
    await client(removing.request).reports.applyStatus(statusBody());
    assert.deepEqual(removing.requests[1]?.body, {
      apiVersion: GV,
      kind: 'ClusterComplianceReport',
      metadata: { name: 'cis', uid: 'u1' },
    });
    const same = scripted(stored({ [TRIMMED_ANNOTATION]: 'cut' }));
    await client(same.request).reports.applyStatus(statusBody('cut'));
    const none = scripted(stored());
    await client(none.request).reports.applyStatus(statusBody());
    assert.equal(same.requests.length + none.requests.length, 2);
  });

  it('writes no status for a report that does not exist', async () => {
    const api = scripted(fail(404));
    assert.equal(await client(api.request).reports.applyStatus(statusBody()), undefined);
  });
});

describe('report client: fields earlier writers left', () => {
  // As a real API server recorded them: the scanner's old PUT (user agent node-fetch) and first-seen
  // tracking's merge patch (user agent trivy-lookout (linux/…), after our first apply.
  const entry = (manager: string, operation: string, fieldsV1: FieldSet): ManagedFieldsEntry => ({
    manager,
    operation,
    apiVersion: GV,
    fieldsType: 'FieldsV1',
    fieldsV1,
  });
  const ours = entry('trivy-lookout', 'Apply', {
    'f:metadata': { 'f:labels': { 'f:keep': {} } },
    'f:report': { 'f:summary': {} },
  });
  const oldPut = entry('node-fetch', 'Update', {
    'f:metadata': {
      'f:annotations': { '.': {}, [`f:${TRIMMED_ANNOTATION}`]: {} },
      'f:labels': { '.': {}, 'f:stale': {} },
    },
    'f:report': { '.': {}, 'f:artifact': { 'f:digest': {} } },
  });
  const tracker = entry('trivy-lookout (linux', 'Update', {
    'f:metadata': { 'f:annotations': { 'f:trivy-lookout.dev/first-seen': {} } },
  });
  const main = { fieldManager: 'trivy-lookout', subresource: '', dataKeys: ['report'], apiVersion: GV };

  it('moves every field of an entry that wrote the report into ours, and leaves annotators alone', () => {
    assert.deepEqual(adoptionPlan([ours, oldPut, tracker], main), [
      {
        ...ours,
        fieldsV1: {
          'f:metadata': {
            'f:labels': { 'f:keep': {}, '.': {}, 'f:stale': {} },
            'f:annotations': { '.': {}, [`f:${TRIMMED_ANNOTATION}`]: {} },
          },
          'f:report': { 'f:summary': {}, '.': {}, 'f:artifact': { 'f:digest': {} } },
        },
      },
      tracker,
    ]);
  });

  it('has nothing to do once only annotators are left, or for another subresource’s entries', () => {
    assert.equal(adoptionPlan([ours, tracker], main), undefined);
    assert.equal(adoptionPlan([ours, { ...oldPut, subresource: 'status' }], main), undefined);
    assert.equal(adoptionPlan([], main), undefined);
  });

  it('takes another apply manager’s report too (the infra assessment’s own, before this client)', () => {
    const infra = { ...oldPut, manager: 'trivy-lookout-infra-assessment', operation: 'Apply' };
    assert.equal(adoptionPlan([ours, infra], main)?.length, 1);
  });

  it('on a status write, takes the old status writer’s entry and makes ours when there is none', () => {
    const status = { 'f:status': { '.': {}, 'f:detailReport': {} } };
    const helm = entry('helm', 'Update', { 'f:spec': {} });
    assert.deepEqual(
      adoptionPlan([helm, { ...entry('trivy-lookout (linux', 'Update', status), subresource: 'status' }], {
        ...main,
        subresource: 'status',
        dataKeys: ['status'],
      }),
      [helm, { ...entry('trivy-lookout', 'Apply', status), subresource: 'status' }],
    );
  });

  it('takes only the trimmed annotation from an entry that holds it with other fields', () => {
    const trimmed = { 'f:metadata': { 'f:annotations': { [`f:${TRIMMED_ANNOTATION}`]: {} } } };
    const patcher = entry('trivy-lookout (linux', 'Update', {
      'f:metadata': { 'f:annotations': { '.': {}, 'f:other': {}, [`f:${TRIMMED_ANNOTATION}`]: {} } },
    });
    assert.deepEqual(adoptionPlan([patcher, entry('x', 'Update', trimmed)], { ...main, dataKeys: [] }), [
      { ...patcher, fieldsV1: { 'f:metadata': { 'f:annotations': { '.': {}, 'f:other': {} } } } },
      entry('trivy-lookout', 'Apply', trimmed),
    ]);
  });

  it('adopts at the version applied, then applies again so what the report no longer has goes', async () => {
    const object = vulnerabilityReport({ resourceVersion: '3' });
    const applied = {
      ...object,
      metadata: { ...object.metadata, resourceVersion: '9', managedFields: [ours, oldPut, tracker] },
    };
    const api = scripted(
      () => applied,
      () => ({ metadata: { resourceVersion: '10' } }),
      echo,
    );
    await client(api.request).reports.apply(object, { rebase: (x) => x });
    assert.deepEqual(api.requests[1], {
      method: 'PATCH',
      path: `/apis/${GV}/namespaces/shop/vulnerabilityreports/replicaset-web-abc-main`,
      query: { fieldManager: 'trivy-lookout' },
      contentType: 'application/merge-patch+json',
      body: {
        metadata: { resourceVersion: '9', managedFields: adoptionPlan([ours, oldPut, tracker], main) },
      },
    });
    // Its precondition moves to the version the adoption made.
    assert.deepEqual(api.requests[2]?.body, vulnerabilityReport({ resourceVersion: '10' }));
    assert.equal(api.requests[2]?.contentType, APPLY);
  });
});
