// Quick fix and refactor tests: the diagnostics come from diagnose() on real text, the chosen action's
// edits are applied, and the whole resulting text is compared. Both fixture schemas.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEdits, codeActions, editDistance, quickFixes, refactors, switchToExecOob } from '../../src/language/codeActions';
import { diagnose, type DiagnoseContext } from '../../src/language/diagnostics';
import { oobHints } from '../../src/language/oobHints';
import type { Schema } from '../../src/qmp/schema';
import { VERSIONS, fixtureSchema } from './completionHelpers';

/** Applies the quick fix titled `title` for the diagnostics of `text`. */
function fix(text: string, title: string, schema: Schema, ctx?: DiagnoseContext): string {
  const actions = quickFixes(text, diagnose(text, schema, ctx), schema);
  const action = actions.find((a) => a.title === title);
  if (action === undefined) throw new Error(`no fix '${title}' for ${text}; got ${actions.map((a) => a.title).join(' / ')}`);
  const fixed = applyEdits(text, action.edits);
  // The fixed text no longer has the diagnostic the fix was for.
  const d = action.diagnostic;
  assert.ok(!diagnose(fixed, schema, ctx).some((x) => x.code === d?.code && x.message === d.message), `still ${d?.code} after '${title}'`);
  return fixed;
}

