// Expected events written in cells (`<- {"event": …}`): the engine's one rule (src/run/expectEvents.ts),
// with the scripted client; what `run` prints and what `test` makes of the verdicts. Real QEMU: test/qemu/cliTest.test.ts.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { runCells, type RunCell } from '../../src/cli/run';
import type { QmpEventRecord } from '../../src/qmp/client';
import {
  EventMatcher, eventKey, notebookRules, planCell, type CellJob, type EngineClient, type ExpectedEventRecord,
  type TestRules, type TranscriptRecord,
} from '../../src/run/index';
import { compareCell } from '../../src/testing/compare';
import { freezeTimers, runClock } from '../support/clock';
import { assertLinear } from '../support/linear';
import { runEngine, ScriptedClient } from '../support/scriptedClient';

function cell(n: number, source: string, rules?: TestRules): RunCell {
  return { cell: n, plan: planCell(source, 'qmp', undefined, rules) };
}

/** runEngine on a frozen clock run forward 1 ms at a time: fakeMs is when the run ended, exactly, on any machine. */
async function runEngineOnClock(t: TestContext, client: () => EngineClient, jobs: () => CellJob[], options: { expectedEventsTimeoutMs?: number } = {}):
  Promise<{ records: TranscriptRecord[]; outcomes: string[]; fakeMs: number }> {
  const clock = freezeTimers(t);
  const { fakeMs, result } = await runClock(clock, runEngine(client(), jobs(), options));
  if (result.status === 'rejected') throw result.reason;
  return { ...result.value, fakeMs };
}

const verdicts = (records: TranscriptRecord[]): ExpectedEventRecord[] => records.filter((r): r is ExpectedEventRecord => r.type === 'expected-event');

describe('plan: expected events', () => {
  test('<- events anywhere in a cell are expected events, in order; <- replies stay the command\'s', () => {
    const plan = planCell('-> {"execute": "stop"}\n<- {"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}\n<- {"return": {}}\n' +
      '<- {"event": "RESUME", "data": {}}', 'qmp');
    assert.equal(plan.steps[0]?.kind === 'command' && plan.steps[0].expected?.text.includes('"return"'), true);
    assert.deepEqual(plan.expect?.events.map((e) => [e.event, e.line]), [['STOP', 1], ['RESUME', 3]]);
    assert.equal(plan.expect?.timeoutMs, 10000, 'no wait clause: the default wait timeout');
    assert.equal(plan.expect?.order, 'saved');
  });

  test('a cell without <- events has no expectations (nothing to wait for)', () => {
    assert.equal(planCell('{"execute": "query-status"}\n<- {"return": {}}', 'qmp').expect, undefined);
  });

  test('the cell\'s longest wait timeout bounds the wait; directives and front-matter rules apply', () => {
    const rules = notebookRules({ ignoreEvents: ['RTC_CHANGE'], masks: ['data.offset'] }).rules;
    const plan = planCell('// test: any-order\n{"execute": "stop"}\n{"wait-event": "STOP", "timeout": 300}\n{"wait-event": "STOP", "timeout": 700}\n' +
      '<- {"event": "RTC_CHANGE", "data": {"offset": 1}}\n<- {"event": "X", "data": {"offset": 1}}', 'qmp', undefined, rules);
    assert.equal(plan.expect?.timeoutMs, 700);
    assert.equal(plan.expect?.order, 'any');
    assert.deepEqual(plan.expect?.events.map((e) => e.event), ['X'], 'an ignorable event is not expected');
    assert.equal(plan.expect?.events[0]?.key, eventKey('{"event": "X", "data": {"offset": 99}}', rules.masks));
  });
});

