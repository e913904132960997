// The QEMU explorer (issue 22) in a real extension host with the packaged .vsix, on the sandbox: it lists what a
// cell created (a null-co node, a qcow2 overlay made with blockdev-create over it, an object, a chardev) after
// the cell's commands made its branches stale, shows the overlay's children with their roles and a tooltip with
// the node's fields, expands the QOM tree one level at a time, and drops them after blockdev-del, object-del and
// chardev-remove. Its actions: Copy Name puts the name on the clipboard, Insert Name types it at the cursor of
// the active cell, New Cell adds a pre-filled cell to the active notebook (or opens a new one on the session).
// And the block graph of a cell that lists no node details: its renderer item carries query-named-block-nodes'
// reply (asked by the controller), so the drawn SVG shows each node's driver and size.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { QmpTestApi } from '../../src/extension';
import type { ExplorerNode } from '../../src/explorer/view';
import { replyMime, type ReplyData } from '../../src/render/model';
import { graphFromDebug, graphSvg } from '../../src/render/blockGraph';
import { api, closeAndForget, runCells, showWithKernel, waitFor } from './hostHelpers';

const create = [
  '{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "ex-base", "size": 67108864 } }',
  '{ "execute": "blockdev-create", "arguments": { "job-id": "ex-mkfile", "options": { "driver": "file", "filename": "ex-top.qcow2", "size": 0 } } }',
  '{ "wait-event": "JOB_STATUS_CHANGE", "data": { "id": "ex-mkfile", "status": "concluded" }, "timeout": 20000 }',
  '{ "execute": "job-dismiss", "arguments": { "id": "ex-mkfile" } }',
  '{ "execute": "blockdev-add", "arguments": { "driver": "file", "node-name": "ex-top-file", "filename": "ex-top.qcow2" } }',
  '{ "execute": "blockdev-create", "arguments": { "job-id": "ex-fmt", "options": { "driver": "qcow2", "file": "ex-top-file", "size": 67108864 } } }',
  '{ "wait-event": "JOB_STATUS_CHANGE", "data": { "id": "ex-fmt", "status": "concluded" }, "timeout": 20000 }',
  '{ "execute": "job-dismiss", "arguments": { "id": "ex-fmt" } }',
  '{ "execute": "blockdev-add", "arguments": { "driver": "qcow2", "node-name": "ex-top", "file": "ex-top-file", "backing": "ex-base" } }',
  '{ "execute": "object-add", "arguments": { "qom-type": "secret", "id": "ex-sec", "data": "x" } }',
  '{ "execute": "chardev-add", "arguments": { "id": "ex-chr", "backend": { "type": "null", "data": {} } } }',
].join('\n');

const remove = [
  '{ "execute": "blockdev-del", "arguments": { "node-name": "ex-top" } }',
  '{ "execute": "blockdev-del", "arguments": { "node-name": "ex-top-file" } }',
  '{ "execute": "blockdev-del", "arguments": { "node-name": "ex-base" } }',
  '{ "execute": "object-del", "arguments": { "id": "ex-sec" } }',
  '{ "execute": "chardev-remove", "arguments": { "id": "ex-chr" } }',
].join('\n');

type Item = Extract<ExplorerNode, { type: 'item' }>;

async function branch(qmp: QmpTestApi, name: string): Promise<ExplorerNode[]> {
  const roots = await qmp.explorer.getChildren();
  const session = roots.find((r) => r.type === 'session' && r.session === 'sandbox');
  assert.ok(session, `the sandbox is a root: ${JSON.stringify(roots)}`);
  const branches = await qmp.explorer.getChildren(session);
  const b = branches.find((x) => x.type === 'branch' && x.branch === name);
  assert.ok(b, `branch ${name} in ${JSON.stringify(branches)}`);
  return qmp.explorer.getChildren(b);
}

function items(nodes: ExplorerNode[]): Item[] {
  return nodes.filter((n): n is Item => n.type === 'item');
}

function labels(nodes: ExplorerNode[]): string[] {
  return items(nodes).map((n) => n.item.label);
}

function find(nodes: ExplorerNode[], label: string): Item {
  return items(nodes).find((n) => n.item.label === label) ?? assert.fail(`no ${label} in ${JSON.stringify(labels(nodes))}`);
}

