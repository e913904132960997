// Takes the README screenshots from the running demo (scripts/demo.mjs: the packaged .vsix in a private
// code-server with a copy of samples/), driving headless Chromium through playwright-core.
//
//   node scripts/screenshots.mjs [--out media] [--only NAME]... [--keep-open]
//
// Writes, into --out (default media/):
//   screenshot-notebook.png    samples/tour.qmp run on the sandbox, replies and events under the cells
//   screenshot-completion.png  the suggest widget listing QEMU's commands inside "execute"
//   screenshot-hover.png       the hover of a command: arguments, return type, schema version
//   screenshot-diagnostic.png  an unknown command underlined, its message and quick fix in the hover
//   screenshot-kernels.png     the kernel picker: the profiles and "Add QMP Connection…", which the step then
//                              goes through (a sandbox named sandbox-2, saved for the workspace) and checks that
//                              the notebook's kernel is the new one
//   screenshot-render.png      the reply renderer: a block graph (copy-on-read over raw over null-co) drawn from
//                              x-debug-query-block-graph in a new notebook on the sandbox; and
//   screenshot-render-table.png  the same nodes' query-named-block-nodes as a table
//   screenshot-render-tree.png   the same reply as the renderer's tree, its first node opened
//   screenshot-explorer.png    the QEMU explorer in the side bar: the sessions, the render step's nodes (cor0 over
//                              disk0 over disk0-file, each with its role, driver and size), a node's tooltip
//   screenshot-progress.png    the live progress of a block job: a throttled blockdev-mirror between two null-co
//                              nodes (96 MiB at 16 MiB/s, about six seconds), taken while its bar is mid-way
//   screenshot-wrap.png        the tour's transaction cell after Run All: its long `->` line and notes wrap in
//                              the output area instead of scrolling sideways (look at it: not a README picture)
// These are pictures, not tests: each step waits for what it shows, and a step that fails still leaves the
// others. The exit status is 1 when any picture is missing.
// One more picture is one more step: its name in `allShots` and its function in `steps` (steps after the tour
// run in the new notebook, in the order of `allShots`, on the sandbox the render step filled).
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  root, freePort, codeServerInstall, buildIfNeeded, makeRunFolders, startCodeServer, workbenchUrl, atExit,
  openWorkspaceNotebook,
} from './code-server.mjs';

const chromiumFlags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const allShots = ['notebook', 'completion', 'hover', 'diagnostic', 'kernels', 'wrap', 'render', 'explorer', 'progress'];

function parseArgs(argv) {
  const opts = { out: path.join(root, 'media'), only: [], keepOpen: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out' && argv[i + 1]) opts.out = path.resolve(argv[++i]);
    else if (a === '--only' && argv[i + 1]) opts.only.push(argv[++i]);
    else if (a === '--keep-open') opts.keepOpen = true;
    else throw new Error(`unknown argument ${a}`);
  }
  for (const o of opts.only) if (!allShots.includes(o)) throw new Error(`unknown screenshot ${o} (one of ${allShots.join(', ')})`);
  if (opts.only.length === 0) opts.only = allShots;
  return opts;
}

/** Starts the demo on a free port and resolves with its workbench URL once it prints it. */
async function startDemo() {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(root, 'scripts', 'demo.mjs'), '--port', String(port)],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo printed no URL within 180 s:\n${output}`)), 180_000);
    const onData = (d) => {
      output += d;
      const m = /^\s+(http:\/\/127\.0\.0\.1:\d+\/\?folder=\S+)\s*$/m.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the demo exited (${code}):\n${output}`)); });
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // The demo removes its folder and stops code-server on SIGTERM.
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  return { url, stop };
}

/**
 * The fallback when the demo cannot start (for example when packaging fails): the same private code-server
 * and copy of samples/, with the extension loaded from this folder's dist/ as a development extension.
 */
