// Live progress of long work (issue 22) in a real extension host on the sandbox, with the packaged .vsix: two
// throttled blockdev-mirrors between null-co nodes in one cell (96 MiB at 16 MiB/s and 48 MiB at 8 MiB/s: about
// six seconds each; a 1 MiB buffer, so that QEMU moves its counters in small steps) show a progress output each that advances while
// the cell runs (two distinct percents at least, seen in the cell's outputs as VS Code has them), and ends at
// 100% with the job concluded; the cell's waits for BLOCK_JOB_COMPLETED still work; the progress is not saved.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { toSavedOutputs } from '../../src/notebook/serializer';
import { api, disconnectAll, outputTexts, runCells, showWithKernel } from './hostHelpers';

/** The text of the cell's progress output of job `id`, if it has one now. */
function progressLine(cell: vscode.NotebookCell, id: string): string | undefined {
  return outputTexts(cell).texts.find((t) => t.startsWith(`${id} (`));
}

suite('job progress', () => {
  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await disconnectAll(await api());
  });

  test('two throttled blockdev-mirrors in one cell: each shows a bar that advances and ends at 100% with the job concluded', async function () {
    this.timeout(90_000);
    const qmp = await api();
    const size = 96 * 1024 * 1024;
    const data = new vscode.NotebookData([
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code,
        `{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "jp-src", "size": ${size} } }\n`
        + `{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "jp-dst", "size": ${size} } }\n`
        + `{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "jp-src1", "size": ${size / 2} } }\n`
        + `{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "jp-dst1", "size": ${size / 2} } }`, 'qmp'),
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code,
        '{ "execute": "blockdev-mirror", "arguments": { "job-id": "jp0", "device": "jp-src", "target": "jp-dst", "sync": "full", "speed": 16777216, "buf-size": 1048576 } }\n'
        + '{ "execute": "blockdev-mirror", "arguments": { "job-id": "jp1", "device": "jp-src1", "target": "jp-dst1", "sync": "full", "speed": 8388608, "buf-size": 1048576 } }\n'
        + '{ "wait-event": "BLOCK_JOB_READY", "data": { "device": "jp0" }, "timeout": 30000 }\n'
        + '{ "wait-event": "BLOCK_JOB_READY", "data": { "device": "jp1" }, "timeout": 30000 }\n'
        + '{ "execute": "block-job-complete", "arguments": { "device": "jp0" } }\n'
        + '{ "execute": "block-job-complete", "arguments": { "device": "jp1" } }\n'
        + '{ "wait-event": "BLOCK_JOB_COMPLETED", "data": { "device": "jp0" }, "timeout": 30000 }\n'
        + '{ "wait-event": "BLOCK_JOB_COMPLETED", "data": { "device": "jp1" }, "timeout": 30000 }', 'qmp'),
    ]);
    data.metadata = { profile: 'sandbox' };
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
    await showWithKernel(nb, qmp, 'sandbox');
    assert.deepEqual([...(await runCells(qmp, nb, [0])).values()], ['succeeded']);

    // What the window has, as it changes and every 50 ms besides (an in-place redraw of an output's items).
    const cell = nb.cellAt(1);
    const seen: Record<string, string[]> = { jp0: [], jp1: [] };
    // What the cell showed over time (for a failure's message).
    const timeline: string[] = [];
    const t0 = Date.now();
    let lastShot = '';
    const look = (): void => {
      const shot = outputTexts(cell).texts.filter((t) => /^jp\d/.test(t)).join(' | ');
      if (shot !== lastShot) { timeline.push(`${Date.now() - t0} ms: ${shot}`); lastShot = shot; }
      for (const id of ['jp0', 'jp1']) {
        const line = progressLine(cell, id);
        const lines = seen[id] as string[];
        if (line !== undefined && lines[lines.length - 1] !== line) lines.push(line);
      }
    };
    const sub = vscode.workspace.onDidChangeNotebookDocument(look);
    const timer = setInterval(look, 50);
    let outcomes;
    try {
      outcomes = await runCells(qmp, nb, [1]);
    } finally {
      clearInterval(timer);
      sub.dispose();
    }
    look();
    assert.deepEqual([...outcomes.values()], ['succeeded'], JSON.stringify(outputTexts(cell).texts));

    for (const [id, mib] of [['jp0', '96.0'], ['jp1', '48.0']] as const) {
      const lines = seen[id] as string[];
      const percents = lines.flatMap((l) => {
        const m = /, (\d+)%/.exec(l);
        return m && !/concluded/.test(l) ? [Number(m[1])] : [];
      });
      assert.ok(new Set(percents).size >= 2, `the bar of ${id} advanced: ${JSON.stringify(lines)}\n${timeline.join('\n')}`);
      for (let i = 1; i < percents.length; i++) assert.ok((percents[i] as number) >= (percents[i - 1] as number), `never back: ${JSON.stringify(lines)}`);
      assert.ok(lines.some((l) => /\[[█·]+\]/.test(l) && /running/.test(l)), `a bar with the status: ${JSON.stringify(lines)}`);
      assert.ok(lines.some((l) => /MiB\/s/.test(l)), `a speed: ${JSON.stringify(lines)}`);
      const last = progressLine(cell, id);
      assert.match(last ?? '', new RegExp(`^${id} \\(mirror\\): concluded, 100%, ${mib.replace('.', '\\.')} MiB in \\d+\\.\\d s$`), JSON.stringify(outputTexts(cell).texts));
    }
    // The wait for BLOCK_JOB_COMPLETED kept working, and the polls are no commands of the cell.
    const texts = outputTexts(cell).texts.join('\n');
    assert.match(texts, /BLOCK_JOB_COMPLETED/);
    assert.doesNotMatch(texts, /query-jobs/);
    // The progress is not saved.
    assert.doesNotMatch(JSON.stringify(toSavedOutputs(cell.outputs)), /jp0 \(mirror\)|MiB/);
  });
});
