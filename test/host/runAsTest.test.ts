// "QMP: Run Notebook as Test" in a real extension host on the sandbox: each cell compared with the outputs
// it held, the verdict in its status bar, and VS Code's diff editor over the saved and the new outputs.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { parseNotebook } from '../../src/format';
import { toNotebookData } from '../../src/notebook/serializer';
import type { CellTestResult } from '../../src/notebook/runAsTest';
import { api, disconnectAll, outputTexts, runCells, showWithKernel } from './hostHelpers';

const qomGet = '{ "execute": "qom-get", "arguments": { "path": "/machine", "property": "type" } }';
const NOTEBOOK = [
  '---', 'profile: sandbox', 'saveOutputs: true', '---', '',
  '```qmp', qomGet, '```', '', '```qmp-output', '<- {"return": "none-machine"}', '```', '',
  // Saved from another machine type: this cell must fail.
  '```qmp', qomGet, '```', '', '```qmp-output', '<- {"return": "pc-i440fx-7.2-machine"}', '```', '',
  '```qmp-shell', 'device_del id=no-such-device', '```', '',
  '```qmp-output', '-> {"execute": "device_del", "arguments": {"id": "no-such-device"}, "id": "#41"}', '',
  '<- {"id": "#41", "error": {"class": "DeviceNotFound", "desc": "Device \'no-such-device\' not found"}}', '```', '',
  // Expectations written in cells count as in `qmp-notebook test`: a differing reply fails, an event that comes passes.
  '```qmp', '-> { "execute": "query-name" }', '<- { "return": { "name": "vm1" } }', '```', '',
  '```qmp-output', '<- {"return": {}}', '```', '',
  '```qmp', '-> { "execute": "cont" }', '-> { "execute": "stop" }', '<- { "event": "STOP" }', '```', '',
  '```qmp-output', '-> {"execute": "cont"}', '', '<- {"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"}', '', '<- {"return": {}}', '',
  '-> {"execute": "stop"}', '', '<- {"timestamp": {"seconds": 1, "microseconds": 3}, "event": "STOP"}', '', '<- {"return": {}}', '```',
].join('\n') + '\n';

suite('run as test', () => {
  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await disconnectAll(await api());
  });

  test('each cell is compared with the outputs it held; a mismatch opens a diff of saved and new outputs', async () => {
    const qmp = await api();
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', toNotebookData(parseNotebook(NOTEBOOK)));
    await showWithKernel(nb, qmp, 'sandbox');
    const results = await vscode.commands.executeCommand<CellTestResult[] | undefined>('qmp.runNotebookAsTest', nb.uri);
    assert.ok(results, 'the command returned results');
    assert.deepEqual(results.map((r) => [r.index, r.status]), [[0, 'passed'], [1, 'failed'], [2, 'passed'], [3, 'failed'], [4, 'passed']],
      JSON.stringify(results, null, 2));
    assert.equal(results[3]?.problems.length, 1, 'only the written reply differs; the saved output matches');
    assert.match(results[3]?.problems[0] ?? '', /^the reply to query-name differs from the <- reply written under it: return\.name: expected "vm1"/);
    const failed = results[1] as CellTestResult;
    // The difference at the member that changed (its JSON path, both values), as `qmp-notebook test` reports it.
    assert.match(failed.problems.join('\n'), /output 1 differs at return: expected "pc-i440fx-7\.2-machine"; got "none-machine"/);
    assert.match(failed.diff, /^-<- \{"return": "pc-i440fx-7\.2-machine"\}$/m);
    assert.match(failed.diff, /^\+<- \{"return": "none-machine"\}$/m);
    // The cells ran: they hold the new outputs.
    assert.match(outputTexts(nb.cellAt(1)).texts.join('\n'), /none-machine/);

    await vscode.commands.executeCommand('qmp.showTestDiff', nb.cellAt(1).document.uri);
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab;
    assert.ok(tab?.input instanceof vscode.TabInputTextDiff, `a diff editor is open (${tab?.label ?? 'no tab'})`);
    const input = tab.input as vscode.TabInputTextDiff;
    const saved = await vscode.workspace.openTextDocument(input.original);
    const fresh = await vscode.workspace.openTextDocument(input.modified);
    assert.equal(saved.getText(), '<- {"return": "pc-i440fx-7.2-machine"}\n');
    assert.equal(fresh.getText(), '<- {"return": "none-machine"}\n');
  });

  test('a sandbox notebook is tested on a fresh private sandbox, whatever ran on the live session (as qmp-notebook test)', async () => {
    const qmp = await api();
    // The live sandbox session runs (cont): a test on it would see "running", not the "prelaunch" saved below.
    const live = await vscode.workspace.openNotebookDocument('qmp-notebook',
      toNotebookData(parseNotebook('---\nprofile: sandbox\n---\n\n```qmp\n{ "execute": "cont" }\n```\n\n```qmp\n{ "execute": "query-status" }\n```\n')));
    await showWithKernel(live, qmp, 'sandbox');
    assert.equal((await runCells(qmp, live, [0])).get(0), 'succeeded');
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', toNotebookData(parseNotebook([
      '---', 'profile: sandbox', '---', '',
      '```qmp', '{ "execute": "query-status" }', '```', '',
      '```qmp-output', '<- {"return": {"status": "prelaunch", "singlestep": false, "running": false}}', '```', '',
    ].join('\n'))));
    await showWithKernel(nb, qmp, 'sandbox');
    const results = await vscode.commands.executeCommand<CellTestResult[] | undefined>('qmp.runNotebookAsTest', nb.uri);
    assert.deepEqual(results?.map((r) => [r.index, r.status, r.problems]), [[0, 'passed', []]], JSON.stringify(results, null, 2));
    // The new outputs are shown in the cell; the live session was left alone: it still runs.
    assert.match(outputTexts(nb.cellAt(0)).texts.join('\n'), /prelaunch/);
    assert.equal((await runCells(qmp, live, [1])).get(1), 'succeeded');
    assert.match(outputTexts(live.cellAt(1)).texts.join('\n'), /"status": "running"/);

    // `testOn: live-session`: the same test on the live session, which runs: it sees "running", not "prelaunch".
    const onLive = await vscode.workspace.openNotebookDocument('qmp-notebook', toNotebookData(parseNotebook([
      '---', 'profile: sandbox', 'testOn: live-session', '---', '',
      '```qmp', '{ "execute": "query-status" }', '```', '',
      '```qmp-output', '<- {"return": {"status": "prelaunch", "singlestep": false, "running": false}}', '```', '',
    ].join('\n'))));
    await showWithKernel(onLive, qmp, 'sandbox');
    const generation = qmp.sessions.session('sandbox')?.generation;
    const liveResults = await vscode.commands.executeCommand<CellTestResult[] | undefined>('qmp.runNotebookAsTest', onLive.uri);
    assert.deepEqual(liveResults?.map((r) => [r.index, r.status]), [[0, 'failed']], JSON.stringify(liveResults, null, 2));
    assert.match(liveResults?.[0]?.problems.join('\n') ?? '', /expected "prelaunch"; got "running"/);
    assert.equal(qmp.sessions.session('sandbox')?.generation, generation, 'it ran on the live session, no new connection');
  });
});
