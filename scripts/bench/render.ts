// The reply renderer (src/render/model.ts): the table model of a 10,000-row qom-list (what the notebook's
// webview builds before it draws the table: columns, every cell's text), and one sort of it by name; the
// baseline is parsing the reply's JSON, which the webview does first anyway.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { sortOrder, tableOf } from '../../src/render/model';
import { median, now, type Row } from './stats';

const ROWS = 10_000;
/** How many small replies the renderer draws one after another (a Run All's outputs in one webview). */
const MANY = 1_000;

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

/**
 * The renderer itself in headless Chromium (playwright-core, as scripts/screenshots.mjs drives it): the built
 * dist/renderer.js drawing a 10,000-row qom-list reply (its table view: the model and the first 500 rows of DOM),
 * from `renderOutputItem` to a forced layout. Skipped, saying why, without Chromium or a build.
 */
export async function benchRenderDom(root: string): Promise<Row[]> {
  const chromium = process.env['QMP_CHROMIUM'] ?? '/usr/bin/chromium';
  const bundle = path.join(root, 'dist', 'renderer.js');
  if (!existsSync(chromium) || !existsSync(bundle)) {
    console.log(`renderer in Chromium: skipped (needs ${chromium} and ${path.relative(root, bundle)}: node scripts/build.mjs)`);
    return [];
  }
  // Not bundled into the bench: loaded from node_modules at run time.
  const load = new Function('m', 'return import(m)') as (m: string) => Promise<typeof import('playwright-core')>;
  const { chromium: launcher } = await load('playwright-core');
  const browser = await launcher.launch({ executablePath: chromium, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    await page.setContent('<!doctype html><html><body><div id="out"></div></body></html>');
    const source = readFileSync(bundle, 'utf8');
    const times = await page.evaluate(async ({ source, rows }) => {
      const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
      const mod = (await import(url)) as { activate(ctx: unknown): { renderOutputItem(item: unknown, el: unknown): void } };
      const renderer = mod.activate({});
      const data = { command: 'qom-list', return: Array.from({ length: rows }, (_, i) => ({ name: `prop-${i}`, type: i % 3 ? 'string' : `child<virtio-blk-pci-${i}>` })) };
      const text = JSON.stringify(data);
      const out: number[] = [];
      const doc = (globalThis as unknown as { document: { getElementById(id: string): { offsetHeight: number; querySelectorAll(s: string): { length: number } } } }).document;
      for (let i = 0; i < 15; i++) {
        const el = doc.getElementById('out');
        const t0 = performance.now();
        renderer.renderOutputItem({ id: `o${i}`, mime: 'application/vnd.qmp.reply+json', json: () => JSON.parse(text), text: () => text }, el);
        void el?.offsetHeight;
        out.push(performance.now() - t0);
        if (i === 0 && (el?.querySelectorAll('tbody tr').length ?? 0) === 0) throw new Error('the renderer drew no table rows');
      }
      return out;
    }, { source, rows: ROWS });
    const m = median(times.slice(3));
    // A Run All's replies, drawn one after another in one document, each laid out before the next (as the window
    // measures each output's height): the last hundred against the first. Linear, the ratio is near 1; a cost
    // per reply that grows with the replies before it (a <style> per reply did: 11 s for 500 where 0.6 s now) is
    // a ratio that grows with the count.
    const many = await browser.newPage();
    await many.setContent('<!doctype html><html><body></body></html>');
    const [first, last] = await many.evaluate(async ({ source, count }) => {
      const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
      const mod = (await import(url)) as { activate(ctx: unknown): { renderOutputItem(item: unknown, el: unknown): void } };
      const renderer = mod.activate({});
      const doc = (globalThis as unknown as { document: { createElement(t: string): { offsetHeight: number }; body: { append(e: unknown): void } } }).document;
      const spans: number[] = [];
      let t0 = performance.now();
      for (let i = 0; i < count; i++) {
        const el = doc.createElement('div');
        doc.body.append(el);
        const text = JSON.stringify(i % 2 === 0 ? { command: 'query-status', return: { status: 'running', singlestep: false, running: true } }
          : { command: 'query-version', return: { qemu: { micro: 0, minor: 2, major: 7 }, package: '' } });
        renderer.renderOutputItem({ id: `r${i}`, mime: 'application/vnd.qmp.reply+json', json: () => JSON.parse(text), text: () => text }, el);
        void el.offsetHeight;
        if ((i + 1) % 100 === 0) { const t = performance.now(); spans.push(t - t0); t0 = t; }
      }
      return [spans[0] ?? 0, spans[spans.length - 1] ?? 0];
    }, { source, count: MANY });
    await many.close();
    const ratio = last / Math.max(first, 0.1);
    return [{ label: `renderer in Chromium: a ${ROWS}-row qom-list drawn as a table, median`, ours: m, unit: 'ms', target: '≤ 100 ms', met: m <= 100 },
      { label: `renderer in Chromium: ${MANY} small replies drawn one after another, each laid out: the last 100 (${Math.round(last)} ms) vs the first 100`,
        ours: last, unit: 'ms', base: { name: 'first 100', value: first }, target: '≤ 3× the first 100', met: ratio <= 3 }];
  } finally {
    await browser.close();
  }
}
