// Shared by scripts/host-test.mjs and scripts/demo.mjs: find the cached code-server install, start a private
// code-server bound to 127.0.0.1, open its workbench in headless Chromium, and stop everything afterwards.
// Everything a run writes (user data, extensions, config, HOME, XDG folders, the browser profile) lives in one
// fresh 0700 temporary folder, so runs never see each other or the user's own VS Code setup.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, cpSync, existsSync, statSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CLI_FILES } from './build-options.mjs';
/* global fetch */

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

// Process groups of the code-servers still running, and the callers' clean-ups (temporary folders), run at once
// when this script exits, is interrupted or crashes, so that nothing is left behind.
const liveGroups = new Set();
const cleanups = [];
/** Registers a synchronous clean-up that runs when the process exits for any reason. */
export function atExit(fn) { cleanups.push(fn); }
function cleanUp() {
  for (const pid of liveGroups) { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }
  liveGroups.clear();
  for (const fn of cleanups.splice(0).reverse()) { try { fn(); } catch { /* best effort at exit */ } }
}
process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => { cleanUp(); process.exit(signal === 'SIGINT' ? 130 : 143); });
}

/** The paths printed by scripts/install-vscode-test.sh; installs first when `install` is true. */
export function codeServerInstall({ install = true } = {}) {
  const script = path.join(root, 'scripts', 'install-vscode-test.sh');
  const argv = install ? [script] : [script, '--print'];
  const r = spawnSync('bash', argv, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(install ? `${script} failed (exit ${r.status})`
      : 'code-server is not installed: run scripts/install-vscode-test.sh first');
  }
  const paths = Object.fromEntries(r.stdout.trim().split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2)));
  return { dir: paths.QMP_VSCODE_TEST_DIR, node: paths.QMP_NODE24, entry: paths.QMP_CODE_SERVER };
}

