// The runner's critical path (issue 18): the reply that frees the next command and that command's write happen
// in one turn, inside the client's handling of the reply (sendThen), through the engine's one step loop. The
// channel is an in-memory fake driven by the test, so "in the same call" is observable: the next command is in
// `sent` as soon as deliver() returns, before any promise reaction has run.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient } from '../../src/qmp/client';
import type { ChannelSink, QmpChannel } from '../../src/qmp/channel';
import { CommandCancelledError } from '../../src/qmp/errors';
import type { CommandReply } from '../../src/qmp/messages';
import { topLevelMemberText } from '../../src/qmp/wire';
import { Kernel } from '../../src/kernel/kernel';
import { planCell, RunEngine, type CellJob, type EngineClient, type TranscriptRecord } from '../../src/run/index';
import { runCells } from '../../src/cli/run';

const GREETING = '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}';

/** Greets, answers qmp_capabilities; every other command is answered only when the test says so. */
class HeldChannel implements QmpChannel {
  readonly description = 'held channel';
  readonly sent: string[] = [];
  private sink: ChannelSink | undefined;

  start(sink: ChannelSink): void {
    this.sink = sink;
    queueMicrotask(() => this.deliver(GREETING));
  }

  send(text: string): void {
    this.sent.push(text);
    if (text.includes('"qmp_capabilities"')) queueMicrotask(() => this.deliver(`{"return": {}, "id": ${topLevelMemberText(text, 'id') ?? 'null'}}`));
  }

  deliver(text: string): void {
    this.sink?.message(text, JSON.parse(text));
  }

