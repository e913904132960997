// Runs the test tiers in order and prints one closing line, `N passed, N failed`.
//   node scripts/test.mjs            all tiers: lint, types, unit, qemu, qemu10, family, fault, lsp, host
//   node scripts/test.mjs unit|qemu|qemu10|family|fault|lsp|host
// qemu10: the qemu tier again, against QEMU 10.0 in the Debian 13 chroot scripts/setup-family.sh makes.
// family: qemu-storage-daemon, qemu-ga and libvirtd (scripts/setup-family.sh installs them).
// Tiers: unit (plain Node, no QEMU), qemu (plain Node against real qemu-system-x86_64),
// fault (misbehaving fake servers and real QEMU faults: SIGKILL, SIGSTOP, a blocked main loop),
// lsp (the built language server over stdio: a raw JSON-RPC client, Neovim and Emacs),
// host (the extension host of a real VS Code, through code-server; see scripts/host-test.mjs).
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const tiers = args.length ? args : ['static', 'unit', 'qemu', 'qemu10', 'family', 'fault', 'lsp', 'host'];
/** Tiers run by node:test from out/test/<tier> (qemu10 runs the qemu tier's files against QEMU 10.0). */
const NODE_TIERS = ['unit', 'qemu', 'family', 'fault', 'lsp'];
let passed = 0;
let failed = 0;
const failures = [];

function run(cmd, argv, opts = {}) {
  console.log(`\n$ ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', ...opts });
  return r.status ?? 1;
}

/** QEMU 10.0 of the chroot: the wrapper that runs it, and the chroot's /tmp (the same path inside and out). */
const qemu10Chroot = process.env.QMP_QEMU10_CHROOT || path.join(os.homedir(), '.cache', 'qmp-notebook', 'qemu-10.0-trixie');
const qemu10Env = {
  ...process.env, QMP_TEST_QEMU: `${qemu10Chroot}.bin/qemu-system-x86_64`, TMPDIR: path.join(qemu10Chroot, 'tmp'),
};

function nodeTests(tier, testDir = tier, env = process.env) {
  const dir = path.join(root, 'out', 'test', testDir);
  if (!existsSync(dir)) throw new Error(`no compiled tests in ${dir}`);
  const files = readdirSync(dir).filter((f) => f.endsWith('.test.js')).map((f) => path.join(dir, f));
  if (files.length === 0) throw new Error(`no tests in ${dir}`);
  mkdirSync(path.join(root, 'out', 'results'), { recursive: true });
  const tap = path.join(root, 'out', 'results', `${tier}.tap`);
  const concurrency = tier === 'unit' ? [] : ['--test-concurrency=1'];
  run(process.execPath, ['--enable-source-maps', '--test', ...concurrency,
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files], { env });
  const text = readFileSync(tap, 'utf8');
  const p = Number(/^# pass (\d+)/m.exec(text)?.[1] ?? 0);
  const f = Number(/^# fail (\d+)/m.exec(text)?.[1] ?? 0);
  const c = Number(/^# cancelled (\d+)/m.exec(text)?.[1] ?? 0);
  return { p, f: f + c };
}

function compile() {
  // tsc is the type gate; it also emits the test files that node:test and mocha run.
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const main = run(process.execPath, [tsc, '-p', 'tsconfig.json']);
  // The webview renderer is type-checked on its own, with the DOM types only it may use.
  const webview = run(process.execPath, [tsc, '-p', path.join('src', 'render', 'webview', 'tsconfig.json')]);
  return main !== 0 ? main : webview;
}

let compiled = false;
for (const tier of tiers) {
  console.log(`\n=== tier: ${tier}`);
  if (tier === 'static') {
    const tsc = compile();
    compiled = true;
    if (tsc === 0) passed++; else { failed++; failures.push('tsc'); }
    const lint = run(process.execPath, [path.join(root, 'node_modules', 'eslint', 'bin', 'eslint.js'), '.']);
    if (lint === 0) passed++; else { failed++; failures.push('eslint'); }
    continue;
  }
  if (!compiled) {
    // A type error fails the run in every tier, not only in `static`: tsc still emits, so the tests would run
    // against code that does not type-check.
    compiled = true;
    if (compile() !== 0) { failed++; failures.push('tsc'); }
  }
  if (tier === 'qemu10') {
    if (!existsSync(qemu10Env.QMP_TEST_QEMU)) {
      failed++; failures.push(`qemu10: ${qemu10Env.QMP_TEST_QEMU} is missing (run scripts/setup-family.sh)`);
      continue;
    }
    const { p, f } = nodeTests('qemu10', 'qemu', qemu10Env);
    passed += p; failed += f;
    if (f) failures.push(`qemu10: ${f} failed`);
    continue;
  }
  if (NODE_TIERS.includes(tier)) {
    const { p, f } = nodeTests(tier);
    passed += p; failed += f;
    if (f) failures.push(`${tier}: ${f} failed`);
    continue;
  }
  if (tier === 'host') {
    const resultFile = path.join(root, 'out', 'results', 'host.json');
    const code = run(process.execPath, [path.join(root, 'scripts', 'host-test.mjs'), '--results', resultFile]);
    let r = { passed: 0, failed: 1 };
    try { r = JSON.parse(readFileSync(resultFile, 'utf8')); } catch { /* the runner failed before writing */ }
    passed += r.passed; failed += r.failed;
    if (code !== 0 && r.failed === 0) { failed++; failures.push('host runner exited ' + code); }
    else if (r.failed) failures.push(`host: ${r.failed} failed`);
    // README's first command, as a user meets it: `npm run demo` headless, its first cell run on the sandbox.
    if (run(process.execPath, [path.join(root, 'scripts', 'demo.mjs'), '--check']) === 0) passed++;
    else { failed++; failures.push('host: the demo check (node scripts/demo.mjs --check) failed'); }
    continue;
  }
  throw new Error(`unknown tier ${tier}`);
}

if (failures.length) console.log(`\nFailures: ${failures.join('; ')}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
