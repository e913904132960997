// Hostile cells (issue 8): nesting of any depth never overflows the stack in any language feature, deeper
// than QEMU's limit is a cell error (not sent), problems are capped per cell, wait timeouts are refused where a
// timer cannot wait, and every pass is linear (test/support/linear.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCell } from '../../src/format';
import { MAX_NESTING, MAX_PROBLEMS, tooDeepAt } from '../../src/format/validate';
import { languageService, type LanguageContext } from '../../src/language/service';
import { fixtureSchema } from './schemaFixtures';
import { assertLinear } from '../support/linear';

const ctx: LanguageContext = { schema: fixtureSchema('10.0'), oobNegotiated: true };

function nested(depth: number): string {
  return `{"execute": "x", "arguments": {"a": ${'['.repeat(depth)}${']'.repeat(depth)}}}`;
}

/** Runs every feature of the language's service at several offsets; none may throw. */
function exercise(language: 'qmp' | 'qmp-shell', text: string): void {
  const svc = languageService(language);
  assert.ok(svc);
  const ds = svc.diagnose(text, ctx);
  for (const offset of [0, 1, Math.floor(text.length / 2), text.length - 1, text.length]) {
    svc.complete(text, offset, ctx);
    svc.hover(text, offset, ctx);
    svc.codeActions(text, offset, offset, ctx, ds);
  }
  svc.hints(text, ctx);
}

describe('hostile cells', () => {
  test('QEMU\'s nesting limit: 1024 levels are sent, deeper is a cell error with a clear message', () => {
    // The command object itself and `arguments` are two levels.
    assert.deepEqual(parseCell(nested(MAX_NESTING - 2), 'qmp').errors, []);
    const deep = parseCell(nested(MAX_NESTING - 1), 'qmp');
    assert.equal(deep.items.length, 0);
    assert.match(deep.errors[0]?.message ?? '', /nested deeper than 1024 levels, which QEMU refuses/);
    const shell = parseCell(`x a=${'['.repeat(MAX_NESTING + 1)}${']'.repeat(MAX_NESTING + 1)}`, 'qmp-shell');
    assert.equal(shell.items.length, 0);
    assert.match(shell.errors[0]?.message ?? '', /nested deeper than 1024/);
    const dotted = parseCell(`x ${'a.'.repeat(MAX_NESTING + 1)}b=1`, 'qmp-shell');
    assert.equal(dotted.items.length, 0);
    assert.match(dotted.errors[0]?.message ?? '', /nested deeper than 1024/);
  });

  test('no stack overflow at any depth, in any feature, closed or not', () => {
    for (const depth of [3000, 5000, 100_000]) {
      const cases: ['qmp' | 'qmp-shell', string][] = [
        ['qmp', nested(depth)],
        ['qmp', `{"execute": "x", "arguments": {"a": ${'['.repeat(depth)}`],
        ['qmp', `{"execute": "x", "arguments": ${'{"a": '.repeat(depth)}1${'}'.repeat(depth)}}`],
        ['qmp-shell', `x a=${'['.repeat(depth)}${']'.repeat(depth)}`],
        ['qmp-shell', `x a=${"{'a':".repeat(depth)}`],
        ['qmp-shell', `x ${'a.'.repeat(depth)}b=1`],
      ];
      for (const [language, text] of cases) {
        const parsed = parseCell(text, language);
        assert.equal(parsed.items.length, 0, `${language} ${depth}`);
        assert.ok(parsed.errors.length > 0);
        exercise(language, text);
      }
    }
  });

  test('the depth scan skips strings and comments', () => {
    assert.equal(tooDeepAt(`{"a": "${'['.repeat(5000)}"} // ${'{'.repeat(5000)}`), undefined);
    assert.equal(tooDeepAt(`x a='${'['.repeat(5000)}'`, 0, undefined, true), undefined);
  });

  test('problems are capped per cell, with one summary of the rest', () => {
    const junk = `{"execute": "x", "arguments": {"a": [${'1 '.repeat(50_000)}`;
    const parsed = parseCell(junk, 'qmp');
    assert.equal(parsed.errors.length, MAX_PROBLEMS + 1);
    assert.match(parsed.errors[MAX_PROBLEMS]?.message ?? '', /^\d+ more problems not listed/);
    const svc = languageService('qmp');
    const ds = svc?.diagnose(junk, ctx) ?? [];
    assert.equal(ds.length, MAX_PROBLEMS + 1);
    assert.equal(ds[MAX_PROBLEMS]?.code, 'too-many-problems');
    const many = 'x v={oops\n'.repeat(500);
    assert.equal(parseCell(many, 'qmp-shell').errors.length, MAX_PROBLEMS + 1);
    assert.equal(languageService('qmp-shell')?.diagnose(many, ctx).length, MAX_PROBLEMS + 1);
    const unknown = 'query-verison\n'.repeat(500);
    assert.equal(languageService('qmp-shell')?.diagnose(unknown, ctx).length, MAX_PROBLEMS + 1);
  });

  test('wait timeouts a timer cannot wait are refused when the cell is parsed', () => {
    const errors = (t: string): string[] => parseCell(`{"wait-event": "STOP", "timeout": ${t}}`, 'qmp').errors.map((e) => e.message);
    assert.deepEqual(errors('2147483647'), []);
    assert.deepEqual(errors('0'), []);
    assert.deepEqual(errors('3000000000'), ['timeout must be at most 2147483647 ms (about 24.8 days)']);
    for (const bad of ['-1', '1.5', '1e400', '"5"', 'null']) assert.match(errors(bad)[0] ?? '', /timeout must be a whole, non-negative number/, bad);
    const [item] = parseCell('{"wait-event": "STOP", "timeout": 2147483647}', 'qmp').items;
    assert.equal(item?.kind === 'wait' ? item.timeoutMs : undefined, 2147483647);
    // The editor says the same.
    const d = languageService('qmp')?.diagnose('{"wait-event": "STOP", "timeout": 3000000000}', ctx) ?? [];
    assert.deepEqual(d.map((x) => x.message), ['timeout must be at most 2147483647 ms (about 24.8 days)']);
  });

  test('linear: array elements with missing commas (parser and diagnostics)', () => {
    const make = (n: number): string => `{"execute": "x", "arguments": {"a": [${'1 '.repeat(n)}]}}`;
    assertLinear('parseCell', make, (t) => parseCell(t, 'qmp'), 16_000);
    assertLinear('diagnose', make, (t) => languageService('qmp')?.diagnose(t, ctx), 16_000);
  });

  test('linear: one unterminated object of many tokens, and many commands', () => {
    const open = (n: number): string => `{"execute": "x", "arguments": {${'"a": 1 '.repeat(n)}`;
    assertLinear('parseCell open', open, (t) => parseCell(t, 'qmp'), 5000);
    assertLinear('diagnose open', open, (t) => languageService('qmp')?.diagnose(t, ctx), 5000);
    const cmds = (n: number): string => '{"execute": "query-status"}\n'.repeat(n);
    assertLinear('diagnose commands', cmds, (t) => languageService('qmp')?.diagnose(t, ctx), 400);
    const lines = (n: number): string => 'block_resize node-name=n1 size=1\n'.repeat(n);
    assertLinear('shell diagnose', lines, (t) => languageService('qmp-shell')?.diagnose(t, ctx), 300);
    assertLinear('shell parse', lines, (t) => parseCell(t, 'qmp-shell'), 1000);
  });
});
