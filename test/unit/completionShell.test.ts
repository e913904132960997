// Cursor-marker tests for completion in `qmp-shell` cells (QEMU's shorthand `command key=value`).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { completeShell } from '../../src/language/shellCompletion';
import { VERSIONS, applyShellLabel, fixtureSchema, labels, shellItemsAt } from './completionHelpers';

for (const version of VERSIONS) {
  const schema = fixtureSchema(version);
  describe(`qmp-shell completion (QEMU ${version})`, () => {
    test('command names at the start of a line', () => {
      assert.equal(applyShellLabel('query-sta|', 'query-status', schema), 'query-status');
      assert.equal(applyShellLabel('stop\nblock-dirty|', 'block-dirty-bitmap-add', schema), 'stop\nblock-dirty-bitmap-add ');
      assert.equal(shellItemsAt('|', schema).filter((i) => i.kind === 'command').length, schema.commands().length);
    });
    test('key= for members, required first, present ones left out', () => {
      assert.deepEqual(labels(shellItemsAt('block-dirty-bitmap-add |', schema)).slice(0, 2), ['node', 'name']);
      assert.equal(applyShellLabel('block-dirty-bitmap-add node=n0 na|', 'name', schema), 'block-dirty-bitmap-add node=n0 name=');
      assert.ok(!labels(shellItemsAt('block-dirty-bitmap-add node=n0 |', schema)).includes('node'));
    });
    test('enum values after =', () => {
      assert.equal(applyShellLabel('blockdev-add driver=nu|', 'null-co', schema), 'blockdev-add driver=null-co');
      assert.deepEqual(labels(shellItemsAt('eject force=|', schema)), ['false', 'true']);
    });
    test('union variants follow the tag value', () => {
      const file = labels(shellItemsAt('blockdev-add driver=file node-name=a |', schema));
      assert.equal(file[0], 'filename');
      assert.ok(!labels(shellItemsAt('blockdev-add driver=null-co |', schema)).includes('filename'));
    });
    test('dotted keys for nested members', () => {
      assert.equal(applyShellLabel('blockdev-add driver=qcow2 node-name=q cache.dir|', 'direct', schema),
        'blockdev-add driver=qcow2 node-name=q cache.direct=');
      assert.equal(applyShellLabel('blockdev-add driver=qcow2 ca|', 'cache', schema), 'blockdev-add driver=qcow2 cache.');
      assert.deepEqual(labels(shellItemsAt('blockdev-add driver=file cache.direct=|', schema)), ['false', 'true']);
    });
    test('wait-event: event names, then data members and timeout', () => {
      assert.equal(applyShellLabel('wait-event DEVICE_DEL|', 'DEVICE_DELETED', schema), 'wait-event DEVICE_DELETED');
      assert.equal(applyShellLabel('wait-event DEVICE_DELETED dev|', 'device', schema), 'wait-event DEVICE_DELETED device=');
      assert.equal(applyShellLabel('wait-event STOP |', 'timeout', schema), 'wait-event STOP timeout=');
    });
    test('transaction blocks: action types, then the members of their data', () => {
      assert.equal(applyShellLabel('transaction(\n  block-dirty-bitmap-a|', 'block-dirty-bitmap-add', schema),
        'transaction(\n  block-dirty-bitmap-add ');
      assert.equal(applyShellLabel('transaction(\n  block-dirty-bitmap-add node=n0 na|\n)', 'name', schema),
        'transaction(\n  block-dirty-bitmap-add node=n0 name=\n)');
      assert.ok(labels(shellItemsAt('transaction(\n  block-dirty-bitmap-add node=n name=b; block-dirty-bitmap-clear |', schema)).includes('node'));
      assert.ok(labels(shellItemsAt('transaction(\n)\n|', schema)).includes('query-status'), 'after the block, commands again');
    });
    test('--oob for commands that allow it, nothing in comments', () => {
      assert.ok(labels(shellItemsAt('query-yank --|', schema)).includes('--oob'));
      assert.ok(!labels(shellItemsAt('query-status --|', schema)).includes('--oob'));
      assert.deepEqual(shellItemsAt('# query-st|', schema), []);
    });
    test('no schema, no items', () => {
      assert.deepEqual(completeShell('query', 5, undefined).items, []);
    });
  });
}
