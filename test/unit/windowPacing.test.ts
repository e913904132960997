// The pacing of a Run All by the window's round trip (src/notebook/windowPacing.ts): the limit stays in its
// bounds whatever round trips come, and against a simulated window (cells handled in order, one at a time, each
// taking its time, behind a fixed latency) it keeps what waits in the window's queue near the target while the
// window never runs dry. The host tier measures it in the editor (test/host/scale.test.ts, QMP_SCALE_BENCH=1).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { defaultPacing, WindowPacing, type WindowPacingOptions } from '../../src/notebook/windowPacing';

interface Simulated {
  /** Round trip less the fixed latency: the time a cell waited in the window's queue and was handled (ms), per cell. */
  queued: number[];
  /** The share of the time the window was busy (1: it never waited for a cell). */
  busy: number;
  /** The limit after each cell. */
  limits: number[];
}

/**
 * A closed loop: the sender keeps `pacing.limit` cells on their way; the window handles them in order, each in
 * `serviceMs(i)`; each answer comes back `latencyMs` after it is handled (half there, half back).
 */
function simulate(pacing: WindowPacing, cells: number, serviceMs: (i: number) => number, latencyMs: number): Simulated {
  const queued: number[] = [];
  const limits: number[] = [];
  // Cells sent and not answered: when each was sent.
  const inFlight: number[] = [];
  let now = 0;
  let windowFreeAt = 0;
  let busyMs = 0;
  let sent = 0;
  let answered = 0;
  // The answers on their way back: [time it arrives, when the cell was sent].
  const answers: Array<[number, number]> = [];
  while (answered < cells) {
    while (sent < cells && inFlight.length + answers.length < pacing.limit) {
      // Sent now, it reaches the window half the latency later, and waits for the cells before it.
      const arrives = now + latencyMs / 2;
      const start = Math.max(arrives, windowFreeAt);
      const took = serviceMs(sent);
      windowFreeAt = start + took;
      busyMs += took;
      answers.push([windowFreeAt + latencyMs / 2, now]);
      sent++;
    }
    answers.sort((a, b) => a[0] - b[0]);
    const next = answers.shift();
    assert.ok(next, 'an answer is on its way');
    now = next[0];
    const rtt = now - next[1];
    pacing.observe(rtt);
    queued.push(rtt - latencyMs);
    limits.push(pacing.limit);
    answered++;
  }
  return { queued, busy: busyMs / Math.max(1, windowFreeAt - latencyMs / 2), limits };
}

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)] ?? 0;
}

