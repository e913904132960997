// The reply renderer (src/render/model.ts): the table model of a 10,000-row qom-list (what the notebook's
// webview builds before it draws the table: columns, every cell's text), and one sort of it by name; the
// baseline is parsing the reply's JSON, which the webview does first anyway.
import { sortOrder, tableOf } from '../../src/render/model';
import { median, now, type Row } from './stats';

const ROWS = 10_000;

export function benchRender(): Row[] {
  const reply = Array.from({ length: ROWS }, (_, i) => ({ name: `prop-${(i * 7919) % ROWS}`, type: i % 3 ? 'string' : `child<virtio-blk-pci-${i}>` }));
  const text = JSON.stringify({ command: 'qom-list', return: reply });
  const build: number[] = [];
  const sort: number[] = [];
  const parse: number[] = [];
  for (let i = 0; i < 25; i++) {
    const t0 = now();
    const value = (JSON.parse(text) as { return: unknown }).return;
    const t1 = now();
    const table = tableOf(value);
    const t2 = now();
    if (!table || table.rows.length !== ROWS) throw new Error('qom-list did not make a table');
    sortOrder(table, 'name', 'descending');
    const t3 = now();
    parse.push(t1 - t0);
    build.push(t2 - t1);
    sort.push(t3 - t2);
  }
  const b = median(build.slice(5));
  const s = median(sort.slice(5));
  return [
    { label: `renderer: table model of a ${ROWS}-row qom-list, median`, ours: b, base: { name: 'JSON.parse', value: median(parse.slice(5)) }, unit: 'ms', target: '≤ 100 ms', met: b <= 100 },
    { label: `renderer: sort that table by name, median`, ours: s, unit: 'ms', target: '≤ 100 ms', met: s <= 100 },
  ];
}
