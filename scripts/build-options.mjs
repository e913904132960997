// The esbuild options of the shipped bundles, in one place: scripts/build.mjs builds with them, the packaging
// builds with them (through build.mjs), and the tests that check the production build (test/unit/
// productionBuild.test.ts, test/support/cliBundle.ts) build with exactly these, so a defect of the production
// build fails a test.
import path from 'node:path';

/** Options shared by every bundle. `production` minifies and drops source maps but keeps names. */
export function commonOptions({ production }) {
  return {
    bundle: true,
    platform: 'node',
    // The code uses AbortSignal.any (Node 20.3); package.json's engines.node says the same.
    target: 'node20.3',
    format: 'cjs',
    sourcemap: !production,
    // Errors set their `name` from their class (src/qmp/errors.ts), and a stack trace of the shipped build must
    // read like one of the tested build: identifiers are therefore never minified (renaming DisconnectedError
    // to `re` was the bug). Not `keepNames` either: it wraps every function and closure in a `__name()` call
    // as it is created, which cost the runner measurable time per message (npm run bench, runner rows).
    minifyWhitespace: production,
    minifySyntax: production,
    minifyIdentifiers: false,
    keepNames: false,
    logLevel: 'info',
    // jsonc-parser's `main` is a UMD build whose dynamic requires esbuild cannot follow; its ESM build bundles.
    mainFields: ['module', 'main'],
  };
}

/** The shipped bundles (extension, CLI, notebook renderer), written under `outdir` (default `dist` of the working directory). */
export function bundles({ production, outdir = 'dist', root = '.' }) {
  const common = commonOptions({ production });
  return [
    { ...common, entryPoints: [path.join(root, 'src/extension.ts')], outfile: path.join(outdir, 'extension.js'), external: ['vscode'] },
    { ...common, entryPoints: [path.join(root, 'src/cli.ts')], outfile: path.join(outdir, 'cli.js'), banner: { js: '#!/usr/bin/env node' } },
    // The notebook renderer (src/render/webview): a browser ES module VS Code loads in the notebook's webview.
    {
      ...common, platform: 'browser', format: 'esm', target: 'es2022', mainFields: ['browser', 'module', 'main'],
      entryPoints: [path.join(root, 'src/render/webview/renderer.ts')], outfile: path.join(outdir, 'renderer.js'),
    },
  ];
}