describe('window pacing', () => {
  test('the limit stays a whole number within its bounds, whatever round trips come', () => {
    fc.assert(fc.property(
      fc.record({ min: fc.integer({ min: 1, max: 8 }), span: fc.integer({ min: 0, max: 200 }), initial: fc.integer({ min: -5, max: 300 }) }),
      fc.array(fc.oneof(fc.double({ min: -10, max: 1e6, noNaN: false }), fc.constant(Number.POSITIVE_INFINITY)), { maxLength: 400 }),
      ({ min, span, initial }, trips) => {
        const options: WindowPacingOptions = { ...defaultPacing, min, max: min + span, initial };
        const pacing = new WindowPacing(options);
        for (const rtt of trips) {
          pacing.observe(rtt);
          assert.ok(Number.isInteger(pacing.limit), `limit ${pacing.limit}`);
          assert.ok(pacing.limit >= options.min && pacing.limit <= options.max, `limit ${pacing.limit} in [${options.min}, ${options.max}]`);
        }
        const stats = pacing.stats();
        assert.ok(stats.lowest <= stats.limit && stats.limit <= stats.highest);
      }));
  });

  test('bad options are refused with a clear error', () => {
    assert.throws(() => new WindowPacing({ ...defaultPacing, min: 0 }), RangeError);
    assert.throws(() => new WindowPacing({ ...defaultPacing, min: 10, max: 5 }), RangeError);
    assert.throws(() => new WindowPacing({ ...defaultPacing, targetMs: 0 }), RangeError);
  });

  test('round trips at the base grow the limit up to its cap, at most doubling per round', () => {
    const pacing = new WindowPacing({ ...defaultPacing, initial: 4, max: 64 });
    let last = pacing.limit;
    for (let i = 0; i < 5_000; i++) {
      pacing.observe(10);
      assert.ok(pacing.limit >= last, 'never shrinks while nothing queues');
      assert.ok(pacing.limit <= 2 * last, 'at most doubles at once');
      last = pacing.limit;
    }
    assert.equal(pacing.limit, 64);
  });

  test('judged per round by its fastest answer: one slow answer is noise; a round all slow halves the limit, once', () => {
    const pacing = new WindowPacing({ ...defaultPacing, initial: 64, max: 64 });
    for (let i = 0; i < 64; i++) pacing.observe(10);
    const before = pacing.limit;
    assert.equal(before, 64);
    for (let i = 0; i < before - 1; i++) pacing.observe(10_000);
    pacing.observe(10);
    assert.equal(pacing.limit, before, 'one answer at the base in the round: nothing queues');
    for (let i = 0; i < before; i++) pacing.observe(10_000);
    assert.equal(pacing.limit, before / 2, 'a round all far over the target: halved');
    for (let i = 0; i < before / 2; i++) pacing.observe(10_000);
    assert.equal(pacing.limit, before / 2, 'the round after a shrink (cells sent under the old limit) is not judged');
    for (let i = 0; i < before / 2; i++) pacing.observe(10_000);
    assert.equal(pacing.limit, before / 4, 'the next one is');
  });

  test('against a simulated window: what waits in its queue stays near the target, and the window never runs dry', () => {
    fc.assert(fc.property(
      // (A latency the cap cannot cover, over 128 cells' time, would leave the window idle by design; a cell
      // slower than the target over the smallest limit fills the queue past it at the floor, also by design.)
      fc.double({ min: 0.5, max: defaultPacing.targetMs / (2 * defaultPacing.min), noNaN: true }), fc.double({ min: 1, max: 40, noNaN: true }),
      (serviceMs, latencyMs) => {
        const pacing = new WindowPacing(defaultPacing);
        const sim = simulate(pacing, 3_000, () => serviceMs, latencyMs);
        const settled = sim.queued.slice(1_000);
        // The queue's wait: the target, plus one window of growth and one cell's time (the control is per cell).
        assert.ok(p95(settled) <= defaultPacing.targetMs + 2 * serviceMs + 10,
          `p95 queued ${p95(settled).toFixed(1)} ms (service ${serviceMs.toFixed(2)} ms, latency ${latencyMs.toFixed(1)} ms)`);
        // Paced by the queue, not starved: the window works most of the time (a fixed small bound would not,
        // behind a long latency).
        assert.ok(sim.busy >= 0.8, `window busy ${(sim.busy * 100).toFixed(0)}% (service ${serviceMs.toFixed(2)} ms, latency ${latencyMs.toFixed(1)} ms)`);
      }), { numRuns: 40 });
  });

  test('the window slowing down fivefold midway: the limit follows it down, and the queue returns near the target', () => {
    const pacing = new WindowPacing(defaultPacing);
    const sim = simulate(pacing, 6_000, (i) => (i < 2_000 ? 1 : 5), 20);
    const before = sim.limits[1_999] ?? 0;
    const after = sim.limits[5_999] ?? 0;
    assert.ok(after < before, `the limit shrank (${before} → ${after})`);
    assert.ok(p95(sim.queued.slice(4_000)) <= defaultPacing.targetMs + 20, `p95 queued ${p95(sim.queued.slice(4_000))} ms once settled`);
  });

  test('a window that becomes slower by itself (a loaded machine, not a queue): the base follows it and the run does not crawl', () => {
    // Every round trip 300 ms more than at the start, whatever the number of cells on the way: a queue of ours
    // it is not, so shrinking cannot help.
    const pacing = new WindowPacing(defaultPacing);
    const sim = simulate(pacing, 4_000, () => 2, 20);
    const fast = pacing.limit;
    const slow = simulate(pacing, 4_000, () => 5, 320);
    const settled = slow.limits.slice(2_000);
    assert.ok(Math.min(...settled) > defaultPacing.min, `the limit left the floor (${Math.min(...settled)}–${Math.max(...settled)}; ${fast} before)`);
    assert.ok(pacing.baseMs >= 300, `the base is the window's time now (${pacing.baseMs} ms)`);
    assert.ok(slow.busy >= 0.7, `the window kept busy (${(slow.busy * 100).toFixed(0)}%)`);
    assert.ok(sim.busy > 0);
  });

  test('bad interaction options are refused with a clear error', () => {
    assert.throws(() => new WindowPacing({ ...defaultPacing, idle: 0 }), RangeError);
    assert.throws(() => new WindowPacing({ ...defaultPacing, interactive: -1 }), RangeError);
    assert.throws(() => new WindowPacing({ ...defaultPacing, interactive: 1.5 }), RangeError);
    assert.throws(() => new WindowPacing({ ...defaultPacing, quietMs: -1 }), RangeError);
  });

  test('full speed while nobody interacts; from an interaction until quietMs without another, at most `interactive` and the delay-based limit', () => {
    const options = fc.record({
      idle: fc.option(fc.integer({ min: 1, max: 2_000 }), { nil: undefined }), interactive: fc.integer({ min: 0, max: 64 }),
      quietMs: fc.integer({ min: 0, max: 5_000 }),
    });
    // Steps on one clock: time passes, the user interacts, or a round trip is observed; the limit is asked after each.
    const step = fc.oneof(
      fc.record({ wait: fc.integer({ min: 0, max: 3_000 }) }),
      fc.constant({ interact: true as const }),
      fc.record({ rtt: fc.double({ min: 0, max: 2_000, noNaN: true }) }),
    );
    fc.assert(fc.property(options, fc.array(step, { maxLength: 300 }), (o, steps) => {
      const pacing = new WindowPacing({ ...defaultPacing, ...o });
      let now = 1_000;
      const interactions: number[] = [];
      for (const s of steps) {
        if ('wait' in s) now += s.wait;
        else if ('interact' in s) { pacing.interacted(now); interactions.push(now); } else pacing.observe(s.rtt);
        const last = interactions[interactions.length - 1];
        const recent = last !== undefined && now - last < o.quietMs;
        assert.equal(pacing.interacting(now), recent);
        assert.equal(pacing.lastInteractionAt, last ?? -Infinity, 'the last interaction, as a new pacing carries it over');
        const limit = pacing.limitAt(now);
        assert.ok(Number.isInteger(limit) && limit >= 0, `limit ${limit}`);
        if (recent) {
          assert.ok(limit <= o.interactive && limit <= pacing.limit, `giving way: ${limit} ≤ ${o.interactive}, ≤ ${pacing.limit}`);
          assert.equal(pacing.quietAt(now), last + o.quietMs, 'full speed again quietMs after the last interaction');
        } else {
          assert.equal(limit, o.idle ?? pacing.limit, 'nobody interacting: full speed (idle), or the delay-based limit when idle is not set');
          assert.ok(pacing.quietAt(now) <= now);
        }
      }
      // The time given way: the union of [interaction, interaction + quietMs) up to now, counted exactly.
      let union = 0;
      let coveredTo = -Infinity;
      for (const t of interactions) {
        const from = Math.max(t, coveredTo);
        const to = Math.min(now, t + o.quietMs);
        if (to > from) union += to - from;
        coveredTo = Math.max(coveredTo, t + o.quietMs);
      }
      const stats = pacing.stats(now);
      assert.equal(stats.interactions, interactions.length);
      assert.equal(stats.gaveWayMs, Math.round(union), `gave way ${stats.gaveWayMs} ms, the spells' union ${union} ms`);
    }), { numRuns: 300 });
  });

  test('an interaction gives way at once: the next cell waits, and the run resumes at full speed quietMs after the last', () => {
    const pacing = new WindowPacing({ ...defaultPacing, idle: 128, interactive: 0, quietMs: 500 });
    assert.equal(pacing.limitAt(0), 128, 'before any interaction: full speed');
    pacing.interacted(10);
    assert.equal(pacing.limitAt(10), 0, 'at once: paused');
    pacing.interacted(300);
    assert.equal(pacing.limitAt(799), 0, 'each interaction extends the spell');
    assert.equal(pacing.quietAt(799), 800);
    assert.equal(pacing.limitAt(800), 128, 'quietMs after the last: full speed');
    assert.equal(pacing.stats(5_000).gaveWayMs, 790);
  });
});
