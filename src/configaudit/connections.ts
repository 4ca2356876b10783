/**
 * Keep-alive connections for the audit's own API requests (fetching the audited objects, writing
 * their reports). `KubeConfig.applyToHTTPSOptions` hands every request a new `https.Agent`, so
 * each one opened a TLS connection of its own: a new secure context (the CA parsed again), a full
 * handshake and the peer certificate read back. Auditing 5,000 objects makes 10,000 such requests,
 * and that cost was most of the operator's own CPU in `npm run bench:audit` (a V8 profile: about
 * 35 of 63 busy seconds in `createSecureContext`, the handshake and `getPeerCertificate`).
 *
 * The wrapped config answers as the original does, except that an HTTPS agent is shared between
 * requests while the TLS material (CA, client certificate and key, server name, verification) is
 * the same; a rotated client certificate gets a new agent. Credentials sent as headers (tokens)
 * are still read per request. A proxy agent (the cluster's `proxy-url`) is left alone.
 */
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** Idle connections are closed after this long, well before the API server's own idle timeout (90 s). */
const IDLE_MS = 15_000;

type HttpsOptions = Parameters<KubeConfig['applyToHTTPSOptions']>[0];

const TLS_KEYS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

function tlsIdentity(opts: HttpsOptions): string {
  const record = opts as Record<string, unknown>;
  return JSON.stringify(
    TLS_KEYS.map((key) => {
      const value = record[key];
      return Buffer.isBuffer(value) ? value.toString('base64') : (value ?? null);
    }),
  );
}

/** The same kubeconfig, with one keep-alive HTTPS agent for its requests. */
export function withReusedConnections(kc: KubeConfig): KubeConfig {
  let agent: https.Agent | undefined;
  let identity = '';
  const wrapped = Object.create(kc) as KubeConfig;
  wrapped.applyToHTTPSOptions = async (opts: HttpsOptions): Promise<void> => {
    await kc.applyToHTTPSOptions(opts);
    // Exactly an https.Agent: proxy agents answer instanceof https.Agent too.
    if (opts.agent?.constructor !== https.Agent) return;
    const current = tlsIdentity(opts);
    if (agent === undefined || current !== identity) {
      agent?.destroy();
      const record = opts as Record<string, unknown>;
      agent = new https.Agent({
        ...Object.fromEntries(TLS_KEYS.map((key) => [key, record[key]]).filter(([, v]) => v !== undefined)),
        keepAlive: true,
        timeout: IDLE_MS,
      });
      identity = current;
    }
    opts.agent = agent;
  };
  return wrapped;
}
