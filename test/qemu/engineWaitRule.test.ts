// The engine's wait and attribution rules when a cell's caller hands over the connection late, against real
// QEMU: the editor holds a cell between its start and its first command while the window catches up (pacing,
// src/notebook/controller.ts), the CLI does not. A cell's events count from its start in both, so a cell that
// waits for an event the cell above caused gets it however long its caller took (test/unit/cliRunner.test.ts
// has the same rule with a scripted client, at several delays).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient } from '../../src/qmp/client';
import { RunEngine, planCell, type TranscriptRecord } from '../../src/run/index';
import { startQemu, type TestQemu } from '../support/qemu';

let qemu: TestQemu;
before(async () => { qemu = await startQemu(); });
after(async () => { await qemu.stop(); });

// 2 MiB/s over 1 MiB: BLOCK_JOB_READY comes about half a second after the reply to blockdev-mirror.
const mirror = (job: string): string =>
  `{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "${job}-src", "size": 1048576}}\n` +
  `{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "${job}-dst", "size": 1048576}}\n` +
  `{"execute": "blockdev-mirror", "arguments": {"job-id": "${job}", "device": "${job}-src", "target": "${job}-dst", "sync": "full", "speed": 2097152}}`;

describe('the wait rule with real QEMU', () => {
  test('a cell held 1.5 s before its first command still gets the BLOCK_JOB_READY the cell above caused meanwhile, as its own event', async () => {
    const client = new QmpClient();
    await client.connect({ kind: 'unix', path: qemu.socketPath });
    const engine = new RunEngine({ client: () => client });
    try {
      for (const asTest of [false, true]) {
        const job = asTest ? 'm-test' : 'm-run';
        const records: TranscriptRecord[] = [];
        let handedOver = 0;
        const held = (): Promise<QmpClient> => new Promise((resolve) => setTimeout(() => { handedOver = Date.now(); resolve(client); }, 1500));
        const result = await engine.run([
          { cell: 1, plan: planCell(mirror(job), 'qmp') },
          { cell: 2, plan: planCell('{"wait-event": "BLOCK_JOB_READY", "timeout": 10000}\n{"execute": "query-name"}', 'qmp'), client: held },
        ], (r) => records.push(r), { asTest });
        assert.deepEqual(result.outcomes, ['succeeded', 'succeeded'], JSON.stringify(records.filter((r) => r.type === 'failure')));
        const ready = records.filter((r) => r.type === 'event' && r.event.event === 'BLOCK_JOB_READY');
        assert.deepEqual(ready.map((r) => r.cell), [2], `asTest ${asTest}`);
        const satisfied = records.find((r) => r.type === 'wait-satisfied');
        assert.ok(satisfied?.type === 'wait-satisfied', 'the wait was satisfied');
        assert.ok(handedOver > 0);
        // It came while the cell was held (before its caller handed over the client): its record precedes the
        // cell's first command.
        const types = records.filter((r) => r.cell === 2).map((r) => r.type);
        assert.ok(types.indexOf('event') < types.indexOf('sent'), types.join());
        await client.execute('block-job-cancel', { device: job, force: true });
      }
    } finally {
      engine.dispose();
      await client.disconnect();
    }
  });
});
