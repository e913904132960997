// `npm run bench`: bundles scripts/bench/main.ts (and the sources it measures) with esbuild into out/bench,
// then runs it in a fresh Node process. The benchmark prints a table and exits 0 unless it crashes.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { bundles, commonOptions, CLI_FILES } from './build-options.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const outfile = path.join(root, 'out', 'bench', 'bench.js');
await esbuild.build({
  entryPoints: [path.join(root, 'scripts', 'bench', 'main.ts')],
  outfile,
  ...commonOptions({ production: false }),
  logLevel: 'warning',
});
// The shipped CLI bundle, built as `npm run build` builds it: the runner's cold-process rows run it as a user does.
const cliFiles = bundles({ production: true, outdir: path.join(root, 'out', 'bench'), root })
  .filter((b) => CLI_FILES.includes(path.basename(b.outfile)));
await Promise.all(cliFiles.map((b) => esbuild.build({ ...b, logLevel: 'warning' })));
const r = spawnSync(process.execPath, ['--enable-source-maps', outfile, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
