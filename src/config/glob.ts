/**
 * Go's path.Match patterns as regular expressions: Trivy-Operator matches `excludeImages` with
 * filepath.Match (pkg/plugins/trivy/plugin.go, ExcludeImage), so `*` and `?` never cross a `/`,
 * `[a-z]`/`[^a-z]` are classes and `\` escapes. Undefined for a pattern Go calls malformed.
 */
export function goPathGlob(pattern: string): RegExp | undefined {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '\\') {
      const next = pattern[++i];
      if (next === undefined) return undefined;
      out += escape(next);
    } else if (c === '[') {
      const end = classEnd(pattern, i + 1);
      if (end < 0) return undefined;
      let body = pattern.slice(i + 1, end);
      const negated = body.startsWith('^');
      if (negated) body = body.slice(1);
      if (body === '') return undefined;
      // Inside a class Go takes `\x` as x; "-" between two characters is a range.
      const chars = body.replace(/\\(.)/g, (_, ch: string) => `\\${ch}`).replace(/[\]^]/g, (ch) => `\\${ch}`);
      out += negated ? `[^${chars}]` : `[${chars}]`;
      i = end;
    } else out += escape(c);
  }
  try {
    return new RegExp(`^${out}$`, 'u');
  } catch {
    return undefined;
  }
}

function classEnd(pattern: string, from: number): number {
  for (let i = from; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === ']' && i > from) return i;
  }
  return -1;
}

function escape(c: string): string {
  // Syntax characters only: with the `u` flag any other escape (`\-`) is an error.
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
