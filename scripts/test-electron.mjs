// Runs the extension-host tests (test/host) in desktop VS Code through @vscode/test-electron, for contributors
// whose machine can download VS Code. CI uses scripts/host-test.mjs (code-server) instead, which needs no download.
//
//   node scripts/test-electron.mjs [--vscode-version stable|insiders|1.96.0] [--grep TEXT] [--results FILE]
//                                                                                    (npm run test:electron)
//
// Only the `main` suite runs here: test-electron always passes --disable-workspace-trust, so the `trust` suite
// cannot run, and the `installed` suite is covered by the code-server tier. On Linux without a display, run it
// under xvfb-run. VS Code is downloaded into .vscode-test/ (ignored by git) once per version.
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, cpSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { root, buildIfNeeded, compileIfNeeded, userSettings } from './code-server.mjs';

let version = 'stable';
let grep;
let results = path.join(root, 'out', 'results', 'electron.json');
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const value = argv[i + 1];
  if (value === undefined) { console.error(`${a} needs a value`); process.exit(2); }
  if (a === '--vscode-version') version = value;
  else if (a === '--grep') grep = value;
  else if (a === '--results') results = path.resolve(value);
  else { console.error(`unknown argument ${a}`); process.exit(2); }
  i++;
}

buildIfNeeded();
compileIfNeeded();

// Private user data and extensions, so the run sees neither the contributor's settings nor their extensions.
const base = mkdtempSync(path.join(os.tmpdir(), 'qmp-electron-'));
const workspace = path.join(base, 'workspace');
const userData = path.join(base, 'user-data');
const extensions = path.join(base, 'extensions');
for (const d of [workspace, path.join(userData, 'User'), extensions]) mkdirSync(d, { recursive: true, mode: 0o700 });
const fixture = path.join(root, 'test', 'host', 'workspace');
if (existsSync(fixture)) cpSync(fixture, workspace, { recursive: true });
writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify(userSettings({ trust: false }), null, 2) + '\n');
const resultsFile = path.join(base, 'results.json');

let code = 1;
try {
  code = await runTests({
    version,
    extensionDevelopmentPath: root,
    extensionTestsPath: path.join(root, 'out', 'test', 'host', 'index.js'),
    extensionTestsEnv: {
      QMP_HOST_SUITE: 'main', QMP_HOST_RESULTS: resultsFile, QMP_EXTENSION_ROOT: root, QMP_EXTENSIONS_DIR: extensions,
      ...(grep ? { QMP_HOST_GREP: grep } : {}),
    },
    // The first argument is the folder to open; the profile flags stop test-electron from adding its own.
    launchArgs: [workspace, '--user-data-dir', userData, '--extensions-dir', extensions, '--disable-extensions'],
  });
} catch (err) {
  // runTests rejects with TestRunFailedError when VS Code exits non-zero, i.e. when a test failed.
  console.error(err instanceof Error ? err.message : err);
}

let summary = { passed: 0, failed: 1, failures: [{ title: 'electron run', error: 'no results were written' }] };
try { summary = JSON.parse(readFileSync(resultsFile, 'utf8')); } catch { /* VS Code failed before the runner wrote */ }
if (code !== 0 && summary.failed === 0) {
  summary.failed = 1;
  summary.failures.push({ title: 'electron run', error: `VS Code exited ${code}` });
}
mkdirSync(path.dirname(results), { recursive: true });
writeFileSync(results, JSON.stringify(summary, null, 2) + '\n');
rmSync(base, { recursive: true, force: true });
for (const f of summary.failures) console.log(`FAILED ${f.title}\n  ${f.error}`);
console.log(`\n${summary.passed} passed, ${summary.failed} failed`);
process.exit(summary.failed === 0 && summary.passed > 0 ? 0 : 1);
