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