async function startDevelopmentServer() {
  buildIfNeeded();
  const install = codeServerInstall({ install: true });
  const dirs = makeRunFolders({
    prefix: 'qmp-shots-', workspaceFrom: path.join(root, 'samples'),
    settings: { 'workbench.colorTheme': 'Default Dark Modern', 'window.commandCenter': false },
  });
  atExit(dirs.dispose);
  // The web workbench loads a development extension only with the smoke-test driver on (as host-test.mjs does).
  const server = await startCodeServer(install, dirs, { testDriver: true });
  return {
    url: workbenchUrl(server, dirs.workspace, { developmentPath: root }),
    stop: async () => { await server.stop(); dirs.dispose(); },
  };
}

async function shot(page, dir, name) {
  const file = path.join(dir, `screenshot-${name}.png`);
  await page.screenshot({ path: file });
  console.log(`wrote ${path.relative(root, file)}`);
  return file;
}

/** Runs a command through the command palette, by its title. */
async function palette(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout: 30_000 });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row').first().waitFor({ timeout: 30_000 });
  await page.keyboard.press('Enter');
}

async function openTour(page) {
  await openWorkspaceNotebook(page, 'tour.qmp', { timeout: 90_000 });
  await page.locator('.notebookOverlay .code-cell-row').first().waitFor({ timeout: 60_000 });
}

/** Runs every cell of the tour with the toolbar's Run All and waits until the run stops at the error cell. */
async function runTour(page) {
  await page.locator('.notebook-toolbar-container').getByText('Run All', { exact: true }).click();
  // Run All stops at the first failing cell, which is the tour's deliberate unknown command. That cell is far
  // below and the notebook list renders only what is in view, so wait for the run itself to end: the toolbar
  // shows Interrupt while cells run and Run All again after.
  const toolbar = page.locator('.notebook-toolbar-container');
  await toolbar.getByText('Interrupt', { exact: true }).waitFor({ timeout: 30_000 }).catch(() => undefined);
  await toolbar.getByText('Run All', { exact: true }).waitFor({ timeout: 120_000 });
}

/** The tour after Run All, scrolled so that the first code cells and their outputs fill the picture. */
async function notebookShot(page) {
  // Scrolls so that the first code cell sits just under the toolbar: its replies and the start/stop cells follow.
  const firstCode = page.locator('.notebookOverlay .code-cell-row').first();
  await firstCode.scrollIntoViewIfNeeded();
  const list = await page.locator('.notebookOverlay .cell-list-container').first().boundingBox();
  // One wheel event scrolls the list by a limited step, so wheel until the cell is where it should be. The
  // wheel goes over the code cell's editor: markdown and outputs are drawn in the notebook's webview, which
  // would take the wheel instead.
  const target = list.y + 12;
  for (let i = 0; i < 60; i++) {
    const now = await firstCode.boundingBox();
    if (now === null || now.y <= target + 10) break;
    await page.mouse.move(now.x + now.width / 2, now.y + 20);
    await page.mouse.wheel(0, Math.min(100, now.y - target));
    await page.waitForTimeout(100);
  }
  // Onto the empty middle of the status bar, so that no hover toolbar or tooltip is in the picture.
  const viewport = page.viewportSize();
  await page.mouse.move(viewport.width / 2, viewport.height - 8);
  // Outputs are drawn in a webview; give it a moment to lay out. This is a picture, not a test.
  await page.waitForTimeout(2500);
  await shot(page, opts.out, 'notebook');
}

/** The tour's transaction cell and its outputs, reached by moving the cell focus down (the list scrolls to it). */
async function wrapShot(page) {
  const row = page.locator('.notebookOverlay .code-cell-row', { hasText: 'transaction' }).first();
  await page.locator('.notebookOverlay .code-cell-row').first().click({ position: { x: 5, y: 5 } });
  await page.keyboard.press('Escape');
  for (let i = 0; i < 60 && (await row.count()) === 0; i++) {
    await page.keyboard.press('ArrowDown');
    await page.waitForTimeout(150);
  }
  await row.scrollIntoViewIfNeeded();
  // Wheel over the cell's editor until it sits under the toolbar, so that its outputs fill the picture.
  const list = await page.locator('.notebookOverlay .cell-list-container').first().boundingBox();
  for (let i = 0; i < 60; i++) {
    const now = await row.boundingBox();
    if (now === null || now.y <= list.y + 22) break;
    await page.mouse.move(now.x + now.width / 2, now.y + 20);
    await page.mouse.wheel(0, Math.min(100, now.y - list.y - 12));
    await page.waitForTimeout(100);
  }
  const viewport = page.viewportSize();
  await page.mouse.move(viewport.width / 2, viewport.height - 8);
  await page.waitForTimeout(2500);
  await shot(page, opts.out, 'wrap');
}

