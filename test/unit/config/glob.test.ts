import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { goPathGlob } from '../../../src/config/index.ts';

// Expectations from Go's path.Match documentation and behaviour (the function Trivy-Operator's
// ExcludeImage calls through filepath.Match on Linux).
describe('goPathGlob', () => {
  const cases: [pattern: string, image: string, matches: boolean][] = [
    ['docker.io/library/*:*', 'docker.io/library/nginx:1.27', true],
    ['docker.io/library/*:*', 'docker.io/library/team/nginx:1.27', false], // * stops at /
    ['*/pause:*', 'registry.k8s.io/pause:3.10', true],
    ['*/pause:*', 'registry.k8s.io/sig/pause:3.10', false],
    ['ghcr.io/acme/api:v?', 'ghcr.io/acme/api:v1', true],
    ['ghcr.io/acme/api:v?', 'ghcr.io/acme/api:v10', false],
    ['quay.io/[a-c]*/x', 'quay.io/bob/x', true],
    ['quay.io/[^a-c]*/x', 'quay.io/bob/x', false],
    ['quay.io/[^a-c]*/x', 'quay.io/dan/x', true],
    ['a.io/x\\*', 'a.io/x*', true],
    ['a.io/x\\*', 'a.io/xy', false],
    ['a.io/x.y', 'a.io/xzy', false], // a dot is a dot
    ['*/trivy-lookout-test/excluded-*:*', '198.18.0.1:5000/trivy-lookout-test/excluded-42:1.0', true],
    ['my-registry:5000/a+b/(x)', 'my-registry:5000/a+b/(x)', true],
    ['a[\\]]b', 'a]b', true], // an escaped ] is a class character in Go
    ['a[\\^]b', 'a\\b', false], // ...and an escaped ^ only itself
    ['a[\\^]b', 'a^b', true],
  ];
  for (const [pattern, image, matches] of cases)
    it(`${pattern} ${matches ? 'matches' : 'does not match'} ${image}`, () => {
      assert.equal(goPathGlob(pattern)?.test(image), matches);
    });

  it('is undefined for patterns Go calls malformed', () => {
    for (const bad of ['a[b', 'a\\', '[]x', '[]a]', '[-a]', '[a-]', '[a-c-e]'])
      assert.equal(goPathGlob(bad), undefined, bad);
  });
});
