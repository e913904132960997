// Every (state, call) pair of the client's call table (QMP_ACCEPTS in src/qmp/protocol.ts): a call the table
// accepts does its work, a call it does not rejects with StateError and changes nothing (no state change,
// nothing written). Then the transitions that go wrong in practice: connect while connecting, close during the
// handshake, send after close, listeners that throw, close twice, the channel lost during the handshake. The
// channel is an in-memory fake (the protocol base only sees messages), so every state can be held still.
import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  QMP_ACCEPTS, QMP_TRANSITIONS, QmpClient, type QmpCall, type QmpClientOptions, type QmpState,
} from '../../src/qmp/client';
import type { ChannelSink, QmpChannel } from '../../src/qmp/channel';
import { ConnectError, DisconnectedError, OobRefusedError, StateError } from '../../src/qmp/errors';
import { topLevelMemberText } from '../../src/qmp/wire';

const GREETING = '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}';
const STATES: readonly QmpState[] = ['idle', 'connecting', 'running', 'disconnecting'];

/** A channel driven by the test: it greets when asked, answers qmp_capabilities, and answers commands unless told not to. */
class FakeChannel implements QmpChannel {
  readonly description = 'fake channel';
  readonly sent: string[] = [];
  private sink: ChannelSink | undefined;
  autoReply = true;
  closed = false;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  constructor(private readonly greetOnStart: boolean) {}

  start(sink: ChannelSink): void {
    this.sink = sink;
    if (this.greetOnStart) queueMicrotask(() => this.greet());
  }

  greet(): void {
    this.deliver(GREETING);
  }

  send(text: string): void {
    if (this.closed) return;
    this.sent.push(text);
    const v = JSON.parse(text) as Record<string, unknown>;
    const id = topLevelMemberText(text, 'id') ?? 'null';
    if (v['execute'] === 'qmp_capabilities' || this.autoReply) {
      queueMicrotask(() => this.deliver(`{"return": {"ok": 1}, "id": ${id}}`));
    }
  }

  deliver(text: string): void {
    if (!this.closed) this.sink?.message(text, JSON.parse(text));
  }

  /** The other side goes away. */
  lose(): void {
    this.sink?.ended(new DisconnectedError('The other side closed the connection (fake channel)'));
  }

  /** close() will not resolve until release(). */
  holdClose(): void {
    this.gate = new Promise((r) => { this.open = r; });
  }

  release(): void {
    this.open?.();
  }

  close(): Promise<void> {
    this.closed = true;
    return this.gate ?? Promise.resolve();
  }
}

interface Held {
  client: QmpClient;
  channel: FakeChannel;
  states: QmpState[];
  logs: string[];
  /** The connect() in progress (state connecting). */
  connecting: Promise<void> | undefined;
  /** The disconnect() in progress (state disconnecting). */
  disconnecting: Promise<void> | undefined;
}

const held: Held[] = [];
afterEach(async () => {
  for (const h of held.splice(0)) {
    h.channel.release();
    await h.client.disconnect().catch(() => undefined);
    await h.connecting?.catch(() => undefined);
    await h.disconnecting;
  }
});

function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

function opener(channel: FakeChannel) {
  return () => Promise.resolve(channel);
}

/** A client held still in `state`. Running and disconnecting clients have seen one event (SETUP). */
async function inState(state: QmpState, options: QmpClientOptions = {}): Promise<Held> {
  const logs: string[] = [];
  const client = new QmpClient({ inBandWindow: 1, log: (l, m) => logs.push(`${l}: ${m}`), ...options });
  const h: Held = { client, channel: new FakeChannel(state !== 'connecting'), states: [], logs, connecting: undefined, disconnecting: undefined };
  held.push(h);
  if (state !== 'idle') {
    const connecting = client.connect(opener(h.channel));
    if (state === 'connecting') {
      h.connecting = connecting;
      connecting.catch(() => undefined);
      await tick();
    } else {
      await connecting;
      h.channel.deliver('{"event": "SETUP", "timestamp": {"seconds": 1, "microseconds": 0}}');
      if (state === 'disconnecting') {
        h.channel.holdClose();
        h.disconnecting = client.disconnect();
      }
    }
  }
  assert.equal(client.state, state);
  client.onStateChange((s) => h.states.push(s));
  return h;
}

