// Tests never fail on timing: no assertion in test/ reads the wall clock or compares an elapsed time with a bound.
// What such an assertion meant is said otherwise (test/support/clock.ts: a frozen clock, bounds exact in fake
// time; test/support/linear.ts: complexity in CPU time and ratios; the error's class: "not the timeout"). A
// deadline that guards a wait (`if (Date.now() > deadline) throw …`) is a hang guard, not an assertion, and is
// not flagged. The scan is by line, so it reads as the code is written: an assertion on one line.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const repoRoot = path.resolve(__dirname, '..', '..', '..');

/** A clock read: the wall clock, the monotonic clock, or a difference taken from one. */
const CLOCK = /\bDate\.now\(\)|\bperformance\.now\(\)|\bprocess\.hrtime\b|\bnew Date\(\)\.getTime\(\)/;
/** A value named as an elapsed time, compared with a bound (`ms < 5000`, `r.ms >= 700`, `elapsedMs > …`). */
const ELAPSED = /(?<![\w$])(?:\w+\.)?(?!fake)(?:ms|elapsed|took|duration|\w*(?:Elapsed|Ms|Took|Duration))\b\s*[<>]=?|[<>]=?\s*(?:\w+\.)?(?!fake)(?:ms|elapsed|took)\b(?!\w)/;
/** The start of an assertion. */
const ASSERTION = /\bassert(?:\.\w+)?\s*\(|\bexpect\s*\(/;

/**
 * Lines that still assert on time, each with why it may. An entry with `text` must still match a line (a stale
 * entry fails too, so the list only shrinks); one without allows a whole file another owner is changing.
 */
const ALLOWED: { file: string; text?: string; why: string }[] = [
  { file: 'test/unit/wallClock.test.ts', why: 'this scan: its own examples of what it flags' },
  { file: 'test/unit/windowPacing.test.ts', text: 'pacing.baseMs >= 300', why: 'a simulated window\'s round trips (numbers the test feeds in), not a clock' },
  { file: 'test/host/scale.test.ts', why: 'the scale suite (another owner this session) bounds each cell of a 1,000-cell run; to be said there in counts or fake time' },
];

export interface Finding { file: string; line: number; text: string }

/** The assertions of one source that read the clock or compare an elapsed time. */
export function wallClockAssertions(file: string, source: string): Finding[] {
  const found: Finding[] = [];
  source.split('\n').forEach((text, i) => {
    const line = text.replace(/\/\/.*$/, '');
    const at = line.search(ASSERTION);
    if (at < 0) return;
    // From the assertion on: a clock read in the condition of `if (Date.now() > deadline) assert.fail(…)` is a
    // hang guard. `x >= 0` checks that a figure exists, not how large it is.
    const code = line.slice(at).replace(/[\w.]+\s*>=\s*0(?![\d.])/g, '');
    if (CLOCK.test(code) || ELAPSED.test(code)) found.push({ file, line: i + 1, text: text.trim() });
  });
  return found;
}

function testSources(): string[] {
  const dir = path.join(repoRoot, 'test');
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.startsWith(`fixtures${path.sep}`))
    .map((f) => path.join('test', f).split(path.sep).join('/'))
    .sort();
}

describe('no test asserts on wall-clock time', () => {
  test('the scan flags what it must, and passes what it must', () => {
    const bad = [
      'assert.ok(Date.now() - t0 < 5000);',
      'assert.ok(performance.now() - t0 < 20_000, \'bounded\');',
      'assert.ok(ms >= 700 && ms < 20_000, `took ${ms} ms`);',
      'assert.ok(r.ms < 30_000, `took ${r.ms} ms`);',
      'assert.ok(elapsedMs < 100);',
      'assert.ok(large < Math.max(8 * small, 1500), `${small} ms`); const x = process.hrtime.bigint(); assert(x)',
      'expect(Date.now()).toBeLessThan(deadline);',
    ];
    for (const line of bad) assert.equal(wallClockAssertions('x.ts', line).length, 1, line);
    const good = [
      'const deadline = Date.now() + 5000;',
      'if (Date.now() > deadline) throw new Error(\'timed out waiting\');',
      'assert.ok(fakeMs >= 150 && fakeMs <= 152, `at ${fakeMs} ms of fake time`);',
      'assert.equal(err.timeoutMs, 300);',
      'assert.match(err.message, /did not answer within 300 ms/);',
      '// assert.ok(Date.now() - t0 < 5000) was here',
      'assert.ok(items.length < 100);',
      'if (Date.now() > deadline) assert.fail(`the screen never matched`);',
      'assert.ok(Number.isFinite(hostWaitMs) && hostWaitMs >= 0, \'stamped\');',
    ];
    for (const line of good) assert.deepEqual(wallClockAssertions('x.ts', line), [], line);
  });

  test('test/**/*.ts: every assertion on time is gone (or allowed, with why)', () => {
    const files = testSources();
    assert.ok(files.length > 100, `read ${files.length} test sources`);
    const findings = files.flatMap((f) => wallClockAssertions(f, readFileSync(path.join(repoRoot, f), 'utf8')));
    const allowed = (x: Finding): boolean => ALLOWED.some((a) => a.file === x.file && (a.text === undefined || x.text.includes(a.text)));
    const left = findings.filter((x) => !allowed(x));
    assert.deepEqual(left.map((x) => `${x.file}:${x.line}: ${x.text}`), [],
      'assert what the timing meant instead: test/support/clock.ts (freezeTimers, runClock), test/support/linear.ts, or the error\'s class');
    const stale = ALLOWED.filter((a) => a.text !== undefined && !findings.some((x) => x.file === a.file && x.text.includes(a.text as string)));
    assert.deepEqual(stale, [], 'allow-list entries that match nothing any more');
  });
});
