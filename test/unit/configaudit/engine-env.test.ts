/** The Go GC settings a Trivy run gets, and that the operator's own environment overrides them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { trivyEnv } from '../../../src/configaudit/engine.ts';

describe('trivyEnv', () => {
  it('adds GOGC and GOMEMLIMIT to the environment', () => {
    const env = trivyEnv({ PATH: '/bin', HTTPS_PROXY: 'http://proxy:3128' });
    assert.deepEqual(env, {
      PATH: '/bin',
      HTTPS_PROXY: 'http://proxy:3128',
      GOGC: '400',
      GOMEMLIMIT: '400MiB',
    });
  });

  it('leaves both alone when the environment sets either', () => {
    assert.deepEqual(trivyEnv({ PATH: '/bin', GOGC: '100' }), { PATH: '/bin', GOGC: '100' });
    assert.deepEqual(trivyEnv({ GOMEMLIMIT: '1GiB' }), { GOMEMLIMIT: '1GiB' });
  });
});
