// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The pure layers: they run under plain Node and never see the editor. */
const pureLayers = ['src/qmp/**/*.ts', 'src/language/**/*.ts', 'src/notebook/format/**/*.ts', 'src/cli/**/*.ts', 'src/run/**/*.ts', 'src/testing/**/*.ts', 'src/notebook/recordText.ts'];
/** The one file in src/language that adapts the pure functions to VS Code. */
const languageAdapter = 'src/language/vscodeAdapter.ts';

const noVscode = {
  'no-restricted-imports': ['error', {
    paths: [{ name: 'vscode', message: 'This layer is pure: it must not import vscode (see README, Architecture).' }],
  }],
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
  { files: pureLayers, ignores: [languageAdapter], rules: noVscode },
  { files: ['test/unit/**/*.ts', 'test/qemu/**/*.ts'], rules: noVscode },
  {
    files: ['scripts/**/*.mjs', '.ci/**/*.mjs', 'eslint.config.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly' } },
  },
);