/** QMP: New QMP Notebook opens an untitled notebook on the sandbox with a qmp cell to type into. */
async function openStarterNotebook(page) {
  await palette(page, 'QMP: New QMP Notebook');
  await page.getByRole('tab', { name: /^Untitled/ }).first().waitFor({ timeout: 30_000 });
  await visibleCodeCell(page).waitFor({ timeout: 30_000 });
}

function visibleCodeCell(page) {
  return page.locator('.notebookOverlay:visible .code-cell-row').first();
}

/** Replaces the text of the first code cell of the visible notebook; the cursor ends `back` characters before the end. */
async function setCellText(page, text, back = 0) {
  const cell = visibleCodeCell(page);
  await cell.locator('.monaco-editor .view-lines').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
  for (let i = 0; i < back; i++) await page.keyboard.press('ArrowLeft');
  return cell;
}

/** Runs, in the starter notebook's cell, the blockdev-adds of a small graph (copy-on-read over raw over null-co) and its x-debug-query-block-graph. */
let graphBuilt = false;
async function buildGraph(page) {
  const cell = await setCellText(page, [
    '{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "disk0-file", "size": 67108864 } }',
    '{ "execute": "blockdev-add", "arguments": { "driver": "raw", "node-name": "disk0", "file": "disk0-file" } }',
    '{ "execute": "blockdev-add", "arguments": { "driver": "copy-on-read", "node-name": "cor0", "file": "disk0" } }',
    '{ "execute": "x-debug-query-block-graph" }',
  ].join('\n'));
  await page.keyboard.press('Escape');
  await page.locator('.notebook-toolbar-container:visible').getByText('Run All', { exact: true }).click();
  // The renderer draws inside the notebook's webview; wait for the run to end, then give the webview a moment.
  await cell.locator('.codicon-notebook-state-success').waitFor({ timeout: 60_000 });
  graphBuilt = true;
  return cell;
}

/** The reply renderer: a small block graph built in the starter notebook's cell, run, drawn as a diagram. */
async function renderShot(page) {
  const cell = await buildGraph(page);
  const viewport = page.viewportSize();
  // Scrolled so that the diagram, below the cell's four replies, is in the picture: the wheel goes over the
  // cell's editor (the outputs are a webview, which would take it).
  const editor = await cell.locator('.monaco-editor').first().boundingBox();
  if (editor) {
    await page.mouse.move(editor.x + editor.width / 2, editor.y + 10);
    for (let i = 0; i < 4; i++) {
      await page.mouse.wheel(0, 100);
      await page.waitForTimeout(100);
    }
  }
  await page.mouse.move(viewport.width / 2, viewport.height - 8);
  await page.waitForTimeout(3000);
  await shot(page, opts.out, 'render');
  // The same nodes as a table: query-named-block-nodes.
  await setCellText(page, '{ "execute": "query-named-block-nodes" }');
  await page.keyboard.press('Escape');
  await page.locator('.notebook-toolbar-container:visible').getByText('Run All', { exact: true }).click();
  await cell.locator('.codicon-notebook-state-success').waitFor({ timeout: 60_000 });
  await page.mouse.move(viewport.width / 2, viewport.height - 8);
  await page.waitForTimeout(3000);
  await shot(page, opts.out, 'render-table');
  // The same reply as a tree: the renderer's Tree tab, inside the notebook's webview (a frame in a frame).
  // Each open notebook has its webview: the reply is the one whose table lists disk0-file.
  let reply;
  for (const frame of page.frames()) {
    const found = frame.locator('.qmp-r', { has: frame.locator('td', { hasText: 'disk0-file' }) });
    if (await found.count().catch(() => 0)) {
      reply = found.first();
      break;
    }
  }
  if (!reply) throw new Error('no webview shows the query-named-block-nodes table');
  await reply.getByRole('tab', { name: 'Tree' }).click({ timeout: 30_000 });
  // The root opens by itself; open its first element (the first node) too.
  await reply.locator('[role="treeitem"] [role="treeitem"] > .row').first().click({ timeout: 30_000 });
  await page.mouse.move(viewport.width / 2, viewport.height - 8);
  await page.waitForTimeout(1500);
  await shot(page, opts.out, 'render-tree');
}

