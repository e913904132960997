// Deadlines: the one timer behind every command's time limit. A limit fires once, not before its time, in
// deadline order (arming order for ties), never after it was cancelled; memory stays proportional to the live
// limits; and the timer holds the process up only while a limit is live.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Deadlines } from '../../src/qmp/deadlines';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether a ref'd timer exists in the process (ours is the only one these tests leave armed). */
function timersHoldingProcess(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('Deadlines', () => {
  test('limits fire in deadline order, ties in arming order, none before its time', async () => {
    const d = new Deadlines();
    const fired: Array<{ name: string; at: number }> = [];
    const t0 = performance.now();
    const arm = (name: string, ms: number): void => { d.add(ms, () => fired.push({ name, at: performance.now() - t0 })); };
    arm('c', 30);
    arm('a', 10);
    arm('b1', 20);
    arm('b2', 20);
    arm('zero', 0);
    await sleep(60);
    assert.deepEqual(fired.map((f) => f.name), ['zero', 'a', 'b1', 'b2', 'c']);
    const want: Record<string, number> = { zero: 0, a: 10, b1: 20, b2: 20, c: 30 };
    // Node's timers count whole milliseconds: never more than that early.
    for (const f of fired) assert.ok(f.at >= (want[f.name] as number) - 1, `${f.name} fired at ${f.at.toFixed(2)} ms`);
    assert.equal(d.size, 0);
  });

  test('a cancelled limit never fires; cancelling twice is harmless', async () => {
    const d = new Deadlines();
    const fired: string[] = [];
    const a = d.add(5, () => fired.push('a'));
    d.add(10, () => fired.push('b'));
    d.cancel(a);
    d.cancel(a);
    assert.equal(d.size, 1);
    await sleep(30);
    assert.deepEqual(fired, ['b']);
  });

  test('a limit armed from a firing callback fires too', async () => {
    const d = new Deadlines();
    const fired: string[] = [];
    d.add(5, () => { fired.push('first'); d.add(5, () => fired.push('second')); });
    await sleep(40);
    assert.deepEqual(fired, ['first', 'second']);
  });

  test('the timer holds the process up only while a limit is live; clear() stops it', async () => {
    await sleep(5);
    const before = timersHoldingProcess();
    const d = new Deadlines();
    const e = d.add(60_000, () => assert.fail('must not fire'));
    assert.equal(timersHoldingProcess(), before + 1);
    d.cancel(e);
    assert.equal(timersHoldingProcess(), before, 'nothing live: the armed timer is unref\'d');
    const f = d.add(60_000, () => assert.fail('must not fire'));
    assert.equal(timersHoldingProcess(), before + 1, 'live again: held again');
    d.cancel(f);
    d.add(60_000, () => assert.fail('must not fire'));
    d.clear();
    assert.equal(timersHoldingProcess(), before);
    assert.equal(d.size, 0);
  });

  test('property: entries held stay proportional to the live ones, whatever is added and cancelled', () => {
    fc.assert(fc.property(fc.array(fc.oneof(
      fc.record({ op: fc.constant('add' as const), ms: fc.integer({ min: 1000, max: 100_000 }) }),
      fc.record({ op: fc.constant('cancel' as const), pick: fc.nat() }),
    ), { maxLength: 2000 }), (ops) => {
      const d = new Deadlines();
      const live: Array<ReturnType<Deadlines['add']>> = [];
      try {
        for (const o of ops) {
          if (o.op === 'add') live.push(d.add(o.ms, () => undefined));
          else if (live.length > 0) d.cancel(live.splice(o.pick % live.length, 1)[0] as ReturnType<Deadlines['add']>);
          assert.equal(d.size, live.length);
          assert.ok(d.held <= Math.max(65, 4 * live.length + 1), `${d.held} entries held for ${live.length} live`);
        }
      } finally {
        d.clear();
      }
    }), { numRuns: 50 });
  });

  test('property: each live limit fires once, in (deadline, arming) order; cancelled ones never', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 8 }), fc.boolean()), { minLength: 1, maxLength: 40 }), async (specs) => {
      const d = new Deadlines();
      const fired: number[] = [];
      const entries = specs.map(([ms], i) => d.add(ms, () => fired.push(i)));
      const cancelled = new Set<number>();
      specs.forEach(([, cancel], i) => { if (cancel) { d.cancel(entries[i] as ReturnType<Deadlines['add']>); cancelled.add(i); } });
      await sleep(25);
      const want = entries.map((e, i) => ({ e, i })).filter((x) => !cancelled.has(x.i))
        .sort((a, b) => (a.e.at - b.e.at) || (a.e.seq - b.e.seq)).map((x) => x.i);
      assert.deepEqual(fired, want);
      d.clear();
    }), { numRuns: 15 });
  });
});
