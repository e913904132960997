// Bundles the extension and the CLI with esbuild (options in scripts/build-options.mjs).
//   node scripts/build.mjs [--production] [--watch] [--outdir DIR]
// `--production` minifies and drops source maps, keeping names; `--outdir` writes the bundles elsewhere than dist/
// (the tests build the production CLI into a private folder that way, leaving the development build alone).
import * as esbuild from 'esbuild';
import { bundles } from './build-options.mjs';

const argv = process.argv.slice(2);
const production = argv.includes('--production');
const watch = argv.includes('--watch');
const at = argv.indexOf('--outdir');
const outdir = at >= 0 ? argv[at + 1] : 'dist';
if (!outdir) { console.error('--outdir needs a folder'); process.exit(2); }

const builds = bundles({ production, outdir });

if (watch) {
  for (const b of builds) (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