/** Brings a held client to running from wherever it is, on its channel or a new one. */
async function toRunning(h: Held): Promise<void> {
  if (h.client.state === 'connecting') {
    h.channel.greet();
    await h.connecting;
  } else if (h.client.state !== 'running') {
    if (h.client.state === 'disconnecting') {
      h.channel.release();
      await h.disconnecting;
    }
    h.channel = new FakeChannel(true);
    await h.client.connect(opener(h.channel));
  }
  assert.equal(h.client.state, 'running');
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

async function settle(fn: () => unknown): Promise<Outcome> {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

interface CallSpec {
  invoke(h: Held): unknown;
  /** What the call did where the table accepts it. */
  accepted(h: Held, from: QmpState, outcome: Outcome): Promise<void>;
}

function value(o: Outcome): unknown {
  assert.ok(o.ok, `expected success, got ${o.ok ? '' : String(o.error)}`);
  return o.value;
}

function disposable(o: Outcome): void {
  assert.equal(typeof (value(o) as { dispose?: unknown }).dispose, 'function');
}

const CALLS: Record<QmpCall, CallSpec> = {
  connect: {
    invoke: (h) => h.client.connect(opener(new FakeChannel(true))),
    accepted: async (h, _from, o) => {
      value(o);
      assert.equal(h.client.state, 'running');
      assert.equal(h.client.greeting?.QMP.version.qemu.major, 7);
      assert.deepEqual(h.states, ['connecting', 'running']);
    },
  },
  disconnect: {
    invoke: (h) => {
      const d = h.client.disconnect();
      if (h.client.state === 'disconnecting') h.channel.release();
      return d;
    },
    accepted: async (h, from, o) => {
      value(o);
      assert.equal(h.client.state, 'idle');
      const expected: Record<QmpState, QmpState[]> = {
        idle: [], connecting: ['idle'], running: ['disconnecting', 'idle'], disconnecting: ['idle'],
      };
      assert.deepEqual(h.states, expected[from]);
      if (from === 'connecting') {
        const err = (await settle(() => h.connecting)) as { ok: false; error: unknown };
        assert.ok(err.error instanceof ConnectError && /cancelled/.test(err.error.message));
      }
      if (from === 'running' || from === 'disconnecting') assert.equal(h.channel.closed, true);
    },
  },
  send: {
    invoke: (h) => h.client.send({ execute: 'query-status' }),
    accepted: async (_h, _from, o) => {
      const reply = value(o) as { ok: boolean; value: unknown };
      assert.deepEqual(reply.value, { ok: 1 });
    },
  },
  sendThen: {
    invoke: (h) => new Promise((resolve, reject) => h.client.sendThen({ execute: 'query-status' }, {}, resolve, reject)),
    accepted: async (_h, _from, o) => {
      const reply = value(o) as { ok: boolean; value: unknown };
      assert.deepEqual(reply.value, { ok: 1 });
    },
  },
  execute: {
    invoke: (h) => h.client.execute('query-status'),
    accepted: async (_h, _from, o) => assert.deepEqual(value(o), { ok: 1 }),
  },
  waitForEvent: {
    invoke: (h) => {
      const w = h.client.waitForEvent((e) => e.event === 'WANTED', { timeoutMs: 5000 });
      if (h.client.state === 'running') queueMicrotask(() => h.channel.deliver('{"event": "WANTED", "timestamp": {"seconds": 2, "microseconds": 0}}'));
      return w;
    },
    accepted: async (_h, _from, o) => assert.equal((value(o) as { event: string }).event, 'WANTED'),
  },
  onStateChange: {
    invoke: (h) => {
      const seen: QmpState[] = [];
      (h as Held & { seen?: QmpState[] }).seen = seen;
      return h.client.onStateChange((s) => seen.push(s));
    },
    accepted: async (h, _from, o) => {
      disposable(o);
      if (h.client.state === 'running') await h.client.disconnect();
      await toRunning(h);
      assert.equal((h as Held & { seen: QmpState[] }).seen.at(-1), 'running');
    },
  },
  onDisconnect: {
    invoke: (h) => {
      const seen: (Error | undefined)[] = [];
      (h as Held & { lost?: (Error | undefined)[] }).lost = seen;
      return h.client.onDisconnect((e) => seen.push(e));
    },
    accepted: async (h, _from, o) => {
      disposable(o);
      await toRunning(h);
      h.channel.lose();
      const lost = (h as Held & { lost: (Error | undefined)[] }).lost;
      assert.equal(lost.length, 1);
      assert.ok(lost[0] instanceof DisconnectedError);
    },
  },
  onBacklogChange: {
    invoke: (h) => {
      const seen: number[] = [];
      (h as Held & { queued?: number[] }).queued = seen;
      return h.client.onBacklogChange((b) => seen.push(b.queued));
    },
    accepted: async (h, _from, o) => {
      disposable(o);
      await toRunning(h);
      h.channel.autoReply = false;
      const a = h.client.send({ execute: 'a' });
      const b = h.client.send({ execute: 'b' });
      a.catch(() => undefined);
      b.catch(() => undefined);
      assert.deepEqual((h as Held & { queued: number[] }).queued, [1]);
    },
  },
  onEvent: {
    invoke: (h) => {
      const seen: string[] = [];
      (h as Held & { events?: string[] }).events = seen;
      return h.client.onEvent((e) => seen.push(e.event));
    },
    accepted: async (h, _from, o) => {
      disposable(o);
      await toRunning(h);
      h.channel.deliver('{"event": "LATER", "timestamp": {"seconds": 3, "microseconds": 0}}');
      assert.deepEqual((h as Held & { events: string[] }).events, ['LATER']);
    },
  },
  setSchema: {
    invoke: (h) => h.client.setSchema({ command: () => ({ allowOob: false }) }),
    accepted: async (h, _from, o) => {
      assert.equal(value(o), undefined);
      await toRunning(h);
      assert.equal(h.client.oobEnabled, true);
      await assert.rejects(h.client.send({ 'exec-oob': 'x' }), (e: unknown) => e instanceof OobRefusedError && /allow-oob/.test(e.message));
    },
  },
  inBandBacklog: {
    invoke: (h) => h.client.inBandBacklog(),
    accepted: async (_h, _from, o) => assert.deepEqual(value(o), { onWire: 0, queued: 0, oldestSentAt: undefined }),
  },
  eventHistory: {
    invoke: (h) => h.client.eventHistory(),
    accepted: async (_h, from, o) => {
      const events = (value(o) as { event: string }[]).map((e) => e.event);
      assert.deepEqual(events, from === 'running' || from === 'disconnecting' ? ['SETUP'] : []);
    },
  },
  eventCursor: {
    invoke: (h) => h.client.eventCursor(),
    accepted: async (_h, from, o) => assert.equal(value(o), from === 'running' || from === 'disconnecting' ? 1 : 0),
  },
};

describe('every (state, call) pair of the call table', () => {
  for (const state of STATES) {
    for (const call of Object.keys(QMP_ACCEPTS) as QmpCall[]) {
      const accepts = (QMP_ACCEPTS[call] as readonly QmpState[]).includes(state);
      test(`${state} × ${call}: ${accepts ? 'does its work' : 'StateError, nothing changes'}`, async () => {
        const h = await inState(state);
        const channel = h.channel;
        const sentBefore = channel.sent.length;
        const outcome = await settle(() => CALLS[call].invoke(h));
        if (accepts) {
          await CALLS[call].accepted(h, state, outcome);
        } else {
          assert.ok(!outcome.ok && outcome.error instanceof StateError, `expected StateError, got ${JSON.stringify(outcome)}`);
          assert.match((outcome.error as Error).message, new RegExp(`${call}\\(\\) needs state .*not ${state}`));
          assert.equal(h.client.state, state);
          assert.deepEqual(h.states, []);
          assert.equal(channel.sent.length, sentBefore);
        }
      });
    }
  }
});

// Every public method of the client is a row of the table (a compile-time check: a new public method that is
// not in QMP_ACCEPTS makes this file fail to type-check).
type PublicMethod = { [K in keyof QmpClient]: QmpClient[K] extends (...args: never[]) => unknown ? K : never }[keyof QmpClient];
const everyPublicMethodIsInTheTable: [Exclude<PublicMethod, QmpCall>] extends [never] ? true : false = true;

class AskingClient extends QmpClient {
  readonly asked: QmpCall[] = [];
  protected override refusal(call: QmpCall): StateError | undefined {
    this.asked.push(call);
    return super.refusal(call);
  }
}

describe('the table is the only state check', () => {
  test('every public call consults the table (and only its own row)', async () => {
    assert.equal(everyPublicMethodIsInTheTable, true);
    for (const call of Object.keys(QMP_ACCEPTS) as QmpCall[]) {
      const c = new AskingClient();
      const h: Held = { client: c, channel: new FakeChannel(true), states: [], logs: [], connecting: undefined, disconnecting: undefined };
      held.push(h);
      await settle(() => CALLS[call].invoke(h));
      assert.equal(c.asked[0], call, `${call} asked ${c.asked.join(', ')}`);
    }
  });

  test('the transition table: every state reaches idle, and only connect leaves it', () => {
    for (const s of STATES) {
      const seen = new Set<QmpState>([s]);
      const todo = [s];
      while (todo.length > 0) for (const t of QMP_TRANSITIONS[todo.pop() as QmpState]) if (!seen.has(t)) { seen.add(t); todo.push(t); }
      assert.ok(seen.has('idle'), `${s} reaches idle`);
    }
    assert.deepEqual(STATES.filter((s) => (QMP_ACCEPTS.connect as readonly QmpState[]).includes(s)), ['idle']);
  });
});

function assertLegal(states: QmpState[], from: QmpState = 'idle'): void {
  for (const to of states) {
    assert.ok(QMP_TRANSITIONS[from].includes(to), `illegal transition ${from} → ${to} in ${states.join(',')}`);
    from = to;
  }
}

describe('transitions that go wrong in practice', () => {
  test('connect() while connecting: StateError, and the first connect still completes', async () => {
    const h = await inState('connecting');
    await assert.rejects(h.client.connect(opener(new FakeChannel(true))), StateError);
    h.channel.greet();
    await h.connecting;
    assert.equal(h.client.state, 'running');
    assertLegal(h.states, 'connecting');
  });

  test('close during the handshake (greeting read, negotiation unanswered): connect() is cancelled, idle, channel closed', async () => {
    const h = await inState('connecting');
    h.channel.autoReply = false;
    const send = h.channel.send.bind(h.channel);
    h.channel.send = (text) => { h.channel.sent.push(text); void send; };
    h.channel.greet();
    await tick();
    assert.match(h.channel.sent[0] ?? '', /qmp_capabilities/);
    await h.client.disconnect();
    const o = await settle(() => h.connecting);
    assert.ok(!o.ok && o.error instanceof ConnectError && o.error.phase === 'negotiation', String(!o.ok && o.error));
    assert.equal(h.client.state, 'idle');
    assert.equal(h.channel.closed, true);
    assert.deepEqual(h.states, ['idle']);
  });

  test('send after close: StateError, nothing written; a command in flight at close fails at once', async () => {
    const h = await inState('running');
    h.channel.autoReply = false;
    const inFlight = h.client.send({ execute: 'slow' });
    await h.client.disconnect();
    await assert.rejects(inFlight, DisconnectedError);
    const written = h.channel.sent.length;
    await assert.rejects(h.client.send({ execute: 'late' }), StateError);
    await assert.rejects(h.client.execute('late'), StateError);
    assert.equal(h.channel.sent.length, written);
  });

  test('listeners that throw break neither routing nor teardown', async () => {
    const h = await inState('running');
    const boom = (): never => { throw new Error('listener bug'); };
    h.client.onStateChange(boom);
    h.client.onDisconnect(boom);
    h.client.onEvent(boom);
    h.client.onBacklogChange(boom);
    let later = 0;
    h.client.onEvent(() => later++);
    h.channel.deliver('{"event": "E", "timestamp": {"seconds": 4, "microseconds": 0}}');
    assert.equal(later, 1, 'the next listener still ran');
    assert.deepEqual(await h.client.execute('query-status'), { ok: 1 }, 'replies are still routed');
    h.channel.autoReply = false;
    const stuck = [h.client.send({ execute: 'a' }), h.client.send({ execute: 'b' })];
    h.channel.lose();
    for (const s of stuck) await assert.rejects(s, DisconnectedError);
    assert.equal(h.client.state, 'idle');
    assert.deepEqual(h.states, ['disconnecting', 'idle']);
    assert.ok(h.logs.filter((l) => /A listener threw: listener bug/.test(l)).length >= 4, h.logs.join('\n'));
  });

  test('close twice: the second disconnect waits for the same close; onDisconnect runs once', async () => {
    const h = await inState('running');
    let told = 0;
    h.client.onDisconnect(() => told++);
    h.channel.holdClose();
    const first = h.client.disconnect();
    const second = h.client.disconnect();
    let settled = false;
    void Promise.all([first, second]).then(() => { settled = true; });
    await tick();
    assert.equal(settled, false, 'neither resolves before the channel closed');
    h.channel.release();
    await Promise.all([first, second]);
    await h.client.disconnect();
    assert.equal(told, 1);
    assert.equal(h.client.state, 'idle');
    assert.deepEqual(h.states, ['disconnecting', 'idle']);
  });

  for (const phase of ['greeting', 'negotiation'] as const) {
    test(`the channel lost during the ${phase} phase: ConnectError naming the phase, back to idle`, async () => {
      const h = await inState('connecting');
      if (phase === 'negotiation') {
        h.channel.send = (text) => { h.channel.sent.push(text); };
        h.channel.greet();
        await tick();
      }
      h.channel.lose();
      const o = await settle(() => h.connecting);
      assert.ok(!o.ok && o.error instanceof ConnectError, String(!o.ok && o.error));
      assert.equal((o.error as ConnectError).phase, phase);
      assert.equal(h.client.state, 'idle');
      assert.deepEqual(h.states, ['idle']);
    });
  }
});
