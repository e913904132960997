// The one qmp-shell tokenizer (src/format/shellTokens.ts): its invariants, that every consumer (the
// cell parser, completion's and hover's word lookup, live values' line words, the quick fixes) sees the same
// words for random lines, and that it is linear on hostile lines.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { shellLines, shellTokenAt, tokenizeShellLine } from '../../src/format/shellTokens';
import { parseShellCell } from '../../src/format/shell';
import { shellLineWords, shellWordAt } from '../../src/language/shellCompletion';
import { applyEdits } from '../../src/language/codeActions';
import { languageService } from '../../src/language/service';
import { fixtureSchema } from './schemaFixtures';
import { assertLinear } from '../support/linear';

const schema = fixtureSchema('7.2');

const piece = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9.-]{0,8}$/),
  fc.stringMatching(/^[a-z]{1,6}=[a-z0-9]{0,6}$/),
  fc.tuple(fc.constantFrom('"', "'"), fc.stringMatching(/^[a-z {}[\]\\=]{0,8}$/), fc.boolean())
    .map(([q, body, closed]) => `${q}${body.replace(/\\$/, '')}${closed ? q : ''}`),
  fc.stringMatching(/^[a-z]{1,5}=\{"a": \[1, "x y"\], "b": \{"c": null\}\}$/),
  fc.stringMatching(/^[a-z{}[\]"' \t=\\;]{1,10}$/),
);
const space = fc.constantFrom(' ', '  ', '\t', ' \t ');
const line = fc.tuple(fc.array(piece, { minLength: 1, maxLength: 8 }), fc.array(space, { minLength: 8, maxLength: 8 }))
  .map(([pieces, spaces]) => pieces.map((p, i) => (i === 0 ? '' : spaces[i]) + p).join(''));

describe('the qmp-shell tokenizer', () => {
  test('words are in order, are the text they say, start with a non-space, and only whitespace lies between', () => {
    fc.assert(fc.property(line, (text) => {
      const { tokens } = tokenizeShellLine(text);
      let at = 0;
      for (const t of tokens) {
        assert.equal(text.slice(t.start, t.end), t.text);
        assert.ok(t.start >= at && t.end > t.start);
        assert.match(text.slice(at, t.start), /^\s*$/);
        assert.match(t.text, /^\S/);
        at = t.end;
      }
      assert.match(text.slice(at), /^\s*$/);
    }));
  });

  test('quoted and bracketed values are one word even with spaces; an open quote runs to the end', () => {
    const { tokens, unterminated } = tokenizeShellLine('cmd a="x y" b={"c": [1, 2]} c=\'p q\' d="open end', 10);
    assert.deepEqual(tokens.map((t) => t.text), ['cmd', 'a="x y"', 'b={"c": [1, 2]}', "c='p q'", 'd="open end']);
    assert.equal(tokens[0]?.start, 10);
    assert.equal(unterminated, 10 + 'cmd a="x y" b={"c": [1, 2]} c=\'p q\' d='.length);
  });

  test('every consumer sees the same words for random lines', () => {
    fc.assert(fc.property(line, (text) => {
      const { tokens, unterminated } = tokenizeShellLine(text);
      const cell = `blockdev-add ${text}`;
      const cellTokens = tokenizeShellLine(cell).tokens;
      // Live values (and anything else that walks a cell's lines).
      if (!/^\s*(#|\/\/)/.test(text)) assert.deepEqual(shellLineWords(text)[0]?.words, tokens);
      assert.deepEqual(shellLines(cell)[0]?.tokens, cellTokens);
      // The parser: an unterminated quote is reported where the tokenizer saw it; a command spans its words.
      const parsed = parseShellCell(text);
      if (unterminated !== undefined) assert.ok(parsed.errors.some((e) => e.message === 'unterminated string' && e.start === unterminated), JSON.stringify(parsed.errors));
      if (parsed.errors.length === 0 && parsed.items.length === 1 && parsed.items[0]?.kind === 'command') {
        assert.equal(parsed.items[0].start, tokens[0]?.start);
        assert.equal(parsed.items[0].end, tokens.at(-1)?.end);
      }
      // Completion's and hover's word lookup: the command word, and each key=value word up to its end.
      assert.deepEqual(shellWordAt(cell, 0, schema), { kind: 'command', name: 'blockdev-add', range: { start: 0, end: 12 } });
      for (const [i, t] of cellTokens.entries()) {
        const eq = t.text.indexOf('=');
        if (i === 0 || eq <= 0 || t.text.startsWith('--')) continue;
        const w = shellWordAt(cell, t.end, schema);
        assert.ok(w !== undefined && w.kind === 'value', `${t.text} in ${cell}`);
        assert.deepEqual(w.range, { start: t.start + eq + 1, end: t.end });
      }
      // The word lookup of the quick fixes and hints.
      for (const t of tokens) assert.equal(shellTokenAt(tokens, t.start), t);
    }), { numRuns: 300 });
  });

  test('a quick fix removes the whole word, quoted spaces included', () => {
    const shell = languageService('qmp-shell');
    assert.ok(shell);
    const text = 'blockdev-add driver=null-co node-name=n0 bogus="a b c"';
    const diags = shell.diagnose(text, { schema });
    const actions = shell.codeActions(text, 0, text.length, { schema }, diags);
    const remove = actions.find((a) => a.title === "Remove 'bogus'");
    assert.ok(remove, actions.map((a) => a.title).join(' / '));
    assert.equal(applyEdits(text, remove.edits), 'blockdev-add driver=null-co node-name=n0');
  });

  test('linear on hostile lines', () => {
    assertLinear('quotes', (n) => '"a '.repeat(n), (s) => tokenizeShellLine(s), 20_000);
    assertLinear('brackets', (n) => '{ ['.repeat(n), (s) => tokenizeShellLine(s), 20_000);
    assertLinear('escapes', (n) => `x='${'\\\''.repeat(n)}`, (s) => tokenizeShellLine(s), 20_000);
    assertLinear('lines', (n) => 'a=1 "b\n'.repeat(n), (s) => shellLines(s), 20_000);
  });
});
