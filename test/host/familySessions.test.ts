// Guest-agent and libvirt sessions in the packaged extension: a real qemu-ga on the host (every command that
// could touch the machine blocked, as the family tier does) and a real libvirtd with a transient paused
// 64 MiB domain (test/support/daemons.ts; one libvirtd per run, started only when none answers). Cells run
// and show their replies; a command the agent disabled is flagged and refused before sending; on libvirt
// the taint question is asked once, before the first command, state-changing commands ask (cancel: not
// sent; accept: sent), `qmp.confirmStateChanges: false` stops asking, and a domain destroyed under the
// session ends it in the error state without reconnecting. The questions are modals: the test answers them
// through the extension's prompter (QmpTestApi.prompter), recording what was asked.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { toNotebookData } from '../../src/notebook/serializer';
import type { EndpointPrompter } from '../../src/session/endpointPrompts';
import {
  createTestDomain, destroyTestDomain, ensureLibvirtd, libvirtUri, startGuestAgent, type TestGuestAgent,
} from '../support/daemons';
import { api, disconnectAll, labelOf, outputTexts, recordStates, runCells, showWithKernel, waitFor, waitForState } from './hostHelpers';

/** A question the extension asked, and how many QMP commands had gone to the libvirt domain by then. */
interface Asked { message: string; modal: boolean; items: string[]; lvCommandsBefore: number }

