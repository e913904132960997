// Runs the extension-host tests (test/host) inside a real VS Code: code-server's Node extension host, driven by
// headless Chromium through the workbench's smoke-test driver.
//
//   node scripts/host-test.mjs [--results FILE] [--pass main|trust]... [--grep TEXT] [--timeout S] [--keep] [--vsix FILE]
//
// Every pass tests the packaged extension, never the sources: the .vsix is built once (`npm run package`, or
// the one given with --vsix) and installed into each pass's fresh code-server; the development extension is a
// bare harness with no code, there only so that VS Code loads the test runner (out/test/host/index.js).
// Passes (both by default, each in a fresh code-server):
//   main       test/host/*.test.js
//   trust      workspace trust enabled and the workspace untrusted; *.trust.test.js
// The results FILE gets {passed, failed, failures, passes}; the closing line is `N passed, N failed`.
// The activation time the host measures is written to out/results/activation.json (read by `npm run bench`).
// --keep keeps the temporary folders for a look.
// Needs scripts/install-vscode-test.sh to have run (it is run here when the cache is missing).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, existsSync, appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  root, codeServerInstall, compileIfNeeded, makeRunFolders, startCodeServer, workbenchUrl,
  launchBrowser, installVsix, atExit,
} from './code-server.mjs';

const allPasses = ['main', 'trust'];

function parseArgs(argv) {
  const opts = { results: path.join(root, 'out', 'results', 'host.json'), passes: [], grep: undefined,
    // A bound for a hung pass, not a speed goal: the main pass takes over 5 minutes on 2 CPUs (its scale suite runs
    // all of 2,000 cells on ours and on the floor while a user types, about 2.5 minutes of it).
    timeoutSeconds: 600, keep: false, vsix: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--results') opts.results = path.resolve(value());
    else if (a === '--pass') opts.passes.push(value());
    else if (a === '--trust') opts.passes.push('trust');
    else if (a === '--vsix') opts.vsix = path.resolve(value());
    else if (a === '--grep') opts.grep = value();
    else if (a === '--timeout') opts.timeoutSeconds = Number(value());
    else if (a === '--keep') opts.keep = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (opts.passes.length === 0) opts.passes = allPasses;
  for (const p of opts.passes) if (!allPasses.includes(p)) throw new Error(`unknown pass ${p}`);
  if (!(opts.timeoutSeconds > 0)) throw new Error('--timeout needs a positive number of seconds');
  return opts;
}

/** Packages the .vsix exactly as `npm run package` does, into `outFile`. */
function packageVsix(outFile) {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'package.mjs'), '--out', outFile],
    { cwd: root, stdio: 'inherit' });
  if (r.status !== 0 || !existsSync(outFile)) throw new Error('packaging the .vsix failed');
}

/** A development extension with no code, so that the test runner can load while only the .vsix is tested. */
function writeHarness(dir) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({
    name: 'qmp-notebook-host-harness', publisher: 'qmp-notebook', version: '0.0.0', private: true,
    engines: { vscode: '^1.96.0' }, extensionKind: ['workspace'],
    // The harness itself must load in the untrusted pass too; the extension under test declares its own support.
    capabilities: { untrustedWorkspaces: { supported: true }, virtualWorkspaces: true },
  }, null, 2) + '\n');
}

