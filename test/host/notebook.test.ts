// QMP notebooks in a real extension host: opening .qmp files, running cells against the sandbox and against a
// q35 QEMU the test starts, where the outputs land, out-of-band cells overtaking a blocked in-band cell,
// interrupting, QEMU dying under a waiting cell, and outputs saved into the file and read back.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { QmpNotebookSerializer } from '../../src/notebook/serializer';
import { startQemu, type TestQemu } from '../support/qemu';
import { api, collectRuns, disconnectAll, endedSummaries, executeCells, outputTexts, runCells, showWithKernel, waitFor } from './hostHelpers';

const errorMime = 'application/vnd.code.notebook.error';

function workspaceFile(name: string): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'a workspace folder is open');
  return vscode.Uri.joinPath(folder.uri, name);
}

function errorOf(cell: vscode.NotebookCell): { name: string; message: string } {
  for (const o of cell.outputs) {
    for (const item of o.items) {
      if (item.mime === errorMime) return JSON.parse(new TextDecoder().decode(item.data)) as { name: string; message: string };
    }
  }
  assert.fail(`cell ${cell.index} has no error output: ${JSON.stringify(outputTexts(cell))}`);
}

suite('notebooks', () => {
  const qemus: TestQemu[] = [];
  const dirs: string[] = [];

  suiteTeardown(async () => {
    const qmp = await api();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await disconnectAll(qmp);
  });

  teardown(async () => {
    await Promise.all(qemus.splice(0).map((q) => q.stop()));
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  test('a .qmp file opens as a QMP notebook that names its profile', async () => {
    const nb = await vscode.workspace.openNotebookDocument(workspaceFile('cells.qmp'));
    assert.equal(nb.notebookType, 'qmp-notebook');
    assert.equal(nb.metadata['profile'], 'sandbox');
    assert.deepEqual(nb.getCells().map((c) => c.document.languageId),
      ['markdown', 'qmp', 'qmp-shell', 'hmp', 'qmp', 'qmp', 'qmp', 'qmp', 'qmp']);
  });

  test('cells run on the sandbox and each reply lands in its own cell, with the JSON sent for shell and HMP cells', async () => {
    const qmp = await api();
    const nb = await vscode.workspace.openNotebookDocument(workspaceFile('cells.qmp'));
    await showWithKernel(nb, qmp, 'sandbox');
    const outcomes = await runCells(qmp, nb, [1, 2, 3]);
    assert.deepEqual([...outcomes.entries()].sort(), [[1, 'succeeded'], [2, 'succeeded'], [3, 'succeeded']]);
    assert.equal(qmp.sessions.session('sandbox')?.state, 'connected', 'running a cell connected the sandbox');

    const status = outputTexts(nb.cellAt(1));
    assert.deepEqual(status.kinds, ['reply']);
    assert.ok(status.mimes.includes('application/json'));
    assert.match(status.texts.join('\n'), /"status": "prelaunch"/);
    // The notebook shows the first mime of its display order, application/json, so that item must be the
    // readable one: two-space indentation (NotebookCellOutputItem.json would indent with tabs), and the same
    // text as the plain item.
    const items = nb.cellAt(1).outputs[0]?.items ?? [];
    // The reply renderer's item (issue 22) comes after them; VS Code shows it first (a mime it has no order for).
    assert.deepEqual(items.map((i) => i.mime), ['application/json', 'text/plain', 'application/vnd.qmp.reply+json']);
    const [jsonText, plainText] = items.map((i) => new TextDecoder().decode(i.data));
    assert.match(jsonText ?? '', /^\{\n {2}"[a-z]/);
    assert.doesNotMatch(jsonText ?? '', /\t/);
    assert.equal(jsonText, plainText);

    const shell = outputTexts(nb.cellAt(2));
    assert.deepEqual(shell.kinds, ['sent', 'reply']);
    assert.match(shell.texts[0] ?? '', /^-> \{.*"execute": ?"query-name"/);

    const hmp = outputTexts(nb.cellAt(3));
    assert.deepEqual(hmp.kinds, ['sent', 'reply']);
    assert.match(hmp.texts[0] ?? '', /"human-monitor-command"/);
    assert.match(hmp.texts[1] ?? '', /\d+\.\d+\.\d+/);

    const summaries = await endedSummaries(nb, [1, 2, 3]);
    const orders = summaries.map((x) => x.executionOrder ?? 0);
    assert.ok(orders[0]! > 0 && orders[0]! < orders[1]! && orders[1]! < orders[2]!, `execution order ${orders.join(',')}`);
    for (const summary of summaries) {
      assert.equal(summary.success, true);
      assert.ok(summary.timing && summary.timing.endTime >= summary.timing.startTime, 'the duration is shown');
    }
  });

  test('a QEMU error fails its cell with the error class, and the rest of the batch is not run', async () => {
    const qmp = await api();
    const nb = await vscode.workspace.openNotebookDocument(workspaceFile('cells.qmp'));
    await showWithKernel(nb, qmp, 'sandbox');
    const outcomes = await runCells(qmp, nb, [4, 5]);
    assert.equal(outcomes.get(4), 'failed');
    assert.equal(outcomes.get(5), 'skipped');
    const err = errorOf(nb.cellAt(4));
    assert.equal(err.name, 'CommandNotFound');
    assert.match(err.message, /no-such-command/);
    assert.equal(nb.cellAt(5).outputs.length, 0, 'the skipped cell was not run');
  });

  test('a cell with a syntax error is not sent and says where the error is', async () => {
    const qmp = await api();
    const nb = await vscode.workspace.openNotebookDocument(workspaceFile('cells.qmp'));
    await showWithKernel(nb, qmp, 'sandbox');
    await qmp.sessions.connect('sandbox');
    const sent: string[] = [];
    const sub = qmp.sessions.onDidTrace((t) => { if (t.dir === '->') sent.push(t.text); });
    try {
      const outcomes = await runCells(qmp, nb, [6]);
      assert.equal(outcomes.get(6), 'failed');
    } finally {
      sub.dispose();
    }
    assert.deepEqual(sent, [], 'nothing was sent');
    assert.match(errorOf(nb.cellAt(6)).message, /line 1, column \d+/);
  });

  test('events show in the running cell with their server timestamp, and wait-event waits for them', async () => {
    const qmp = await api();
    const nb = await vscode.workspace.openNotebookDocument(workspaceFile('cells.qmp'));
    await showWithKernel(nb, qmp, 'sandbox');
    const outcomes = await runCells(qmp, nb, [7]);
    assert.equal(outcomes.get(7), 'succeeded', JSON.stringify(outputTexts(nb.cellAt(7))));
    const out = outputTexts(nb.cellAt(7));
    assert.ok(out.kinds.includes('event'));
    const events = out.texts.filter((t) => t.startsWith('event '));
    assert.ok(events.some((t) => /^event \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z .*RESUME/.test(t)), events.join('\n'));
    assert.ok(events.some((t) => / STOP/.test(t)), events.join('\n'));
  });

  test('wait-event fails the cell when the event does not come in time', async () => {
    const qmp = await api();
    const nb = await vscode.workspace.openNotebookDocument(workspaceFile('cells.qmp'));
    await showWithKernel(nb, qmp, 'sandbox');
    const outcomes = await runCells(qmp, nb, [8]);
    assert.equal(outcomes.get(8), 'failed');
    const err = errorOf(nb.cellAt(8));
    assert.match(err.message, /DEVICE_DELETED within 300 ms/);
  });

  test('outputs are saved as <- lines when the notebook asks for it, and read back as outputs', async () => {
    const qmp = await api();
    const uri = workspaceFile('saved.qmp');
    const nb = await vscode.workspace.openNotebookDocument(uri);
    await showWithKernel(nb, qmp, 'sandbox');
    const outcomes = await runCells(qmp, nb, [0]);
    assert.equal(outcomes.get(0), 'succeeded');
    assert.ok(await nb.save(), 'the notebook saved');
    const bytes = fs.readFileSync(uri.fsPath);
    const text = new TextDecoder().decode(bytes);
    assert.match(text, /```qmp-output\n<- \{[^]*"return"[^]*"status"[^]*\n```/);
    assert.doesNotMatch(text, /__qmp|"id"/, 'the ids the client made up are not saved');
    const again = new QmpNotebookSerializer().deserializeNotebook(bytes);
    const outputs = again.cells[0]?.outputs ?? [];
    assert.equal(outputs.length, 1);
    assert.equal((outputs[0]?.metadata?.['qmp'] as { kind?: string } | undefined)?.kind, 'reply');
  });

  test('an out-of-band cell finishes while an in-band cell is blocked; interrupt and a dying QEMU end cells at once', async () => {
    const qmp = await api();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qmp-host-fifo-'));
    dirs.push(dir);
    const fifo = path.join(dir, 'dump.fifo');
    assert.equal(spawnSync('mkfifo', ['-m', '0600', fifo]).status, 0, 'mkfifo');
    const qemu = await startQemu({ machine: ['-M', 'q35', '-m', '128M', '-accel', 'tcg'] });
    qemus.push(qemu);
    await vscode.workspace.getConfiguration('qmp').update('connections', [{ name: 'q35', socket: qemu.socketPath }],
      vscode.ConfigurationTarget.Workspace);
    try {
      await waitFor(qmp.sessions.onDidChangeProfiles, () => qmp.controllers.controllerFor('q35'), 'the q35 controller');
      const data = new vscode.NotebookData([
        new vscode.NotebookCellData(vscode.NotebookCellKind.Code,
          `{ "execute": "dump-guest-memory", "arguments": { "paging": false, "protocol": "file:${fifo}" } }`, 'qmp'),
        new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "exec-oob": "query-yank" }', 'qmp'),
        new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "query-status" }', 'qmp'),
      ]);
      data.metadata = { profile: 'q35' };
      const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
      await showWithKernel(nb, qmp, 'q35');
      assert.equal(qmp.sessions.session('q35')?.state, 'disconnected');

      const sentNames: string[] = [];
      const traceSub = qmp.sessions.onDidTrace((t) => { if (t.dir === '->') sentNames.push(t.text); });
      const runs = collectRuns(qmp);
      try {
        // The blocked in-band cell: QEMU opens the FIFO for writing and waits for a reader that never comes.
        const blockedRun = executeCells(nb, [0]);
        await Promise.race([blockedRun.then(() => new Promise<never>(() => undefined)),
          waitFor(qmp.sessions.onDidTrace, () => (sentNames.some((t) => t.includes('dump-guest-memory')) ? true : undefined),
            'dump-guest-memory on the wire')]);

        const oob = await runCells(qmp, nb, [1]);
        assert.equal(oob.get(1), 'succeeded', JSON.stringify(outputTexts(nb.cellAt(1))));
        assert.equal(runs.ended.some((r) => r.cell.index === 0), false, 'the in-band cell is still blocked');
        assert.deepEqual(outputTexts(nb.cellAt(1)).kinds, ['reply']);

        // Interrupting ends the blocked cell at once; QEMU is still blocked.
        const controller = qmp.controllers.controllerFor('q35');
        assert.ok(controller?.interruptHandler);
        await controller.interruptHandler(nb);
        const blocked = await runs.wait([nb.cellAt(0)]);
        assert.equal(blocked.get(0), 'interrupted');
        assert.equal(errorOf(nb.cellAt(0)).name, 'Interrupted');

        // A cell waiting on QEMU fails at once when QEMU dies.
        const waiting = collectRuns(qmp);
        try {
          void executeCells(nb, [2]);
          await waitFor(qmp.sessions.onDidTrace, () => (sentNames.some((t) => t.includes('query-status')) ? true : undefined),
            'query-status on the wire');
          qemu.process.kill('SIGKILL');
          const died = await waiting.wait([nb.cellAt(2)]);
          assert.equal(died.get(2), 'failed');
          assert.equal(errorOf(nb.cellAt(2)).name, 'Disconnected');
        } finally {
          waiting.dispose();
        }
      } finally {
        runs.dispose();
        traceSub.dispose();
      }
    } finally {
      await vscode.workspace.getConfiguration('qmp').update('connections', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });

  test('selecting a kernel writes its profile into the notebook, except the default sandbox', async () => {
    const qmp = await api();
    const config = vscode.workspace.getConfiguration('qmp');
    await config.update('connections', [{ name: 'elsewhere', socket: '/nonexistent/qmp.sock' }], vscode.ConfigurationTarget.Workspace);
    try {
      await waitFor(qmp.sessions.onDidChangeProfiles, () => qmp.controllers.controllerFor('elsewhere'), 'the elsewhere controller');
      const nb = await vscode.workspace.openNotebookDocument('qmp-notebook',
        new vscode.NotebookData([new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "query-name" }', 'qmp')]));
      assert.equal(nb.metadata['profile'], undefined);
      await showWithKernel(nb, qmp, 'sandbox');
      assert.equal(nb.metadata['profile'], undefined, 'no profile means the sandbox; nothing to write');
      await showWithKernel(nb, qmp, 'elsewhere');
      await waitFor(vscode.workspace.onDidChangeNotebookDocument, () => (nb.metadata['profile'] === 'elsewhere' ? true : undefined),
        'the profile in the notebook metadata');
      assert.equal(qmp.schemaSource.oobNegotiated(nb.uri), undefined, 'not connected');
    } finally {
      await config.update('connections', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });

  test('with several profiles, a notebook opens with the kernel of the profile it names already selected', async () => {
    const qmp = await api();
    const config = vscode.workspace.getConfiguration('qmp');
    await config.update('connections', [{ name: 'named', socket: '/nonexistent/qmp.sock' }], vscode.ConfigurationTarget.Workspace);
    const chosen: vscode.NotebookDocument[] = [];
    const sub = qmp.controllers.onDidChangeNotebookProfile((nb) => chosen.push(nb));
    try {
      await waitFor(qmp.sessions.onDidChangeProfiles, () => qmp.controllers.controllerFor('named'), 'the named controller');
      const data = new vscode.NotebookData([new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "query-name" }', 'qmp')]);
      data.metadata = { profile: 'named' };
      const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
      // Only opened in an editor: nobody picks a kernel, yet VS Code's picker must not say "Select Kernel".
      await vscode.window.showNotebookDocument(nb);
      await waitFor(qmp.controllers.onDidChangeNotebookProfile, () => (chosen.includes(nb) ? true : undefined),
        'the named kernel to be selected by itself');
      assert.equal(qmp.controllers.profileOf(nb), 'named');
      assert.equal(nb.metadata['profile'], 'named', 'the header is left as it was');
    } finally {
      sub.dispose();
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
      await config.update('connections', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });

  test('QMP: New QMP Notebook opens an untitled notebook with a starter cell for the sandbox', async () => {
    await vscode.commands.executeCommand('qmp.newNotebook');
    const nb = vscode.window.activeNotebookEditor?.notebook;
    assert.ok(nb, 'a notebook editor is active');
    assert.equal(nb.notebookType, 'qmp-notebook');
    assert.equal(nb.isUntitled, true);
    assert.equal(nb.metadata['profile'], 'sandbox');
    assert.ok(nb.getCells().some((c) => c.kind === vscode.NotebookCellKind.Code && /query-status/.test(c.document.getText())));
  });

  test('a file the format does not understand opens with every character in some cell, and bad UTF-8 is reported', () => {
    const serializer = new QmpNotebookSerializer();
    const broken = 'notes {"execute": oops\r\n```qmp\r\n{ "execute": "query-status",\r\nunterminated';
    const data = serializer.deserializeNotebook(new TextEncoder().encode(broken));
    const all = data.cells.map((c) => c.value).join('\n');
    for (const piece of ['notes', 'oops', '"query-status",', 'unterminated']) assert.ok(all.includes(piece), piece);
    const again = serializer.deserializeNotebook(serializer.serializeNotebook(data));
    assert.deepEqual(again.cells.map((c) => [c.kind, c.languageId, c.value]), data.cells.map((c) => [c.kind, c.languageId, c.value]));
    const warned: string[] = [];
    const bad = new QmpNotebookSerializer((m) => warned.push(m)).deserializeNotebook(new Uint8Array([0x7b, 0x0a, 0xff, 0xfe, 0x7d]));
    assert.equal(bad.cells.map((c) => c.value).join(''), '{\n\uFFFD\uFFFD}');
    assert.equal(warned.length, 1);
    assert.match(warned[0] ?? '', /not valid UTF-8: 2 invalid UTF-8 sequences, the first at line 2 \(byte offset 2\)/);
    const warnings = bad.metadata?.['formatWarnings'] as { code: string; offset: number; line: number }[];
    assert.deepEqual(warnings.map((w) => [w.code, w.offset, w.line]), [['invalid-utf8', 2, 2]]);
  });

  test('a notebook file with invalid UTF-8 opens, and the Problems view says where the bad bytes are', async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the host tests run in a workspace');
    const file = path.join(folder.uri.fsPath, `bad-utf8-${process.pid}.qmp`);
    fs.writeFileSync(file, Buffer.from([0x23, 0x20, 0x6e, 0x0a, 0x0a, 0x62, 0xff, 0x0a]), { mode: 0o600 });
    const uri = vscode.Uri.file(file);
    try {
      const nb = await vscode.workspace.openNotebookDocument(uri);
      assert.equal(nb.notebookType, 'qmp-notebook');
      const ds = await waitFor(vscode.languages.onDidChangeDiagnostics, () => {
        const found = vscode.languages.getDiagnostics(uri).filter((d) => d.code === 'invalid-utf8');
        return found.length > 0 ? found : undefined;
      }, 'the invalid-UTF-8 diagnostic', 20_000);
      assert.equal(ds[0]?.severity, vscode.DiagnosticSeverity.Warning);
      assert.equal(ds[0]?.range.start.line, 2, 'the line of the first bad byte');
      assert.match(ds[0]?.message ?? '', /not valid UTF-8/);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  test('a saved output nested 10,000 deep opens with the cells intact and saves back to the same bytes', () => {
    const serializer = new QmpNotebookSerializer(() => assert.fail('no warning expected'));
    const deep = '{"a": '.repeat(10_000) + '1' + '}'.repeat(10_000);
    const text = `---\nsaveOutputs: true\n---\n\nDeep.\n\n\`\`\`qmp\n{"execute": "x"}\n\`\`\`\n\n\`\`\`qmp-output\n<- ${deep}\n\`\`\`\n`;
    const data = serializer.deserializeNotebook(new TextEncoder().encode(text));
    assert.deepEqual(data.cells.map((c) => c.kind), [vscode.NotebookCellKind.Markup, vscode.NotebookCellKind.Code]);
    assert.equal(data.cells[1]?.outputs?.length, 1);
    assert.equal(new TextDecoder().decode(serializer.serializeNotebook(data)), text);
  });

  test('with qmp.enableOob off, an out-of-band cell fails before anything is sent', async () => {
    const qmp = await api();
    const qemu = await startQemu();
    qemus.push(qemu);
    const config = vscode.workspace.getConfiguration('qmp');
    await config.update('enableOob', false, vscode.ConfigurationTarget.Workspace);
    await config.update('connections', [{ name: 'no-oob', socket: qemu.socketPath }], vscode.ConfigurationTarget.Workspace);
    try {
      await waitFor(qmp.sessions.onDidChangeProfiles, () => qmp.controllers.controllerFor('no-oob'), 'the no-oob controller');
      const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', new vscode.NotebookData([
        new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "exec-oob": "query-yank" }', 'qmp'),
      ]));
      await showWithKernel(nb, qmp, 'no-oob');
      await qmp.sessions.connect('no-oob');
      assert.equal(qmp.sessions.session('no-oob')?.oobEnabled, false);
      const sent: string[] = [];
      const sub = qmp.sessions.onDidTrace((t) => { if (t.dir === '->') sent.push(t.text); });
      try {
        const outcomes = await runCells(qmp, nb, [0]);
        assert.equal(outcomes.get(0), 'failed');
      } finally {
        sub.dispose();
      }
      assert.deepEqual(sent, []);
      assert.equal(errorOf(nb.cellAt(0)).name, 'Out-of-band refused');
    } finally {
      await config.update('connections', undefined, vscode.ConfigurationTarget.Workspace);
      await config.update('enableOob', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });
});
