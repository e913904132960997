// The README's command and settings tables are what users read; package.json is what VS Code obeys.
// This keeps the two in step: every contributed command and setting is documented with its real title,
// default and scope, and the README documents nothing that is not contributed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..', '..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
interface Manifest {
  contributes: {
    commands: Array<{ command: string; title: string; category?: string }>;
    configuration: { properties: Record<string, { default?: unknown; scope?: string }> };
  };
}
const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Manifest;

/** The rows of the README table under `## heading`, as arrays of cells with backticks removed. */
function table(heading: string): string[][] {
  const start = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README has a "## ${heading}" section`);
  const rest = readme.slice(start + heading.length + 5);
  const end = rest.search(/\n## /);
  const section = end >= 0 ? rest.slice(0, end) : rest;
  return section.split('\n')
    .filter((l) => l.startsWith('|') && !/^\|[-| ]+\|$/.test(l))
    .slice(1) // the header row
    .map((l) => l.slice(1, -1).split('|').map((c) => c.trim().replace(/^`(.*)`$/, '$1')));
}

describe('README matches package.json', () => {
  test('commands: the same ids, with the titles VS Code shows', () => {
    const rows = table('Commands');
    const documented = new Map(rows.map((r) => [r[0], r[1]]));
    const contributed = manifest.contributes.commands;
    assert.deepEqual([...documented.keys()].sort(), contributed.map((c) => c.command).sort());
    for (const c of contributed) {
      const shown = c.category ? `${c.category}: ${c.title}` : c.title;
      assert.equal(documented.get(c.command), shown, `title of ${c.command}`);
    }
  });

  test('settings: the same keys, defaults and scopes', () => {
    const rows = table('Settings');
    const props = manifest.contributes.configuration.properties;
    assert.deepEqual(rows.map((r) => r[0]).sort(), Object.keys(props).sort());
    for (const [key, def, scope] of rows) {
      const p = props[key as string];
      assert.ok(p, key);
      assert.equal(def, JSON.stringify(p.default), `default of ${key}`);
      assert.equal(scope, p.scope ?? 'window', `scope of ${key}`);
    }
  });
});
