// The reply renderer (issue 22) in a real extension host on the sandbox, with the packaged .vsix: a reply
// carries the renderer's item (application/vnd.qmp.reply+json: the command and the return value) beside its JSON
// and plain text; query-named-block-nodes makes a table; x-debug-query-block-graph makes a block graph whose
// SVG has the nodes the cell created; the saved form is the `<-` line alone; the packaged extension declares the
// renderer and ships its bundle, an ES module that loads and gives a renderOutputItem. (The DOM the renderer
// draws inside the notebook's webview cannot be reached from the extension host.)
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { toSavedOutputs } from '../../src/notebook/serializer';
import { replyMime, tableOf, type ReplyData } from '../../src/render/model';
import { graphFromDebug, graphSvg } from '../../src/render/blockGraph';
import { api, disconnectAll, extensionId, runCells, showWithKernel } from './hostHelpers';

function replyData(cell: vscode.NotebookCell, command: string): { data: ReplyData; output: vscode.NotebookCellOutput } {
  for (const o of cell.outputs) {
    const item = o.items.find((i) => i.mime === replyMime);
    if (!item) continue;
    const data = JSON.parse(new TextDecoder().decode(item.data)) as ReplyData;
    if (data.command === command) return { data, output: o };
  }
  return assert.fail(`no ${replyMime} item for ${command} in ${JSON.stringify(cell.outputs.map((o) => o.items.map((i) => i.mime)))}`);
}

suite('reply renderer', () => {
  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await disconnectAll(await api());
  });

  test('replies carry the renderer item: a table for query-named-block-nodes, a block graph, nothing extra saved', async () => {
    const qmp = await api();
    const data = new vscode.NotebookData([
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code,
        '{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "rr0", "size": 1048576 } }\n'
        + '{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "rr1", "size": 2097152 } }\n'
        + '{ "execute": "query-named-block-nodes" }', 'qmp'),
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "x-debug-query-block-graph" }', 'qmp'),
    ]);
    data.metadata = { profile: 'sandbox' };
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
    await showWithKernel(nb, qmp, 'sandbox');
    const outcomes = await runCells(qmp, nb, [0, 1]);
    assert.deepEqual([...outcomes.values()], ['succeeded', 'succeeded']);

    const { data: named, output } = replyData(nb.cellAt(0), 'query-named-block-nodes');
    assert.deepEqual(output.items.map((i) => i.mime), ['application/json', 'text/plain', replyMime]);
    const plain = new TextDecoder().decode(output.items[1]?.data);
    assert.equal(plain, JSON.stringify(named.return, null, 2), 'the renderer draws the value the text shows');
    const table = tableOf(named.return);
    assert.ok(table, 'query-named-block-nodes is a table');
    assert.ok(table.columns.includes('node-name') && table.columns.includes('drv'));
    const col = table.columns.indexOf('node-name');
    assert.deepEqual(table.cells.map((r) => r[col]).sort(), ['rr0', 'rr1']);

    const { data: debug } = replyData(nb.cellAt(1), 'x-debug-query-block-graph');
    const svg = graphSvg(graphFromDebug(debug.return, named.return));
    const drawn = [...svg.matchAll(/<g class="node[^"]*" data-node-id="[^"]*" data-node-name="([^"]*)" data-kind="driver" data-driver="([^"]*)"/g)]
      .map((m) => `${m[1]}:${m[2]}`).sort();
    assert.deepEqual(drawn, ['rr0:null-co', 'rr1:null-co']);

    // What the file keeps: the `<-` line of each reply, the renderer's item nowhere.
    const saved = toSavedOutputs(nb.cellAt(0).outputs);
    const replies = saved.filter((s) => s.kind === 'message' && s.direction === '<-');
    assert.equal(replies.length, 3);
    for (const s of saved) assert.doesNotMatch(JSON.stringify(s), /vnd\.qmp|"command"/);
    const last = replies[2];
    assert.ok(last?.kind === 'message');
    assert.deepEqual((JSON.parse(last.json) as { return: unknown }).return, named.return);
  });

  test('the packaged extension declares the renderer and its bundle loads as an ES module', async () => {
    const extension = vscode.extensions.getExtension(extensionId);
    assert.ok(extension);
    const renderers = (extension.packageJSON as { contributes?: { notebookRenderer?: { id: string; entrypoint: string; mimeTypes: string[] }[] } }).contributes?.notebookRenderer ?? [];
    const mine = renderers.find((r) => r.mimeTypes.includes(replyMime));
    assert.ok(mine, 'contributes.notebookRenderer names the reply mime');
    const file = path.join(extension.extensionPath, mine.entrypoint);
    assert.ok(fs.existsSync(file), `${file} is in the .vsix`);
    // A dynamic import the TypeScript compiler leaves alone (it would turn `import()` into `require()`), of a
    // data: URL, which Node always reads as an ES module (the extension's package.json has no "type": "module";
    // the webview loads the file as a module).
    const load = new Function('u', 'return import(u)') as (u: string) => Promise<{ activate?: (ctx: unknown) => { renderOutputItem?: unknown } }>;
    const mod = await load(`data:text/javascript;base64,${fs.readFileSync(file).toString('base64')}`);
    assert.equal(typeof mod.activate, 'function');
    assert.equal(typeof mod.activate?.({})?.renderOutputItem, 'function');
  });
});
