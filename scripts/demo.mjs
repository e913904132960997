// Packages the extension, installs the .vsix into a private code-server, and opens a copy of samples/ in it.
//
//   node scripts/demo.mjs                       (npm run demo) prints the URL and runs until Ctrl-C
//   node scripts/demo.mjs --screenshot out.png  opens samples/tour.qmp in headless Chromium, saves a screenshot
//                                               and stops
//   node scripts/demo.mjs --check               the demo's own check: opens samples/tour.qmp in headless
//                                               Chromium as a user would, runs its first code cell on the
//                                               sandbox QEMU, waits for QEMU's answer (`prelaunch`), stops;
//                                               exits 0 only when the cell ran (with --screenshot, a picture too)
//   --port N                                    listen on 127.0.0.1:N instead of a free port
//   --vsix FILE                                 install this .vsix instead of packaging one
//
// Workspace trust is off in the demo, so the whole extension is available. Everything (user data, the copy of
// samples/, HOME) lives in one temporary folder that is removed when the demo stops.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  root, codeServerInstall, makeRunFolders, installVsix, startCodeServer, workbenchUrl, launchBrowser, atExit,
  openWorkspaceNotebook,
} from './code-server.mjs';

let screenshot;
let port;
let check = false;
let givenVsix;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--screenshot' && argv[i + 1]) screenshot = path.resolve(argv[++i]);
  else if (argv[i] === '--port' && argv[i + 1]) port = Number(argv[++i]);
  else if (argv[i] === '--vsix' && argv[i + 1]) givenVsix = path.resolve(argv[++i]);
  else if (argv[i] === '--check') check = true;
  else { console.error(`unknown argument ${argv[i]}`); process.exit(2); }
}

const install = codeServerInstall({ install: true });
const dirs = makeRunFolders({
  prefix: 'qmp-demo-', workspaceFrom: path.join(root, 'samples'),
  settings: { 'workbench.colorTheme': 'Default Dark Modern', 'window.commandCenter': false },
});
atExit(dirs.dispose);
const vsix = givenVsix ?? path.join(dirs.base, 'qmp-notebook.vsix');
if (givenVsix === undefined) {
  const packaged = spawnSync(process.execPath, [path.join(root, 'scripts', 'package.mjs'), '--out', vsix],
    { cwd: root, stdio: 'inherit' });
  if (packaged.status !== 0) process.exit(packaged.status ?? 1);
} else if (!existsSync(givenVsix)) {
  console.error(`${givenVsix} does not exist`);
  process.exit(2);
}
console.log(installVsix(install, dirs, vsix));

const logFile = path.join(dirs.base, 'code-server.log');
const logLines = [];
const server = await startCodeServer(install, dirs, {
  port,
  log: (line) => { logLines.push(line); if (logLines.length > 200) logLines.shift(); },
});
atExit(() => writeFileSync(logFile, logLines.join('\n') + '\n'));
const url = workbenchUrl(server, dirs.workspace);
const tour = path.join(dirs.workspace, 'tour.qmp');

if (!screenshot && !check) {
  console.log(`\nQMP Notebook demo (code-server ${server.url}, pid ${server.pid}). Open:\n\n  ${url}\n`);
  if (!existsSync(tour)) console.log('(samples/tour.qmp is not there yet; the workspace holds whatever samples/ has.)');
  console.log('Press Ctrl-C to stop.');
  atExit(() => console.log('\nStopped code-server and removed the demo folder.'));
  await server.exited;
  console.log('code-server stopped.');
  process.exit(1);
}

// Headless modes: open the workbench, then the tour notebook through Quick Open, and wait for it to render.
const context = await launchBrowser(dirs, { viewport: { width: 1400, height: 900 } });
let status = 0;
try {
  const page = context.pages()[0] ?? await context.newPage();
  await page.goto(url);
  if (check) {
    if (!existsSync(tour)) throw new Error('samples/tour.qmp is missing: the demo has no notebook to open');
    await openWorkspaceNotebook(page, 'tour.qmp', { timeout: 90_000 });
    await runFirstCell(page);
    console.log('demo check: tour.qmp opened and its first code cell ran on the sandbox QEMU (prelaunch)');
  } else if (existsSync(tour)) {
    await openWorkspaceNotebook(page, 'tour.qmp')
      .catch(() => console.log('no notebook cells appeared (is the notebook type registered?); taking the screenshot anyway'));
  } else {
    console.log('samples/tour.qmp is missing; the screenshot shows the workspace only.');
  }
  if (screenshot) {
    // Let fonts, syntax colours and the status bar settle; this is a picture, not a test.
    await page.waitForTimeout(3000);
    mkdirSync(path.dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot });
    console.log(`screenshot: ${screenshot}`);
  }
} catch (err) {
  status = 1;
  console.error(err);
  console.error(logLines.slice(-30).join('\n'));
  const page = context.pages()[0];
  if (screenshot && page) {
    await page.screenshot({ path: screenshot }).then(() => console.error(`screenshot of the failure: ${screenshot}`), () => undefined);
  }
} finally {
  await context.close().catch(() => {});
  await server.stop();
}
process.exit(status);

/**
 * Runs the notebook's first code cell the way a user does (its run button) and waits, bounded, until
 * the cell shows success and QEMU's reply reads `prelaunch` (the tour's first cell is query-status, and the
 * sandbox starts with -S). Outputs are drawn in the notebook's webview, so every frame is searched.
 */
async function runFirstCell(page) {
  const cell = page.locator('.notebookOverlay .code-cell-row').first();
  await cell.waitFor({ timeout: 60_000 });
  // The cell's own run button (Ctrl+Enter inside the cell's editor would insert a line in the web workbench).
  await cell.hover();
  await cell.locator('.run-button-container .codicon-notebook-execute').first().click({ timeout: 30_000 });
  const ended = await Promise.race([
    cell.locator('.codicon-notebook-state-success').waitFor({ timeout: 120_000 }).then(() => 'succeeded'),
    cell.locator('.codicon-notebook-state-error').waitFor({ timeout: 120_000 }).then(() => 'failed'),
  ]);
  if (ended !== 'succeeded') throw new Error(`the first cell ${ended}: ${await cell.innerText().catch(() => '')}`);
  const deadline = Date.now() + 60_000;
  for (;;) {
    for (const frame of page.frames()) {
      const text = await frame.locator('body').innerText({ timeout: 1000 }).catch(() => '');
      if (/prelaunch/.test(text)) return;
    }
    if (Date.now() > deadline) throw new Error('the first cell succeeded but no output reads "prelaunch" within 60 s');
    await page.waitForTimeout(250);
  }
}
