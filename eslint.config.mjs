// @ts-check
import js from '@eslint/js';
import path from 'node:path';
import tseslint from 'typescript-eslint';

const repoRoot = path.dirname(new URL(import.meta.url).pathname);

/** The pure layers: they run under plain Node and never see the editor. */
const pureLayers = ['src/qmp/**/*.ts', 'src/language/**/*.ts', 'src/format/**/*.ts', 'src/cli.ts', 'src/cli/**/*.ts', 'src/run/**/*.ts', 'src/testing/**/*.ts', 'src/lsp/**/*.ts', 'src/mcp/**/*.ts', 'src/export/**/*.ts', 'src/import/**/*.ts', 'src/kernel/**/*.ts', 'src/render/**/*.ts', 'src/explorer/**/*.ts'];
/** The one file in src/language that adapts the pure functions to VS Code. */
const languageAdapter = 'src/language/vscodeAdapter.ts';

const noVscode = {
  'no-restricted-imports': ['error', {
    paths: [{ name: 'vscode', message: 'This layer is pure: it must not import vscode (see README, Architecture).' }],
  }],
};

/**
 * The dependency arrows of docs/ARCHITECTURE.md: which layers a layer may import from (besides itself). An import
 * that climbs (a lower layer importing a higher one) is an error. A layer missing from the table is not checked;
 * add it here and to the table in docs/ARCHITECTURE.md.
 */
export const layerArrows = {
  qmp: [],
  format: ['qmp'],
  language: ['qmp', 'format'],
  languageAdapter: ['language', 'qmp', 'format'],
  endpoints: ['qmp', 'format'],
  run: ['qmp', 'format', 'language', 'render'],
  kernel: ['qmp', 'format', 'language', 'run', 'endpoints', 'testing'],
  session: ['qmp', 'format', 'endpoints', 'run', 'kernel'],
  cli: ['qmp', 'format', 'language', 'run', 'endpoints', 'testing', 'kernel'],
  lsp: ['qmp', 'format', 'language', 'run', 'endpoints', 'cli', 'kernel'],
  notebook: ['qmp', 'format', 'language', 'run', 'session', 'endpoints', 'testing', 'kernel', 'export', 'render', 'import'],
  testing: ['qmp', 'format', 'language', 'run'],
  /** src/mcp/: the agents' door (MCP server, tools over the kernel); it may import what the CLI and the language server may. */
  mcp: ['qmp', 'format', 'language', 'run', 'endpoints', 'testing', 'cli', 'lsp', 'kernel'],
  /** src/agent/: VS Code's language-model tools, glue over mcp's kernel and the live sessions. */
  agent: ['qmp', 'format', 'language', 'run', 'session', 'endpoints', 'testing', 'mcp'],
  export: ['qmp', 'format'],
  /** src/import/: recordings of other tools (libvirt, qmp-shell, iotests) as notebooks; saved outputs as src/testing writes them. */
  import: ['qmp', 'format', 'testing'],
  /** src/render/: the reply renderer's pure model and the block graph (Node and webview); its webview entry. */
  render: [],
  /** src/explorer/ (but view.ts): the QEMU explorer's pure model (which queries list a branch, items, refresh rules, pre-filled cells). */
  explorer: ['qmp', 'render'],
  /** src/explorer/view.ts: the explorer's tree view and actions, glue over the sessions. */
  explorerView: ['qmp', 'render', 'explorer', 'session', 'kernel', 'notebook'],
  extension: ['qmp', 'format', 'language', 'languageAdapter', 'run', 'session', 'cli', 'lsp', 'notebook', 'endpoints', 'testing', 'kernel', 'agent', 'export', 'explorerView'],
  /** src/cli.ts: the command line's entry point only composes (like extension.ts), so it may dispatch to lsp. */
  cliMain: ['qmp', 'format', 'language', 'run', 'endpoints', 'cli', 'lsp', 'testing', 'kernel', 'mcp', 'export', 'import'],
};

/** The layer of a file, from its path under src/ (undefined outside src/). */
export function layerOf(file) {
  const rel = path.relative(path.join(repoRoot, 'src'), path.resolve(repoRoot, file)).split(path.sep).join('/');
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  if (rel === 'language/vscodeAdapter.ts' || rel === 'language/vscodeAdapter') return 'languageAdapter';
  if (rel === 'extension.ts' || rel === 'extension') return 'extension';
  if (rel === 'explorer/view.ts' || rel === 'explorer/view') return 'explorerView';
  if (rel === 'cli.ts' || rel === 'cli') return 'cliMain';
  const top = rel.split('/')[0];
  return top === undefined || top.endsWith('.ts') ? undefined : top;
}

/** `layers/direction`: relative imports between layers must follow layerArrows. */
const layerDirection = {
  meta: { type: 'problem', schema: [], messages: { climbs: 'Layer {{from}} must not import {{to}} ({{source}}): the arrows in docs/ARCHITECTURE.md allow {{allowed}}.' } },
  create(context) {
    const from = layerOf(context.filename);
    const allowed = from === undefined ? undefined : layerArrows[from];
    if (allowed === undefined) return {};
    const check = (node, source) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const to = layerOf(path.resolve(path.dirname(context.filename), source));
      if (to === undefined || to === from || !(to in layerArrows) || allowed.includes(to)) return;
      context.report({ node, messageId: 'climbs', data: { from, to, source, allowed: allowed.length ? allowed.join(', ') : 'nothing' } });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
      CallExpression: (node) => {
        if (node.callee.type === 'Identifier' && node.callee.name === 'require' && node.arguments[0]?.type === 'Literal') check(node, node.arguments[0].value);
      },
    };
  },
};

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', '.vscode-test/**', '.cache/**', 'media/**', '*.vsix'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'eqeqeq': ['error', 'smart'],
    },
  },
  {
    // Promises are awaited, returned, or handed to `void` on purpose: the type-checked rules say where not. (Tests
    // are left out: node:test's describe/test return promises that the runner itself tracks.)
    files: ['src/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: repoRoot } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
    },
  },
  { files: ['src/**/*.ts'], plugins: { layers: { rules: { direction: layerDirection } } }, rules: { 'layers/direction': 'error' } },
  { files: pureLayers, ignores: [languageAdapter, 'src/explorer/view.ts'], rules: noVscode },
  { files: ['test/unit/**/*.ts', 'test/qemu/**/*.ts', 'test/lsp/**/*.ts'], rules: noVscode },
  {
    files: ['scripts/**/*.mjs', '.ci/**/*.mjs', 'eslint.config.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly' } },
  },
);
