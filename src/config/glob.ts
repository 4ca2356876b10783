/**
 * Go's path.Match patterns as regular expressions: Trivy-Operator matches `excludeImages` with
 * filepath.Match (pkg/plugins/trivy/plugin.go, ExcludeImage), so `*` and `?` never cross a `/`,
 * `[a-z]`/`[^a-z]` are classes and `\` escapes. Undefined for a pattern Go calls malformed
 * (ErrBadPattern), which there would never match: an empty class, or an unescaped `-` or `]` where
 * a class character is due.
 */
export function goPathGlob(pattern: string): RegExp | undefined {
  let out = '';
  let i = 0;
  /** One class character, escaped or not (Go's getEsc); undefined when malformed. */
  const classChar = (): string | undefined => {
    let c = pattern[i];
    if (c === undefined || c === '-' || c === ']') return undefined;
    if (c === '\\') {
      c = pattern[++i];
      if (c === undefined) return undefined;
    }
    i++;
    return c;
  };
  while (i < pattern.length) {
    const c = pattern[i++]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '\\') {
      const next = pattern[i++];
      if (next === undefined) return undefined;
      out += escape(next);
    } else if (c === '[') {
      const negated = pattern[i] === '^';
      if (negated) i++;
      let items = '';
      let ranges = 0;
      for (;;) {
        if (pattern[i] === ']' && ranges > 0) {
          i++;
          break;
        }
        const lo = classChar();
        if (lo === undefined) return undefined;
        let hi = lo;
        if (pattern[i] === '-') {
          i++;
          const end = classChar();
          if (end === undefined) return undefined;
          hi = end;
        }
        items += hi === lo ? inClass(lo) : `${inClass(lo)}-${inClass(hi)}`;
        ranges++;
      }
      out += negated ? `[^${items}]` : `[${items}]`;
    } else out += escape(c);
  }
  try {
    return new RegExp(`^${out}$`, 'u');
  } catch {
    return undefined; // a range Go would take but a RegExp refuses (hi below lo): never matches there
  }
}

function escape(c: string): string {
  // Syntax characters only: with the `u` flag any other escape (`\-`) is an error.
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function inClass(c: string): string {
  return c.replace(/[\\\]^[-]/g, '\\$&');
}