for (const version of VERSIONS) {
  const schema = fixtureSchema(version);
  describe(`quick fixes (QEMU ${version})`, () => {
    test('an unknown command becomes the near miss', () => {
      assert.equal(fix('{"execute": "query-verison"}', "Change to 'query-version'", schema), '{"execute": "query-version"}');
    });
    test('a misspelt member is renamed, an unknown one removed', () => {
      assert.equal(fix('{"execute": "eject", "arguments": {"id": "cd0", "forse": true}}', "Change to 'force'", schema),
        '{"execute": "eject", "arguments": {"id": "cd0", "force": true}}');
      assert.equal(fix('{"execute": "eject", "arguments": {"id": "cd0", "frobnicate": true}}', "Remove 'frobnicate'", schema),
        '{"execute": "eject", "arguments": {"id": "cd0"}}');
      assert.equal(fix('{"execute": "eject", "arguments": {"frobnicate": 1, "id": "cd0"}}', "Remove 'frobnicate'", schema),
        '{"execute": "eject", "arguments": {"id": "cd0"}}');
    });
    test('an unexpected top-level key is removed', () => {
      const text = '{"execute": "stop", "bogus": 1}';
      const titles = quickFixes(text, diagnose(text, schema), schema).map((a) => a.title);
      assert.ok(titles.includes("Remove 'bogus'"), titles.join(' / '));
      assert.equal(fix(text, "Remove 'bogus'", schema), '{"execute": "stop"}');
    });
    test('an invalid enum value becomes the closest valid one, near or not', () => {
      const base = '{"execute": "blockdev-add", "arguments": {"driver": "file", "filename": "/x", "aio": ';
      assert.equal(fix(`${base}"thraeds"}}`, "Change to 'threads'", schema), `${base}"threads"}}`);
      assert.equal(fix(`${base}"natve-ish"}}`, "Change to 'native'", schema), `${base}"native"}}`);
    });
    test('an invalid union tag becomes the closest case', () => {
      assert.equal(fix('{"execute": "blockdev-add", "arguments": {"driver": "null_co", "node-name": "n"}}', "Change to 'null-co'", schema),
        '{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n"}}');
    });
    test('missing required members are added with a valid value to start from', () => {
      assert.equal(fix('{"execute": "block-dirty-bitmap-add", "arguments": {"node": "n0"}}', "Add required member 'name'", schema),
        '{"execute": "block-dirty-bitmap-add", "arguments": {"node": "n0", "name": ""}}');
      assert.equal(fix('{"execute": "block-dirty-bitmap-add"}', "Add required members 'node', 'name'", schema),
        '{"execute": "block-dirty-bitmap-add", "arguments": {"node": "", "name": ""}}');
      assert.equal(fix('{"execute": "block-dirty-bitmap-add", "arguments": {}}', "Add required members 'node', 'name'", schema),
        '{"execute": "block-dirty-bitmap-add", "arguments": {"node": "", "name": ""}}');
    });
    test('missing members of a variant and of an object inside an array', () => {
      assert.equal(fix('{"execute": "blockdev-add", "arguments": {"driver": "file", "node-name": "f"}}', "Add required member 'filename'", schema),
        '{"execute": "blockdev-add", "arguments": {"driver": "file", "node-name": "f", "filename": ""}}');
      const tx = '{"execute": "transaction", "arguments": {"actions": [{"type": "block-dirty-bitmap-add", "data": {"node": "n"}}]}}';
      assert.equal(fix(tx, "Add required member 'name'", schema),
        '{"execute": "transaction", "arguments": {"actions": [{"type": "block-dirty-bitmap-add", "data": {"node": "n", "name": ""}}]}}');
    });
    test('a missing tag gets a valid (not deprecated) case', () => {
      const out = fix('{"execute": "blockdev-add", "arguments": {"node-name": "n"}}', "Add required member 'driver'", schema);
      assert.equal(out, '{"execute": "blockdev-add", "arguments": {"node-name": "n", "driver": "blkdebug"}}');
    });
    test('the 2018 control spelling is rewritten to exec-oob', () => {
      assert.equal(fix('{"execute": "migrate-pause", "control": {"run-oob": true}, "id": 1}', 'Rewrite as exec-oob', schema),
        '{"exec-oob": "migrate-pause", "id": 1}');
      assert.equal(fix('{"control": {"run-oob": true}, "execute": "query-yank"}', 'Rewrite as exec-oob', schema),
        '{"exec-oob": "query-yank"}');
    });
    test('exec-oob of a command that does not allow it, or without negotiation, goes in-band', () => {
      assert.equal(fix('{"exec-oob": "query-status"}', 'Run in-band (execute)', schema), '{"execute": "query-status"}');
      assert.equal(fix('{"exec-oob": "yank", "arguments": {"instances": []}}', 'Run in-band (execute)', schema, { oobNegotiated: false }),
        '{"execute": "yank", "arguments": {"instances": []}}');
    });
    test('fixes apply to the right object of a multi-object cell', () => {
      const text = '-> {"execute": "stop"}\n<- {"return": {}}\n-> {"execute": "cotn"}';
      assert.equal(fix(text, "Change to 'cont'", schema), '-> {"execute": "stop"}\n<- {"return": {}}\n-> {"execute": "cont"}');
    });
  });

  describe(`refactors (QEMU ${version})`, () => {
    test('execute ↔ exec-oob for a command that allows OOB', () => {
      const text = '{"execute": "yank", "arguments": {"instances": []}}';
      const to = refactors(text, 5, schema);
      assert.deepEqual(to.map((a) => a.title), ['Run out-of-band (exec-oob)']);
      const oob = applyEdits(text, to[0]?.edits ?? []);
      assert.equal(oob, '{"exec-oob": "yank", "arguments": {"instances": []}}');
      assert.equal(applyEdits(oob, refactors(oob, 5, schema)[0]?.edits ?? []), text);
    });
    test('no exec-oob switch for a command that does not allow OOB', () => {
      assert.deepEqual(refactors('{"execute": "query-status"}', 5, schema), []);
    });
    test('codeActions combines the fixes at a range with the refactors', () => {
      const text = '{"execute": "migrate-pause", "control": {"run-oob": true}}';
      const titles = codeActions(text, 30, 30, diagnose(text, schema), schema).map((a) => `${a.kind}:${a.title}`);
      assert.deepEqual(titles, ['quickfix:Rewrite as exec-oob', 'refactor:Rewrite as exec-oob']);
    });
  });

  describe(`OOB hints (QEMU ${version})`, () => {
    test('in-band commands that allow OOB get a hint, with an edit to switch', () => {
      const text = '{"execute": "query-status"}\n{"execute": "query-yank"}\n{"exec-oob": "yank", "arguments": {"instances": []}}';
      const hints = oobHints(text, schema);
      assert.deepEqual(hints.map((h) => [h.kind, h.command, text.slice(h.start, h.end)]), [['can-run-oob', 'query-yank', '"query-yank"']]);
      const edits = switchToExecOob(text, hints[0]?.objectStart ?? -1) ?? [];
      assert.equal(applyEdits(text, edits), '{"execute": "query-status"}\n{"exec-oob": "query-yank"}\n{"exec-oob": "yank", "arguments": {"instances": []}}');
    });
    test('no switch offered when the session did not negotiate OOB', () => {
      assert.deepEqual(oobHints('{"execute": "query-yank"}', schema, { oobNegotiated: false }), []);
    });
    test('deprecated and unstable commands are marked', () => {
      const unstable = schema.commands().find((c) => c.unstable)?.name ?? '';
      const hints = oobHints(`{"execute": "drive-backup"}\n<- {"return": {}}\n{"execute": "${unstable}"}`, schema);
      assert.deepEqual(hints.map((h) => [h.kind, h.command]), [['deprecated', 'drive-backup'], ['unstable', unstable]]);
    });
  });
}

describe('edit distance', () => {
  test('counts edits, treating _ and - alike', () => {
    assert.equal(editDistance('null_co', 'null-co'), 0);
    assert.equal(editDistance('thraeds', 'threads'), 2);
    assert.equal(editDistance('', 'abc'), 3);
  });
});
