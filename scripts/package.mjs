// Builds the minified bundle and packages the extension into a .vsix, offline.
//
//   node scripts/package.mjs [--out FILE]     (npm run package)
//
// The package is assembled in a private staging folder (the manifest, docs, syntaxes/ and media/ copied, src/ and
// node_modules/ linked), so the development build in dist/ is left alone and a test run using it at the same
// time is not disturbed. The bundle already contains every run-time dependency, so vsce runs with
// --no-dependencies and never asks npm; .vscodeignore is an allow-list, and the file list is checked here so
// that nothing else slips in.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, mkdtempSync, cpSync, symlinkSync, existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI_FILES } from './build-options.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

let out = path.join(root, `${manifest.name}-${manifest.version}.vsix`);
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--out' && argv[i + 1]) out = path.resolve(argv[++i]);
  else { console.error(`unknown argument ${argv[i]}`); process.exit(2); }
}

const stage = mkdtempSync(path.join(os.tmpdir(), 'qmp-package-'));
process.on('exit', () => rmSync(stage, { recursive: true, force: true }));
for (const f of ['package.json', '.vscodeignore', 'README.md', 'CHANGELOG.md', 'LICENSE', 'syntaxes', 'media', 'samples/tour.qmp', 'schemas']) {
  if (existsSync(path.join(root, f))) cpSync(path.join(root, f), path.join(stage, f), { recursive: true });
}
for (const d of ['src', 'node_modules']) symlinkSync(path.join(root, d), path.join(stage, d), 'dir');

function run(cmd, args) {
  console.log(`$ ${path.basename(cmd)} ${args.map((a) => path.isAbsolute(a) && a.startsWith(root) ? path.relative(root, a) : a).join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: stage, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// build.mjs writes dist/ under its working directory, here the staging folder.
run(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--production']);

const vsce = path.join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
run(process.execPath, [vsce, 'package', '--no-dependencies', '--allow-missing-repository',
  '--no-update-package-json', '--no-git-tag-version', '--no-rewrite-relative-links', '--out', out]);

// The package must hold only the allowed files: a .vscodeignore mistake would otherwise ship sources or maps.
const list = spawnSync(process.execPath, [vsce, 'ls', '--no-dependencies'], { cwd: stage, encoding: 'utf8' });
if (list.status !== 0) { console.error(list.stderr); process.exit(1); }
// samples/tour.qmp ships for `QMP: Open the Tour` (the walkthrough's out-of-band step opens it).
const cliFiles = CLI_FILES.map((f) => `dist\\/${f.replace(/\./g, '\\.')}`).join('|');
const allowed = new RegExp(`^(dist\\/extension\\.js|${cliFiles}|dist\\/renderer\\.js|package\\.json|schemas\\/transcript\\.schema\\.json|README\\.md|CHANGELOG\\.md|LICENSE(\\.txt)?|syntaxes\\/.+|media\\/.+|samples\\/tour\\.qmp|schemas\\/qemu-10\\.0\\.json)$`);
const files = list.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
const stray = files.filter((f) => !allowed.test(f));
if (stray.length) {
  console.error(`unexpected files in the package: ${stray.join(', ')}`);
  process.exit(1);
}
const kib = (f) => `${(statSync(f).size / 1024).toFixed(1)} KiB`;
console.log(`${path.relative(process.cwd(), out)}: ${kib(out)}, ${files.length} files; dist/extension.js ${kib(path.join(stage, 'dist', 'extension.js'))}, dist/cli.js ${kib(path.join(stage, 'dist', 'cli.js'))}`);
