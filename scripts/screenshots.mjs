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
// These are pictures, not tests: each step waits for what it shows, and a step that fails still leaves the
// others. The exit status is 1 when any picture is missing.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { root, freePort } from './code-server.mjs';

const chromiumFlags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const allShots = ['notebook', 'completion', 'hover', 'diagnostic'];

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
  await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
  await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 90_000 });
  await page.locator('.monaco-workbench').click({ position: { x: 700, y: 450 } });
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout: 30_000 });
  await input.fill('tour.qmp');
  await page.locator('.quick-input-list .monaco-list-row').first().waitFor({ timeout: 30_000 });
  await page.keyboard.press('Enter');
  await page.locator('.notebookOverlay .code-cell-row').first().waitFor({ timeout: 60_000 });
}

const opts = parseArgs(process.argv.slice(2));
mkdirSync(opts.out, { recursive: true });
const demo = await startDemo();
console.log(`demo at ${demo.url}`);
const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: process.env.QMP_CHROMIUM ?? '/usr/bin/chromium', headless: true, args: chromiumFlags });
let status = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  await page.goto(demo.url);
  await openTour(page);
  await page.waitForTimeout(2000);
  await shot(page, opts.out, 'explore');
  if (opts.keepOpen) await new Promise(() => {});
} catch (err) {
  status = 1;
  console.error(err);
} finally {
  await browser.close().catch(() => {});
  await demo.stop();
}
process.exit(status);