/** The QEMU explorer in the side bar, on the nodes the render step made, a node's tooltip shown. */
async function explorerShot(page) {
  if (!graphBuilt) await buildGraph(page);
  await palette(page, 'Focus on QEMU View');
  const pane = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'QEMU' }) }).first();
  await pane.waitFor({ timeout: 30_000 });
  // Folders and outline closed, so that the explorer has the side bar.
  for (const title of ['Outline', 'Timeline']) {
    const header = page.locator('.pane-header[aria-expanded="true"]', { hasText: title }).first();
    if (await header.count()) await header.click().catch(() => undefined);
  }
  const folders = page.locator('.pane-header[aria-expanded="true"]').first();
  if ((await folders.count()) && !(await folders.textContent())?.includes('QEMU')) await folders.click().catch(() => undefined);
  const row = (text) => pane.locator('.monaco-list-row', { hasText: text }).first();
  await row('cor0').waitFor({ timeout: 30_000 });
  for (const name of ['cor0', 'disk0']) {
    await row(name).locator('.monaco-tl-twistie').click();
    await page.waitForTimeout(500);
  }
  await row('disk0-file').waitFor({ timeout: 30_000 });
  await row('Chardevs').click();
  await row('Devices (QOM').click();
  await row('peripheral-anon').waitFor({ timeout: 30_000 });
  await page.waitForTimeout(1000);
  // The tooltip of the last node opens below it, over the QOM rows rather than over the block tree.
  await row('disk0-file').locator('.label-name').first().hover();
  await page.locator('.monaco-hover:visible, .custom-hover:visible, .workbench-hover:visible').first().waitFor({ timeout: 30_000 }).catch(() => undefined);
  await page.waitForTimeout(1000);
  await shot(page, opts.out, 'explorer');
}

/** The first match of `re` in a text of the webviews (outputs are drawn there, some inside shadow roots, which locators pierce). */
async function webviewText(page, re) {
  for (const frame of page.frames()) {
    const texts = await frame.getByText(re).allTextContents().catch(() => []);
    for (const text of texts) {
      const m = re.exec(text);
      if (m) return m;
    }
  }
  return undefined;
}

/**
 * Live progress of a block job: a throttled blockdev-mirror between two null-co nodes (96 MiB at 16 MiB/s with a
 * 1 MiB buffer, as test/host/jobProgress.test.ts does, so that it takes about six seconds), pictured while the
 * bar is mid-way; the cell then waits for the job to be ready, completes it and waits for the end.
 */
async function progressShot(page) {
  // The explorer step opens the side bar; the cell and its outputs get the whole width. (Only when it is open:
  // with it closed the command is not in the palette, and its first row would be another command.)
  if (await page.locator('.part.sidebar:visible').count()) await palette(page, 'View: Close Primary Side Bar');
  const size = 96 * 1024 * 1024;
  const cell = await setCellText(page, [
    `{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "src0", "size": ${size} } }`,
    `{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "dst0", "size": ${size} } }`,
    '{ "execute": "blockdev-mirror", "arguments": { "job-id": "m0", "device": "src0", "target": "dst0", "sync": "full", "speed": 16777216, "buf-size": 1048576 } }',
    '{ "wait-event": "BLOCK_JOB_READY", "data": { "device": "m0" }, "timeout": 30000 }',
    '{ "execute": "block-job-complete", "arguments": { "device": "m0" } }',
    '{ "wait-event": "BLOCK_JOB_COMPLETED", "data": { "device": "m0" }, "timeout": 30000 }',
  ].join('\n'));
  await page.keyboard.press('Escape');
  await page.locator('.notebook-toolbar-container:visible').getByText('Run All', { exact: true }).click();
  // Onto the empty middle of the status bar, so that no tooltip of the toolbar is in the picture.
  const viewport = page.viewportSize();
  await page.mouse.move(viewport.width / 2, viewport.height - 8);
  // Waits until the progress output shows the bar mid-way (35% to 75%), with a speed and a time left.
  const deadline = Date.now() + 30_000;
  let seen;
  let midway = false;
  while (!midway && Date.now() < deadline) {
    const m = await webviewText(page, /m0 \(mirror\): running, (\d+)% \[[█·]+\],? [\d.]+ MiB\/s, \d+ s left/);
    if (m) {
      seen = m[0];
      midway = Number(m[1]) >= 35 && Number(m[1]) <= 75;
    }
    if (!midway) await page.waitForTimeout(100);
  }
  if (!midway) throw new Error(`the progress never showed mid-way (last seen: ${seen ?? 'nothing'})`);
  await shot(page, opts.out, 'progress');
  console.log(`progress pictured at: ${seen}`);
  // The cell ends with the job concluded, so that later steps find a quiet session.
  await cell.locator('.codicon-notebook-state-success').waitFor({ timeout: 60_000 });
}

