// EventLog: the history is always the newest events that fit both caps, cursors stay exact across
// compaction, and a wait from a cursor whose events were dropped is refused, never answered wrongly.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventLog } from '../../src/qmp/events';
import { EventsDroppedError, EventTimeoutError, StateError } from '../../src/qmp/errors';

function add(log: EventLog, name: string, pad: number): void {
  const msg = { event: name, data: { p: 'x'.repeat(pad) }, timestamp: { seconds: 1, microseconds: 2 } };
  log.add(JSON.stringify(msg), msg);
}

describe('EventLog', () => {
  test('property: the history is the newest suffix that fits both caps, in order', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 5000 }),
      fc.array(fc.integer({ min: 0, max: 600 }), { maxLength: 3000 }), (maxEvents, maxBytes, pads) => {
        const log = new EventLog({ maxEvents, maxBytes });
        const raws: string[] = [];
        for (const [i, p] of pads.entries()) {
          add(log, `E${i}`, p);
          raws.push(JSON.stringify({ event: `E${i}`, data: { p: 'x'.repeat(p) }, timestamp: { seconds: 1, microseconds: 2 } }));
        }
        // expected: walk back from the newest while both caps hold (an event bigger than maxBytes alone is not kept)
        const expected: number[] = [];
        let bytes = 0;
        for (let i = raws.length - 1; i >= 0; i--) {
          const len = raws[i]!.length;
          if (expected.length + 1 > maxEvents || bytes + len > maxBytes) break;
          expected.unshift(i + 1);
          bytes += len;
        }
        const hist = log.history();
        assert.deepEqual(hist.map((e) => e.seq), expected);
        assert.deepEqual(log.size(), { events: expected.length, bytes });
        assert.equal(log.cursor(), pads.length);
      }), { numRuns: 200 });
  });

  test('a wait from a cursor before the dropped events is refused; one inside the kept range is answered from history', async () => {
    const log = new EventLog({ maxEvents: 10 });
    for (let i = 0; i < 25; i++) add(log, i === 20 ? 'WANTED' : 'E', 1);
    const live = (): undefined => undefined;
    await assert.rejects(log.wait((e) => e.event === 'WANTED', { after: 0, timeoutMs: 50 }, live),
      (e: unknown) => e instanceof EventsDroppedError && e.dropped === 15);
    await assert.rejects(log.wait(() => true, { after: 14, timeoutMs: 50 }, live), EventsDroppedError);
    const got = await log.wait((e) => e.event === 'WANTED', { after: 15, timeoutMs: 50 }, live);
    assert.equal(got.seq, 21);
    // nothing in history and the session is not live: the caller's error
    await assert.rejects(log.wait(() => false, { timeoutMs: 50 }, () => new StateError('not running')), StateError);
    await assert.rejects(log.wait(() => false, { timeoutMs: 30 }, live), EventTimeoutError);
  });

  test('a huge timeout waits instead of firing at once (Node timer overflow)', async () => {
    const log = new EventLog();
    const ac = new AbortController();
    let settled = false;
    const w = log.wait(() => true, { timeoutMs: 3_000_000_000, signal: ac.signal }, () => undefined).finally(() => { settled = true; });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(settled, false);
    add(log, 'E', 1);
    assert.equal((await w).event, 'E');
  });

  test('100,000 events through a small history: memory stays at the cap (ring compaction)', () => {
    const log = new EventLog({ maxEvents: 100 });
    for (let i = 0; i < 100_000; i++) add(log, 'E', 10);
    const hist = log.history();
    assert.equal(hist.length, 100);
    assert.equal(hist[0]!.seq, 99_901);
    assert.equal(hist[99]!.seq, 100_000);
  });
});