describe('eventKey', () => {
  test('timestamps never count, an empty data is no data, member order does not matter, masks apply', () => {
    const k = (s: string): string | undefined => eventKey(s, []);
    assert.equal(k('{"event": "STOP"}'), k('{"timestamp": {"seconds": 5, "microseconds": 6}, "event": "STOP", "data": {}}'));
    assert.equal(k('{"event": "E", "data": {"a": 1, "b": 2}}'), k('{"data": {"b": 2, "a": 1}, "event": "E"}'));
    assert.notEqual(k('{"event": "E", "data": {"a": 1}}'), k('{"event": "E", "data": {"a": 2}}'));
    assert.notEqual(k('{"event": "E", "data": {"a": 1}}'), k('{"event": "E", "data": {"a": "1"}}'), 'types count');
    assert.equal(k('[1]'), undefined);
  });
});

describe('EventMatcher (property: the written order is a subsequence match; any order a multiset match)', () => {
  const rec = (seq: number, name: string): QmpEventRecord => ({ seq, event: name, timestamp: { seconds: 0, microseconds: 0 }, raw: `{"event": "${name}"}` });
  const names = fc.constantFrom('A', 'B', 'C');
  test('matches exactly when the expected list is a subsequence (saved) or a sub-multiset (any) of the arrivals', () => {
    fc.assert(fc.property(fc.array(names, { maxLength: 6 }), fc.array(names, { maxLength: 12 }), (want, got) => {
      const plan = planCell(`{"execute": "x"}\n${want.map((n) => `<- {"event": "${n}"}`).join('\n')}`, 'qmp');
      for (const order of ['saved', 'any'] as const) {
        if (!plan.expect || want.length === 0) return;
        const m = new EventMatcher({ ...plan.expect, order });
        got.forEach((n, i) => m.feed(rec(i + 1, n)));
        let expected: boolean;
        if (order === 'saved') {
          let i = 0;
          for (const n of got) if (i < want.length && want[i] === n) i++;
          expected = i === want.length;
        } else {
          expected = ['A', 'B', 'C'].every((n) => want.filter((w) => w === n).length <= got.filter((g) => g === n).length);
        }
        assert.equal(m.done, expected, `${order}: want ${want.join(',')} got ${got.join(',')}`);
        assert.equal(m.verdicts().every((v) => v.match), expected);
      }
    }));
  });

  test('a flood of unrelated events is not parsed (only expected names are) and stays linear', () => {
    const plan = planCell('{"execute": "x"}\n<- {"event": "WANTED"}', 'qmp');
    const m = new EventMatcher(plan.expect as NonNullable<typeof plan.expect>);
    const bad: QmpEventRecord = { seq: 1, event: 'NOISE', timestamp: { seconds: 0, microseconds: 0 }, raw: '{not json' };
    assertLinear('EventMatcher.feed over unrelated events', (n) => n, (n) => {
      for (let i = 0; i < n; i++) m.feed({ ...bad, seq: i + 1 });
    }, 25_000);
    assert.equal(m.feed(rec(200_001, 'WANTED')), true);
  });
});