async function completionShot(page) {
  // Members of a flat union's variant, chosen by its tag: the completion knows what null-co takes.
  await setCellText(page, '{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "" } }', 5);
  await page.keyboard.press('Control+Space');
  const widget = page.locator('.suggest-widget.visible');
  await widget.waitFor({ timeout: 30_000 });
  await widget.locator('.monaco-list-row', { hasText: 'read-zeroes' }).first().waitFor({ timeout: 30_000 });
  await page.waitForTimeout(1000);
  await shot(page, opts.out, 'completion');
  await page.keyboard.press('Escape');
}

async function hoverShot(page) {
  const cell = await setCellText(page, '{ "execute": "query-status" }');
  await page.keyboard.press('Home');
  const name = cell.locator('.view-line span span', { hasText: 'query-status' }).last();
  await name.hover();
  const hover = page.locator('.monaco-hover:visible', { hasText: 'query-status' });
  await hover.waitFor({ timeout: 30_000 });
  await page.waitForTimeout(1000);
  await shot(page, opts.out, 'hover');
  await page.mouse.move(5, 5);
}

async function diagnosticShot(page) {
  const cell = await setCellText(page, '{ "execute": "query-verison" }');
  await cell.locator('.squiggly-error').first().waitFor({ state: 'attached', timeout: 30_000 });
  await palette(page, 'View: Focus Problems');
  await page.locator('.markers-panel .monaco-list-row').first().waitFor({ timeout: 30_000 });
  const name = cell.locator('.view-line span span', { hasText: 'query-verison' }).last();
  await name.hover();
  const hover = page.locator('.monaco-hover:visible', { hasText: 'query-verison' });
  await hover.waitFor({ timeout: 30_000 });
  await page.waitForTimeout(1000);
  await shot(page, opts.out, 'diagnostic');
}

/** Picks a row of the open quick input by its text. */
async function pickRow(page, text) {
  const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: text }).first();
  await row.waitFor({ timeout: 30_000 });
  await row.click();
}

async function kernelsShot(page) {
  await palette(page, 'Notebook: Select Notebook Kernel');
  const entry = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Add QMP Connection…' }).first();
  // VS Code may first offer "Select Another Kernel…" when a kernel is selected already.
  const another = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Select Another Kernel' }).first();
  await Promise.race([entry.waitFor({ timeout: 30_000 }), another.waitFor({ timeout: 30_000 })]);
  if (await another.isVisible()) {
    // Then the kernel sources, one per extension: ours lists its kernels.
    await another.click();
    const source = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'QMP Notebook' }).first();
    await Promise.race([entry.waitFor({ timeout: 30_000 }), source.waitFor({ timeout: 30_000 })]);
    if (!(await entry.isVisible())) await source.click();
  }
  await entry.waitFor({ timeout: 30_000 });
  await page.waitForTimeout(500);
  await shot(page, opts.out, 'kernels');
  // Go through the flow as a user would: a second sandbox, saved for the workspace.
  await entry.click();
  await pickRow(page, 'Sandbox');
  const input = page.locator('.quick-input-widget input');
  await page.locator('.quick-input-widget', { hasText: 'Add QMP Connection (3/3)' }).waitFor({ timeout: 30_000 });
  await input.press('Enter');
  await pickRow(page, 'Workspace settings');
  // The notebook's kernel is now the new profile (the kernel status in the notebook toolbar names it).
  await page.locator('.notebook-toolbar-container', { hasText: 'QMP: sandbox-2' }).first().waitFor({ timeout: 30_000 });
  console.log('the kernel picker added "sandbox-2" and selected it');
}

