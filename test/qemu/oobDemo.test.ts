// The tour's out-of-band demo (samples/tour.qmp, last section) on the default sandbox, exactly as a user gets it:
// the sandbox launcher with no options, the cells' own text, nothing set up by hand. The in-band cell must block
// QEMU's main loop, an exec-oob cell must be answered meanwhile, and the block must end by itself with the
// error the prose promises, after which in-band commands are answered again.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { QmpClient, type CommandReply } from '../../src/qmp/client';
import { startSandbox, type Sandbox } from '../../src/endpoints/sandbox';
import { parseCell, parseNotebook } from '../../src/format';
import type { CommandItem } from '../../src/format/cellTypes';

const tour = readFileSync(path.resolve(__dirname, '..', '..', '..', 'samples', 'tour.qmp'), 'utf8');

/** The one command of the one tour cell whose source contains `marker`. */
function demoCommand(marker: string): CommandItem {
  const cells = parseNotebook(tour).cells.filter((c) => c.kind === 'code' && c.source.includes(marker));
  assert.equal(cells.length, 1, `one tour cell contains ${marker}`);
  const cell = cells[0];
  assert.ok(cell);
  const parsed = parseCell(cell.source, cell.language as 'qmp', undefined);
  assert.deepEqual(parsed.errors, []);
  const commands = parsed.items.filter((i): i is CommandItem => i.kind === 'command');
  assert.equal(commands.length, 1, `the cell with ${marker} sends one command`);
  return commands[0] as CommandItem;
}

function track<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const promise = p.finally(() => { done = true; });
  return { promise, settled: () => done };
}

let sandbox: Sandbox;
before(async () => { sandbox = await startSandbox(); });
after(async () => { await sandbox?.dispose(); });

describe('the tour\'s out-of-band demo on the default sandbox', () => {
  test('the in-band cell blocks QEMU, the exec-oob cell is answered meanwhile, and the block ends by itself', async () => {
    const block = demoCommand('"node-name": "stuck"');
    const overtake = demoCommand('"id": "overtaking"');
    assert.equal(block.oob, false);
    assert.equal(overtake.oob, true);

    const client = new QmpClient();
    await client.connect(sandbox.address);
    try {
      assert.equal(client.oobEnabled, true, 'the sandbox offers OOB and the client enables it');
      const blocked = track(client.send(block.input));
      const queued = track(client.send({ execute: 'query-status' }));

      // The OOB cell, sent while the in-band command runs: answered, and its reply lists the stuck node, which
      // exists only while blockdev-add is connecting. Repeated (bounded) in case the first one overtook even the
      // start of blockdev-add.
      let yank: CommandReply | undefined;
      const deadline = Date.now() + 8_000;
      for (;;) {
        yank = await client.send(overtake.input);
        assert.equal(yank.ok, true, yank.raw);
        const instances = yank.ok ? yank.value as Array<{ type: string; 'node-name'?: string }> : [];
        if (instances.some((i) => i.type === 'block-node' && i['node-name'] === 'stuck')) break;
        if (Date.now() > deadline) assert.fail(`query-yank never listed the stuck node: ${yank.raw}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(yank.idText, '"overtaking"', 'the author\'s id comes back');
      assert.equal(blocked.settled(), false, 'the in-band blockdev-add is still blocked when the OOB reply arrives');
      assert.equal(queued.settled(), false, 'an in-band command waits behind the block');

      // Released by open-timeout (10 s in the cell): an error reply, then the queued command is answered.
      const released = await blocked.promise;
      assert.equal(released.ok, false, released.raw);
      assert.equal(released.ok ? '' : released.error.class, 'GenericError');
      assert.match(released.ok ? '' : released.error.desc, /cancelled by timeout/);
      const status = await queued.promise;
      assert.equal(status.ok, true, status.raw);
      // Nothing was added, so the cell can run again.
      const nodes = await client.execute('query-named-block-nodes') as Array<{ 'node-name': string }>;
      assert.equal(nodes.some((n) => n['node-name'] === 'stuck'), false);
    } finally {
      await client.disconnect();
    }
  });
});
