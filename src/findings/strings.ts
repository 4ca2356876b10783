/**
 * Interned strings with reference counts: IDs, package names and versions repeat across thousands
 * of reports, and a finding held as four small integers costs 16 bytes instead of four strings.
 * An ID no report uses any more is freed and reused, so the table is bounded by what is live.
 */
export class StringTable {
  private readonly ids = new Map<string, number>();
  private readonly values: string[] = [];
  private readonly refs: number[] = [];
  private readonly free: number[] = [];

  /** The id of `value`, counting one more user. */
  acquire(value: string): number {
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.free.pop() ?? this.values.length;
      this.ids.set(value, id);
      this.values[id] = value;
      this.refs[id] = 0;
    }
    this.refs[id] = (this.refs[id] ?? 0) + 1;
    return id;
  }

  release(id: number): void {
    const left = (this.refs[id] ?? 0) - 1;
    this.refs[id] = left;
    if (left > 0) return;
    const value = this.values[id];
    if (value !== undefined) this.ids.delete(value);
    this.values[id] = '';
    this.free.push(id);
  }

  /** The id of `value` if some report uses it, without counting a user. */
  find(value: string): number | undefined {
    return this.ids.get(value);
  }

  value(id: number): string {
    return this.values[id] ?? '';
  }

  get size(): number {
    return this.ids.size;
  }
}
