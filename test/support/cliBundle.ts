// Builds the `qmp-notebook` bin the way the package ships it (scripts/build.mjs), so the CLI tests run the
// real bundle. One build per test process; every test file that needs the bin awaits the same promise.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const cliBundle = path.join(repoRoot, 'dist', 'cli.js');

let built: Promise<string> | undefined;

/** Runs `node scripts/build.mjs` once and resolves to the path of dist/cli.js. */
export function buildCli(): Promise<string> {
  built ??= new Promise((resolve, reject) => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs')], { cwd: repoRoot, encoding: 'utf8' });
    if (r.status === 0) resolve(cliBundle);
    else reject(new Error(`scripts/build.mjs failed (${r.status}):\n${r.stdout}\n${r.stderr}`));
  });
  return built;
}