const opts = parseArgs(process.argv.slice(2));
mkdirSync(opts.out, { recursive: true });
let demo;
try {
  demo = await startDemo();
  console.log(`demo at ${demo.url}`);
} catch (err) {
  console.error(`${err.message}\n\nThe demo did not start; using the development extension instead.`);
  demo = await startDevelopmentServer();
  console.log(`development code-server at ${demo.url}`);
}
const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: process.env.QMP_CHROMIUM ?? '/usr/bin/chromium', headless: true, args: chromiumFlags });
const missing = [];
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  await page.goto(demo.url);
  await openTour(page);
  await palette(page, 'View: Close Primary Side Bar');
  const steps = { notebook: notebookShot, completion: completionShot, hover: hoverShot, diagnostic: diagnosticShot, kernels: kernelsShot, render: renderShot, explorer: explorerShot, progress: progressShot };
  // The tour runs first in every case: it starts the sandbox, whose live schema the language pictures use.
  try {
    await runTour(page);
    if (opts.only.includes('notebook')) await steps.notebook(page);
    if (opts.only.includes('wrap')) await wrapShot(page);
  } catch (err) {
    console.error(`notebook: ${err.stack ?? err}`);
    // What the page showed when the step gave up, for whoever has to find out why (not a README picture).
    const failed = path.join(os.tmpdir(), 'qmp-screenshot-notebook-failed.png');
    await page.screenshot({ path: failed }).then(() => console.error(`the page at that moment: ${failed}`), () => undefined);
    // eslint-disable-next-line no-undef -- runs in the page, where document exists
    const states = await page.evaluate(() => [...document.querySelectorAll('.notebookOverlay .code-cell-row')].map((row) => {
      const icon = row.querySelector('[class*="codicon-notebook-state-"], .codicon-loading, [class*="codicon-sync"]');
      const code = row.querySelector('.view-lines')?.textContent ?? '';
      return `${icon ? icon.className.replace(/.*codicon-/, '') : 'no state'} | ${code.slice(0, 80)}`;
    })).catch(() => []);
    console.error(`cells as the page shows them:\n  ${states.join('\n  ')}`);
    if (opts.only.includes('notebook')) missing.push('notebook');
  }
  const language = opts.only.filter((n) => n !== 'notebook' && n !== 'wrap');
  if (language.length > 0) {
    try {
      await openStarterNotebook(page);
    } catch (err) {
      console.error(`new notebook: ${err.stack ?? err}`);
    }
  }
  for (const name of language) {
    try {
      await steps[name](page);
    } catch (err) {
      console.error(`${name}: ${err.stack ?? err}`);
      missing.push(name);
      const failed = path.join(os.tmpdir(), `qmp-screenshots-${name}-failure-${process.pid}.png`);
      await page.screenshot({ path: failed }).then(() => console.error(`the page at the failure: ${failed}`)).catch(() => {});
      await page.keyboard.press('Escape').catch(() => {});
    }
  }
  if (opts.keepOpen) await new Promise(() => {});
} catch (err) {
  missing.push('all');
  console.error(err);
  // What the page showed when it failed, for a look; never into --out, where it could be mistaken for a picture.
  const failed = path.join(os.tmpdir(), `qmp-screenshots-failure-${process.pid}.png`);
  await browser.contexts()[0]?.pages()[0]?.screenshot({ path: failed }).then(() => console.error(`the page at the failure: ${failed}`)).catch(() => {});
} finally {
  await browser.close().catch(() => {});
  await demo.stop();
}
if (missing.length > 0) console.error(`missing: ${missing.join(', ')}`);
process.exit(missing.length > 0 ? 1 : 0);