/** Rebuilds dist/ when a bundle is missing or older than any source file, so a stale bundle is never tested. */
export function buildIfNeeded({ production = false, force = false } = {}) {
  const outputs = ['dist/extension.js', ...CLI_FILES.map((f) => `dist/${f}`)].map((f) => path.join(root, f));
  const newest = (dir) => {
    let t = 0;
    for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (entry.isFile()) t = Math.max(t, statSync(path.join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
    }
    return t;
  };
  const sourceTime = Math.max(newest(path.join(root, 'src')), statSync(path.join(root, 'package.json')).mtimeMs);
  const stale = force || production || outputs.some((f) => !existsSync(f) || statSync(f).mtimeMs < sourceTime);
  if (!stale) return;
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs'), ...(production ? ['--production'] : [])],
    { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('node scripts/build.mjs failed');
}

/** Emits out/ with tsc when a compiled host test is missing or older than its source (the static tier of
 *  scripts/test.mjs has normally just done this). */
export function compileIfNeeded() {
  const hostDir = path.join(root, 'test', 'host');
  const stale = readdirSync(hostDir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath ?? e.path, e.name))
    .filter((f) => !f.startsWith(path.join(hostDir, 'workspace') + path.sep))
    .some((f) => {
      const js = path.join(root, 'out', path.relative(root, f)).replace(/\.ts$/, '.js');
      return !existsSync(js) || statSync(js).mtimeMs < statSync(f).mtimeMs;
    });
  if (!stale) return;
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  // tsc emits even when some other file has type errors, so only the missing output matters here.
  spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  if (!existsSync(path.join(root, 'out', 'test', 'host', 'index.js'))) throw new Error('tsc did not emit out/test/host/index.js');
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Settings that keep the workbench quiet and offline: no telemetry, AI, git, welcome page or update checks. */
export function userSettings({ trust }) {
  return {
    'telemetry.telemetryLevel': 'off',
    'telemetry.feedback.enabled': false,
    'workbench.enableExperiments': false,
    'workbench.startupEditor': 'none',
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
    'workbench.tips.enabled': false,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'chat.disableAIFeatures': true,
    'chat.commandCenter.enabled': false,
    'chat.agent.enabled': false,
    'git.enabled': false,
    'git.autoRepositoryDetection': false,
    'github.gitAuthentication': false,
    'extensions.autoUpdate': false,
    'extensions.autoCheckUpdates': false,
    'extensions.ignoreRecommendations': true,
    'update.mode': 'none',
    'npm.autoDetect': 'off',
    'typescript.disableAutomaticTypeAcquisition': true,
    'security.workspace.trust.enabled': trust,
    'security.workspace.trust.startupPrompt': 'never',
    'security.workspace.trust.banner': 'never',
  };
}

/**
 * Creates the private folders of one run. `workspaceFrom` is copied into a fresh workspace folder; `settings`
 * are added to the user settings.
 * Returns the folder layout; `dispose()` removes it all.
 */
export function makeRunFolders({ prefix = 'qmp-host-', workspaceFrom, trust = false, settings = {} } = {}) {
  const base = mkdtempSync(path.join(os.tmpdir(), prefix));
  const dirs = {
    base,
    workspace: path.join(base, 'workspace'),
    userData: path.join(base, 'user-data'),
    extensions: path.join(base, 'extensions'),
    home: path.join(base, 'home'),
    browserProfile: path.join(base, 'browser'),
    config: path.join(base, 'config.yaml'),
  };
  for (const d of [dirs.workspace, dirs.userData, dirs.extensions, dirs.home, dirs.browserProfile]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
  }
  if (workspaceFrom && existsSync(workspaceFrom)) cpSync(workspaceFrom, dirs.workspace, { recursive: true });
  mkdirSync(path.join(dirs.userData, 'User'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dirs.userData, 'User', 'settings.json'),
    JSON.stringify({ ...userSettings({ trust }), ...settings }, null, 2) + '\n', { mode: 0o600 });
  // An explicit config file, so code-server never writes a generated password into ~/.config.
  writeFileSync(dirs.config, 'auth: none\ncert: false\n', { mode: 0o600 });
  dirs.dispose = () => rmSync(base, { recursive: true, force: true, maxRetries: 3 });
  return dirs;
}

/** The environment for code-server and Chromium: HOME and every XDG folder point into the run's folder. */
export function privateEnv(dirs, extra = {}) {
  const env = { ...process.env };
  // Our own test settings must not leak in from the caller, and nothing may offer a GitHub token.
  for (const key of Object.keys(env)) {
    if (key.startsWith('VSCODE_') || key.startsWith('ELECTRON_') || key === 'GITHUB_TOKEN' || key === 'PASSWORD'
      || key === 'HASHED_PASSWORD' || key.startsWith('CODE_SERVER_')) delete env[key];
  }
  Object.assign(env, {
    HOME: dirs.home,
    XDG_CONFIG_HOME: path.join(dirs.home, '.config'),
    XDG_DATA_HOME: path.join(dirs.home, '.local', 'share'),
    XDG_CACHE_HOME: path.join(dirs.home, '.cache'),
    XDG_STATE_HOME: path.join(dirs.home, '.local', 'state'),
    XDG_RUNTIME_DIR: path.join(dirs.home, 'run'),
  }, extra);
  mkdirSync(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
  return env;
}

/** Installs a .vsix into the run's private extensions folder with the code-server CLI. */
export function installVsix(install, dirs, vsix) {
  const r = spawnSync(install.node, [install.entry, '--config', dirs.config, '--user-data-dir', dirs.userData,
    '--extensions-dir', dirs.extensions, '--install-extension', vsix, '--force'],
  { env: privateEnv(dirs), stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`installing ${vsix} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout.trim();
}

/**
 * Starts code-server in its own process group (so that stop() ends the extension host and every other child
 * with it) and resolves once it answers /healthz. `log(line)` receives its output.
 */
export async function startCodeServer(install, dirs, { trust = false, testDriver = false, env = {}, log = () => {}, port: fixedPort } = {}) {
  const port = fixedPort ?? await freePort();
  const argv = [install.entry,
    '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--config', dirs.config,
    '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions,
    '--disable-telemetry', '--disable-update-check', '--disable-getting-started-override',
    ...(trust ? [] : ['--disable-workspace-trust']),
    // Without the smoke-test driver the web workbench ignores the extension test payload.
    ...(testDriver ? ['--vscode-option', 'enable-smoke-test-driver'] : []),
    '--ignore-last-opened'];
  const child = spawn(install.node, argv, {
    cwd: dirs.base, env: privateEnv(dirs, env), detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveGroups.add(child.pid);
  let exited = null;
  const exitPromise = new Promise((resolve) => child.once('exit', (code, signal) => { exited = code ?? signal; resolve(exited); }));
  const lines = (stream, tag) => {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts) log(`[${tag}] ${p}`);
    });
  };
  lines(child.stdout, 'code-server');
  lines(child.stderr, 'code-server');

  const stop = async () => {
    if (exited !== null) return;
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
    const killer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
    await exitPromise;
    clearTimeout(killer);
    // The extension host can outlive the server for a moment; it is in the same group.
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* the whole group is gone */ }
    liveGroups.delete(child.pid);
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== null) throw new Error(`code-server exited (${exited}) before it was ready`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { await stop(); throw new Error('code-server did not answer /healthz within 60 s'); }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { port, url, pid: child.pid, stop, exited: exitPromise };
}

/** The workbench URL that opens `folder`, optionally with the extension-test payload. */
export function workbenchUrl(server, folder, { developmentPath, testsPath } = {}) {
  const remote = (p) => `vscode-remote://127.0.0.1:${server.port}${p}`;
  let url = `${server.url}/?folder=${encodeURIComponent(folder)}`;
  if (developmentPath || testsPath) {
    const payload = [];
    if (developmentPath) payload.push(['extensionDevelopmentPath', remote(developmentPath)]);
    if (testsPath) payload.push(['extensionTestsPath', remote(testsPath)]);
    url += `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  }
  return url;
}

/** Headless Chromium with a fresh profile; playwright-core drives the system Chromium and downloads nothing. */
export async function launchBrowser(dirs, { viewport = { width: 1400, height: 900 } } = {}) {
  const { chromium } = await import('playwright-core');
  const executablePath = process.env.QMP_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`${executablePath} is missing (apt-get install chromium)`);
  const context = await chromium.launchPersistentContext(dirs.browserProfile, {
    executablePath,
    headless: true,
    viewport,
    env: privateEnv(dirs),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return context;
}

/**
 * Waits for the workbench and its explorer, then opens a workspace file by name through Quick Open and
 * waits until a notebook cell is drawn (notebook cells live in an overlay outside the editor pane).
 */
export async function openWorkspaceNotebook(page, name, { timeout = 60_000 } = {}) {
  await page.locator('.monaco-workbench').waitFor({ timeout });
  await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout });
  await page.locator('.monaco-workbench').click({ position: { x: 700, y: 450 } });
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout: 30_000 });
  await input.fill(name);
  await page.locator('.quick-input-list .monaco-list-row').first().waitFor({ timeout: 30_000 });
  await page.keyboard.press('Enter');
  await page.locator('.notebookOverlay .code-cell-row, .notebookOverlay .markdown-cell-row').first()
    .waitFor({ state: 'attached', timeout });
}
