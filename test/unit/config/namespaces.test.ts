import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { globToRegExp, namespaceSelector } from '../../../src/config/index.ts';

const settings = (targetNamespaces: string[], excludeNamespaces: string[] = []) => ({
  targetNamespaces,
  excludeNamespaces,
});

describe('globToRegExp', () => {
  const cases: [string, string, boolean][] = [
    ['kube-*', 'kube-system', true],
    ['kube-*', 'kube-', true],
    ['kube-*', 'my-kube-system', false], // anchored at the start
    ['*-system', 'trivy-system', true],
    ['*-system', 'trivy-system-2', false], // anchored at the end
    ['team-?', 'team-a', true],
    ['team-?', 'team-ab', false],
    ['team-?', 'team-', false],
    ['a.b', 'a.b', true],
    ['a.b', 'axb', false], // "." is literal, not regex "any"
    ['*', 'anything', true],
    ['default', 'default', true],
    ['default', 'default2', false],
  ];
  for (const [glob, namespace, expected] of cases) {
    it(`${glob} ${expected ? 'matches' : 'does not match'} ${namespace}`, () => {
      assert.equal(globToRegExp(glob).test(namespace), expected);
    });
  }
});

describe('namespaceSelector', () => {
  it('targets every namespace when no targets are set', () => {
    const selector = namespaceSelector(settings([]));
    assert.equal(selector.allNamespaces, true);
    assert.equal(selector.literalNamespaces, null);
    assert.equal(selector.matches('default'), true);
    assert.equal(selector.matches('kube-system'), true);
  });

  it('excludes namespaces matching an exclude glob', () => {
    const selector = namespaceSelector(settings([], ['kube-*', 'trivy-system']));
    assert.equal(selector.matches('kube-system'), false);
    assert.equal(selector.matches('kube-public'), false);
    assert.equal(selector.matches('trivy-system'), false);
    assert.equal(selector.matches('default'), true);
  });

  it('targets only namespaces matching a target glob', () => {
    const selector = namespaceSelector(settings(['team-*', 'payments']));
    assert.equal(selector.allNamespaces, false);
    assert.equal(selector.matches('team-a'), true);
    assert.equal(selector.matches('payments'), true);
    assert.equal(selector.matches('default'), false);
  });

  it('lets exclude win over target', () => {
    const selector = namespaceSelector(settings(['team-*'], ['team-sandbox']));
    assert.equal(selector.matches('team-a'), true);
    assert.equal(selector.matches('team-sandbox'), false);
    assert.equal(namespaceSelector(settings(['team-*'], ['team-*'])).matches('team-a'), false);
  });

  it('lists literal targets (minus excluded ones) so watches can be namespaced', () => {
    assert.deepEqual(namespaceSelector(settings(['a', 'b', 'c'], ['b'])).literalNamespaces, ['a', 'c']);
    assert.equal(namespaceSelector(settings(['a', 'team-*'])).literalNamespaces, null);
  });
});

describe('namespaceSelector().matches', () => {
  it('answers for one namespace', () => {
    assert.equal(namespaceSelector(settings(['prod-?'])).matches('prod-1'), true);
    assert.equal(namespaceSelector(settings(['prod-?'])).matches('prod-10'), false);
  });
});
