// A QA walk through the demo as a user: drives headless Chromium against a running demo (scripts/demo.mjs) and
// saves a screenshot after each step into --out, to be looked at. Not a test: nothing is asserted.
//
//   node scripts/demo.mjs --port 47001 &
//   node scripts/qa-tour.mjs --url 'http://127.0.0.1:47001/?folder=...' [--out /tmp/qa] [--step NAME]...
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const chromiumFlags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const argv = process.argv.slice(2);
let url;
let out = '/tmp/qa';
const only = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--url') url = argv[++i];
  else if (argv[i] === '--out') out = path.resolve(argv[++i]);
  else if (argv[i] === '--step') only.push(argv[++i]);
  else throw new Error(`unknown argument ${argv[i]}`);
}
if (!url) throw new Error('--url of a running demo is required');
mkdirSync(out, { recursive: true });

let n = 0;
async function shot(page, name) {
  const file = path.join(out, `${String(++n).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  console.log(file);
}

async function palette(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout: 30_000 });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row').first().waitFor({ timeout: 30_000 });
  await page.waitForTimeout(300);
  await page.keyboard.press('Enter');
}

async function openFile(page, name) {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout: 30_000 });
  await input.fill(name);
  await page.locator('.quick-input-list .monaco-list-row').first().waitFor({ timeout: 30_000 });
  await page.waitForTimeout(300);
  await page.keyboard.press('Enter');
}

/** Scrolls the visible notebook by wheel over its cell list, `times` steps of `dy` pixels. */
async function scrollNotebook(page, dy, times) {
  const list = await page.locator('.notebookOverlay:visible .cell-list-container').first().boundingBox();
  await page.mouse.move(list.x + 40, list.y + list.height / 2);
  for (let i = 0; i < times; i++) {
    await page.mouse.wheel(0, dy);
    await page.waitForTimeout(80);
  }
  await page.waitForTimeout(800);
}

const steps = {
  async tour(page) {
    await openFile(page, 'tour.qmp');
    await page.locator('.notebookOverlay .code-cell-row').first().waitFor({ timeout: 60_000 });
    await page.locator('.notebook-toolbar-container').getByText('Run All', { exact: true }).click();
    await page.locator('.notebookOverlay .codicon-notebook-state-error').first().waitFor({ state: 'attached', timeout: 90_000 });
    await page.waitForTimeout(2000);
    await shot(page, 'tour-top');
    for (let i = 0; i < 12; i += 1) {
      if (process.env.QA_SHORT && i > 0) break;
      await scrollNotebook(page, 120, 5);
      await shot(page, `tour-scroll-${i}`);
    }
    await page.locator('.notebook-toolbar-container').getByText('Go To', { exact: true }).click();
    await page.waitForTimeout(1500);
    await shot(page, 'tour-goto-error');
    await scrollNotebook(page, 120, 10);
    await shot(page, 'tour-end');
    // The status bar item and its tooltip.
    const item = page.locator('.statusbar-item', { hasText: 'sandbox' }).first();
    await item.hover();
    await page.locator('.monaco-hover:visible, .workbench-hover:visible').first().waitFor({ timeout: 15_000 }).catch(() => {});
    await page.waitForTimeout(1500);
    await shot(page, 'status-tooltip');
    await page.mouse.move(700, 300);
  },
  async channels(page) {
    await palette(page, 'Developer: Set Log Level...');
    await page.waitForTimeout(800);
    await shot(page, 'loglevel-list');
    await page.keyboard.press('Escape');
    await palette(page, 'QMP: Show Protocol Log');
    await page.waitForTimeout(1500);
    await shot(page, 'log-channel');
    await palette(page, 'QMP: Show Events');
    await page.waitForTimeout(1500);
    await shot(page, 'events-channel');
  },
  async kernels(page) {
    await openFile(page, 'tour.qmp');
    await page.locator('.notebookOverlay .code-cell-row').first().waitFor({ timeout: 60_000 });
    await palette(page, 'Notebook: Select Notebook Kernel');
    await page.waitForTimeout(1500);
    await shot(page, 'kernel-picker');
    await page.keyboard.press('Escape');
  },
  /** A profile from the workspace settings in the kernel picker; run the first cell on it. */
  async profile(page) {
    await openFile(page, 'tour.qmp');
    await page.locator('.notebookOverlay .code-cell-row').first().waitFor({ timeout: 60_000 });
    await palette(page, 'Notebook: Select Notebook Kernel');
    await page.waitForTimeout(1500);
    await shot(page, 'kernel-picker-profile');
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: 'vm1' }).first();
    await row.click();
    await page.waitForTimeout(1500);
    const cell = page.locator('.notebookOverlay:visible .code-cell-row').first();
    await cell.locator('.monaco-editor .view-lines').click();
    await page.keyboard.press('Control+Enter');
    await page.waitForTimeout(3000);
    await shot(page, 'profile-run');
  },
  async trace(page) {
    await palette(page, 'Developer: Set Log Level...');
    await page.waitForTimeout(800);
    await page.keyboard.type('QMP');
    await page.waitForTimeout(800);
    await shot(page, 'loglevel-qmp');
    await page.keyboard.press('Enter');
    await page.waitForTimeout(800);
    await shot(page, 'loglevel-levels');
    await page.keyboard.type('Trace');
    await page.waitForTimeout(300);
    await page.keyboard.press('Enter');
    await openFile(page, 'tour.qmp');
    const cell = page.locator('.notebookOverlay:visible .code-cell-row').first();
    await cell.locator('.monaco-editor .view-lines').click();
    await page.keyboard.press('Control+Enter');
    await page.waitForTimeout(3000);
    await palette(page, 'QMP: Show Protocol Log');
    await page.waitForTimeout(1500);
    await shot(page, 'log-trace');
  },
  async walkthrough(page) {
    await palette(page, 'Welcome: Open Walkthrough...');
    await page.waitForTimeout(1000);
    await page.keyboard.type('QMP');
    await page.waitForTimeout(1000);
    await shot(page, 'walkthrough-pick');
    await page.keyboard.press('Enter');
    await page.waitForTimeout(3000);
    await shot(page, 'walkthrough');
    for (const title of ['Open a notebook', 'Run a cell on the sandbox', 'Connect your own QEMU', 'Watch the protocol']) {
      await page.getByText(title, { exact: true }).first().click().catch((e) => console.log(`no step ${title}: ${e.message}`));
      await page.waitForTimeout(2000);
      await shot(page, `walkthrough-${title.replace(/\W+/g, '-')}`);
    }
  },
};

const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: chromiumFlags });
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  await page.goto(url);
  await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
  await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 90_000 });
  await page.locator('.monaco-workbench').click({ position: { x: 700, y: 450 } });
  for (const [name, fn] of Object.entries(steps)) {
    if (only.length > 0 && !only.includes(name)) continue;
    try {
      await fn(page);
    } catch (err) {
      console.error(`${name}: ${err.stack ?? err}`);
      await shot(page, `${name}-failure`).catch(() => {});
      await page.keyboard.press('Escape').catch(() => {});
    }
  }
} finally {
  await browser.close();
}
