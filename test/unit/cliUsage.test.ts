// `qmp-notebook --help` lists every subcommand the entry point dispatches (src/cli.ts) and every one
// cliMain parses: a subcommand added to main.ts without a USAGE line fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { USAGE } from '../../src/cli/args';

const root = path.resolve(__dirname, '../../..');

test('the USAGE lists each subcommand main.ts dispatches (import, export, schema diff, mcp, lsp…)', () => {
  const main = readFileSync(path.join(root, 'src/cli.ts'), 'utf8');
  const dispatched = new Set<string>();
  for (const m of main.matchAll(/process\.argv\[2\] === '([a-z-]+)'(?: && process\.argv\[3\] === '([a-z-]+)')?/g)) {
    dispatched.add(m[2] !== undefined ? `${m[1]} ${m[2]}` : m[1] as string);
  }
  for (const name of ['import', 'export', 'schema diff', 'mcp', 'lsp']) assert.ok(dispatched.has(name), `main.ts dispatches ${name}`);
  const lines = USAGE.split('\n').filter((l) => l.startsWith('  qmp-notebook '));
  for (const name of dispatched) {
    assert.ok(lines.some((l) => l.startsWith(`  qmp-notebook ${name} `)), `USAGE has a line for '${name}'`);
  }
  for (const name of ['run', 'check', 'test', 'shell', 'schema']) {
    assert.ok(lines.some((l) => l.startsWith(`  qmp-notebook ${name} `)), `USAGE has a line for '${name}'`);
  }
});