  /** Answers the last command sent; returns the commands sent while the reply was handled. */
  answerLast(extra = ''): string[] {
    const before = this.sent.length;
    const last = this.sent[before - 1] as string;
    this.deliver(`{"return": {}${extra}, "id": ${topLevelMemberText(last, 'id') ?? 'null'}}`);
    return this.sent.slice(before);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function connected(): Promise<{ client: QmpClient; channel: HeldChannel }> {
  const channel = new HeldChannel();
  const client = new QmpClient();
  await client.connect(() => Promise.resolve(channel));
  return { client, channel };
}

const ticks = async (n = 5): Promise<void> => { for (let i = 0; i < n; i++) await Promise.resolve(); };
const names = (sent: readonly string[]): string[] => sent.map((t) => /"execute":"([^"]+)"/.exec(t)?.[1] ?? t);
const jobs = (...sources: string[]): CellJob[] => sources.map((s, i) => ({ cell: i + 1, plan: planCell(s, 'qmp') }));

describe('the next command goes out in the turn of the reply that frees it', () => {
  test('sendThen: the reply callback runs inside the delivery; send() still resolves a promise reaction later', async () => {
    const { client, channel } = await connected();
    const got: string[] = [];
    client.sendThen({ execute: 'a' }, {}, (r) => got.push(r.raw), (err) => got.push(String(err)));
    channel.answerLast();
    assert.equal(got.length, 1, 'called in the same call as the delivery');
    let resolved = false;
    void client.send({ execute: 'b' }).then(() => { resolved = true; });
    channel.answerLast();
    assert.equal(resolved, false);
    await ticks(1);
    assert.equal(resolved, true);
    await client.disconnect();
  });

  test('sendThen: every error comes a microtask later, never from inside the call or the caller\'s abort()', async () => {
    const { client, channel } = await connected();
    const errors: unknown[] = [];
    // Bad input (neither execute nor exec-oob).
    client.sendThen({}, {}, () => assert.fail('no reply'), (err) => errors.push(err));
    assert.equal(errors.length, 0);
    await ticks(1);
    assert.ok(errors[0] instanceof TypeError);
    // Cancelled while written: the rejection is not delivered inside abort().
    const ac = new AbortController();
    client.sendThen({ execute: 'slow' }, { signal: ac.signal }, () => assert.fail('no reply'), (err) => errors.push(err));
    ac.abort();
    assert.equal(errors.length, 1);
    await ticks(1);
    assert.ok(errors[1] instanceof CommandCancelledError);
    // Its late reply is dropped (nobody is called), and the client goes on.
    channel.answerLast();
    const later: string[] = [];
    client.sendThen({ execute: 'next' }, {}, (r) => later.push(r.raw), () => assert.fail('no error'));
    channel.answerLast();
    assert.equal(later.length, 1);
    assert.equal(errors.length, 2);
    await client.disconnect();
  });

  test('sendThen: a callback that throws is a listener\'s error: the session and the next reply are unharmed', async () => {
    const logs: string[] = [];
    const channel = new HeldChannel();
    const client = new QmpClient({ log: (_l, m) => logs.push(m) });
    await client.connect(() => Promise.resolve(channel));
    client.sendThen({ execute: 'a' }, {}, () => { throw new Error('boom'); }, () => assert.fail('no error'));
    channel.answerLast();
    assert.equal(client.state, 'running');
    assert.ok(logs.some((m) => m.includes('boom')), logs.join('\n'));
    const reply = client.send({ execute: 'b' });
    channel.answerLast();
    assert.equal((await reply).ok, true);
    await client.disconnect();
  });

  test('sendThen on a client with its own command rules (the guest agent\'s hooks): refused unsent, answered in the turn, hook first', async () => {
    const heard: string[] = [];
    class Refusing extends QmpClient {
      protected override refuseCommand(name: string): Error | undefined {
        return name === 'disabled' ? new Error('disabled by the agent') : undefined;
      }
      protected override commandEnded(name: string, outcome: CommandReply | Error): void {
        heard.push(`${name}:${outcome instanceof Error ? 'error' : 'reply'}`);
      }
    }
    const channel = new HeldChannel();
    const client = new Refusing();
    await client.connect(() => Promise.resolve(channel));
    assert.deepEqual(heard.splice(0), ['qmp_capabilities:reply'], 'the handshake\'s own commands too');
    const errors: unknown[] = [];
    client.sendThen({ execute: 'disabled' }, {}, () => assert.fail('no reply'), (err) => errors.push(err));
    assert.equal(errors.length, 0, 'never from inside the call');
    await ticks(2);
    assert.match(String(errors[0]), /disabled by the agent/);
    assert.equal(channel.sent.some((t) => t.includes('"disabled"')), false, 'nothing written');
    const got: string[] = [];
    client.sendThen({ execute: 'ok' }, {}, (r) => { got.push(r.raw); heard.push('caller'); }, (err) => errors.push(err));
    channel.answerLast();
    assert.equal(got.length, 1, 'the reply reaches the caller in the turn it is read, as on the plain client');
    assert.deepEqual(heard, ['ok:reply', 'caller'], 'the hook hears the end before the caller');
    await client.disconnect();
  });

  test('engine on the client: each reply writes the next cell\'s command before the delivery returns; records unchanged in order', async () => {
    const { client, channel } = await connected();
    const engine = new RunEngine({ client: () => client });
    const records: TranscriptRecord[] = [];
    const done = engine.run(jobs('{"execute": "a"}', '{"execute": "b"}\n{"execute": "c"}', '{"execute": "d"}'), (r) => records.push(r));
    await ticks();
    assert.deepEqual(names(channel.sent.slice(1)), ['a']);
    // a's reply ends cell 1: cell 2 starts and b is written, in the same call.
    assert.deepEqual(names(channel.answerLast()), ['b']);
    // b's reply: the cell's next step, c.
    assert.deepEqual(names(channel.answerLast()), ['c']);
    assert.deepEqual(names(channel.answerLast()), ['d']);
    assert.deepEqual(channel.answerLast(), []);
    const result = await done;
    assert.deepEqual(result.outcomes, ['succeeded', 'succeeded', 'succeeded']);
    assert.deepEqual(records.map((r) => `${r.type}:${r.cell}`), [
      'cell-started:1', 'sent:1', 'written:1', 'reply:1', 'cell-finished:1',
      'cell-started:2', 'sent:2', 'written:2', 'reply:2', 'sent:2', 'written:2', 'reply:2', 'cell-finished:2',
      'cell-started:3', 'sent:3', 'written:3', 'reply:3', 'cell-finished:3',
    ]);
    // An event after the last reply: the engine stopped listening when the batch ended.
    engine.dispose();
    await client.disconnect();
  });

  test('an event read after the reply in the same delivery belongs to the cell whose command is now waiting (the rule, whatever the chunking)', async () => {
    const { client, channel } = await connected();
    const engine = new RunEngine({ client: () => client });
    const records: TranscriptRecord[] = [];
    const done = engine.run(jobs('{"execute": "a"}', '{"execute": "b"}'), (r) => records.push(r));
    await ticks();
    channel.answerLast();
    channel.deliver('{"event": "AFTER_A", "timestamp": {"seconds": 1, "microseconds": 2}}');
    channel.answerLast();
    await done;
    const event = records.find((r) => r.type === 'event');
    assert.ok(event?.type === 'event');
    assert.equal(event.cell, 2);
    assert.equal(event.step, 0);
    engine.dispose();
    await client.disconnect();
  });

  test('a failure still stops the batch; the skipped cells after it do not nest (10,000 of them)', async () => {
    const { client, channel } = await connected();
    const engine = new RunEngine({ client: () => client });
    const sources = ['{"execute": "a"}', ...Array.from({ length: 10_000 }, () => '{"execute": "never"}')];
    const done = engine.run(jobs(...sources), () => undefined);
    await ticks();
    const last = channel.sent[channel.sent.length - 1] as string;
    channel.deliver(`{"error": {"class": "GenericError", "desc": "no"}, "id": ${topLevelMemberText(last, 'id') ?? 'null'}}`);
    const result = await done;
    assert.equal(result.outcomes[0], 'failed');
    assert.equal(result.outcomes.filter((o) => o === 'skipped').length, 10_000);
    assert.deepEqual(names(channel.sent.slice(1)), ['a']);
    engine.dispose();
    await client.disconnect();
  });

  test('cells that end at once (no steps) in a long batch do not nest either, and the command after them goes out', async () => {
    const { client, channel } = await connected();
    const engine = new RunEngine({ client: () => client });
    const job = (i: number, source: string): CellJob => ({ cell: i, plan: planCell(source, 'qmp') });
    // A cell with no steps ends as soon as it starts (succeeded): 10,000 of them, then a command.
    const list: CellJob[] = [job(1, '{"execute": "a"}')];
    for (let i = 2; i <= 10_001; i++) list.push(job(i, '// nothing to send'));
    list.push(job(10_002, '{"execute": "z"}'));
    const done = engine.run(list, () => undefined);
    await ticks();
    assert.deepEqual(names(channel.answerLast()), ['z']);
    channel.answerLast();
    const result = await done;
    assert.equal(result.outcomes.filter((o) => o === 'succeeded').length, 10_002);
    engine.dispose();
    await client.disconnect();
  });

  test('through a kernel (the CLI\'s and the editor\'s door): the port keeps the same-turn path', async () => {
    const { client, channel } = await connected();
    const kernel = new Kernel({ client: () => client });
    const done = kernel.run(jobs('{"execute": "a"}', '{"execute": "b"}'), () => undefined);
    await ticks();
    assert.deepEqual(names(channel.answerLast()), ['b']);
    channel.answerLast();
    assert.deepEqual((await done).outcomes, ['succeeded', 'succeeded']);
    kernel.dispose();
    await client.disconnect();
  });

  test('a client without sendThen (any EngineClient) still runs every cell, a promise reaction after each reply', async () => {
    const { client, channel } = await connected();
    const port: EngineClient = {
      send: (i, o) => client.send(i, o), onEvent: (l) => client.onEvent(l),
      eventCursor: () => client.eventCursor(), waitForEvent: (p, o) => client.waitForEvent(p, o),
    };
    const engine = new RunEngine({ client: () => port });
    const done = engine.run(jobs('{"execute": "a"}', '{"execute": "b"}'), () => undefined);
    await ticks();
    assert.deepEqual(channel.answerLast(), []);
    await ticks();
    assert.deepEqual(names(channel.sent.slice(-1)), ['b']);
    channel.answerLast();
    assert.deepEqual((await done).outcomes, ['succeeded', 'succeeded']);
    engine.dispose();
    await client.disconnect();
  });

  for (const json of [true, false]) {
    test(`run${json ? ' --json' : ''} prints a turn's records when the turn is done: after the next command was written, before any timer`, async () => {
      const { client, channel } = await connected();
      const out: string[] = [];
      const done = runCells(client, jobs('{"execute": "a"}', '{"execute": "b"}'), { json }, { out: (l) => out.push(l), err: () => undefined });
      await ticks();
      assert.deepEqual(names(channel.sent.slice(-1)), ['a']);
      const before = out.length;
      const wrote = channel.answerLast();
      assert.deepEqual(names(wrote), ['b'], 'b is written in the turn of a\'s reply');
      assert.equal(out.length, before, 'nothing is printed between a reply and the next command');
      let timerRan = false;
      const timer = setTimeout(() => { timerRan = true; }, 0);
      await ticks();
      assert.equal(timerRan, false);
      const printed = out.slice(before).join('\n');
      assert.match(printed, json ? /"type":"reply","cell":1,/ : /^<- \{"return": \{\}, "id": "#\d+"\}$/m, 'a\'s reply is printed once its turn is done');
      assert.match(printed, json ? /"type":"written","cell":2,/ : /^-> \{"execute":"b"/m, 'and so is b, written in that turn');
      clearTimeout(timer);
      channel.answerLast();
      assert.deepEqual(await done, { status: 'ok' });
    });
  }
});