suite('QEMU explorer', () => {
  const notebooks: vscode.NotebookDocument[] = [];
  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await closeAndForget(await api(), notebooks);
  });

  test('lists what cells create on the sandbox (children, tooltips, QOM levels) and drops it after they are deleted', async () => {
    const qmp = await api();
    const data = new vscode.NotebookData([
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "query-status" }', 'qmp'),
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, create, 'qmp'),
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, remove, 'qmp'),
    ]);
    data.metadata = { profile: 'sandbox' };
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
    notebooks.push(nb);
    await showWithKernel(nb, qmp, 'sandbox');
    assert.deepEqual([...(await runCells(qmp, nb, [0])).values()], ['succeeded']);
    await vscode.commands.executeCommand('qmpExplorer.focus');

    // Listed before the objects exist: the cache then holds none of them.
    for (const b of ['block', 'objects', 'chardevs']) assert.ok(!labels(await branch(qmp, b)).some((l) => l.startsWith('ex-')), b);
    const before = qmp.explorer.queries;

    // While the view shows, the cell's commands and events refresh it: debounced, a few times, not once each.
    let fired = 0;
    const sub = qmp.explorer.onDidChangeTreeData(() => fired++);
    try {
      assert.deepEqual([...(await runCells(qmp, nb, [1])).values()], ['succeeded']);
      await waitFor(qmp.explorer.onDidChangeTreeData, () => (fired > 0 ? true : undefined), 'the view to be refreshed');
    } finally {
      sub.dispose();
    }
    assert.ok(fired < 11, `${fired} refreshes for 11 commands and their events`);
    const block = await branch(qmp, 'block');
    assert.ok(qmp.explorer.queries > before, 'the cell\'s commands made the branches stale: listed again');
    const top = find(block, 'ex-top');
    assert.equal(top.item.description, 'qcow2 · 64 MiB');
    assert.match(top.item.tooltip, /^driver: qcow2$/m);
    // With its backing node given at blockdev-add, QEMU names the overlay's file with a json: filename.
    assert.match(top.item.tooltip, /^file: .*ex-top\.qcow2.*$/m);
    assert.match(top.item.tooltip, /^virtual size: 64 MiB \(67108864 bytes\)$/m);
    assert.ok(!labels(block).includes('ex-base'), 'the backing node is a child, not a root');
    const kids = await qmp.explorer.getChildren(top);
    assert.deepEqual(items(kids).map((k) => [k.item.label, k.item.description?.split(' · ').slice(0, 2).join(' ')]).sort(),
      [['ex-base', 'backing null-co'], ['ex-top-file', 'file file']]);
    const treeItem = qmp.explorer.getTreeItem(top);
    assert.equal(treeItem.contextValue, 'qmpExplorerItem.block-node');
    assert.equal(treeItem.collapsibleState, vscode.TreeItemCollapsibleState.Collapsed);
    assert.equal(treeItem.tooltip, top.item.tooltip);

    const objects = await branch(qmp, 'objects');
    assert.equal(find(objects, 'ex-sec').item.description, 'secret');
    assert.equal(find(await branch(qmp, 'chardevs'), 'ex-chr').item.description, 'null');

    // The QOM tree, one level per expansion.
    const devices = await branch(qmp, 'devices');
    const unattached = find(devices, 'unattached');
    assert.equal(unattached.item.path, '/machine/unattached');
    const level = items(await qmp.explorer.getChildren(unattached));
    assert.ok(level.length > 0 && level.every((n) => n.item.path?.startsWith('/machine/unattached/')), JSON.stringify(level.map((n) => n.item.path)));

    assert.deepEqual([...(await runCells(qmp, nb, [2])).values()], ['succeeded']);
    assert.ok(!labels(await branch(qmp, 'block')).some((l) => l.startsWith('ex-')), 'blockdev-del dropped the nodes');
    assert.ok(!labels(await branch(qmp, 'objects')).includes('ex-sec'), 'object-del dropped the object');
    assert.ok(!labels(await branch(qmp, 'chardevs')).includes('ex-chr'), 'chardev-remove dropped the chardev');
  });

  test('hidden, the view queries nothing; shown again, it lists the stale branches', async () => {
    const qmp = await api();
    const data = new vscode.NotebookData([
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "query-status" }', 'qmp'),
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code,
        '{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "ex-hidden", "size": 1048576 } }', 'qmp'),
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "blockdev-del", "arguments": { "node-name": "ex-hidden" } }', 'qmp'),
    ]);
    data.metadata = { profile: 'sandbox' };
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
    notebooks.push(nb);
    await showWithKernel(nb, qmp, 'sandbox');
    assert.deepEqual([...(await runCells(qmp, nb, [0])).values()], ['succeeded']);
    await vscode.commands.executeCommand('qmpExplorer.focus');
    await waitFor(qmp.explorer.onDidChangeVisibility, () => (qmp.explorer.visible ? true : undefined), 'the view to show');
    assert.ok(!labels(await branch(qmp, 'block')).includes('ex-hidden'));

    await vscode.commands.executeCommand('workbench.view.search');
    await waitFor(qmp.explorer.onDidChangeVisibility, () => (qmp.explorer.visible ? undefined : true), 'the view to hide');
    const before = qmp.explorer.queries;
    let fired = 0;
    const sub = qmp.explorer.onDidChangeTreeData(() => fired++);
    try {
      assert.deepEqual([...(await runCells(qmp, nb, [1])).values()], ['succeeded']);
      // Longer than the debounce: still nothing.
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(fired, 0, 'no refresh while hidden');
      assert.equal(qmp.explorer.queries, before, 'no query while hidden');

      const relisted = new Promise<void>((resolve) => {
        const s2 = qmp.explorer.onDidList((e) => { if (e.branch === 'block') { s2.dispose(); resolve(); } });
      });
      await vscode.commands.executeCommand('qmpExplorer.focus');
      await waitFor(qmp.explorer.onDidChangeTreeData, () => (fired > 0 ? true : undefined), 'the refresh when shown');
      await Promise.race([relisted, new Promise((_, reject) => setTimeout(() => reject(new Error('the open block branch was not listed again when shown')), 30_000))]);
    } finally {
      sub.dispose();
    }
    assert.ok(qmp.explorer.queries > before);
    assert.ok(labels(await branch(qmp, 'block')).includes('ex-hidden'));
    assert.deepEqual([...(await runCells(qmp, nb, [2])).values()], ['succeeded']);
  });

  test('Copy Name, Insert Name at the cursor, New Cell in the active notebook and in a new one', async () => {
    const qmp = await api();
    const data = new vscode.NotebookData([
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code,
        '{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "ex-act", "size": 1048576 } }', 'qmp'),
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "blockdev-del", "arguments": { "node-name": "" } }', 'qmp'),
    ]);
    data.metadata = { profile: 'sandbox' };
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
    notebooks.push(nb);
    await showWithKernel(nb, qmp, 'sandbox');
    assert.deepEqual([...(await runCells(qmp, nb, [0])).values()], ['succeeded']);
    const node = find(await branch(qmp, 'block'), 'ex-act');

    await vscode.env.clipboard.writeText('');
    await vscode.commands.executeCommand('qmp.explorer.copyName', node);
    assert.equal(await vscode.env.clipboard.readText(), 'ex-act');

    // The cursor between the quotes of the second cell's "node-name".
    const cell = nb.cellAt(1);
    const editor = await vscode.window.showTextDocument(cell.document);
    const at = cell.document.positionAt(cell.document.getText().indexOf('""') + 1);
    editor.selections = [new vscode.Selection(at, at)];
    await waitFor(vscode.window.onDidChangeActiveTextEditor, () => (vscode.window.activeTextEditor?.document === cell.document ? true : undefined),
      `the second cell's editor to be active (it is ${vscode.window.activeTextEditor?.document.uri.toString() ?? 'none'})`);
    const changed: string[] = [];
    const sub = vscode.workspace.onDidChangeTextDocument((e) => changed.push(`${e.document.uri.toString()}: ${e.document.getText()}`));
    try {
      assert.equal(await vscode.commands.executeCommand('qmp.explorer.insertName', node), 1);
      await waitFor(vscode.workspace.onDidChangeTextDocument, () => (cell.document.getText().includes('ex-act') ? true : undefined),
        `the name in the cell (changed: ${JSON.stringify(changed)}; editor: ${editor.document.uri.toString()} ${editor.document.getText()})`, 5000)
        .catch((err: Error) => assert.fail(`${err.message}; changed: ${JSON.stringify(changed)}; cell ${cell.document.uri.toString()}`));
    } finally {
      sub.dispose();
    }
    assert.equal(cell.document.getText(), '{ "execute": "blockdev-del", "arguments": { "node-name": "ex-act" } }');

    // In the active notebook: after the selected cell.
    await vscode.window.showNotebookDocument(nb, { selections: [new vscode.NotebookRange(0, 1)] });
    const added = await vscode.commands.executeCommand<{ notebook: vscode.NotebookDocument; index: number }>('qmp.explorer.newCell', node, 'blockdev-del');
    assert.equal(added.notebook.uri.toString(), nb.uri.toString());
    assert.equal(added.index, 1);
    assert.equal(nb.cellAt(1).document.getText(), '{ "execute": "blockdev-del", "arguments": { "node-name": "ex-act" } }');
    assert.equal(nb.cellAt(1).document.languageId, 'qmp');
    assert.equal(nb.cellCount, 3);

    // No notebook open: a new one on the item's session.
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const fresh = await vscode.commands.executeCommand<{ notebook: vscode.NotebookDocument; index: number }>('qmp.explorer.newCell', node, 'query-named-block-nodes');
    notebooks.push(fresh.notebook);
    assert.notEqual(fresh.notebook, nb);
    assert.equal(fresh.notebook.cellCount, 1);
    assert.equal(fresh.notebook.notebookType, 'qmp-notebook');
    assert.equal(fresh.notebook.cellAt(0).document.getText(), '{ "execute": "query-named-block-nodes", "arguments": { "flat": true } }');
    assert.equal(fresh.notebook.metadata['profile'], 'sandbox');
    // It runs there, on the sandbox, as written.
    await showWithKernel(fresh.notebook, qmp, 'sandbox');
    assert.deepEqual([...(await runCells(qmp, fresh.notebook, [0])).values()], ['succeeded']);
    assert.equal(await vscode.commands.executeCommand('qmp.explorer.newCell', node, 'not-offered').then(() => 'ran', () => 'refused'), 'refused');
  });

  test('the block graph of a cell without query-named-block-nodes shows each node\'s driver and size', async () => {
    const qmp = await api();
    const data = new vscode.NotebookData([
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, [
        '{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "gr-base", "size": 67108864 } }',
        '{ "execute": "blockdev-create", "arguments": { "job-id": "gr-mkfile", "options": { "driver": "file", "filename": "gr-top.qcow2", "size": 0 } } }',
        '{ "wait-event": "JOB_STATUS_CHANGE", "data": { "id": "gr-mkfile", "status": "concluded" }, "timeout": 20000 }',
        '{ "execute": "job-dismiss", "arguments": { "id": "gr-mkfile" } }',
        '{ "execute": "blockdev-add", "arguments": { "driver": "file", "node-name": "gr-top-file", "filename": "gr-top.qcow2" } }',
        '{ "execute": "blockdev-create", "arguments": { "job-id": "gr-fmt", "options": { "driver": "qcow2", "file": "gr-top-file", "size": 33554432 } } }',
        '{ "wait-event": "JOB_STATUS_CHANGE", "data": { "id": "gr-fmt", "status": "concluded" }, "timeout": 20000 }',
        '{ "execute": "job-dismiss", "arguments": { "id": "gr-fmt" } }',
        '{ "execute": "blockdev-add", "arguments": { "driver": "qcow2", "node-name": "gr-top", "file": "gr-top-file", "backing": "gr-base" } }',
      ].join('\n'), 'qmp'),
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "x-debug-query-block-graph" }', 'qmp'),
    ]);
    data.metadata = { profile: 'sandbox' };
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
    notebooks.push(nb);
    await showWithKernel(nb, qmp, 'sandbox');
    assert.deepEqual([...(await runCells(qmp, nb, [0, 1])).values()], ['succeeded', 'succeeded']);
    const item = nb.cellAt(1).outputs.flatMap((o) => o.items).find((i) => i.mime === replyMime);
    assert.ok(item, 'the graph has a renderer item');
    const reply = JSON.parse(new TextDecoder().decode(item.data)) as ReplyData;
    assert.equal(reply.command, 'x-debug-query-block-graph');
    assert.ok(Array.isArray(reply.named), 'the controller added query-named-block-nodes\' reply');
    // The SVG the renderer draws from that item (the same function, on the same data).
    const svg = graphSvg(graphFromDebug(reply.return, reply.named));
    const box = (name: string): string => {
      const m = new RegExp(`<g class="node node-driver" data-node-id="[^"]*" data-node-name="${name}"[^>]*>([\\s\\S]*?)</g>`).exec(svg);
      return (m?.[1] ?? assert.fail(`no box for ${name} in ${svg}`)).replace(/<title>[\s\S]*?<\/title>/, '').replace(/<[^>]+>/g, ' ');
    };
    // The overlay's file name is QEMU's json:{…} (its backing node was given at blockdev-add): in the tooltip only.
    assert.match(box('gr-top'), /^\s*gr-top\s+qcow2\s+32 MiB\s*$/);
    assert.match(svg, /<title>gr-top\ndriver\nqcow2\njson:[^<]*gr-top\.qcow2/);
    assert.match(box('gr-base'), /gr-base\s+null-co\s+.*64 MiB/);
    assert.match(box('gr-top-file'), /gr-top-file\s+file\s+gr-top\.qcow2\s+\d/);
    // What is saved: the reply alone.
    assert.doesNotMatch(JSON.stringify(nb.cellAt(1).outputs.map((o) => o.metadata)), /node-name/);
  });
});