async function runPass(install, pass, opts, logFile) {
  const started = Date.now();
  const tail = [];
  const log = (line) => {
    appendFileSync(logFile, line + '\n');
    tail.push(line);
    if (tail.length > 60) tail.shift();
  };
  const trust = pass === 'trust';
  const dirs = makeRunFolders({ prefix: `qmp-host-${pass}-`, workspaceFrom: path.join(root, 'test', 'host', 'workspace'), trust });
  if (!opts.keep) atExit(dirs.dispose);
  const resultsFile = path.join(dirs.base, 'results.json');
  const env = {
    QMP_HOST_SUITE: pass, QMP_HOST_RESULTS: resultsFile, QMP_EXTENSION_ROOT: root, QMP_EXTENSIONS_DIR: dirs.extensions,
    QMP_MEASURE_FILE: path.join(root, 'out', 'results', 'activation.json'),
    ...(opts.grep ? { QMP_HOST_GREP: opts.grep } : {}),
  };
  log(installVsix(install, dirs, opts.vsixFile));
  const developmentPath = path.join(dirs.base, 'harness');
  writeHarness(developmentPath);

  let server;
  let context;
  let rendererProfile = async () => {};
  /** The renderer measurements' starts and stops, one after another. */
  let measuring = Promise.resolve();
  let outcome;
  let timer;
  try {
    server = await startCodeServer(install, dirs, { trust, testDriver: true, env, log });
    log(`[host-test] code-server ${server.url} (pid ${server.pid})`);
    context = await launchBrowser(dirs);
    let exitWith;
    const exited = new Promise((resolve) => { exitWith = resolve; });
    // The workbench reports the test runner's exit code and its log through these two hooks.
    await context.exposeFunction('codeAutomationExit', (code) => { exitWith({ kind: 'exit', code: Number(code) }); });
    await context.exposeFunction('codeAutomationLog', (level, message) => {
      const text = Array.isArray(message) ? message.map(String).join(' ') : String(message);
      log(`[workbench ${level}] ${text}`);
      // test/host/scale.test.ts measures the window's renderer around a measured run (and profiles it when asked).
      const prof = /\[(?:profile|measure)\] renderer (start|stop) ([\w-]+)( cpu)?( keys)?/.exec(text);
      if (prof) {
        // In order: a stop waits for its start to be done (else the typing it started would go on for good).
        measuring = measuring.then(() => rendererProfile(prof[1], prof[2], prof[3] !== undefined, prof[4] !== undefined))
          .catch((err) => log(`[host-test] renderer profile: ${err}`));
      }
      // The extension host's console arrives here; echo the runner's own lines (see test/host/index.ts).
      if (/^\s*(ok |FAIL |host suite |\[measure\] )/.test(text)) console.log(text.replace(/^\s*/, '  '));
    });
    const page = context.pages()[0] ?? await context.newPage();
    let cdp;
    let typing;
    // The renderer's main-thread lag (how late a 20 ms timer runs: what a keystroke waits for before the window
    // handles it) is sampled in the page; a CPU profile is taken too when the test asks for one (` cpu`).
    // ` keys`: a key is typed into the focused cell editor every 200 ms ('x', then Backspace: the text stays as
    // it was), each timed from the key event's creation (its timeStamp: the wait for the main thread counts) to
    // the change of the editor's lines in the DOM.
    // Completion as a user meets it: a new line under the focused cell editor's line, `{"execute": "query-`
    // typed into it key by key (the editor closes the brackets and quotes as it does for a user), timed from the
    // last key's event (its timeStamp: the wait for the main thread counts) until the suggest widget shows a row
    // offering a query- command (at most SUGGEST_WAIT_MS: one not shown by then counts that wait); then the
    // widget is closed and the line taken away again, so the cell's text is what it was.
    const SUGGEST_WAIT_MS = 15_000;
    // Escape closes an open suggest widget; with none open it would leave the cell editor (the notebook's
    // command mode), so it is pressed only when one is open.
    const closeSuggest = async () => {
      const open = await page.evaluate(() => {
        const widget = /** @type {any} */ (globalThis).document.querySelector('.suggest-widget');
        return widget != null && widget.getClientRects().length > 0 && widget.offsetHeight > 0;
      });
      if (open) await page.keyboard.press('Escape');
    };
    const typeForCompletion = async () => {
      await closeSuggest();
      await page.keyboard.press('End');
      await page.keyboard.press('Enter');
      await page.evaluate(() => { const w = /** @type {any} */ (globalThis); w.__qmpSuggestFrom = undefined; w.__qmpSuggestMs = undefined; });
      await page.keyboard.type('{"execute": "query-');
      let ms;
      try {
        // The page notes the time the row appeared (looking once a frame, below); this only collects it.
        const handle = await page.waitForFunction(() => /** @type {any} */ (globalThis).__qmpSuggestMs ?? false, undefined,
          { polling: 50, timeout: SUGGEST_WAIT_MS });
        ms = Number(await handle.jsonValue());
      } catch {
        ms = SUGGEST_WAIT_MS;
        // What the window showed instead (for the log): the widget's classes, its rows, the line typed into.
        const seen = await page.evaluate(() => {
          const d = /** @type {any} */ (globalThis).document;
          const w = d.querySelector('.suggest-widget');
          const rows = Array.from(d.querySelectorAll('.suggest-widget .monaco-list-row')).slice(0, 3).map((r) => String(r.textContent));
          const lines = d.activeElement?.closest?.('.monaco-editor')?.querySelector('.view-lines')?.textContent;
          return JSON.stringify({ widget: w ? String(w.className) : null, rows, lines: String(lines ?? '').slice(0, 200), focus: String(d.activeElement?.className ?? '') });
        }).catch((err) => String(err));
        log(`[host-test] no completion row in ${SUGGEST_WAIT_MS} ms: ${seen}`);
      }
      await page.evaluate((v) => { /** @type {any} */ (globalThis).__qmpSuggest?.push(v); }, ms);
      await closeSuggest();
      await page.keyboard.press('End');
      await page.keyboard.press('Shift+Home');
      await page.keyboard.press('Backspace');
      await page.keyboard.press('Backspace');
    };
    rendererProfile = async (what, name, cpu, keys) => {
      if (what === 'start') {
        if (keys) {
          // The test focuses the first code cell's editor through the API; when the DOM focus is elsewhere all
          // the same (the notebook's list took it back after a kernel change), the cell's first line is clicked.
          const inEditor = await page.evaluate(() => /** @type {any} */ (globalThis).document.activeElement?.closest?.('.notebook-editor .monaco-editor') != null);
          if (!inEditor) {
            // The notebook's list has the cell focused: Enter edits it; else its first line is clicked.
            await page.keyboard.press('Enter');
            const now = await page.evaluate(() => /** @type {any} */ (globalThis).document.activeElement?.closest?.('.notebook-editor .monaco-editor') != null);
            if (!now) {
              await page.locator('.notebook-editor .monaco-editor .view-lines .view-line').first().click({ timeout: 5_000, force: true })
                .catch((err) => log(`[host-test] could not focus a cell editor: ${err}`));
            }
            await page.keyboard.press('End');
          }
          await page.evaluate(() => {
            const w = /** @type {any} */ (globalThis);
            const d = w.document;
            w.__qmpKeys = [];
            w.__qmpKeyFocus = String(d.activeElement?.className ?? '');
            const linesOf = () => d.activeElement?.closest?.('.monaco-editor')?.querySelector('.view-lines');
            let pending;
            // A row of the suggest widget offering a query- command, shown (laid out), once the prefix's last key
            // came: the time since that key is the completion's wait as the user sees it.
            const suggestShown = () => {
              for (const row of d.querySelectorAll('.suggest-widget .monaco-list-row')) {
                if (row.getClientRects().length > 0 && String(row.textContent ?? '').includes('query-')) return true;
              }
              return false;
            };
            // Looked for once a frame (before it is drawn: the frame that shows the row), not on each change of
            // the page: a Run All changes it many times a frame, and each look lays the page out (measured: the
            // looks themselves took the renderer's time while it drew the run).
            const lookForSuggest = () => {
              if (w.__qmpSuggestFrom === undefined || w.__qmpSuggestMs !== undefined) return;
              if (suggestShown()) w.__qmpSuggestMs = Math.max(0.1, w.performance.now() - w.__qmpSuggestFrom);
              else if (w.performance.now() - w.__qmpSuggestFrom < 20_000) w.requestAnimationFrame(lookForSuggest);
            };
            const observer = new w.MutationObserver(() => {
              const lines = linesOf();
              if (pending && lines && lines.textContent !== pending.before) {
                w.__qmpKeys.push(w.performance.now() - pending.at);
                pending = undefined;
              }
            });
            w.__qmpKeyObserver = observer;
            observer.observe(d.body, { childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ['class', 'style'] });
            w.__qmpSuggest = [];
            w.__qmpKeyDown = (e) => {
              // The last key of the prefix typed for completion (typeForCompletion): its time is where the wait starts.
              if (e.key === '-') {
                w.__qmpSuggestFrom = e.timeStamp;
                // Rows already showing (the widget opened at the quote and filtered as the prefix was typed).
                if (suggestShown()) w.__qmpSuggestMs = Math.max(0.1, w.performance.now() - e.timeStamp);
                else w.requestAnimationFrame(lookForSuggest);
              }
              if (e.key !== 'x' && e.key !== 'Backspace') return;
              pending = { at: e.timeStamp, before: linesOf()?.textContent ?? '' };
            };
            w.addEventListener('keydown', w.__qmpKeyDown, true);
          });
          let stopTyping = false;
          let pressed = 0;
          let round = 0;
          const loop = (async () => {
            while (!stopTyping) {
              // Every third turn (on a line of its own, after an 'x' is taken back): completion as a user meets it.
              if (round++ % 3 === 2 && pressed % 2 === 0) await typeForCompletion();
              else {
                await page.keyboard.press(pressed % 2 === 0 ? 'x' : 'Backspace');
                pressed++;
              }
              await new Promise((r) => setTimeout(r, 200));
            }
            // The text as it was: an 'x' typed last is taken back.
            if (pressed % 2 === 1) await page.keyboard.press('Backspace');
          })().catch((err) => log(`[host-test] typing stopped: ${err}`));
          typing = { stop: async () => { stopTyping = true; await loop; } };
        }
        await page.evaluate(() => {
          const w = /** @type {any} */ (globalThis);
          w.__qmpLag = [];
          let last = w.performance.now();
          w.__qmpLagTimer = w.setInterval(() => { const t = w.performance.now(); w.__qmpLag.push(Math.max(0, t - last - 20)); last = t; }, 20);
        });
        if (cpu) {
          cdp = await context.newCDPSession(page);
          await cdp.send('Profiler.enable');
          await cdp.send('Profiler.setSamplingInterval', { interval: 2000 });
          await cdp.send('Profiler.start');
        }
        return;
      }
      if (typing) await typing.stop();
      typing = undefined;
      const { lags, typed, focus, suggest } = await page.evaluate(() => {
        const w = /** @type {any} */ (globalThis);
        w.clearInterval(w.__qmpLagTimer);
        w.__qmpKeyObserver?.disconnect();
        if (w.__qmpKeyDown) w.removeEventListener('keydown', w.__qmpKeyDown, true);
        const typed = w.__qmpKeys;
        const suggest = w.__qmpSuggest;
        w.__qmpKeys = undefined;
        w.__qmpSuggest = undefined;
        w.__qmpKeyObserver = undefined;
        w.__qmpKeyDown = undefined;
        return { lags: w.__qmpLag ?? [], typed, focus: w.__qmpKeyFocus ?? '', suggest };
      });
      const quantiles = (xs) => {
        const sorted = [...xs].sort((a, b) => a - b);
        const q = (p) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]) : 0);
        return { p50Ms: q(0.5), p95Ms: q(0.95), maxMs: Math.round(sorted[sorted.length - 1] ?? 0) };
      };
      writeFileSync(path.join(logDir, `scale-${name}-renderer-lag.json`), JSON.stringify({
        samples: lags.length, ...quantiles(lags),
        ...(typed ? { keys: { count: typed.length, ...quantiles(typed), focus } } : {}),
        ...(suggest ? { suggest: { count: suggest.length, ...quantiles(suggest) } } : {}),
      }) + '\n');
      if (cdp) {
        const { profile } = await cdp.send('Profiler.stop');
        await cdp.detach();
        cdp = undefined;
        writeFileSync(path.join(logDir, `scale-${name}-renderer.cpuprofile`), JSON.stringify(profile));
      }
      log(`[host-test] renderer measured ${name}`);
    };
    page.on('console', (m) => {
      const text = m.text();
      log(`[console ${m.type()}] ${text}`);
    });
    page.on('pageerror', (err) => log(`[page error] ${err.message}`));
    const url = workbenchUrl(server, dirs.workspace, { developmentPath, testsPath: path.join(root, 'out', 'test', 'host', 'index.js') });
    log(`[host-test] open ${url}`);
    await page.goto(url, { timeout: 180_000 });
    const timedOut = new Promise((resolve) => {
      timer = setTimeout(() => resolve({ kind: 'timeout' }), opts.timeoutSeconds * 1000);
    });
    const serverGone = server.exited.then((code) => ({ kind: 'server-exit', code }));
    outcome = await Promise.race([exited, timedOut, serverGone]);
  } catch (err) {
    outcome = { kind: 'error', error: err };
  } finally {
    clearTimeout(timer);
    await context?.close().catch(() => {});
    await server?.stop();
  }

  let results;
  try {
    results = JSON.parse(readFileSync(resultsFile, 'utf8'));
  } catch {
    results = { passed: 0, failed: 0, failures: [] };
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const problem = outcome.kind === 'timeout' ? `timed out after ${opts.timeoutSeconds} s`
    : outcome.kind === 'server-exit' ? `code-server exited (${outcome.code}) during the run`
      : outcome.kind === 'error' ? `${outcome.error?.stack ?? outcome.error}`
        : outcome.code !== 0 && results.failed === 0 ? `the test runner exited ${outcome.code}`
          : results.passed + results.failed === 0 ? 'no tests ran' : undefined;
  if (problem) {
    results.failed += 1;
    results.failures.push({ title: `host pass ${pass}`, error: problem });
    console.log(`\nhost pass ${pass}: ${problem}. Last log lines (all in ${logFile}):`);
    for (const line of tail.slice(-40)) console.log(`  ${line}`);
  }
  for (const f of results.failures) console.log(`\n  FAILED ${f.title}\n    ${f.error.split('\n').join('\n    ')}`);
  console.log(`host pass ${pass}: ${results.passed} passed, ${results.failed} failed (${seconds} s)`);
  if (opts.keep) console.log(`kept ${dirs.base}`); else dirs.dispose();
  return results;
}