suite('guest agent and libvirt sessions in the editor', () => {
  const domain = `qmphost-${process.pid}`;
  let agent: TestGuestAgent | undefined;
  let original: EndpointPrompter['warning'] | undefined;
  const asked: Asked[] = [];
  let answer: (a: Asked) => string | undefined = () => undefined;
  const notebooks: vscode.NotebookDocument[] = [];
  let lvCommands = 0;
  let lvTrace: vscode.Disposable | undefined;

  suiteSetup(async function () {
    this.timeout(180_000);
    const t0 = Date.now();
    agent = await startGuestAgent();
    const lv = await ensureLibvirtd();
    createTestDomain(domain);
    // The time this suite adds to the host tier before its first test (reported in the run's log).
    console.log(`family host set-up: qemu-ga, libvirtd (${lv.started ? `started in ${lv.ms} ms` : 'already running'}) and a domain in ${Date.now() - t0} ms`);
    const qmp = await api();
    original = qmp.prompter.warning;
    lvTrace = qmp.sessions.onDidTrace((t) => { if (t.session.name === 'lv' && t.dir === '->') lvCommands++; });
    qmp.prompter.warning = (message, options, ...items) => {
      const a = { message, modal: options.modal === true, items, lvCommandsBefore: lvCommands };
      asked.push(a);
      return Promise.resolve(answer(a));
    };
    await vscode.workspace.getConfiguration('qmp').update('connections', [
      { name: 'ga', guestAgent: agent.socketPath },
      { name: 'lv', libvirt: { uri: libvirtUri, domain } },
      { name: 'nodom', libvirt: { uri: libvirtUri, domain: `${domain}-none` } },
    ], vscode.ConfigurationTarget.Workspace);
    await waitFor(qmp.sessions.onDidChangeProfiles, () => (qmp.sessions.profile('ga') && qmp.sessions.profile('lv') ? true : undefined), 'the profiles');
  });

  suiteTeardown(async function () {
    this.timeout(60_000);
    const qmp = await api();
    if (original) qmp.prompter.warning = original;
    lvTrace?.dispose();
    for (const nb of notebooks) {
      if (nb.isClosed) continue;
      await vscode.window.showNotebookDocument(nb);
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    }
    await disconnectAll(qmp);
    const config = vscode.workspace.getConfiguration('qmp');
    await config.update('connections', undefined, vscode.ConfigurationTarget.Workspace);
    await config.update('confirmStateChanges', undefined, vscode.ConfigurationTarget.Workspace);
    await agent?.stop();
    destroyTestDomain(domain);
  });

  async function open(profile: string, sources: string[]): Promise<vscode.NotebookDocument> {
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', toNotebookData({
      profile, cells: sources.map((source) => ({ kind: 'code' as const, language: 'qmp', source })),
    }));
    notebooks.push(nb);
    await showWithKernel(nb, await api(), profile);
    return nb;
  }

  /** Every command the session wrote to the wire from now on. */
  function sentCommands(): { names: string[]; dispose(): void } {
    const names: string[] = [];
    const sub = (apiNow as NonNullable<typeof apiNow>).sessions.onDidTrace((t) => {
      const m = t.dir === '->' ? /"execute"\s*:\s*"([^"]+)"/.exec(t.text) : null;
      if (m?.[1] !== undefined) names.push(m[1]);
    });
    return { names, dispose: () => sub.dispose() };
  }
  let apiNow: Awaited<ReturnType<typeof api>> | undefined;
  setup(async () => { apiNow = await api(); });

  test('a guest-agent profile: a cell shows its reply; a disabled command is flagged and refused before sending; arguments from the manual', async function () {
    this.timeout(120_000);
    const qmp = await api();
    const nb = await open('ga', [
      '{"execute": "guest-ping"}\n{"execute": "guest-get-time"}',
      '{"execute": "guest-get-fsinfo"}',
      '{"execute": "guest-sync-delimited", "arguments": {}}',
      '{"execute": "guest-shutdown"}',
    ]);
    const sent = sentCommands();
    try {
      const outcomes = await runCells(qmp, nb, [0]);
      assert.equal(outcomes.get(0), 'succeeded');
      const replies = outputTexts(nb.cellAt(0)).texts.join('\n');
      assert.match(replies, /^\d{15,}$/m, replies);
      assert.equal(qmp.sessions.session('ga')?.endpoint, 'guest-agent');

      // guest-get-fsinfo only reads, but this agent blocks it (-b): an error at its name, and refused when run.
      const fsinfo = nb.cellAt(1).document;
      const ds = await waitFor(vscode.languages.onDidChangeDiagnostics, () => {
        const found = vscode.languages.getDiagnostics(fsinfo.uri).filter((d) => d.code === 'command-disabled');
        return found.length > 0 ? found : undefined;
      }, 'the command-disabled error', 30_000);
      assert.equal(ds[0]?.severity, vscode.DiagnosticSeverity.Error);
      assert.match(ds[0]?.message ?? '', /The command guest-get-fsinfo is disabled in this guest agent/);
      assert.equal(fsinfo.getText(ds[0]?.range), '"guest-get-fsinfo"');
      const refused = await runCells(qmp, nb, [1]);
      assert.equal(refused.get(1), 'failed');
      const said = outputTexts(nb.cellAt(1)).texts.join('\n');
      assert.match(said, /guest-get-fsinfo is disabled in this guest agent/, said);
      assert.match(said, /Nothing was sent/, said);
      assert.ok(sent.names.includes('guest-get-time') && !sent.names.includes('guest-get-fsinfo'), sent.names.join(' '));
      assert.deepEqual(asked, [], 'reading commands ask nothing');
      // guest-shutdown changes state, but this agent disabled it: refused without a needless question.
      assert.equal((await runCells(qmp, nb, [3])).get(3), 'failed');
      assert.match(outputTexts(nb.cellAt(3)).texts.join('\n'), /guest-shutdown is disabled in this guest agent/);
      assert.deepEqual(asked, [], 'no confirmation for a command that cannot run');
      assert.ok(!sent.names.includes('guest-shutdown'));

      // qemu-ga-ref(7) documents guest-sync-delimited's argument `id` (the man page is read asynchronously, once).
      const args = nb.cellAt(2).document;
      const at = new vscode.Position(0, args.getText().lastIndexOf('{}') + 1);
      const deadline = Date.now() + 30_000;
      let labels: string[] = [];
      while (!labels.includes('id') && Date.now() < deadline) {
        const list = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', args.uri, at);
        labels = list.items.map(labelOf);
        if (!labels.includes('id')) await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(labels.includes('id'), `the documented argument is offered: ${labels.join(', ')}`);
    } finally {
      sent.dispose();
    }
    assert.ok(agent?.alive(), 'qemu-ga is still running');
  });

  test('a libvirt profile: taint asked once before the first command; state changes ask (cancel: not sent; accept: sent); the setting turns it off', async function () {
    this.timeout(180_000);
    const qmp = await api();
    asked.length = 0;
    let stateAnswer: string | undefined;
    answer = (a) => (/tainted/.test(a.message) ? a.items[0] : stateAnswer);
    const nb = await open('lv', ['{"execute": "query-status"}', '{"execute": "cont"}', '{"execute": "stop"}']);
    const sent = sentCommands();
    try {
      assert.equal((await runCells(qmp, nb, [0])).get(0), 'succeeded');
      assert.match(outputTexts(nb.cellAt(0)).texts.join('\n'), /"status"/);
      const taint = asked.filter((a) => /tainted \(custom-monitor\)/.test(a.message));
      assert.equal(taint.length, 1, JSON.stringify(asked));
      assert.equal(taint[0]?.modal, true);
      assert.match(taint[0]?.message ?? '', new RegExp(`"${domain}"`));
      // Asked before anything was passed through (the schema fetch is the first passthrough).
      assert.equal(asked[0], taint[0]);
      assert.equal(taint[0]?.lvCommandsBefore, 0);
      assert.ok(lvCommands > 0);
      assert.ok(sent.names.includes('query-status'));
      assert.equal((await runCells(qmp, nb, [0])).get(0), 'succeeded');
      assert.equal(asked.length, 1, 'the taint question is not asked again');

      // cont, cancelled: nothing is sent and the cell says so.
      stateAnswer = undefined;
      assert.equal((await runCells(qmp, nb, [1])).get(1), 'failed');
      const question = asked[1];
      assert.ok(question?.modal, JSON.stringify(asked));
      assert.match(question?.message ?? '', /^Run "cont" on "lv"\?$/);
      assert.match(outputTexts(nb.cellAt(1)).texts.join('\n'), /was not confirmed; nothing was sent/);
      // A declined confirmation is a cell not sent, not a lost connection.
      assert.doesNotMatch(outputTexts(nb.cellAt(1)).texts.join('\n'), /Not connected/);
      assert.ok(!sent.names.includes('cont'), sent.names.join(' '));

      // cont, accepted: sent, and the domain runs.
      stateAnswer = 'Run';
      assert.equal((await runCells(qmp, nb, [1])).get(1), 'succeeded');
      assert.ok(sent.names.includes('cont'));
      assert.equal(asked.length, 3);
      const client = qmp.sessions.session('lv')?.liveClient;
      assert.equal((await client?.execute('query-status') as { running: boolean }).running, true);

      // qmp.confirmStateChanges: false, and stop runs without a question.
      await vscode.workspace.getConfiguration('qmp').update('confirmStateChanges', false, vscode.ConfigurationTarget.Workspace);
      assert.equal((await runCells(qmp, nb, [2])).get(2), 'succeeded');
      assert.equal(asked.length, 3, JSON.stringify(asked.slice(3)));
      assert.ok(sent.names.includes('stop'));
    } finally {
      sent.dispose();
    }
  });

  test('a libvirt domain destroyed under its session: the error state says so, no reconnection, Retry says it again', async function () {
    this.timeout(120_000);
    const qmp = await api();
    answer = (a) => (/tainted/.test(a.message) ? a.items[0] : 'Run');
    await qmp.sessions.connect('lv');
    const states = recordStates(qmp, 'lv');
    try {
      destroyTestDomain(domain);
      // Noticed without any command (SHUTDOWN, then virsh domstate).
      const s = await waitForState(qmp, 'lv', ['error'], 60_000);
      assert.match(s.lastError ?? '', new RegExp(`^libvirt domain ${domain} not found on qemu:///system .*Not reconnecting`));
      assert.ok(!states.states.includes('reconnecting'), states.states.join(' → '));
      assert.match(qmp.statusBar.textOf('lv') ?? '', /error/);
      // Retry (what the status bar item does) fails at once with the same reason, and stays in error.
      await assert.rejects(qmp.sessions.connect('lv'), /not found on qemu:\/\/\/system/);
      assert.equal(qmp.sessions.session('lv')?.state, 'error');
      // A domain that does not exist: the error at once, and no taint question for it.
      const before = asked.length;
      await assert.rejects(qmp.sessions.connect('nodom'), new RegExp(`libvirt domain ${domain}-none not found on qemu:///system`));
      assert.equal(qmp.sessions.session('nodom')?.state, 'error');
      assert.equal(asked.length, before, JSON.stringify(asked.slice(before)));
    } finally {
      states.dispose();
    }
  });
});
