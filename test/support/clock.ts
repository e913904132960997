// Tests never fail on timing: what a test means by "at once", "within its bound" or "after its bound" is checked
// with a frozen clock, never by reading the wall clock.
//
// `freezeTimers` turns on node:test's mock timers for one test: every setTimeout and setInterval of the code under
// test (and of the test's own helpers) is held until `tick(ms)` moves the fake clock. Then
//   - a promise that settles while the clock stands still settled by what happened (a reply, a close, an abort),
//     never because a timer of the code fired: "at once" is a logical fact, whatever the machine's load;
//   - a timeout of N ms is shown to be N ms: pending after tick(N - 1), settled after one more millisecond.
// Sockets, child processes and setImmediate are real, so a fake server still talks to the client.
//
// The only real timer here is `settled`'s guard against a hang (the test fails with a message instead of waiting
// for the runner's own timeout); it is a bound, not a measurement, and a loaded machine only makes it later.
// A scan (test/unit/wallClock.test.ts) keeps wall-clock assertions out of test/.
import type { TestContext } from 'node:test';

// Taken when this module loads, before any test mocks the globals: the hang guard must run on the real clock.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

export interface FrozenClock {
  /** Moves the fake clock by ms, running every timer that falls due, in order. */
  tick(ms: number): void;
}

/**
 * Freezes setTimeout and setInterval for the rest of test t (restored when t ends). With `date`, Date.now() is
 * frozen too, at `now` (default 1_000_000), and moves only with tick.
 */
export function freezeTimers(t: TestContext, options: { date?: boolean; now?: number } = {}): FrozenClock {
  const apis: ('setTimeout' | 'setInterval' | 'Date')[] = ['setTimeout', 'setInterval'];
  if (options.date) apis.push('Date');
  t.mock.timers.enable({ apis, now: options.now ?? 1_000_000 });
  return { tick: (ms) => t.mock.timers.tick(ms) };
}

/** Lets pending I/O callbacks, immediates and microtasks run (a few turns of the event loop). */
export async function turns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Whether p has settled by now, after a few turns of the event loop. */
export async function hasSettled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => { done = true; }, () => { done = true; });
  await turns();
  return done;
}

/**
 * Runs the frozen clock forward, stepMs at a time (letting I/O and microtasks run between steps), until p settles;
 * returns how p settled and the fake time that took. The fake time is exact and the same on any machine: a test
 * asserts "ended at its 150 ms bound" as fakeMs === 150 and "ended by the event, not the 60 s bound" as
 * fakeMs < 60_000. Fails when p is still pending after maxMs of fake time.
 */
export async function runClock<T>(clock: FrozenClock, p: Promise<T>, options: { stepMs?: number; maxMs?: number } = {}):
  Promise<{ fakeMs: number; result: PromiseSettledResult<T> }> {
  const step = options.stepMs ?? 1;
  const max = options.maxMs ?? 120_000;
  let done: PromiseSettledResult<T> | undefined;
  p.then((value) => { done = { status: 'fulfilled', value }; }, (reason: unknown) => { done = { status: 'rejected', reason }; });
  let fakeMs = 0;
  for (;;) {
    await turns();
    if (done) return { fakeMs, result: done };
    if (fakeMs >= max) throw new Error(`still pending after ${max} ms of fake time`);
    clock.tick(step);
    fakeMs += step;
  }
}

/**
 * Waits in real time until cond() holds (for what the real world does while the fake clock stands still: a real
 * QEMU's greeting, a process's exit), polling on the real clock. Fails after hangMs (a hang guard).
 */
export async function waitUntil(cond: () => boolean, what: string, hangMs = 30_000): Promise<void> {
  let waited = 0;
  while (!cond()) {
    if (waited >= hangMs) throw new Error(`${what}: not so after ${hangMs} ms of real time (a hang guard)`);
    await new Promise<void>((r) => realSetTimeout(r, 10));
    waited += 10;
  }
}

/**
 * How p settled. Fails after hangMs of real time (a guard against a hang, so that a broken test says what it
 * waited for instead of being cut by the runner; it never decides a passing test).
 */
export async function settled<T>(p: Promise<T>, what = 'the promise', hangMs = 30_000): Promise<PromiseSettledResult<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = realSetTimeout(() => reject(new Error(`${what} did not settle within ${hangMs} ms of real time (a hang guard)`)), hangMs);
  });
  try {
    const [r] = await Promise.race([Promise.allSettled([p]), hang]);
    return r as PromiseSettledResult<T>;
  } finally {
    realClearTimeout(timer);
  }
}