const opts = parseArgs(process.argv.slice(2));
const totals = { passed: 0, failed: 0, failures: [], passes: {} };
const logDir = path.join(root, 'out', 'results');
mkdirSync(logDir, { recursive: true });
mkdirSync(path.dirname(opts.results), { recursive: true });
try {
  compileIfNeeded();
  const install = codeServerInstall({ install: true });
  // One package for every pass, built as `npm run package` builds it, in a private folder.
  if (opts.vsix) {
    opts.vsixFile = opts.vsix;
  } else {
    const vsixDir = mkdtempSync(path.join(os.tmpdir(), 'qmp-host-vsix-'));
    atExit(() => rmSync(vsixDir, { recursive: true, force: true }));
    opts.vsixFile = path.join(vsixDir, 'qmp-notebook.vsix');
    packageVsix(opts.vsixFile);
  }
  for (const pass of opts.passes) {
    const logFile = path.join(logDir, `host-${pass}.log`);
    writeFileSync(logFile, '');
    console.log(`\n--- host pass: ${pass}`);
    const r = await runPass(install, pass, opts, logFile);
    totals.passed += r.passed;
    totals.failed += r.failed;
    totals.failures.push(...r.failures.map((f) => ({ ...f, title: `[${pass}] ${f.title}` })));
    totals.passes[pass] = r;
  }
} catch (err) {
  totals.failed += 1;
  totals.failures.push({ title: 'host test setup', error: String(err?.stack ?? err) });
  console.error(err);
}
writeFileSync(opts.results, JSON.stringify(totals, null, 2) + '\n');
console.log(`\n${totals.passed} passed, ${totals.failed} failed`);
process.exit(totals.failed === 0 && totals.passed > 0 ? 0 : 1);
