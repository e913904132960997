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

/**
 * The command line's long-running servers, each its own file beside cli.js: src/cli.ts imports them only for
 * their subcommand, and cli.js is built to load the file instead of carrying them. vscode-languageserver, the MCP
 * SDK and its schema validators are half of the command line's code; every other subcommand (a `run` in CI, a
 * `check` in a hook) would otherwise read and compile them at each start.
 */
export const CLI_SIDECARS = { './lsp/stdio': 'cli-lsp.js', './mcp/main': 'cli-mcp.js' };

/** Every file of the command line, as shipped (in the npm tarball and the .vsix). */
export const CLI_FILES = ['cli.js', ...Object.values(CLI_SIDECARS)];

/** cli.js's imports of the sidecars become loads of their files (`import('./cli-lsp.js')`), not bundled code. */
const sidecarImports = {
  name: 'cli-sidecars',
  setup(build) {
    const escaped = Object.keys(CLI_SIDECARS).map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    build.onResolve({ filter: new RegExp(`^(?:${escaped.join('|')})$`) }, (args) => ({ path: `./${CLI_SIDECARS[args.path]}`, external: true }));
  },
};

/** The shipped bundles (extension, CLI, notebook renderer), written under `outdir` (default `dist` of the working directory). */
export function bundles({ production, outdir = 'dist', root = '.' }) {
  const common = commonOptions({ production });
  return [
    { ...common, entryPoints: [path.join(root, 'src/extension.ts')], outfile: path.join(outdir, 'extension.js'), external: ['vscode'] },
    {
      ...common, entryPoints: [path.join(root, 'src/cli.ts')], outfile: path.join(outdir, 'cli.js'), banner: { js: '#!/usr/bin/env node' },
      plugins: [sidecarImports],
    },
    ...Object.entries(CLI_SIDECARS).map(([entry, file]) => (
      { ...common, entryPoints: [path.join(root, 'src', `${entry.slice(2)}.ts`)], outfile: path.join(outdir, file) })),
    // The notebook renderer (src/render/webview): a browser ES module VS Code loads in the notebook's webview.
    {
      ...common, platform: 'browser', format: 'esm', target: 'es2022', mainFields: ['browser', 'module', 'main'],
      entryPoints: [path.join(root, 'src/render/webview/renderer.ts')], outfile: path.join(outdir, 'renderer.js'),
    },
  ];
}
