// One check that a pass is linear in its input, for the tests of every parser that hostile input reaches.
//
// Time is the only thing these tests can measure, and a shared machine makes any one measurement noisy, so the
// check is built to fail only on super-linear growth, never on load: it times this process's CPU (not the wall
// clock, which counts the time other processes hold the CPU), and inputs of size n and 8n are timed
// interleaved (best of five each, so load that comes and goes spoils neither), and the ratio must stay below 32
// where linear growth gives 8, n log n about 9 and quadratic 64. A round spoiled anyway is repeated, three
// rounds in all, before the test fails with every figure it saw.
import assert from 'node:assert/strict';

const FACTOR = 8;
const LIMIT = 32;
/** Times under this are timer noise: the small input counts as taking at least this long. */
const FLOOR_MS = 1;

/** This process's CPU time in milliseconds (user + system): what the work cost, whatever else the machine runs. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * The rounds of a check, as a generator: it yields which input to time next and is sent back the CPU ms that run
 * took; it returns when a round is linear and fails the test after three spoiled rounds. One rule for the
 * synchronous and the asynchronous check.
 */
function* rounds(label: string, n: number): Generator<'small' | 'big', void, number> {
  let report = '';
  for (let round = 0; round < 3; round++) {
    let a = Infinity;
    let b = Infinity;
    for (let k = 0; k < 5; k++) {
      a = Math.min(a, yield 'small');
      b = Math.min(b, yield 'big');
    }
    const ratio = b / Math.max(a, FLOOR_MS);
    if (ratio < LIMIT) return;
    report += ` ${a.toFixed(2)} ms at n=${n}, ${b.toFixed(2)} ms at ${FACTOR}n (ratio ${ratio.toFixed(1)});`;
  }
  assert.fail(`${label}:${report} linear is ${FACTOR}, quadratic ${FACTOR * FACTOR}`);
}

export function assertLinear<T>(label: string, make: (n: number) => T, run: (input: T) => unknown, n: number): void {
  const inputs = { small: make(n), big: make(FACTOR * n) };
  run(inputs.small); // warm up: the first call compiles
  run(inputs.big);
  const check = rounds(label, n);
  for (let next = check.next(); !next.done;) {
    const t = cpuMs();
    run(inputs[next.value]);
    next = check.next(cpuMs() - t);
  }
}

/**
 * assertLinear for work that awaits (an engine run, a command-line check). The CPU time counts the whole
 * process, so nothing else may run in this process meanwhile (node:test runs a file's tests one at a time).
 */
export async function assertLinearAsync<T>(label: string, make: (n: number) => T, run: (input: T) => Promise<unknown>, n: number): Promise<void> {
  const inputs = { small: make(n), big: make(FACTOR * n) };
  await run(inputs.small);
  await run(inputs.big);
  const check = rounds(label, n);
  for (let next = check.next(); !next.done;) {
    const t = cpuMs();
    await run(inputs[next.value]);
    next = check.next(cpuMs() - t);
  }
}
