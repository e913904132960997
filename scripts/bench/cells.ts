// Complexity rows for the cell parser and the language service (issue 8): each shape is timed at n and at 2n;
// the baseline is twice the time at n, so a linear pass reads about 1.00x and a quadratic one about 2.00x.
import { parseCell } from '../../src/notebook/format';
import { languageService } from '../../src/language/service';
import { Schema } from '../../src/qmp/schema';
import type { SchemaInfo } from '../../src/qmp/introspect';
import { now, type Row } from './stats';

function best(run: () => unknown, times = 3): number {
  let b = Infinity;
  for (let i = 0; i < times; i++) {
    const t = now();
    run();
    b = Math.min(b, now() - t);
  }
  return b;
}

function row(label: string, make: (n: number) => string, run: (text: string) => unknown, n: number): Row {
  const small = make(n);
  const big = make(2 * n);
  best(() => run(small), 1); // warm up
  const a = best(() => run(small));
  const b = best(() => run(big));
  return { label: `${label} ${n}→${2 * n}`, ours: b, base: { name: '2×n', value: 2 * a }, unit: 'ms', target: '≤1.3x', met: b <= 1.3 * 2 * a };
}

export function benchCellComplexity(fixture: SchemaInfo[]): Row[] {
  const ctx = { schema: Schema.fromIntrospection(fixture) };
  const qmp = languageService('qmp');
  const shell = languageService('qmp-shell');
  const commas = (n: number): string => `{"execute": "x", "arguments": {"a": [${'1 '.repeat(n)}]}}`;
  const open = (n: number): string => `{"execute": "x", "arguments": {${'"a": 1 '.repeat(n)}`;
  const lines = (n: number): string => 'block_resize node-name=n1 size=1\n'.repeat(n);
  const deep = (n: number): string => `{"execute": "x", "arguments": {"a": ${'['.repeat(n)}`;
  return [
    row('cell parser: missing commas', commas, (t) => parseCell(t, 'qmp'), 16_000),
    row('diagnostics: missing commas', commas, (t) => qmp?.diagnose(t, ctx), 16_000),
    row('cell parser: unterminated object', open, (t) => parseCell(t, 'qmp'), 20_000),
    row('diagnostics: unterminated object', open, (t) => qmp?.diagnose(t, ctx), 20_000),
    row('cell parser: nested too deep', deep, (t) => parseCell(t, 'qmp'), 100_000),
    row('qmp-shell parser: lines', lines, (t) => parseCell(t, 'qmp-shell'), 2000),
    row('qmp-shell diagnostics: lines', lines, (t) => shell?.diagnose(t, ctx), 1000),
  ];
}
