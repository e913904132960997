// Runs the test tiers in order and prints one closing line, `N passed, N failed`.
//   node scripts/test.mjs            all tiers: lint, types, unit, qemu, family, host
//   node scripts/test.mjs unit|qemu|family|host
// family: qemu-storage-daemon, qemu-ga and libvirtd (scripts/setup-family.sh installs them).
// Tiers: unit (plain Node, no QEMU), qemu (plain Node against real qemu-system-x86_64),
// host (the extension host of a real VS Code, through code-server; see scripts/host-test.mjs).
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const tiers = args.length ? args : ['static', 'unit', 'qemu', 'family', 'host'];
let passed = 0;
let failed = 0;
const failures = [];

function run(cmd, argv, opts = {}) {
  console.log(`\n$ ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', ...opts });
  return r.status ?? 1;
}

function nodeTests(tier) {
  const dir = path.join(root, 'out', 'test', tier);
  if (!existsSync(dir)) throw new Error(`no compiled tests in ${dir}`);
  const files = readdirSync(dir).filter((f) => f.endsWith('.test.js')).map((f) => path.join(dir, f));
  if (files.length === 0) throw new Error(`no tests in ${dir}`);
  mkdirSync(path.join(root, 'out', 'results'), { recursive: true });
  const tap = path.join(root, 'out', 'results', `${tier}.tap`);
  const concurrency = tier === 'qemu' || tier === 'family' ? ['--test-concurrency=1'] : [];
  run(process.execPath, ['--enable-source-maps', '--test', ...concurrency,
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files]);
  const text = readFileSync(tap, 'utf8');
  const p = Number(/^# pass (\d+)/m.exec(text)?.[1] ?? 0);
  const f = Number(/^# fail (\d+)/m.exec(text)?.[1] ?? 0);
  const c = Number(/^# cancelled (\d+)/m.exec(text)?.[1] ?? 0);
  return { p, f: f + c };
}

function compile() {
  // tsc is the type gate; it also emits the test files that node:test and mocha run.
  return run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
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
  if (!compiled) { compile(); compiled = true; }
  if (tier === 'unit' || tier === 'qemu' || tier === 'family') {
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
    continue;
  }
  throw new Error(`unknown tier ${tier}`);
}

if (failures.length) console.log(`\nFailures: ${failures.join('; ')}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
