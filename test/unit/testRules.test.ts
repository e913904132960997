// The test rules as options of the one engine (src/run/engine.ts): a batch run `asTest` runs every cell one
// after another and goes on after a failing cell (not after a lost connection); late events belong to the
// cell that ended; a cell's `awaitEvents` (the events its saved outputs show) keeps it open until they came,
// bounded. And the one renderer (src/run/recordText.ts) from a transcript to saved outputs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RunEngine, planCell, type TranscriptRecord } from '../../src/run/index';
import { renderRecord, type RenderedOutput, type RenderState } from '../../src/run/recordText';
import { freezeTimers, runClock } from '../support/clock';
import { ScriptedClient } from '../support/scriptedClient';

const plan = (text: string): ReturnType<typeof planCell> => planCell(text, 'qmp');
const eventsOf = (records: readonly TranscriptRecord[], cell: number): string[] =>
  records.filter((r) => r.type === 'event' && r.cell === cell).map((r) => (r.type === 'event' ? r.event.event : ''));

describe('test rules are engine options', () => {
  test('awaitEvents: an event after the reply is the cell\'s when its saved outputs show it; bounded when it never comes', async (t) => {
    const clock = freezeTimers(t);
    const client = new ScriptedClient({ device_del: { delayMs: 5 } });
    const engine = new RunEngine({ client: () => client });
    const records: TranscriptRecord[] = [];
    let late: ReturnType<typeof setTimeout> | undefined;
    const first = engine.run([{ cell: 1, plan: plan('{"execute": "device_del"}'), awaitEvents: { names: ['DEVICE_DELETED'], timeoutMs: 60_000 } }], (r) => {
      records.push(r);
      // The event comes a moment after the reply, as QEMU's DEVICE_DELETED does.
      if (r.type === 'reply') late = setTimeout(() => client.emit('DEVICE_DELETED'), 20);
    });
    const { fakeMs } = await runClock(clock, first);
    clearTimeout(late);
    assert.deepEqual(eventsOf(records, 1), ['DEVICE_DELETED']);
    // It ended when the event came (the reply at 5 ms, the event 20 ms later), not at its 60 s bound.
    assert.ok(fakeMs >= 25 && fakeMs <= 27, `ended after ${fakeMs} ms of fake time`);
    // The event comes before the cell's end: the transcript keeps its order.
    const types = records.map((r) => r.type);
    assert.ok(types.indexOf('event') < types.indexOf('cell-finished'), types.join());

    // Never comes: the cell ends at the bound, succeeded (the comparison says what is missing).
    const again: TranscriptRecord[] = [];
    const second = await runClock(clock, engine.run([{ cell: 2, plan: plan('{"execute": "device_del"}'), awaitEvents: { names: ['DEVICE_DELETED'], timeoutMs: 60 } }],
      (r) => again.push(r)));
    assert.ok(second.result.status === 'fulfilled');
    const result = second.result.value;
    assert.ok(second.fakeMs >= 65 && second.fakeMs <= 67, `the reply at 5 ms, then the 60 ms bound: ${second.fakeMs} ms of fake time`);
    assert.deepEqual(result.outcomes, ['succeeded']);
    assert.deepEqual(eventsOf(again, 2), []);
    engine.dispose();
  });

  test('without awaitEvents an event after the cell ended is nobody\'s (editor Run), with asTest it is the cell\'s that ended (late)', async () => {
    for (const asTest of [false, true]) {
      const client = new ScriptedClient({});
      const engine = new RunEngine({ client: () => client });
      const records: TranscriptRecord[] = [];
      await engine.run([
        { cell: 1, plan: plan('{"execute": "query-status"}') },
        { cell: 2, plan: plan('{"execute": "query-name"}') },
      ], (r) => {
        records.push(r);
        // Between the end of cell 1 and the start of cell 2. A plain batch starts the next in-band cell in the
        // same call as the one before ends (no promise between them), so there "between" is inside this call;
        // a test batch starts it a promise reaction later.
        if (r.type === 'cell-finished' && r.cell === 1) {
          if (asTest) queueMicrotask(() => client.emit('LATE'));
          else client.emit('LATE');
        }
      }, { asTest });
      const late = records.filter((r) => r.type === 'event');
      if (!asTest) assert.deepEqual(late, []);
      else {
        assert.deepEqual(eventsOf(records, 1), ['LATE']);
        assert.equal(late[0]?.type === 'event' && late[0].late, true);
      }
      // After the batch, events are nobody's: the engine stops listening.
      client.emit('AFTER');
      assert.equal(records.filter((r) => r.type === 'event').length, asTest ? 1 : 0);
      engine.dispose();
    }
  });

  test('asTest: a failing cell does not skip the next, an out-of-band cell waits for the one before to end, a lost connection skips the rest', async () => {
    const client = new ScriptedClient({ bad: { error: 'no' }, slow: { delayMs: 150 }, gone: { disconnect: true } });
    const engine = new RunEngine({ client: () => client, busyMs: 1 });
    const records: TranscriptRecord[] = [];
    const result = await engine.run([
      { cell: 1, plan: plan('{"execute": "bad"}') },
      { cell: 2, plan: plan('{"execute": "slow"}') },
      { cell: 3, plan: plan('{"exec-oob": "quick"}') },
      { cell: 4, plan: plan('{"execute": "gone"}') },
      { cell: 5, plan: plan('{"execute": "query-name"}') },
    ], (r) => records.push(r), { asTest: true });
    assert.deepEqual(result.outcomes, ['failed', 'succeeded', 'succeeded', 'failed', 'skipped']);
    assert.deepEqual(client.sent, ['bad', 'slow', 'quick', 'gone']);
    const at = (type: string, cell: number): number => (records.find((r) => r.type === type && r.cell === cell) as { at: number }).at;
    assert.ok(at('cell-started', 3) >= at('cell-finished', 2));

    // Without asTest the batch stops at its first failure.
    const plain = await engine.run([
      { cell: 1, plan: plan('{"execute": "bad"}') },
      { cell: 2, plan: plan('{"execute": "query-name"}') },
    ], () => undefined);
    assert.deepEqual(plain.outcomes, ['failed', 'skipped']);
    engine.dispose();
  });

  test('two callers on one engine: a late event is never taken from a cell that runs (each event attributed once)', async () => {
    const client = new ScriptedClient({ slow: { delayMs: 50 } });
    const engine = new RunEngine({ client: () => client });
    const a: TranscriptRecord[] = [];
    const b: TranscriptRecord[] = [];
    const first = engine.run([{ cell: 1, plan: plan('{"execute": "query-name"}') }, { cell: 2, plan: plan('{"execute": "query-name"}') }],
      (r) => a.push(r), { asTest: true });
    // The event comes while the other caller's command is on the wire, after the test batch's cells ended.
    const second = engine.run([{ cell: 10, plan: plan('{"execute": "slow"}') }], (r) => {
      b.push(r);
      if (r.type === 'written') client.emit('MID');
    });
    await Promise.all([first, second]);
    const all = [...a, ...b].filter((r) => r.type === 'event');
    assert.equal(all.length, 1, JSON.stringify(all));
    assert.deepEqual(eventsOf(b, 10), ['MID']);
    engine.dispose();
  });
});

