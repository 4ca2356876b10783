import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiErrorMessage, apiErrorStatus, isGone, kubeError } from '../../../src/kube/index.ts';
import { ErrorCodes } from '../../../src/errors/index.ts';

describe('API error normalisation', () => {
  it('reads the status from .code (client-node 1.x), .statusCode (Watch), .response.statusCode and the body', () => {
    assert.equal(apiErrorStatus({ code: 404 }), 404);
    assert.equal(apiErrorStatus({ statusCode: 410 }), 410);
    assert.equal(apiErrorStatus({ response: { statusCode: 403 } }), 403);
    assert.equal(apiErrorStatus({ body: '{"kind":"Status","code":409}' }), 409);
    // ENOENT-style string codes are not HTTP statuses.
    assert.equal(apiErrorStatus({ code: 'ECONNREFUSED' }), undefined);
    assert.equal(apiErrorStatus('boom'), undefined);
  });

  it('prefers the Status message in a string or object body', () => {
    assert.equal(
      apiErrorMessage({ body: '{"message":"pods \\"x\\" not found"}', message: 'HTTP-Code: 404\nMessage…' }),
      'pods "x" not found',
    );
    assert.equal(apiErrorMessage({ body: { message: 'forbidden' } }), 'forbidden');
    assert.equal(apiErrorMessage(new Error('first line\nsecond')), 'first line');
  });

  it('recognises an expired resourceVersion by code or by reason', () => {
    assert.equal(isGone({ code: 410 }), true);
    assert.equal(isGone({ body: { reason: 'Expired', code: 500 } }), true);
    assert.equal(isGone({ code: 500 }), false);
  });

  it('wraps a failure with the operation, status and message', () => {
    const err = kubeError({ code: 403, body: '{"message":"no"}' }, 'create Job', { namespace: 'x' });
    assert.equal(err.code, ErrorCodes.KUBE_API);
    assert.equal(err.message, 'create Job failed (HTTP 403): no');
    assert.equal(err.details.status, 403);
  });
});
