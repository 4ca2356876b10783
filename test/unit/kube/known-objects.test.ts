import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KnownObjects } from '../../../src/kube/index.ts';

const obj = (name: string, rv: string, namespace = 'team-a') => ({
  metadata: { name, namespace, resourceVersion: rv },
});

describe('KnownObjects', () => {
  it('reports a repeated event with the same resourceVersion as nothing to do', () => {
    const known = new KnownObjects();
    assert.equal(known.apply('ADDED', obj('a', '1')), true);
    assert.equal(known.apply('MODIFIED', obj('a', '1')), false);
    assert.equal(known.apply('MODIFIED', obj('a', '2')), true);
    assert.equal(known.size, 1);
  });

  it('forgets deleted objects, and a delete of an unknown object is a no-op', () => {
    const known = new KnownObjects();
    known.apply('ADDED', obj('a', '1'));
    assert.equal(known.apply('DELETED', obj('a', '1')), true);
    assert.equal(known.apply('DELETED', obj('a', '1')), false);
    assert.equal(known.size, 0);
  });

  it('after a relist, classifies new, changed and unchanged objects and names those deleted in the gap', () => {
    const known = new KnownObjects();
    known.apply('ADDED', obj('unchanged', '1'));
    known.apply('ADDED', obj('changed', '2'));
    known.apply('ADDED', obj('deleted-while-down', '3'));
    known.apply('ADDED', obj('same-name', '4', 'other-ns'));

    const relist = known.beginRelist();
    assert.equal(relist.classify(obj('unchanged', '1')), undefined);
    assert.equal(relist.classify(obj('changed', '9')), 'MODIFIED');
    assert.equal(relist.classify(obj('created-while-down', '10')), 'ADDED');
    assert.equal(relist.classify(obj('same-name', '4', 'other-ns')), undefined);
    assert.deepEqual(relist.finish(), ['team-a/deleted-while-down']);
    assert.equal(known.size, 4);
  });

  it('keys cluster-scoped objects by name alone', () => {
    const known = new KnownObjects();
    known.apply('ADDED', { metadata: { name: 'admin', resourceVersion: '1' } });
    const relist = known.beginRelist();
    assert.deepEqual(relist.finish(), ['admin']);
  });
});
