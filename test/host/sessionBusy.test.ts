// QEMU being busy is visible where the user looks: the status bar item says for how long and with which command
// (also after the cell that sent it was interrupted), a queued cell says what it is queued behind, a running
// cell says what it runs, a wait says what it waits for, and a command sent behind an interrupted one says why
// it waits. QEMU is blocked for real: dump-guest-memory to a FIFO nobody reads holds its main loop.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { drainFifo, makeFifo, startQemu, type TestQemu } from '../support/qemu';
import { api, collectRuns, closeAndForget, executeCells, outputTexts, showWithKernel, waitFor } from './hostHelpers';

/** Polls a condition every 100 ms for at most 10 s (the cell status lines have no event of their own). */
async function until(check: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

suite('session: a busy QEMU is visible', () => {
  const qemus: TestQemu[] = [];
  const notebooks: vscode.NotebookDocument[] = [];

  teardown(async () => {
    const qmp = await api();
    await closeAndForget(qmp, notebooks);
    await Promise.all(qemus.splice(0).map((q) => q.stop()));
  });

  test('status item and cell status lines: running, queued, interrupted-but-busy, waiting for an event, blocked, then all clear', async function () {
    this.timeout(120_000);
    const qmp = await api();
    // A machine with memory, so that the dump has something to write and ends with DUMP_COMPLETED.
    const qemu = await startQemu({ machine: ['-M', 'q35', '-m', '32M', '-accel', 'tcg'] });
    qemus.push(qemu);
    const fifo = makeFifo(qemu, 'dump.fifo');
    await vscode.workspace.getConfiguration('qmp').update('connections', [{ name: 'busy', socket: qemu.socketPath }],
      vscode.ConfigurationTarget.Workspace);
    await waitFor(qmp.sessions.onDidChangeProfiles, () => qmp.controllers.controllerFor('busy'), 'the busy controller');
    const data = new vscode.NotebookData([
      `{ "execute": "dump-guest-memory", "arguments": { "paging": false, "protocol": "file:${fifo}" } }`,
      '{ "execute": "query-name" }',
      // Out of band (its command is exec-oob), so it runs while QEMU is blocked, and then waits.
      '{ "exec-oob": "query-yank" }\n{ "wait-event": "DUMP_COMPLETED", "timeout": 60000 }',
      '{ "execute": "query-name" }',
    ].map((source) => new vscode.NotebookCellData(vscode.NotebookCellKind.Code, source, 'qmp')));
    data.metadata = { profile: 'busy' };
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
    notebooks.push(nb);
    await showWithKernel(nb, qmp, 'busy');
    const [dump, queued, wait, behind] = nb.getCells();
    assert.ok(dump && queued && wait && behind);
    const line = (cell: vscode.NotebookCell): string => qmp.controllers.activityOf(cell)?.text ?? '';
    const item = (): string => qmp.statusBar.textOf('busy') ?? '';

    const runs = collectRuns(qmp);
    try {
      void executeCells(nb, [0, 1]);
      // The status item: busy, for how long, with what; re-rendered as the seconds go by.
      const first = await waitFor(qmp.sessions.onDidChangeWedged,
        () => (/QEMU busy \d+ s: dump-guest-memory/.test(item()) ? item() : undefined), 'the item says QEMU is busy', 20_000);
      assert.match(qmp.statusBar.itemOf('busy')?.label ?? '', /QEMU busy for \d+ s with dump-guest-memory/);
      assert.equal(qmp.statusBar.itemOf('busy')?.command?.command, 'qmp.sessionActions', 'clicking offers Reconnect or waiting');
      assert.match(line(dump), /^\$\(watch\) Running dump-guest-memory · \d+ s$/);
      assert.match(line(queued), /^\$\(clock\) Queued behind cell 1 · \d+ s$/);
      assert.match(qmp.controllers.activityOf(queued)?.tooltip ?? '', /cell 1 is running dump-guest-memory/);
      await waitFor(qmp.sessions.onDidChangeWedged, () => (item() !== first ? true : undefined), 'the seconds go on', 10_000);

      // Interrupted: the cells end, but QEMU still works on the dump, and the item keeps saying so.
      const controller = qmp.controllers.controllerFor('busy');
      assert.ok(controller?.interruptHandler);
      await controller.interruptHandler(nb);
      const ended = await runs.wait([dump, queued]);
      assert.equal(ended.get(0), 'interrupted');
      assert.equal(line(dump), '', 'an ended cell has no status line');
      // The failure says where each command was, without repeating its title.
      const dumpText = outputTexts(dump).texts.join('\n');
      assert.match(dumpText, /line 1, while dump-guest-memory was running: QEMU may still be working on it/);
      assert.doesNotMatch(dumpText, /Interrupted: line 1: Interrupted/);
      assert.doesNotMatch(outputTexts(queued).texts.join('\n'), /while query-name was running/, 'a queued command was not running');
      assert.equal(line(queued), '');
      await new Promise((r) => setTimeout(r, 1200));
      assert.match(item(), /QEMU busy \d+ s: dump-guest-memory/, 'still busy after the interrupt');

      // A wait says what it waits for; an in-band command sent now says what it waits behind.
      void executeCells(nb, [2]);
      await until(() => /^\$\(bell\) Waiting for DUMP_COMPLETED · \d+ s$/.test(line(wait)), () => `the wait cell's line: ${line(wait)}`);
      void executeCells(nb, [3]);
      await until(() => /^\$\(watch\) Waiting: QEMU busy with dump-guest-memory · \d+ s$/.test(line(behind)), () => `the blocked cell's line: ${line(behind)}`);

      // The dump is read: QEMU answers, the wait sees DUMP_COMPLETED, every line goes, the item is normal again.
      await drainFifo(fifo);
      const done = await runs.wait([wait, behind]);
      assert.equal(done.get(2), 'succeeded');
      assert.equal(done.get(3), 'succeeded');
      assert.equal(line(wait), '');
      assert.equal(line(behind), '');
      await waitFor(qmp.sessions.onDidChangeWedged, () => (/QEMU busy/.test(item()) ? undefined : true), 'the item is no longer busy', 10_000);
      assert.match(item(), /^\$\(vm-active\) busy · QEMU \d+/, 'the profile (named "busy") is plainly connected again');
    } finally {
      runs.dispose();
    }
  });
});
