// Packs the `qmp-notebook` command line as an npm tarball that installs offline.
//
//   node scripts/pack-cli.mjs [--out DIR]     (npm run pack:cli; default: the repository folder)
//
// The bundle (dist/cli.js and its sidecars for `lsp` and `mcp`, built with --production) already contains every run-time dependency, so the
// tarball's package.json is written for it: the bin, the Node version, and no dependencies at all. (A plain
// `npm pack` of the repository would carry the extension's manifest, whose dependencies npm then asks the
// registry for, although nothing needs them.) The package is assembled in a private staging folder.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI_FILES } from './build-options.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

let out = root;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--out' && argv[i + 1]) out = path.resolve(argv[++i]);
  else { console.error(`unknown argument ${argv[i]}`); process.exit(2); }
}

const stage = mkdtempSync(path.join(os.tmpdir(), 'qmp-pack-cli-'));
process.on('exit', () => rmSync(stage, { recursive: true, force: true }));

const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--production', '--outdir', path.join(stage, 'dist')], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
// Only the command line's bundle ships; the extension's is not needed by it.
rmSync(path.join(stage, 'dist', 'extension.js'), { force: true });
chmodSync(path.join(stage, 'dist', 'cli.js'), 0o755);
cpSync(path.join(root, 'docs', 'cli.md'), path.join(stage, 'README.md'));
cpSync(path.join(root, 'LICENSE'), path.join(stage, 'LICENSE'));
cpSync(path.join(root, 'CHANGELOG.md'), path.join(stage, 'CHANGELOG.md'));

const cliManifest = {
  name: manifest.name,
  version: manifest.version,
  description: 'The qmp-notebook command line: run, check and test QEMU QMP notebooks, an interactive QMP shell, and a QMP language server.',
  license: manifest.license,
  bin: { 'qmp-notebook': 'dist/cli.js' },
  files: [...CLI_FILES.map((f) => `dist/${f}`), 'README.md', 'LICENSE', 'CHANGELOG.md'],
  engines: { node: manifest.engines.node },
  // Everything the bundle needs is inside it: nothing to fetch at install time.
  dependencies: {},
};
writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(cliManifest, null, 2)}\n`);

mkdirSync(out, { recursive: true });
const npm = process.env['npm_execpath'];
const pack = npm && npm.endsWith('.js')
  ? spawnSync(process.execPath, [npm, 'pack', '--pack-destination', out, '--json'], { cwd: stage, encoding: 'utf8' })
  : spawnSync('npm', ['pack', '--pack-destination', out, '--json'], { cwd: stage, encoding: 'utf8' });
if (pack.status !== 0) { console.error(pack.stderr); process.exit(pack.status ?? 1); }
const [info] = JSON.parse(pack.stdout);
console.log(`${path.join(out, info.filename)}: ${(info.size / 1024).toFixed(1)} KiB, ${info.files.length} files, no dependencies`);
