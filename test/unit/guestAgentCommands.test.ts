// The guest agent in the editor and the CLI: commands its guest-info lists as disabled are said to be
// disabled (not unknown) in checks, left out of completion, and refused by the client before sending; the
// arguments qemu-ga-ref(7) documents complete and hover. The man page is a fixture copy of Debian 12's
// (test/fixtures/manpage/qemu-ga-ref.7, qemu-guest-agent 7.2), never the host's.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  GuestAgentClient, GuestAgentCommandDisabledError, guestAgentSchemaInfos, type GuestAgentCommand,
} from '../../src/endpoints/guestAgent';
import { Schema, isDisabledCommand } from '../../src/qmp/schema';
import type { ChannelSink, QmpChannel } from '../../src/qmp/channel';
import { QmpClient } from '../../src/qmp/client';
import { CommandTimeoutError } from '../../src/qmp/errors';
import type { CommandReply } from '../../src/qmp/messages';
import { diagnose } from '../../src/language/diagnostics';
import { complete } from '../../src/language/completion';
import { completeShell } from '../../src/language/shellCompletion';
import { hover } from '../../src/language/hover';
import { shellDiagnose } from '../../src/language/shellDiagnostics';
import { documentedArguments, parseQmpManPage } from '../../src/language/manpage';
import { fixturesDir } from '../support/fakeTransport';

const commands: GuestAgentCommand[] = [
  { name: 'guest-sync-delimited', enabled: true }, { name: 'guest-ping', enabled: true }, { name: 'guest-info', enabled: true },
  { name: 'guest-file-open', enabled: true }, { name: 'guest-exec', enabled: true },
  { name: 'guest-shutdown', enabled: false }, { name: 'guest-set-time', enabled: false },
];
const schema = Schema.fromIntrospection(guestAgentSchemaInfos(commands));
const docs = parseQmpManPage(readFileSync(path.join(fixturesDir, 'manpage', 'qemu-ga-ref.7'), 'utf8'));

/** The text with `|` removed, and the offset where it was. */
function at(marked: string): [string, number] {
  const i = marked.indexOf('|');
  return [marked.slice(0, i) + marked.slice(i + 1), i];
}

