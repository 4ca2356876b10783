import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1LabelSelector,
  type V1RuleWithOperations,
  type V1ValidatingWebhook,
} from '@kubernetes/client-node';
import { writeSelfSignedCertificate } from './cert.ts';

export interface AdmissionWebhookOptions {
  /** Name of the ValidatingWebhookConfiguration; a unique one by default. */
  name?: string;
  /**
   * What the API server sends here, e.g. `{ apiGroups: ['aquasecurity.github.io'], apiVersions:
   * ['v1alpha1'], resources: ['vulnerabilityreports'], operations: ['CREATE', 'UPDATE'] }`.
   */
  rules: V1RuleWithOperations[];
  /** e.g. `{ matchLabels: { 'kubernetes.io/metadata.name': ns } }` to keep other tests' writes out. */
  namespaceSelector?: V1LabelSelector;
  objectSelector?: V1LabelSelector;
  /** Default Fail: a webhook that cannot be reached rejects the request. */
  failurePolicy?: 'Fail' | 'Ignore';
  /** Default 5 (the API server's own default is 10). */
  timeoutSeconds?: number;
  /** How long `start` and `stop` wait for the API server to take the configuration up or drop it. */
  settleTimeoutMs?: number;
}

/** One AdmissionReview the webhook answered. */
export interface AdmissionCall {
  uid: string;
  operation: string;
  /** e.g. `configmaps`, `vulnerabilityreports` */
  resource: string;
  apiGroup: string;
  namespace?: string;
  name?: string;
  user: string;
  dryRun: boolean;
  allowed: boolean;
  /** The deny message sent back. */
  message?: string;
}

export interface AdmissionWebhook {
  /** `https://127.0.0.1:<port>/validate` */
  readonly url: string;
  readonly configurationName: string;
  /** The webhook's name inside the configuration; the API server's errors quote it. */
  readonly webhookName: string;
  /**
   * From now on every request is refused with `message` (HTTP `code`, default 403). The API
   * server answers the client `admission webhook "<webhookName>" denied the request: <message>`.
   */
  deny(message: string, code?: number): void;
  /** From now on every request is allowed (the initial state). */
  allow(): void;
  /**
   * From now on requests are held unanswered: the API server waits for the answer (up to the
   * webhook's `timeoutSeconds`), and so does the client whose write it is, until `release()`. Lets a
   * test act while a client is in the middle of a series of writes.
   */
  hold(): void;
  /** Answers the held requests (allowed or denied as the webhook is told now) and stops holding. */
  release(): void;
  /** Requests held unanswered now. */
  readonly holding: number;
  /** The requests answered so far, oldest first (the harness's own readiness probes left out). */
  readonly calls: readonly AdmissionCall[];
  counts(): { allowed: number; denied: number };
  /** Deletes the configuration, waits until the API server no longer calls here, closes the server. */
  stop(): Promise<void>;
}

const PROBE_LABEL = 'harness.trivy-lookout.dev/webhook-probe';
const PROBE_NAMESPACE = 'default';

interface AdmissionReviewRequest {
  uid?: string;
  operation?: string;
  resource?: { group?: string; resource?: string };
  namespace?: string;
  name?: string;
  userInfo?: { username?: string };
  dryRun?: boolean;
  object?: { metadata?: { name?: string; labels?: Record<string, string> } };
}

/**
 * A validating admission webhook served by the test itself: an HTTPS server on loopback (the API
 * server runs on the same machine) with a throw-away certificate for 127.0.0.1, registered as a
 * ValidatingWebhookConfiguration (`url`, caBundle, sideEffects None, admissionReviewVersions v1).
 * It allows everything until told to `deny`.
 *
 * The API server picks a new configuration up (and drops a deleted one) a moment after the write,
 * through its own informer; start and stop wait for that with a dry-run ConfigMap create in
 * `default` that only a second, probe webhook of the same configuration matches. So once this
 * resolves the webhook is in force, and after `stop()` it is gone.
 */
