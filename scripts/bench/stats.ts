// Small statistics and the table the benchmark prints. Ratios are ours / baseline, so 1.00x means "as fast as
// the least anyone could do" and anything above says how much our extra work costs.

/** The value at quantile q (0..1) by nearest rank; the input need not be sorted. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

export const median = (s: readonly number[]): number => quantile(s, 0.5);
export const p99 = (s: readonly number[]): number => quantile(s, 0.99);

/** Milliseconds since an arbitrary origin, with sub-microsecond resolution. */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export type Unit = 'ms' | 'us' | 'req/s' | 'KB' | 'MB';

/** Formats a value given in milliseconds (or req/s) for the table. */
export function fmt(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (unit === 'req/s') return `${Math.round(value)} req/s`;
  if (unit === 'KB') return `${value.toFixed(1)} KB`;
  if (unit === 'MB') return `${value.toFixed(1)} MB`;
  if (unit === 'us') return `${(value * 1000).toFixed(value < 0.01 ? 2 : value < 0.1 ? 1 : 0)} µs`;
  return `${value.toFixed(value < 10 ? 2 : 1)} ms`;
}

export interface Row {
  label: string;
  /** Our figure, in milliseconds (or req/s when unit is req/s). */
  ours: number;
  /** The baseline's figure and its name (`raw`, `JSON`, `jsonc`). */
  base?: { name: string; value: number };
  unit: Unit;
  /** `higher` for throughput, where the ratio is ours / baseline (above 1 is faster), as targets are written. */
  better?: 'lower' | 'higher';
  target?: string;
  /** Whether the target was met, when it can be judged. */
  met?: boolean;
  /** The median of ratios of runs measured back to back, when given: steadier than the ratio of medians. */
  pairedRatio?: number;
}

export function ratio(row: Row): number {
  if (row.pairedRatio !== undefined) return row.pairedRatio;
  if (!row.base) return NaN;
  return row.ours / row.base.value;
}

export function renderTable(rows: readonly Row[]): string {
  const cells = rows.map((r) => [
    r.label,
    `ours ${fmt(r.ours, r.unit)}`,
    r.base ? `${r.base.name} ${fmt(r.base.value, r.unit)}` : '',
    r.base ? `${ratio(r).toFixed(2)}x${r.pairedRatio !== undefined ? ' p' : ''}` : '',
    r.target ? `(target ${r.target})${r.met === undefined ? '' : r.met ? '  ok' : '  MISSED'}` : '',
  ]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...cells.map((c) => (c[i] as string).length)));
  return cells.map((c) => c.map((s, i) => (i < 4 ? s.padEnd(widths[i] as number) : s)).join('  ').trimEnd()).join('\n');
}