describe('disabled guest-agent commands', () => {
  test('a cell using one has an error at the command name that says disabled, not unknown', () => {
    const text = '{"execute": "guest-shutdown", "arguments": {"mode": "halt"}}';
    const ds = diagnose(text, schema).filter((d) => d.severity === 'error');
    assert.equal(ds.length, 1, JSON.stringify(ds));
    const d = ds[0];
    assert.equal(d?.code, 'command-disabled');
    assert.equal(text.slice(d?.start, d?.end), '"guest-shutdown"');
    assert.match(d?.message ?? '', /^The command guest-shutdown is disabled in this guest agent \(blocked by its configuration/);
    assert.deepEqual(diagnose('{"execute": "guest-ping"}', schema), []);
    // A typo near a disabled command does not suggest it.
    const typo = diagnose('{"execute": "guest-shutdwn"}', schema)[0];
    assert.equal(typo?.code, 'unknown-command');
    assert.doesNotMatch(typo?.message ?? '', /did you mean/);
  });

  test('qmp-shell cells say the same', () => {
    const ds = shellDiagnose('guest-set-time time=5', { schema }).filter((d) => d.severity === 'error');
    assert.deepEqual(ds.map((d) => d.code), ['command-disabled']);
  });

  test('completion leaves disabled commands out; hover says they are disabled', () => {
    const [text, offset] = at('{"execute": "guest-|"}');
    const labels = complete(text, offset, schema).items.map((i) => i.label);
    assert.ok(labels.includes('guest-ping') && labels.includes('guest-file-open'));
    assert.ok(!labels.includes('guest-shutdown') && !labels.includes('guest-set-time'), labels.join(' '));
    const [top, o2] = at('|');
    assert.ok(!complete(top, o2, schema).items.some((i) => i.label === 'guest-shutdown'));
    const h = hover('{"execute": "guest-shutdown"}', 15, schema, docs);
    assert.match(h?.contents ?? '', /\*\*Disabled\*\* in this guest agent/);
    assert.doesNotMatch(h?.contents ?? '', /qmp-notebook:disabled/);
    // The agent's schema lists no arguments: the hover says so, not "none", and sends the reader to the manual.
    assert.match(h?.contents ?? '', /Arguments: not listed by the schema; the manual below describes them/);
    assert.doesNotMatch(h?.contents ?? '', /properties of the device or object|Arguments: none/);
  });

  test('a schema of QEMU (no such feature) is not affected', () => {
    const qemu = Schema.fromIntrospection([
      { 'name': '0', 'meta-type': 'object', 'members': [] },
      { 'name': 'query-status', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '0', 'features': ['unstable'] },
    ]);
    assert.equal(isDisabledCommand(qemu.command('query-status') as NonNullable<ReturnType<Schema['command']>>), false);
    assert.ok(!diagnose('{"execute": "query-status"}', qemu).some((d) => d.code === 'command-disabled'));
  });
});

/** An in-memory guest agent: answers guest-sync-delimited, guest-info (from `list`), and anything else with {}. */
class FakeAgent implements QmpChannel {
  readonly description = 'fake agent';
  readonly sent: string[] = [];
  private sink: ChannelSink | undefined;
  constructor(public list: GuestAgentCommand[]) {}
  start(sink: ChannelSink): void { this.sink = sink; }
  send(text: string): void {
    this.sent.push(text);
    const msg = JSON.parse(text) as { execute: string; arguments?: { id?: number }; id?: unknown };
    const id = msg.id === undefined ? '' : `,"id":${JSON.stringify(msg.id)}`;
    const value = msg.execute === 'guest-sync-delimited' ? JSON.stringify(msg.arguments?.id)
      : msg.execute === 'guest-info' ? JSON.stringify({ version: '7.2.22', supported_commands: this.list }) : '{}';
    const reply = `{"return":${value}${id}}`;
    setImmediate(() => this.sink?.message(reply, JSON.parse(reply)));
  }
  close(): Promise<void> { return Promise.resolve(); }
}

describe('the guest-agent client refuses disabled commands before sending', () => {
  test('refused with the reason, nothing sent; enabled ones run; the list is read again after a thaw', async () => {
    const agent = new FakeAgent(commands);
    const client = new GuestAgentClient();
    await client.connect(() => Promise.resolve(agent));
    try {
      assert.deepEqual([...client.disabledCommands ?? []].sort(), ['guest-set-time', 'guest-shutdown']);
      const before = agent.sent.length;
      await assert.rejects(client.send({ execute: 'guest-shutdown' }), (err: unknown) => {
        assert.ok(err instanceof GuestAgentCommandDisabledError);
        assert.ok(err instanceof TypeError, 'the run engine reports it as not sent');
        assert.equal(err.code, 'GUEST_AGENT_COMMAND_DISABLED');
        assert.equal(err.command, 'guest-shutdown');
        assert.match(err.message, /guest-shutdown is disabled in this guest agent: its guest-info lists it with enabled: false/);
        return true;
      });
      assert.equal(agent.sent.length, before, 'nothing was sent');
      assert.deepEqual(await client.execute('guest-ping'), {});
      // A thaw changes what is enabled: the client reads guest-info again and refuses by the new list.
      agent.list = commands.map((c) => ({ ...c, enabled: c.name !== 'guest-ping' }));
      await client.execute('guest-fsfreeze-thaw');
      const deadline = Date.now() + 10_000;
      while (!client.disabledCommands?.has('guest-ping') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual([...client.disabledCommands ?? []], ['guest-ping']);
      assert.deepEqual(await client.execute('guest-shutdown'), {});
      await assert.rejects(client.send({ execute: 'guest-ping' }), GuestAgentCommandDisabledError);
    } finally {
      await client.disconnect();
    }
  });

  test('an agent whose guest-info fails stays usable and refuses nothing', async () => {
    const agent = new FakeAgent(commands);
    const send = agent.send.bind(agent);
    agent.send = (text: string): void => {
      if (text.includes('"guest-info"')) {
        const id = (JSON.parse(text) as { id: unknown }).id;
        const reply = `{"error":{"class":"GenericError","desc":"no"},"id":${JSON.stringify(id)}}`;
        setImmediate(() => (agent as unknown as { sink: ChannelSink }).sink.message(reply, JSON.parse(reply)));
        return;
      }
      send(text);
    };
    const client = new GuestAgentClient();
    await client.connect(() => Promise.resolve(agent));
    try {
      assert.equal(client.disabledCommands, undefined);
      assert.deepEqual(await client.execute('guest-shutdown'), {});
    } finally {
      await client.disconnect();
    }
  });
});

describe('the guest agent\'s rules are client hooks, heard by send() and sendThen() alike', () => {
  test('send() is the client\'s own: the agent overrides no public call', () => {
    assert.equal(GuestAgentClient.prototype.send, QmpClient.prototype.send);
    assert.equal(GuestAgentClient.prototype.sendThen, QmpClient.prototype.sendThen);
  });

  test('sendThen (the run engine\'s path) refuses a disabled command unsent and resynchronises after a timeout', async () => {
    const agent = new FakeAgent(commands);
    const answer = agent.send.bind(agent);
    // guest-exec is never answered here, so that it times out.
    agent.send = (text: string): void => {
      if (text.includes('"guest-exec"')) agent.sent.push(text);
      else answer(text);
    };
    const client = new GuestAgentClient();
    await client.connect(() => Promise.resolve(agent));
    const outcome = (input: { execute: string }, timeoutMs?: number): Promise<CommandReply | Error> => new Promise((resolve) => {
      let sync = true;
      client.sendThen(input, timeoutMs === undefined ? {} : { timeoutMs }, resolve, (err) => {
        assert.equal(sync, false, 'an error is never given from inside the call');
        resolve(err as Error);
      });
      sync = false;
    });
    try {
      const before = agent.sent.length;
      const refused = await outcome({ execute: 'guest-shutdown' });
      assert.ok(refused instanceof GuestAgentCommandDisabledError, String(refused));
      assert.equal(agent.sent.length, before, 'nothing was sent');
      const ping = await outcome({ execute: 'guest-ping' });
      assert.ok(!(ping instanceof Error) && ping.ok);
      const timedOut = await outcome({ execute: 'guest-exec' }, 30);
      assert.ok(timedOut instanceof CommandTimeoutError, String(timedOut));
      const deadline = Date.now() + 10_000;
      const resynced = (): boolean => agent.sent.slice(agent.sent.findIndex((t) => t.includes('"guest-exec"')))
        .some((t) => t.includes('"guest-sync-delimited"'));
      while (!resynced() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.ok(resynced(), `a guest-sync-delimited follows the timed-out command: ${agent.sent.join(' ')}`);
    } finally {
      await client.disconnect();
    }
  });

  test('a hook that throws is logged as a listener\'s; the command is still answered', async () => {
    const logged: string[] = [];
    class Throwing extends GuestAgentClient {
      protected override commandEnded(): void {
        throw new Error('hook broke');
      }
    }
    const client = new Throwing({ log: (_level, message) => logged.push(message) });
    await client.connect(() => Promise.resolve(new FakeAgent(commands)));
    try {
      assert.deepEqual(await client.execute('guest-ping'), {});
      assert.ok(logged.some((m) => m.includes('hook broke')), logged.join('\n'));
    } finally {
      await client.disconnect();
    }
  });
});

describe('arguments from qemu-ga-ref(7)', () => {
  test('the fixture documents each command\'s arguments, with the type only where stated', () => {
    assert.deepEqual(documentedArguments(docs, 'guest-file-open').map((m) => [m.name, m.type, m.optional]),
      [['path', 'string', false], ['mode', 'string', true]]);
    assert.deepEqual(documentedArguments(docs, 'guest-exec').map((m) => m.name), ['path', 'arg', 'env', 'input-data', 'capture-output']);
    assert.deepEqual(documentedArguments(docs, 'guest-ping'), []);
    assert.deepEqual(documentedArguments(docs, 'no-such-command'), []);
    // Every documented argument of every command has a name and text; types are only ever the page's words.
    const roff = readFileSync(path.join(fixturesDir, 'manpage', 'qemu-ga-ref.7'), 'utf8');
    let total = 0;
    for (const e of docs.entities()) {
      if (e.kind !== 'command') continue;
      for (const m of documentedArguments(docs, e.name)) {
        total++;
        assert.match(m.name, /^[a-z][a-z0-9-]*$/);
        if (m.type !== undefined) assert.ok(roff.includes(m.type.replace(/-/g, '\\-').split(' ').at(-1) as string), `${e.name}.${m.name}: ${m.type}`);
      }
    }
    assert.ok(total >= 30, `${total} documented arguments`);
  });

  test('completion offers the documented members of an open guest-agent command, required first', () => {
    const [text, offset] = at('{"execute": "guest-file-open", "arguments": {|}}');
    const items = complete(text, offset, schema, { docs }).items;
    assert.deepEqual(items.map((i) => i.label), ['path', 'mode']);
    const p = items[0];
    assert.equal(p?.detail, 'string (required; from the manual)');
    assert.equal(p?.insertText, '"path": "$1"');
    assert.match(p?.documentation ?? '', /Full path to the file in the guest to open/);
    // Members already written are not offered again; without the manual nothing is.
    const [t2, o2] = at('{"execute": "guest-file-open", "arguments": {"path": "/etc/hostname", |}}');
    assert.deepEqual(complete(t2, o2, schema, { docs }).items.map((i) => i.label), ['mode']);
    assert.deepEqual(complete(text, offset, schema).items, []);
    const [t3, o3] = at('{"execute": "guest-exec", "arguments": {"capture-output": |}}');
    assert.ok(complete(t3, o3, schema, { docs }).items.every((i) => i.kind !== 'property'));
    const [t4, o4] = at('{"execute": "guest-exec", "arguments": {|}}');
    const exec = complete(t4, o4, schema, { docs }).items;
    assert.equal(exec.find((i) => i.label === 'arg')?.insertText, '"arg": [$1]');
    assert.equal(exec.find((i) => i.label === 'capture-output')?.insertText, '"capture-output": ${1|false,true|}');
  });

  test('qmp-shell cells complete the documented arguments too', () => {
    const items = completeShell('guest-file-open path=/x ', 'guest-file-open path=/x '.length, schema, docs).items;
    assert.deepEqual(items.filter((i) => i.kind === 'property').map((i) => [i.label, i.insertText, i.detail]),
      [['mode', 'mode=', 'string (optional; from the manual)']]);
    assert.deepEqual(completeShell('guest-file-open ', 16, schema).items.filter((i) => i.kind === 'property'), []);
  });

  test('hover on a documented member shows its text; an undocumented one shows nothing', () => {
    const text = '{"execute": "guest-file-open", "arguments": {"path": "/x", "bogus": 1}}';
    const h = hover(text, text.indexOf('"path"') + 2, schema, docs);
    assert.match(h?.contents ?? '', /^\*\*path\*\* \(member of `guest-file-open`\): required/);
    assert.match(h?.contents ?? '', /Type: string \(from the manual/);
    assert.match(h?.contents ?? '', /Full path to the file in the guest to open/);
    assert.equal(hover(text, text.indexOf('"bogus"') + 2, schema, docs), undefined);
    // The same in a qmp-shell cell.
    const shell = 'guest-file-open path=/x bogus=1';
    const sh = hover(shell, shell.indexOf('path') + 1, schema, docs, { language: 'qmp-shell' });
    assert.match(sh?.contents ?? '', /^\*\*path\*\* \(member of `guest-file-open`\): required/);
    assert.equal(shell.slice(sh?.range.start, sh?.range.end), 'path');
    assert.equal(hover(shell, shell.indexOf('bogus') + 1, schema, docs, { language: 'qmp-shell' }), undefined);
    assert.equal(hover(shell, shell.indexOf('/x'), schema, docs, { language: 'qmp-shell' }), undefined);
  });

  test('a page whose "The members of" items form a cycle ends (bounded, iterative)', () => {
    const page = ['.SS \\fBcmd\\fP (Command)', '.SS Arguments', '.INDENT 0.0', '.TP', '.B \\fBa\\fP: \\fBint\\fP', 'first',
      '.TP', '.B The members of \\fBT1\\fP', '.UNINDENT',
      '.SS \\fBT1\\fP (Object)', '.SS Members', '.INDENT 0.0', '.TP', '.B \\fBb\\fP: \\fBstring\\fP (optional)', 'second',
      '.TP', '.B The members of \\fBT2\\fP', '.UNINDENT',
      '.SS \\fBT2\\fP (Object)', '.SS Members', '.INDENT 0.0', '.TP', '.B \\fBa\\fP: \\fBstring\\fP', 'shadowed',
      '.TP', '.B The members of \\fBT1\\fP', '.UNINDENT', ''].join('\n');
    const d = parseQmpManPage(page);
    assert.deepEqual(documentedArguments(d, 'cmd').map((m) => [m.name, m.type, m.optional]), [['a', 'int', false], ['b', 'string', true]]);
  });
});
