import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Secret } from '@kubernetes/client-node';
import { credentialsFor, credentialsFromSecrets } from '../../../src/scanning/credentials.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');
const dockerConfigJson = (auths: Record<string, unknown>): V1Secret => ({
  type: 'kubernetes.io/dockerconfigjson',
  data: { '.dockerconfigjson': b64(JSON.stringify({ auths })) },
});

describe('registry credentials from pull secrets', () => {
  const all = credentialsFromSecrets([
    dockerConfigJson({ 'https://index.docker.io/v1/': { auth: b64('hubuser:hub:pass') } }),
    dockerConfigJson({ 'registry.example.com:5000': { username: 'u', password: 'p' } }),
    {
      type: 'kubernetes.io/dockercfg',
      data: { '.dockercfg': b64(JSON.stringify({ '*.azurecr.io': { auth: b64('acr:secret') } })) },
    },
    { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64('{not json') } },
  ]);

  it('reads auth (user:pass with a colon in the password) and username/password entries', () => {
    assert.deepEqual(credentialsFor(all, 'index.docker.io'), { username: 'hubuser', password: 'hub:pass' });
    assert.deepEqual(credentialsFor(all, 'registry.example.com:5000'), { username: 'u', password: 'p' });
  });

  it('matches wildcard hosts for one label only', () => {
    assert.deepEqual(credentialsFor(all, 'myacr.azurecr.io'), { username: 'acr', password: 'secret' });
    assert.equal(credentialsFor(all, 'a.b.azurecr.io'), undefined);
  });

  it('skips an unreadable secret and finds nothing for unknown registries', () => {
    assert.equal(credentialsFor(all, 'ghcr.io'), undefined);
  });
});
