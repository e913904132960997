// A QEMU that dies under a command is reported with how it died, at once. QEMU 10.0 aborts on
// `rtc-reset-reinjection` under `-machine none` (an assertion about the machine type); 7.2 answers it.
// Runs against whatever QMP_TEST_QEMU selects, and asserts the outcome of that version.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QmpClient } from '../../src/qmp/client';
import { DisconnectedError } from '../../src/qmp/errors';
import { startSandbox } from '../../src/endpoints/sandbox';
import { qemuBinary, testQemuVersion } from '../support/qemu';
import { runCli } from '../support/daemons';

const aborts = testQemuVersion().major >= 10;
let dir = '';
before(() => { dir = mkdtempSync(path.join(tmpdir(), 'qmp-dies-')); });
after(() => { rmSync(dir, { recursive: true, force: true }); });

describe(`a QEMU that dies under a command (QEMU ${testQemuVersion().text})`, () => {
  test(aborts ? 'the CLI fails the cell at once and says QEMU was killed by SIGABRT, with its last words'
    : 'QEMU 7.2 answers rtc-reset-reinjection; the cell after it runs', async () => {
    const file = path.join(dir, 'rtc.qmp');
    writeFileSync(file, '```qmp\n{"execute": "rtc-reset-reinjection"}\n{"execute": "query-status"}\n```\n');
    const r = await runCli(['run', file, '--sandbox', '--qemu', qemuBinary]);
    if (aborts) {
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /QEMU went away during cell 1/);
      assert.match(r.stderr, /qmp-notebook: QEMU was killed by signal SIGABRT: .*x86-machine/);
      assert.doesNotMatch(r.stdout, /query-status/, 'nothing is sent after the death');
      assert.doesNotMatch(r.stdout + r.stderr, /timed out|did not answer within/, 'no command waited for its time limit');
    } else {
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /"status": ?"prelaunch"/);
    }
  });

  test('the launcher reports the death; a pending command fails with DisconnectedError, not a timeout', async () => {
    const sandbox = await startSandbox({ binary: qemuBinary });
    const client = new QmpClient();
    try {
      await client.connect(sandbox.address);
      if (aborts) {
        await assert.rejects(client.execute('rtc-reset-reinjection', undefined, { timeoutMs: 60_000 }), DisconnectedError);
        await sandbox.exited;
        assert.match(sandbox.describeExit() ?? '', /^QEMU was killed by signal SIGABRT/);
      } else {
        await client.execute('rtc-reset-reinjection');
        const pending = client.execute('query-status', undefined, { timeoutMs: 60_000 });
        const lost = new Promise<unknown>((resolve) => client.onDisconnect(resolve));
        process.kill(sandbox.pid, 'SIGKILL');
        await lost;
        // Sent before the kill: it either got its reply in time or fails with the loss, never a timeout.
        await pending.then(() => undefined, (err: unknown) => assert.ok(err instanceof DisconnectedError, String(err)));
        await sandbox.exited;
        assert.equal(sandbox.describeExit(), 'QEMU was killed by signal SIGKILL');
      }
    } finally {
      await client.disconnect();
      await sandbox.dispose();
    }
  });
});
