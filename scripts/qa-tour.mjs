// A QA walk through the demo as a user: drives headless Chromium against a running demo (scripts/demo.mjs) and
// saves a screenshot after each step into --out, to be looked at. Not a test: nothing is asserted.
//
//   node scripts/demo.mjs --port 47001 &
//   node scripts/qa-tour.mjs --url 'http://127.0.0.1:47001/?folder=...' [--out /tmp/qa] [--step NAME]... [--kill-pid PID]
//
// Steps: save, language, restored, blocked, tour, channels, kernels, profile, trace, walkthrough. `profile`,
// `trace` and `blocked` expect a profile `vm1` (or $QA_VM) in the workspace settings of the demo, pointing at a
// QEMU started with `-qmp unix:PATH,server=on,wait=off`; `blocked --kill-pid` kills that QEMU under a waiting cell.
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const chromiumFlags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const argv = process.argv.slice(2);
let url;
let out = '/tmp/qa';
let killPid;
const only = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--url') url = argv[++i];
  else if (argv[i] === '--out') out = path.resolve(argv[++i]);
  else if (argv[i] === '--step') only.push(argv[++i]);
  else if (argv[i] === '--kill-pid') killPid = Number(argv[++i]);
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
  // Waits for the command itself: an extension's command is listed only once the extension is active.
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title.replace(/\.\.\.$/, '') }).first().waitFor({ timeout: 30_000 });
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

/** Runs a cell with its run button (Ctrl+Enter is Super+Enter in the browser). */
async function runCell(page, cell) {
  await cell.hover();
  await cell.locator('.run-button-container .codicon').first().click();
}

function visibleCodeCell(page) {
  return page.locator('.notebookOverlay:visible .code-cell-row').first();
}

async function setCellText(page, text) {
  const cell = visibleCodeCell(page);
  await cell.locator('.monaco-editor .view-lines').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
  return cell;
}

/** Picks a kernel by name through VS Code's picker (recent kernels, then "Select Another Kernel...", then our source). */
async function pickKernel(page, name) {
  await palette(page, 'Notebook: Select Notebook Kernel');
  await page.waitForTimeout(1200);
  const rows = page.locator('.quick-input-list .monaco-list-row');
  for (const label of ['Select Another Kernel', 'QMP Notebook']) {
    if (await rows.filter({ hasText: name }).count()) break;
    const row = rows.filter({ hasText: label }).first();
    if (await row.count() > 0) {
      await row.click();
      await page.waitForTimeout(1200);
    }
  }
  await rows.filter({ hasText: name }).first().click();
  await page.waitForTimeout(1000);
}

