// The language-model tools in the packaged extension, invoked as an agent would, through vscode.lm.invokeTool
// (outside a chat request): the same tools as `qmp-notebook mcp` on the editor's live sessions. On the sandbox
// (policy allow) commands run and are recorded in a notebook; a QEMU the extension did not start is read-only
// unless the user's settings say otherwise, so `quit` is refused there and QEMU keeps running.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { parseNotebook } from '../../src/format/index';
import { startQemu, type TestQemu } from '../support/qemu';
import { api, disconnectAll, waitFor } from './hostHelpers';

async function invoke(name: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  const result = await vscode.lm.invokeTool(name, { input, toolInvocationToken: undefined }, new vscode.CancellationTokenSource().token);
  const text = result.content.filter((p): p is vscode.LanguageModelTextPart => p instanceof vscode.LanguageModelTextPart).map((p) => p.value).join('');
  return JSON.parse(text) as Record<string, unknown>;
}

suite('language-model tools (agents)', () => {
  let qemu: TestQemu | undefined;

  suiteTeardown(async function () {
    this.timeout(60_000);
    const qmp = await api();
    await disconnectAll(qmp);
    await vscode.workspace.getConfiguration('qmp').update('connections', undefined, vscode.ConfigurationTarget.Workspace);
    await qemu?.stop();
  });

  test('the tools package.json declares are registered: each is invoked through vscode.lm.invokeTool', async () => {
    await api();
    const declared = (vscode.extensions.getExtension('qmp-notebook.qmp-notebook')?.packageJSON as { contributes: { languageModelTools: Array<{ name: string }> } })
      .contributes.languageModelTools.map((t) => t.name);
    assert.deepEqual(declared, ['qmp_list_sessions', 'qmp_lookup', 'qmp_validate', 'qmp_execute', 'qmp_wait_event', 'qmp_read_events', 'qmp_hmp', 'qmp_screenshot', 'qmp_read_result']);
    // Tools that need no session answer at once; an unknown result id is an error the agent can act on.
    assert.ok(Array.isArray((await invoke('qmp_list_sessions', {}))['sessions']));
    assert.match(String((await invoke('qmp_read_result', { id: 'r0' }))['next']), /run the call again/);
    await assert.rejects(Promise.resolve(vscode.lm.invokeTool('qmp_no_such_tool', { input: {}, toolInvocationToken: undefined })));
  });

  test('on the sandbox: list, validate a misspelled command (not sent), execute query-status, recorded as a notebook', async function () {
    this.timeout(90_000);
    const list = await invoke('qmp_list_sessions', {});
    const sandbox = (list['sessions'] as Array<Record<string, unknown>>).find((s) => s['name'] === 'sandbox');
    assert.equal(sandbox?.['policy'], 'allow');
    const v = await invoke('qmp_validate', { session: 'sandbox', text: '{"execute": "query-verison"}' });
    assert.equal(v['valid'], false);
    assert.match(String((v['diagnostics'] as Array<{ message: string }>)[0]?.message), /query-version/);
    const refused = await invoke('qmp_execute', { session: 'sandbox', text: '{"execute": "query-verison"}' });
    assert.equal(refused['sent'], false);
    const r = await invoke('qmp_execute', { session: 'sandbox', text: '{"execute": "query-status"}' });
    const reply = (r['records'] as Array<Record<string, unknown>>).find((x) => x['type'] === 'reply');
    assert.equal((reply?.['return'] as { status?: string } | undefined)?.status, 'prelaunch');
    const file = String(r['recording']);
    const nb = parseNotebook(fs.readFileSync(file, 'utf8'));
    assert.deepEqual(nb.cells.filter((c) => c.kind === 'code').map((c) => c.source), ['{"execute": "query-status"}']);
    assert.ok(nb.cells.some((c) => c.kind === 'markdown' && c.source.includes('query-verison')));
    // The recording is opened as a notebook beside the chat.
    try {
      await waitFor(vscode.window.onDidChangeVisibleNotebookEditors, () =>
        vscode.window.visibleNotebookEditors.some((e) => e.notebook.uri.fsPath === file) ? true : undefined, `the recording ${file} opened`);
    } catch (err) {
      throw new Error(`${(err as Error).message}; open: ${vscode.workspace.notebookDocuments.map((d) => d.uri.fsPath).join(', ')}; visible: ${vscode.window.visibleNotebookEditors.map((e) => e.notebook.uri.fsPath).join(', ')}`);
    }
    const lookup = await invoke('qmp_lookup', { session: 'sandbox', name: 'query-status' });
    assert.equal(lookup['kind'], 'command');
    assert.match(String(lookup['manual']), /\*\*query-status\*\* \(command\)/);
  });

  test('a QEMU the extension did not start is read-only by default: quit is refused and QEMU keeps running', async function () {
    this.timeout(90_000);
    qemu = await startQemu();
    const qmp = await api();
    await vscode.workspace.getConfiguration('qmp').update('connections', [{ name: 'vm', socket: qemu.socketPath }], vscode.ConfigurationTarget.Workspace);
    await waitFor(qmp.sessions.onDidChangeProfiles, () => (qmp.sessions.profile('vm') ? true : undefined), 'the vm profile');
    const list = await invoke('qmp_list_sessions', {});
    assert.equal((list['sessions'] as Array<Record<string, unknown>>).find((s) => s['name'] === 'vm')?.['policy'], 'read-only');
    const quit = await invoke('qmp_execute', { session: 'vm', text: '{"execute": "quit"}' });
    assert.equal(quit['sent'], false);
    assert.deepEqual(quit['refused'], ['quit']);
    const status = await invoke('qmp_execute', { session: 'vm', text: 'query-status' });
    assert.equal(status['sent'], true);
    assert.equal(qemu.process.exitCode, null);
  });
});