describe('one renderer from a transcript to saved outputs', () => {
  const run = async (text: string, script: ConstructorParameters<typeof ScriptedClient>[0], language = 'qmp'): Promise<RenderedOutput[]> => {
    const client = new ScriptedClient(script);
    const engine = new RunEngine({ client: () => client });
    const p = planCell(text, language as 'qmp');
    const out: RenderedOutput[] = [];
    const state: RenderState = {};
    await engine.run([{ cell: 1, plan: p }], (r) => renderRecord(r, { language, plan: p }, out, state));
    engine.dispose();
    return out;
  };

  test('replies without the id the client made up, the author\'s id kept; labels above replies of several commands', async () => {
    const out = await run('{"execute": "a"}\n{"execute": "b", "id": "mine"}', {});
    assert.deepEqual(out, [
      { kind: 'message', direction: '->', json: '{"execute":"a"}' },
      { kind: 'message', direction: '<-', json: '{"return": {}}' },
      { kind: 'message', direction: '->', json: '{"execute":"b","id":"mine"}' },
      { kind: 'message', direction: '<-', json: '{"return": {}, "id": "mine"}' },
    ]);
  });

  test('a failure is one text line, Title: where and why; a QEMU error is the reply itself', async () => {
    const err = await run('{"execute": "x"}', { x: { error: 'boom' } });
    assert.equal(err.length, 1);
    assert.ok(err[0]?.kind === 'message' && !err[0].json.includes('#1'), JSON.stringify(err));
    assert.deepEqual(err[0]?.kind === 'message' ? JSON.parse(err[0].json) : undefined, { error: { class: 'GenericError', desc: 'boom' } });
    const gone = await run('{"execute": "x"}', { x: { disconnect: true } });
    assert.equal(gone.length, 1);
    assert.match(gone[0]?.kind === 'text' ? gone[0].text : '', /^Disconnected: line 1: x: QEMU closed the connection/);
  });
});

describe('testOn: live-session in the front matter', () => {
  test('it round-trips through the format; test shares one private process among the run\'s live-session notebooks, in file order', async () => {
    const { parseNotebook, serializeNotebook } = await import('../../src/format/index');
    const { testMain } = await import('../../src/cli/test');
    const { fakeKernel } = await import('../support/fakeKernel');
    const live = '---\ntestOn: live-session\n---\n\n```qmp\n{"execute": "query-name"}\n```\n\n```qmp-output\n<- {"return": {}}\n```\n';
    const fresh = live.replace('testOn: live-session\n', 'testOn: fresh\n');
    assert.equal(parseNotebook(live).testOn, 'live-session');
    assert.equal(serializeNotebook(parseNotebook(live)), live);
    // Any other value is not ours: the block stays Markdown, and test says so.
    assert.equal(parseNotebook(live.replace('live-session', 'shared')).testOn, undefined);

    const files: Record<string, string> = { 'a.qmp': live, 'b.qmp': live, 'c.qmp': fresh, 'd.qmp': live.replace('live-session', 'sometimes') };
    let opened = 0;
    let closed = 0;
    const err: string[] = [];
    const code = await testMain(['a.qmp', 'b.qmp', 'c.qmp', 'd.qmp', '--sandbox'], {
      version: '0', readFile: (f) => files[f] ?? '',
      connect: async (_c, o) => {
        opened++;
        const k = fakeKernel(new ScriptedClient({}), o.engine);
        const close = k.close.bind(k);
        k.close = async () => { closed++; await close(); };
        return k;
      },
    }, { out: () => undefined, err: (l) => err.push(l) });
    // a and b share one process, c gets its own; d's front matter is refused before anything opens.
    assert.equal(opened, 2, err.join('\n'));
    assert.equal(closed, 2);
    assert.equal(code, 2);
    assert.match(err.join('\n'), /testOn is fresh or live-session/);
  });
});