describe('engine: expected events', () => {
  test('stop with <- STOP passes, whether STOP comes before or after the reply; the verdict names the event QEMU sent', async () => {
    for (const when of ['before', 'after'] as const) {
      const client = new ScriptedClient({ stop: { [when]: ['STOP'] } });
      const { outcomes, records } = await runEngine(client, [cell(1, '-> {"execute": "stop"}\n<- {"timestamp": {"seconds": 1, "microseconds": 0}, "event": "STOP"}\n<- {"return": {}}')]);
      assert.deepEqual(outcomes, ['succeeded']);
      const v = verdicts(records);
      assert.equal(v.length, 1);
      assert.equal(v[0]?.match, true, when);
      assert.match(v[0]?.actual ?? '', /"STOP"/);
      const kinds = records.map((r) => r.type);
      assert.ok(kinds.indexOf('expected-event') < kinds.indexOf('cell-finished'));
    }
  });

  test('an expected event that never comes is reported at its bound, with a clear message; the cell itself succeeds', async (t) => {
    const { outcomes, records, fakeMs } = await runEngineOnClock(t, () => new ScriptedClient(),
      () => [cell(1, '{"execute": "cont"}\n{"wait-event": "X", "timeout": 0}\n<- {"event": "RESUME"}')],
      { expectedEventsTimeoutMs: 150 });
    // The wait for X (timeout 0) fails first: expected events are not checked after a failure.
    assert.deepEqual(outcomes, ['failed']);
    assert.equal(verdicts(records).length, 0);
    assert.ok(fakeMs < 150, `ended by the failed wait, not the expected events' bound: ${fakeMs} ms of fake time`);
    t.mock.timers.reset();
    const r2 = await runEngineOnClock(t, () => new ScriptedClient(), () => [cell(1, '{"execute": "cont"}\n<- {"event": "RESUME"}')], { expectedEventsTimeoutMs: 150 });
    assert.deepEqual(r2.outcomes, ['succeeded'], 'a mismatch is information, as for expected replies');
    const v = verdicts(r2.records)[0];
    assert.equal(v?.match, false);
    assert.equal(v?.message, 'RESUME did not arrive within 150 ms');
    // The reply comes on the next tick, then the wait runs its whole bound (timers fire at their time or later).
    assert.ok(r2.fakeMs >= 150 && r2.fakeMs <= 152, `bounded at 150 ms: ended after ${r2.fakeMs} ms of fake time`);
  });

  test('the cell\'s wait timeout bounds the wait when it is shorter than the engine cap', async (t) => {
    const { records, fakeMs } = await runEngineOnClock(t, () => new ScriptedClient({ stop: { before: ['STOP'] } }),
      () => [cell(1, '{"execute": "stop"}\n{"wait-event": "STOP", "timeout": 120}\n<- {"event": "NEVER"}')], { expectedEventsTimeoutMs: 5000 });
    assert.equal(verdicts(records)[0]?.message, 'NEVER did not arrive within 120 ms');
    assert.ok(fakeMs >= 120 && fakeMs <= 122, `ended at the cell's 120 ms, not the engine's 5000: ${fakeMs} ms of fake time`);
  });

  test('the written order counts: RESUME then STOP expected, STOP then RESUME sent fails as out of order; any-order passes', async () => {
    const script = { stop: { before: ['STOP'] }, cont: { before: ['RESUME'] } };
    const src = '{"execute": "stop"}\n{"execute": "cont"}\n<- {"event": "RESUME"}\n<- {"event": "STOP"}';
    const a = await runEngine(new ScriptedClient(script), [cell(1, src)], { expectedEventsTimeoutMs: 100 });
    assert.deepEqual(verdicts(a.records).map((v) => v.match), [true, false]);
    assert.match(verdicts(a.records)[1]?.message ?? '', /STOP arrived, but not in the order written/);
    const b = await runEngine(new ScriptedClient(script), [cell(1, `// test: any-order\n${src}`)], { expectedEventsTimeoutMs: 100 });
    assert.deepEqual(verdicts(b.records).map((v) => v.match), [true, true]);
    const front = notebookRules({ eventOrder: 'any' }).rules;
    const c = await runEngine(new ScriptedClient(script), [cell(1, src, front)], { expectedEventsTimeoutMs: 100 });
    assert.deepEqual(verdicts(c.records).map((v) => v.match), [true, true], 'the notebook\'s eventOrder: any');
  });

  test('data is compared after masking; an event only in the written <- line does not match a different one', async () => {
    const client = new ScriptedClient();
    const p = runEngine(client, [cell(1, '{"wait-event": "DEVICE_DELETED", "timeout": 2000}\n<- {"event": "DEVICE_DELETED", "data": {"device": "kbd0", "path": "/x"}}')],
      { expectedEventsTimeoutMs: 100 });
    setTimeout(() => client.emit('DEVICE_DELETED', { path: '/x', device: 'kbd1' }), 10);
    const { records } = await p;
    assert.equal(verdicts(records)[0]?.match, false);
    const masked = planCell('{"wait-event": "DEVICE_DELETED", "timeout": 2000}\n<- {"event": "DEVICE_DELETED", "data": {"device": "kbd0", "path": "/x"}}', 'qmp', undefined,
      notebookRules({ masks: ['data.device'] }).rules);
    const client2 = new ScriptedClient();
    const p2 = runEngine(client2, [{ cell: 1, plan: masked }], { expectedEventsTimeoutMs: 100 });
    setTimeout(() => client2.emit('DEVICE_DELETED', { path: '/x', device: 'kbd1' }), 10);
    assert.equal(verdicts((await p2).records)[0]?.match, true, 'a mask makes the device volatile');
  });

  test('a wait and an expected event of the same event agree: one STOP satisfies both', async () => {
    const { outcomes, records } = await runEngine(new ScriptedClient({ stop: { after: ['STOP'] } }),
      [cell(1, '{"execute": "stop"}\n{"wait-event": "STOP", "timeout": 1000}\n<- {"event": "STOP"}')]);
    assert.deepEqual(outcomes, ['succeeded']);
    assert.equal(records.filter((r) => r.type === 'wait-satisfied').length, 1);
    assert.equal(verdicts(records)[0]?.match, true);
  });

  test('two expected STOPs need two STOP events; an event before the cell started does not count', async () => {
    const client = new ScriptedClient({ stop: { before: ['STOP'] } });
    client.emit('STOP');
    const { records } = await runEngine(client, [cell(1, '{"execute": "stop"}\n<- {"event": "STOP"}\n<- {"event": "STOP"}')], { expectedEventsTimeoutMs: 80 });
    assert.deepEqual(verdicts(records).map((v) => v.match), [true, false]);
  });

  test('interrupting the wait for expected events is an interrupt of the cell', async (t) => {
    const ac = new AbortController();
    const { outcomes, records, fakeMs } = await runEngineOnClock(t, () => new ScriptedClient(), () => {
      setTimeout(() => ac.abort(), 50);
      return [{ ...cell(1, '{"execute": "cont"}\n<- {"event": "RESUME"}'), signal: ac.signal }];
    }, { expectedEventsTimeoutMs: 5000 });
    assert.deepEqual(outcomes, ['interrupted']);
    assert.equal(fakeMs, 50, 'ended by the interrupt at 50 ms, not the 5000 ms bound');
    const f = records.find((r) => r.type === 'failure');
    assert.match(f?.type === 'failure' ? f.message : '', /expected events was stopped/);
  });

  test('run prints the verdicts; test turns a mismatch into a problem and a diff line', async () => {
    const out: string[] = [];
    const result = await runCells(new ScriptedClient({ stop: { before: ['STOP'] } }), [cell(1, '{"execute": "stop"}\n{"wait-event": "STOP", "timeout": 100}\n<- {"event": "STOP"}\n<- {"event": "GONE"}')],
      { json: false }, { out: (l) => out.push(l), err: () => undefined });
    assert.equal(result.status, 'ok');
    assert.ok(out.includes('// the expected event STOP arrived'), out.join('\n'));
    assert.ok(out.some((l) => l.startsWith('// the expected event did not match: GONE did not arrive within 100 ms')), out.join('\n'));
    const rules = notebookRules({}).rules;
    const cmp = compareCell({
      saved: [], actual: [], replies: new Map(), written: [], rules,
      writtenEvents: [{ event: 'GONE', json: '{"event": "GONE", "timestamp": {"seconds": 1, "microseconds": 1}}', line: 4, verdict: { match: false, message: 'GONE did not arrive within 10 ms' } },
        { event: 'STOP', json: '{"event": "STOP"}', verdict: { match: true } }, { event: 'LATE', json: '{"event": "LATE"}' }],
    });
    assert.equal(cmp.ok, false);
    assert.deepEqual(cmp.problems, ['expected event GONE (line 4): GONE did not arrive within 10 ms', 'expected event LATE was not checked: the cell failed before its end']);
    assert.match(cmp.diff, /-<- \{"event": "GONE", "timestamp": \{"seconds": "SECS", "microseconds": "USECS"\}\}/);
  });
});
