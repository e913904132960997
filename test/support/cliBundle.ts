// Builds the `qmp-notebook` bin exactly as the package ships it (scripts/build.mjs --production, the options of
// scripts/build-options.mjs: minified, names kept, no source maps), so the CLI tests run what users run. It is
// written to a private folder under out/, never over the development build in dist/. One build per test process;
// every test file that needs the bin awaits the same promise.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..', '..');
/** Where the production bundles of the test run are written. */
export const packagedBuildDir = path.join(repoRoot, 'out', 'packaged-build');
export const cliBundle = path.join(packagedBuildDir, 'cli.js');

let built: Promise<string> | undefined;

/** Runs `node scripts/build.mjs --production` once and resolves to the path of the packaged cli.js. */
export function buildCli(): Promise<string> {
  built ??= new Promise((resolve, reject) => {
    mkdirSync(packagedBuildDir, { recursive: true, mode: 0o700 });
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--production', '--outdir', packagedBuildDir],
      { cwd: repoRoot, encoding: 'utf8' });
    if (r.status === 0) resolve(cliBundle);
    else reject(new Error(`scripts/build.mjs --production failed (${r.status}):\n${r.stdout}\n${r.stderr}`));
  });
  return built;
}
