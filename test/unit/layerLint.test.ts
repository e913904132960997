// The import-direction rule of eslint.config.mjs (`layers/direction`) encodes the arrows of docs/ARCHITECTURE.md:
// a climbing import in any layer is a lint error, an allowed one is not. Runs the project's own ESLint config on
// small sources given virtual paths inside src/ (nothing is written to the tree).
import { strict as assert } from 'node:assert';
import path from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const repoRoot = path.resolve(__dirname, '..', '..', '..');
// The sources are virtual (never on disk), so the type-aware rules, which need the TypeScript project to know
// the file, are off here; the layer rule needs no types.
const eslint = new ESLint({
  cwd: repoRoot,
  overrideConfig: [{
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: false } },
    rules: { '@typescript-eslint/no-floating-promises': 'off', '@typescript-eslint/no-misused-promises': 'off' },
  }],
});

async function layerErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(repoRoot, file) });
  assert.ok(result, 'ESLint returned a result');
  return result.messages.filter((m) => m.ruleId === 'layers/direction').map((m) => m.message);
}

const climbing: [string, string][] = [
  ['src/qmp/climb.ts', "import { SessionManager } from '../session/sessionManager';\nexport const x = SessionManager;\n"],
  ['src/qmp/climb.ts', "export { complete } from '../language/completion';\n"],
  ['src/format/climb.ts', "import { QmpControllers } from '../notebook/controller';\nexport const x = QmpControllers;\n"],
  ['src/format/climb.ts', "import type { Session } from '../session/sessionManager';\nexport type X = Session;\n"],
  ['src/language/climb.ts', "import { runCli } from '../cli/cli';\nexport const x = runCli;\n"],
  ['src/session/climb.ts', "import { loadQmpManPage } from '../language/manpage';\nexport const x = loadQmpManPage;\n"],
  ['src/cli/climb.ts', "import { SessionManager } from '../session/sessionManager';\nexport const x = SessionManager;\n"],
  ['src/language/climb.ts', "// eslint-disable-next-line @typescript-eslint/no-require-imports\nexport const x = require('../extension');\n"],
];

for (const [file, code] of climbing) {
  test(`a climbing import fails the lint: ${file}: ${code.split('\n').find((l) => l.includes("'"))}`, async () => {
    const errors = await layerErrors(file, code);
    assert.equal(errors.length, 1, `expected one layers/direction error, got ${JSON.stringify(errors)}`);
    assert.match(errors[0] ?? '', /must not import .*docs\/ARCHITECTURE\.md/);
  });
}

const allowed: [string, string][] = [
  ['src/language/ok.ts', "import { Schema } from '../qmp/schema';\nimport { parseShellCell } from '../format/shell';\nexport const x = [Schema, parseShellCell];\n"],
  ['src/format/ok.ts', "import { parseNotebook } from './notebook';\nimport type { Schema } from '../qmp/schema';\nexport const x = parseNotebook;\nexport type S = Schema;\n"],
  ['src/cli/ok.ts', "import { diagnose } from '../language/diagnostics';\nimport { parseAddress } from '../qmp';\nexport const x = [diagnose, parseAddress];\n"],
  ['src/notebook/ok.ts', "import { SessionManager } from '../session/sessionManager';\nexport const x = SessionManager;\n"],
  ['src/extension.ts', "import { SessionManager } from './session/sessionManager';\nimport { QmpControllers } from './notebook/controller';\nexport const x = [SessionManager, QmpControllers];\n"],
];

for (const [file, code] of allowed) {
  test(`an import along the arrows passes: ${file}`, async () => {
    assert.deepEqual(await layerErrors(file, code), []);
  });
}
