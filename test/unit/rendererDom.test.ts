// The reply renderer as VS Code runs it: the production bundle of src/render/webview (built here with the
// shipped options) loaded as an ES module in headless Chromium (playwright-core, /usr/bin/chromium or
// QMP_CHROMIUM), drawing replies into a page. Asserts the ARIA roles, the keyboard (arrows open and move, `c`
// copies the path), the table's sorting by header, the block graph's SVG and its Save SVG message, and the text.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';

const repoRoot = path.resolve(__dirname, '..', '..', '..');
const chromiumPath = process.env['QMP_CHROMIUM'] ?? '/usr/bin/chromium';

function buildRenderer(outdir: string): string {
  const script = `
    import * as esbuild from 'esbuild';
    import { bundles } from ${JSON.stringify(path.join(repoRoot, 'scripts', 'build-options.mjs'))};
    const b = bundles({ production: true, outdir: ${JSON.stringify(outdir)}, root: ${JSON.stringify(repoRoot)} }).find((x) => x.outfile.endsWith('renderer.js'));
    await esbuild.build({ ...b, logLevel: 'error' });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `the renderer build failed:\n${r.stdout}\n${r.stderr}`);
  return readFileSync(path.join(outdir, 'renderer.js'), 'utf8');
}

let dir: string;
let browser: Browser;
let page: Page;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'qmp-renderer-'));
  const source = buildRenderer(dir);
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage();
  await page.setContent('<!doctype html><html><body></body></html>');
  await page.evaluate(async (src) => {
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    // Not `import()`: TypeScript compiles that to require() in this CommonJS test, and the page has none.
    const load = new Function('u', 'return import(u)') as (u: string) => Promise<unknown>;
    const mod = (await load(url)) as { activate(ctx: unknown): { renderOutputItem(item: unknown, el: unknown): void } };
    const w = globalThis as unknown as Record<string, unknown>;
    w['messages'] = [];
    const renderer = mod.activate({ postMessage: (m: unknown) => (w['messages'] as unknown[]).push(m) });
    w['renderInto'] = (el: unknown, data: unknown): void => {
      const text = JSON.stringify(data);
      renderer.renderOutputItem({ id: 'x', mime: 'application/vnd.qmp.reply+json', json: () => JSON.parse(text), text: () => text }, el);
    };
    w['show'] = (id: string, data: unknown): void => {
      const doc = (globalThis as unknown as { document: { createElement(t: string): { id: string }; body: { append(e: unknown): void } } }).document;
      const el = doc.createElement('div');
      el.id = id;
      doc.body.append(el);
      const text = JSON.stringify(data);
      renderer.renderOutputItem({ id, mime: 'application/vnd.qmp.reply+json', json: () => JSON.parse(text), text: () => text }, el);
    };
  }, source);
});
after(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function show(id: string, data: unknown): Promise<void> {
  await page.evaluate(([i, d]) => (globalThis as unknown as { show(id: unknown, data: unknown): void }).show(i, d), [id, data] as const);
}

describe('reply renderer in Chromium', () => {
  test('a tree with ARIA roles: arrows open and move, c copies the path', async () => {
    await show('t', { command: 'query-version', return: { qemu: { major: 7, minor: 2, micro: 22 }, package: 'x' } });
    const root = page.locator('#t [role="tree"] > [role="treeitem"]');
    assert.equal(await root.getAttribute('aria-expanded'), 'true');
    assert.equal(await root.getAttribute('aria-level'), '1');
    const qemu = page.locator('#t [role="treeitem"][aria-level="2"]').first();
    assert.equal(await qemu.getAttribute('aria-expanded'), 'false');
    await root.focus();
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { dataset: Record<string, string> } } }).document.activeElement.dataset['path']), 'return.qemu');
    await page.keyboard.press('ArrowRight');
    assert.equal(await qemu.getAttribute('aria-expanded'), 'true');
    assert.equal(await page.locator('#t [role="treeitem"][aria-level="3"]').count(), 3);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('c');
    await page.locator('#t [role="status"]', { hasText: 'Copied return.qemu.major' }).waitFor({ timeout: 5000 });
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    assert.equal(await qemu.getAttribute('aria-expanded'), 'false');
  });

  test('an array of like objects is a table that sorts by a header, naturally, and back', async () => {
    await show('q', { command: 'qom-list', return: [{ name: 'b10', type: 'string' }, { name: 'b9', type: 'bool' }, { name: 'a', type: 'child<x>' }] });
    assert.equal(await page.locator('#q [role="tab"][aria-selected="true"]').textContent(), 'Table');
    const names = async (): Promise<string[]> => page.locator('#q tbody tr td:first-child').allTextContents();
    assert.deepEqual(await names(), ['b10', 'b9', 'a']);
    const header = page.locator('#q th', { hasText: 'name' });
    await header.locator('button').click();
    assert.equal(await header.getAttribute('aria-sort'), 'ascending');
    assert.deepEqual(await names(), ['a', 'b9', 'b10']);
    await header.locator('button').press('Enter');
    assert.equal(await header.getAttribute('aria-sort'), 'descending');
    assert.deepEqual(await names(), ['b10', 'b9', 'a']);
  });

  test('a block graph is an SVG of its nodes and edges; Save SVG asks the extension; Text is the JSON', async () => {
    const graph = {
      nodes: [{ id: 1, type: 'block-driver', name: 'top' }, { id: 2, type: 'block-driver', name: 'base' }, { id: 3, type: 'block-backend', name: 'blk0' }],
      edges: [{ parent: 1, child: 2, name: 'backing', perm: [], 'shared-perm': ['consistent-read'] }, { parent: 3, child: 1, name: 'root', perm: ['consistent-read', 'write'], 'shared-perm': [] }],
    };
    await show('g', { command: 'x-debug-query-block-graph', return: graph });
    assert.equal(await page.locator('#g [role="tab"][aria-selected="true"]').textContent(), 'Graph');
    assert.deepEqual((await page.locator('#g svg g.node').evaluateAll((els) => els.map((e) => e.getAttribute('data-node-name')))).sort(), ['base', 'blk0', 'top']);
    assert.deepEqual((await page.locator('#g svg g.edge').evaluateAll((els) => els.map((e) => e.getAttribute('data-role')))).sort(), ['backing', 'root']);
    await page.locator('#g button', { hasText: 'Save SVG' }).click();
    const messages = await page.evaluate(() => (globalThis as unknown as { messages: { type: string; svg?: string }[] }).messages);
    const save = messages.find((m) => m.type === 'saveSvg');
    assert.match(save?.svg ?? '', /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    await page.locator('#g [role="tab"]', { hasText: 'Text' }).click();
    assert.equal(await page.locator('#g pre').textContent(), JSON.stringify(graph, null, 2));
    assert.equal(await page.locator('#g button', { hasText: 'Save SVG' }).isHidden(), true, 'the graph buttons go with the graph');
  });

  test('the style is added once per document, not once per reply, and styles every reply (Run All draws thousands)', async () => {
    for (let i = 0; i < 50; i++) await show(`s${i}`, { command: 'query-status', return: { status: 'running', running: true } });
    const sheets = await page.evaluate(() => (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } })
      .document.querySelectorAll('style[data-qmp-reply-style]').length);
    assert.equal(sheets, 1);
    // Styled all the same: the first reply's tabs and the last's have the style's bar layout (display: flex).
    for (const id of ['#s0', '#s49', '#t']) {
      assert.equal(await page.locator(`${id} .bar`).evaluate((e) => (globalThis as unknown as { getComputedStyle(e: unknown): { display: string } }).getComputedStyle(e).display), 'flex', id);
    }
    // Drawn inside a shadow root (the document's style does not reach into it), the root gets the style, once.
    const inShadow = await page.evaluate(() => {
      interface El { append(...n: unknown[]): void; querySelector(s: string): El; querySelectorAll(s: string): { length: number }; attachShadow(o: unknown): El }
      const g = globalThis as unknown as { document: { createElement(t: string): El; body: El }; renderInto(el: El, data: unknown): void; getComputedStyle(e: El): { display: string } };
      const host = g.document.createElement('div');
      g.document.body.append(host);
      const shadow = host.attachShadow({ mode: 'open' });
      const els = [1, 2].map(() => { const el = g.document.createElement('div'); shadow.append(el); g.renderInto(el, { return: { a: 1 } }); return el; });
      return { sheets: shadow.querySelectorAll('style[data-qmp-reply-style]').length, display: els.map((e) => g.getComputedStyle(e.querySelector('.bar')).display) };
    });
    assert.deepEqual(inShadow, { sheets: 1, display: ['flex', 'flex'] });
  });
});