export async function startAdmissionWebhook(
  kc: KubeConfig,
  options: AdmissionWebhookOptions,
): Promise<AdmissionWebhook> {
  const id = randomBytes(4).toString('hex');
  const configurationName = options.name ?? `harness-webhook-${id}`;
  const webhookName = `${configurationName}.harness.trivy-lookout.dev`;
  const settleTimeoutMs = options.settleTimeoutMs ?? 30_000;

  const certDir = mkdtempSync(path.join(os.tmpdir(), 'tl-webhook-'));
  const certFile = path.join(certDir, 'tls.crt');
  const keyFile = path.join(certDir, 'tls.key');
  writeSelfSignedCertificate({
    certFile,
    keyFile,
    commonName: 'harness admission webhook',
    subjectAltName: 'IP:127.0.0.1',
    days: 2,
  });
  const certPem = readFileSync(certFile, 'utf8');

  let decision: { allowed: true } | { allowed: false; message: string; code: number } = { allowed: true };
  const calls: AdmissionCall[] = [];
  let holding = false;
  const held: (() => void)[] = [];
  const probesSeen = new Set<string>();

  /** Answers one review: the probes always allowed, every other request as the webhook is told now. */
  const answer = (request: AdmissionReviewRequest, res: http.ServerResponse) => {
    const uid = request.uid ?? '';
    let response: Record<string, unknown>;
    if (request.object?.metadata?.labels?.[PROBE_LABEL] !== undefined) {
      probesSeen.add(request.object?.metadata?.name ?? '');
      response = { uid, allowed: true };
    } else {
      const current = decision;
      calls.push({
        uid,
        operation: request.operation ?? '',
        resource: request.resource?.resource ?? '',
        apiGroup: request.resource?.group ?? '',
        ...(request.namespace ? { namespace: request.namespace } : {}),
        ...(request.name ? { name: request.name } : {}),
        user: request.userInfo?.username ?? '',
        dryRun: request.dryRun === true,
        allowed: current.allowed,
        ...(current.allowed ? {} : { message: current.message }),
      });
      response = current.allowed
        ? { uid, allowed: true }
        : { uid, allowed: false, status: { code: current.code, message: current.message } };
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
  };

  const server = https.createServer({ cert: certPem, key: readFileSync(keyFile) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let review: { request?: AdmissionReviewRequest };
      try {
        review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof review;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const request = review.request ?? {};
      if (holding && request.object?.metadata?.labels?.[PROBE_LABEL] === undefined)
        held.push(() => answer(request, res));
      else answer(request, res);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}/validate`;
  const closeServer = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    rmSync(certDir, { recursive: true, force: true });
  };

  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const caBundle = Buffer.from(certPem).toString('base64');
  const common = {
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: options.timeoutSeconds ?? 5,
  } satisfies Partial<V1ValidatingWebhook>;
  const webhooks: V1ValidatingWebhook[] = [
    {
      ...common,
      name: webhookName,
      clientConfig: { url, caBundle },
      rules: options.rules,
      failurePolicy: options.failurePolicy ?? 'Fail',
      ...(options.namespaceSelector ? { namespaceSelector: options.namespaceSelector } : {}),
      ...(options.objectSelector ? { objectSelector: options.objectSelector } : {}),
    },
    {
      ...common,
      name: `probe.${webhookName}`,
      clientConfig: { url: `https://127.0.0.1:${port}/probe`, caBundle },
      rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'], operations: ['CREATE'] }],
      failurePolicy: 'Ignore',
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': PROBE_NAMESPACE } },
      objectSelector: { matchLabels: { [PROBE_LABEL]: configurationName } },
    },
  ];

  let probeCount = 0;
  /** Whether the API server calls this configuration's webhooks now. */
  const probe = async (): Promise<boolean> => {
    probeCount += 1;
    const name = `${configurationName}-probe-${probeCount}`;
    await core.createNamespacedConfigMap({
      namespace: PROBE_NAMESPACE,
      dryRun: 'All',
      body: { metadata: { name, labels: { [PROBE_LABEL]: configurationName } } },
    });
    return probesSeen.has(name);
  };
  const settle = async (what: string, wanted: boolean) => {
    const deadline = Date.now() + settleTimeoutMs;
    while ((await probe()) !== wanted) {
      if (Date.now() > deadline) throw new Error(`admission webhook ${configurationName}: ${what}`);
      await sleep(100);
    }
  };

  try {
    await admission.createValidatingWebhookConfiguration({
      body: { metadata: { name: configurationName }, webhooks },
    });
    await settle(`the API server never called it within ${settleTimeoutMs} ms`, true);
  } catch (err) {
    await admission.deleteValidatingWebhookConfiguration({ name: configurationName }).catch(() => {});
    await closeServer();
    throw err;
  }

  const release = () => {
    holding = false;
    for (const respond of held.splice(0)) respond();
  };
  let stopping: Promise<void> | undefined;
  return {
    url,
    configurationName,
    webhookName,
    deny(message, code = 403) {
      decision = { allowed: false, message, code };
    },
    allow() {
      decision = { allowed: true };
    },
    hold() {
      holding = true;
    },
    release,
    get holding() {
      return held.length;
    },
    calls,
    counts: () => ({
      allowed: calls.filter((c) => c.allowed).length,
      denied: calls.filter((c) => !c.allowed).length,
    }),
    stop() {
      stopping ??= (async () => {
        release();
        try {
          await admission.deleteValidatingWebhookConfiguration({ name: configurationName });
          // Until the API server has dropped it, a closed server would fail every matching request.
          await settle(`the API server still called it ${settleTimeoutMs} ms after its deletion`, false);
        } finally {
          await closeServer();
        }
      })();
      return stopping;
    },
  };
}