const steps = {
  /** The notebooks restored from the last session: which kernel does each show? */
  async restored(page) {
    await page.waitForTimeout(4000);
    const tabs = page.getByRole('tab');
    const n = await tabs.count();
    for (let i = 0; i < n; i++) {
      await tabs.nth(i).click();
      await page.waitForTimeout(2000);
      await shot(page, `restored-${i}`);
    }
  },
  /** Hover of a command (the heading once) and completion of an argument with its man-page description. */
  async language(page) {
    await shot(page, 'language-start');
    await palette(page, 'QMP: New QMP Notebook');
    await page.waitForTimeout(2000);
    const cell = await setCellText(page, '{ "execute": "query-status" }');
    await page.keyboard.press('Home');
    await cell.locator('.view-line span span', { hasText: 'query-status' }).last().hover();
    await page.locator('.monaco-hover:visible', { hasText: 'query-status' }).waitFor({ timeout: 30_000 });
    await page.waitForTimeout(1000);
    await shot(page, 'hover');
    await page.mouse.move(5, 5);
    await setCellText(page, '{ "execute": "query-named-block-nodes", "arguments": { "" } }');
    for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('Control+Space');
    const widget = page.locator('.suggest-widget.visible');
    await widget.waitFor({ timeout: 30_000 });
    await page.waitForTimeout(800);
    // Ctrl+Space again opens the details of the focused item.
    if (!(await page.locator('.suggest-details-container:visible').count())) await page.keyboard.press('Control+Space');
    await page.waitForTimeout(1000);
    await shot(page, 'completion-member');
    await page.keyboard.press('Escape');
  },
  /** A notebook whose header says saveOutputs: true, run and saved; the file is then read by hand. */
  async save(page) {
    await openFile(page, 'save-test.qmp');
    await page.locator('.notebookOverlay:visible .code-cell-row').first().waitFor({ timeout: 60_000 });
    await page.locator('.notebook-toolbar-container:visible').getByText('Run All', { exact: true }).click();
    await page.locator('.notebookOverlay:visible .codicon-notebook-state-error').first().waitFor({ state: 'attached', timeout: 90_000 });
    await page.waitForTimeout(1000);
    await shot(page, 'save-run');
    await page.keyboard.press('Control+S');
    await page.waitForTimeout(2000);
    await shot(page, 'save-saved');
  },
  async blocked(page) {
    await palette(page, 'QMP: New QMP Notebook');
    await page.waitForTimeout(2000);
    await shot(page, 'new-notebook');
    let cell = await setCellText(page, '{ "execute": "query-status" }\n{ "wait-event": "DEVICE_DELETED" }');
    await runCell(page, cell);
    await page.waitForTimeout(3000);
    await shot(page, 'blocked');
    await page.locator('.notebook-toolbar-container:visible').getByText('Interrupt', { exact: true }).click();
    await page.waitForTimeout(1500);
    await shot(page, 'interrupted');
    if (killPid) {
      await pickKernel(page, process.env.QA_VM ?? 'vm1');
      cell = visibleCodeCell(page);
      await runCell(page, cell);
      await page.waitForTimeout(3000);
      await shot(page, 'blocked-vm1');
      process.kill(killPid, 'SIGKILL');
      await page.waitForTimeout(1500);
      await shot(page, 'killed');
      await page.locator('.statusbar-item', { hasText: process.env.QA_VM ?? 'vm1' }).first().hover();
      await page.waitForTimeout(1500);
      await shot(page, 'killed-tooltip');
    }
  },
  async tour(page) {
    await openFile(page, 'tour.qmp');
    await page.locator('.notebookOverlay .code-cell-row').first().waitFor({ timeout: 60_000 });
    await page.locator('.notebook-toolbar-container:visible').getByText('Run All', { exact: true }).click();
    await page.locator('.notebookOverlay .codicon-notebook-state-error').first().waitFor({ state: 'attached', timeout: 90_000 });
    await page.waitForTimeout(2000);
    await shot(page, 'tour-top');
    for (let i = 0; i < 12; i += 1) {
      if (process.env.QA_SHORT && i > 0) break;
      await scrollNotebook(page, 120, 5);
      await shot(page, `tour-scroll-${i}`);
    }
    await page.locator('.notebook-toolbar-container:visible').getByText('Go To', { exact: true }).click();
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
    const rows = page.locator('.quick-input-list .monaco-list-row');
    for (const label of ['Select Another Kernel', 'QMP Notebook']) {
      const row = rows.filter({ hasText: label }).first();
      if (await row.count() > 0 && !(await rows.filter({ hasText: 'vm1' }).count())) {
        await row.click();
        await page.waitForTimeout(1200);
        await shot(page, `kernel-picker-${label.replace(/\W+/g, '-')}`);
      }
    }
    await rows.filter({ hasText: 'vm1' }).first().click();
    await page.waitForTimeout(1500);
    const cell = page.locator('.notebookOverlay:visible .code-cell-row').first();
    await runCell(page, cell);
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
    await runCell(page, cell);
    await page.waitForTimeout(3000);
    await palette(page, 'QMP: Show Protocol Log');
    await page.waitForTimeout(1500);
    await shot(page, 'log-trace');
  },
  async walkthrough(page) {
    await palette(page, 'Help: Welcome');
    await page.waitForTimeout(2000);
    await page.getByText('Get started with QMP Notebook', { exact: true }).first().click();
    await page.waitForTimeout(3000);
    await shot(page, 'walkthrough');
    const buttons = {
      'Install QEMU': 'Set the QEMU path', 'Open a notebook': 'New QMP Notebook', 'Run a cell on the sandbox': 'Start the sandbox',
      'Connect your own QEMU': 'Edit connection profiles', 'Watch the protocol': 'Show the protocol log',
    };
    for (const [title, button] of Object.entries(buttons)) {
      if (!(await page.getByText(title, { exact: true }).count())) {
        await palette(page, 'Help: Welcome');
        await page.waitForTimeout(1500);
        await page.getByText('Get started with QMP Notebook', { exact: true }).first().click();
        await page.waitForTimeout(1500);
      }
      await page.getByText(title, { exact: true }).first().click().catch((e) => console.log(`no step ${title}: ${e.message}`));
      await page.waitForTimeout(1500);
      await shot(page, `walkthrough-${title.replace(/\W+/g, '-')}`);
      await page.getByRole('button', { name: button }).first().click().catch((e) => console.log(`no button ${button}: ${e.message}`));
      await page.waitForTimeout(3000);
      await shot(page, `walkthrough-${button.replace(/\W+/g, '-')}`);
      await page.keyboard.press('Escape');
    }
    await page.getByRole('tab', { name: /Walkthrough|Welcome/ }).first().click().catch(() => {});
    await page.waitForTimeout(1000);
    await shot(page, 'walkthrough-after');
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
