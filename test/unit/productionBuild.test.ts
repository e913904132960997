// The production build keeps what the code relies on at run time. The errors of src/qmp set `name` from their
// class, and outputs and logs print it: a minifier that renames classes turned `DisconnectedError` into `re` in
// the shipped extension (issue 9 §1) while every test of the development build passed. This builds the
// protocol core with the exact options of the shipped bundles (scripts/build-options.mjs, production) and
// checks every exported error class by its behaviour.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const repoRoot = path.resolve(__dirname, '..', '..', '..');

function buildProduction(entry: string, outfile: string): void {
  const script = `
    import * as esbuild from 'esbuild';
    import { commonOptions } from ${JSON.stringify(path.join(repoRoot, 'scripts', 'build-options.mjs'))};
    await esbuild.build({ ...commonOptions({ production: true }), logLevel: 'error',
      entryPoints: [${JSON.stringify(entry)}], outfile: ${JSON.stringify(outfile)} });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `the production build failed:\n${r.stdout}\n${r.stderr}`);
}

test('the production build keeps the names of the error classes, so errors read right', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qmp-prod-build-'));
  try {
    const outfile = path.join(dir, 'qmp.js');
    buildProduction(path.join(repoRoot, 'src', 'qmp', 'index.ts'), outfile);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const core = require(outfile) as Record<string, unknown>;
    const errorClasses = Object.entries(core).filter((entry): entry is [string, new (...args: unknown[]) => Error] =>
      typeof entry[1] === 'function' && entry[1].prototype instanceof Error);
    assert.ok(errorClasses.length >= 10, `the core exports its error tree (found ${errorClasses.map(([k]) => k).join(', ')})`);
    for (const [exported, Ctor] of errorClasses) {
      assert.equal(Ctor.name, exported, `class ${exported} is called ${Ctor.name} in the production build`);
    }
    // What the user sees: an error's name and the first line of its stack.
    for (const name of ['DisconnectedError', 'StateError', 'ConnectError', 'CommandCancelledError']) {
      const Ctor = core[name] as new (message: string) => Error;
      const err = new Ctor('Waiting for an event: Disconnected by the client');
      assert.equal(err.name, name);
      assert.match(String(err.stack).split('\n')[0] ?? '', new RegExp(`^${name}: Waiting for an event`));
      assert.equal(String(err), `${name}: Waiting for an event: Disconnected by the client`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the production build really minifies (this test checks the shipped options, not a development build)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qmp-prod-build-'));
  try {
    const outfile = path.join(dir, 'qmp.js');
    buildProduction(path.join(repoRoot, 'src', 'qmp', 'index.ts'), outfile);
    const text = readFileSync(outfile, 'utf8');
    assert.equal(/sourceMappingURL/.test(text), false, 'no source map in the production build');
    // A minified bundle has few lines for its size.
    assert.ok(text.split('\n').length < text.length / 200, 'the production build is minified');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
