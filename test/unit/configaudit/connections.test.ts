/**
 * The audit's API requests share one keep-alive HTTPS agent while the TLS material is the same,
 * instead of the new agent (and TLS connection) KubeConfig makes for every request.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { withReusedConnections } from '../../../src/configaudit/connections.ts';

function kubeConfig(server: string, caData: string, proxyUrl?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, caData, skipTLSVerify: false, ...(proxyUrl ? { proxyUrl } : {}) }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

const ca = (text: string) => Buffer.from(text).toString('base64');

describe('withReusedConnections', () => {
  it('hands every request the same keep-alive agent, and the headers as before', async () => {
    const kc = kubeConfig('https://127.0.0.1:6443', ca('ca-1'));
    const wrapped = withReusedConnections(kc);
    const first: https.RequestOptions = {};
    const second: https.RequestOptions = {};
    await wrapped.applyToHTTPSOptions(first);
    await wrapped.applyToHTTPSOptions(second);
    assert.ok(first.agent instanceof https.Agent);
    assert.equal(first.agent, second.agent);
    assert.equal((first.agent as https.Agent & { keepAlive: boolean }).keepAlive, true);
    assert.equal(String(first.agent.options.ca), 'ca-1');
    const plain: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(plain);
    assert.deepEqual(first.headers, plain.headers);
    assert.equal(String(first.ca), String(plain.ca));
    // The rest of the config answers as the original.
    assert.equal(wrapped.getCurrentCluster()?.server, 'https://127.0.0.1:6443');
  });

  it('makes a new agent when the TLS material changes', async () => {
    const kc = kubeConfig('https://127.0.0.1:6443', ca('ca-1'));
    const wrapped = withReusedConnections(kc);
    const before: https.RequestOptions = {};
    await wrapped.applyToHTTPSOptions(before);
    const cluster = kc.getCurrentCluster();
    assert.ok(cluster);
    (cluster as { caData?: string }).caData = ca('ca-2');
    const after: https.RequestOptions = {};
    await wrapped.applyToHTTPSOptions(after);
    assert.notEqual(before.agent, after.agent);
    assert.equal(String((after.agent as https.Agent).options.ca), 'ca-2');
  });

  it('leaves a proxy agent alone', async () => {
    const kc = kubeConfig('https://127.0.0.1:6443', ca('ca-1'), 'http://proxy.invalid:3128');
    const wrapped = withReusedConnections(kc);
    const opts: https.RequestOptions = {};
    await wrapped.applyToHTTPSOptions(opts);
    assert.ok(opts.agent);
    assert.notEqual(opts.agent.constructor, https.Agent);
    const again: https.RequestOptions = {};
    await wrapped.applyToHTTPSOptions(again);
    assert.notEqual(opts.agent, again.agent);
  });
});
