// The language server's document features (src/lsp/features.ts) and completion: the qmp-shell semantic tokens
// follow the one qmp-shell tokenizer (format/shellTokens.ts), and
// every feature is linear in its input on the hostile shapes (one long word, one long string, many cells).
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type LanguageContext, languageService } from '../../src/language/service';
import { loadSchemaFile } from '../../src/lsp/config';
import { cellJsonTokens, documentSymbols, foldingRanges, jsonTokens, semanticTokens, shellTokens } from '../../src/lsp/features';
import { findRegions } from '../../src/lsp/regions';
import { shellLines } from '../../src/format/shellTokens';
import { cellText } from '../../src/language/parsed';
import { forTypingClients, narrowForReply, REPLY_MAX_ITEMS } from '../../src/lsp/server';
import { assertLinear } from '../support/linear';

const root = path.resolve(__dirname, '..', '..', '..');
const schema = loadSchemaFile(path.join(root, 'test', 'fixtures', 'qemu-10.0', 'query-qmp-schema.json'));
const ctx: LanguageContext = { schema, cached: false, oobNegotiated: undefined, docs: undefined };

const tokensOf = (scan: typeof shellTokens, text: string): string[] => {
  const out: string[] = [];
  scan(text, (a, b, t) => out.push(`${a}-${b}:${t}`));
  return out;
};

const notebookOf = (cell: string, language = 'qmp-shell'): string => `# N\n\n\`\`\`${language}\n${cell}\n\`\`\`\n`;

describe('lsp features', () => {
  it('symbols and folding from the parse the server already holds equal those of a fresh parse with the schema', () => {
    const doc = [
      '# Symbols', '',
      '```qmp', '{"execute": "query-status"}', '{ "execute": "blockdev-add",', '  "arguments": {"driver": "null-co", "node-name": "n0"} }', '<- {"return": {}}', '```', '',
      '```qmp-shell', 'query-status', 'blockdev-add driver=null-co node-name=n1 cache.direct=true', '```', '',
      '```qmp', '{"execute": ', '```', '',
      '```hmp', 'info status', '```', '',
    ].join('\n');
    const regions = findRegions(doc, true);
    const held = (r: (typeof regions)[number]) => cellText(r.text).commands(r.language);
    const symbols = documentSymbols(regions, schema);
    assert.ok(symbols.flatMap((x) => x.children ?? []).some((c) => c.name === 'blockdev-add'), JSON.stringify(symbols));
    assert.deepEqual(documentSymbols(regions, schema, held), symbols);
    assert.deepEqual(foldingRanges(regions, schema, held), foldingRanges(regions, schema));
  });

  it('the qmp-shell semantic tokens follow the one tokenizer: each key=value word is a property and a value (property)', () => {
    const piece = fc.constantFrom('query-status', 'a', 'x.y', '-', '-i', ' ', '\t', '=', '"', "'", '\\', '1', '-2', 'true', 'null', '#', '\n', '\r', 'k=v', 'k="a b"', 'k={"x": [1, 2]}', 'é', '\u00a0', '_', '.', ';');
    fc.assert(fc.property(fc.array(piece, { maxLength: 20 }).map((a) => a.join('')), (text) => {
      const got = tokensOf(shellTokens, text);
      const want: string[] = [];
      for (const line of shellLines(text)) {
        if (line.comment) continue;
        const words = line.tokens.filter((t, i) => !line.tokens.slice(0, i + 1).every((w) => w.text.startsWith('-')));
        const head = words[0];
        const name = head === undefined ? null : /^[A-Za-z_][\w.-]*/.exec(head.text);
        if (head === undefined || name === null) continue;
        want.push(`${head.start}-${head.start + name[0].length}:function`);
        for (const w of words.slice(1)) {
          const key = /^([\w.-]+)=/.exec(w.text);
          if (key === null) continue;
          const vEnd = w.text.endsWith(';') ? w.end - 1 : w.end;
          const value = text.slice(w.start + (key[1] as string).length + 1, vEnd);
          want.push(`${w.start}-${w.start + (key[1] as string).length}:property`,
            `${w.start + (key[1] as string).length + 1}-${vEnd}:${/^-?\d/.test(value) ? 'number' : /^(true|false|null)$/.test(value) ? 'keyword' : 'string'}`);
        }
      }
      assert.deepEqual(got.filter((t) => !t.endsWith(':comment')), want, JSON.stringify(text));
    }), { numRuns: 5000 });
    // A quoted or bracketed value with spaces is one value, as the parser reads it.
    assert.deepEqual(tokensOf(shellTokens, 'blockdev-add a="x y" b={"c": [1, 2]} # not a comment'),
      ['0-12:function', '13-14:property', '15-20:string', '21-22:property', '23-36:string']);
    assert.deepEqual(tokensOf(shellTokens, '  # note\r'), ['2-8:comment']);
  });

  it('semantic tokens, symbols, folding, diagnostics and completion at the end are linear on one long qmp-shell word', () => {
    const shapes: Array<[string, (n: number) => string]> = [
      ['a long word', (n) => 'a'.repeat(n)],
      ['a command and a long word', (n) => `device_add ${'x'.repeat(n)}`],
      ['a long key=', (n) => `device_add ${'k'.repeat(n)}=`],
      ['a long quoted value', (n) => `device_add id="${'v'.repeat(n)}`],
      ['many options', (n) => '-x '.repeat(n) + 'q'],
      ['many pairs', (n) => 'device_add ' + 'a=1 '.repeat(n)],
    ];
    for (const [label, cell] of shapes) {
      const make = (n: number): string => notebookOf(cell(n));
      assertLinear(`tokens: ${label}`, make, (t) => semanticTokens(findRegions(t, true)), 5_000);
      assertLinear(`symbols: ${label}`, make, (t) => documentSymbols(findRegions(t, true), schema), 5_000);
      assertLinear(`folding: ${label}`, make, (t) => foldingRanges(findRegions(t, true), schema), 5_000);
      assertLinear(`diagnostics: ${label}`, cell, (t) => languageService('qmp-shell')?.diagnose(t, ctx), 2_000);
      assertLinear(`completion at the end: ${label}`, cell, (t) => languageService('qmp-shell')?.complete(t, t.length, ctx), 2_000);
    }
  });

  it('the same features are linear on a long qmp string, deep JSON and many cells', () => {
    const shapes: Array<[string, (n: number) => string, string]> = [
      ['a long string', (n) => `{"execute": "${'q'.repeat(n)}`, 'qmp'],
      ['a long member name', (n) => `{"execute": "device_add", "arguments": {"${'m'.repeat(n)}`, 'qmp'],
      ['deep JSON', (n) => `{"execute": "x", "arguments": ${'{"a": '.repeat(n)}`, 'qmp'],
    ];
    for (const [label, cell, language] of shapes) {
      const make = (n: number): string => notebookOf(cell(n), language);
      assertLinear(`tokens: ${label}`, make, (t) => semanticTokens(findRegions(t, true)), 5_000);
      assertLinear(`symbols: ${label}`, make, (t) => documentSymbols(findRegions(t, true), schema), 5_000);
      assertLinear(`folding: ${label}`, make, (t) => foldingRanges(findRegions(t, true), schema), 5_000);
      assertLinear(`completion at the end: ${label}`, cell, (t) => languageService('qmp')?.complete(t, t.length, ctx), 2_000);
    }
    const cells = (n: number): string => Array.from({ length: n }, (_, i) => notebookOf(`{"execute": "query-status", "id": ${i}}`, 'qmp')).join('\n');
    assertLinear('tokens: many cells', cells, (t) => semanticTokens(findRegions(t, true)), 1000);
    assertLinear('symbols: many cells', cells, (t) => documentSymbols(findRegions(t, true), schema), 1000);
    assertLinear('folding: many cells', cells, (t) => foldingRanges(findRegions(t, true), schema), 1000);
  });

  it('folds a fenced cell from fence to fence, and a command written over several lines', () => {
    const text = '# N\n\n```qmp\n{"execute": "x",\n "arguments": {}}\n```\n\n```qmp-shell\nquery-status\n';
    const ranges = foldingRanges(findRegions(text, true), schema);
    assert.deepEqual(ranges, [
      { startLine: 2, endLine: 5, kind: 'region' },
      { startLine: 3, endLine: 4 },
      { startLine: 7, endLine: 8, kind: 'region' },
    ]);
  });
});

describe('lsp completion replies', () => {
  it('a long list is narrowed to what was typed, prefix matches first, at most REPLY_MAX_ITEMS, marked incomplete (property)', () => {
    const names = schema.commands().map((c) => c.name);
    fc.assert(fc.property(fc.constantFrom(...names), fc.nat(), (name, cut) => {
      const prefix = name.slice(0, cut % (name.length + 1));
      const text = `{"execute": "${prefix}`;
      const items = (languageService('qmp')?.complete(text, text.length, ctx).items ?? []).map((i) => forTypingClients(i, text, text.length));
      const { items: kept, incomplete } = narrowForReply(items, text, text.length);
      assert.ok(kept.length <= REPLY_MAX_ITEMS);
      assert.equal(incomplete, kept.length < items.length);
      const starting = items.filter((i) => i.label.startsWith(prefix));
      // Every item that starts with the prefix is kept while they fit; the name itself always is when it fits.
      if (starting.length <= REPLY_MAX_ITEMS) for (const i of starting) assert.ok(kept.includes(i), `${i.label} for ${prefix}`);
      if (prefix.length >= 4 && starting.length <= REPLY_MAX_ITEMS) assert.ok(kept.some((i) => i.label === name), `${name} for ${prefix}`);
    }), { numRuns: 300 });
  });
});

describe('semantic tokens of a qmp cell from its parse', () => {
  const fragment = fc.constantFrom('{', '}', '[', ']', ',', ':', ' ', '\n', '"execute"', '"exec-oob"', '"query-status"', '"event"',
    '"arguments"', '"wait-event"', '->', '<-', '-> ', '<- ', '// note\n', '/* block */', '/* open', '1', '-2.5e3', 'true', 'null',
    'junk', '"unterminated', '"a\\"b"', '{"execute": "stop"}', '{"wait-event": "STOP"}', '<- {"return": {}}', '#', '-', '<');
  const cells = fc.array(fragment, { maxLength: 40 }).map((parts) => parts.join(''));
  const fromParse = (text: string): string[] => {
    const out: string[] = [];
    cellJsonTokens(cellText(text), (a, b, t) => out.push(`${a}-${b}:${t}`));
    return out;
  };
  const fromScanner = (text: string): string[] => {
    const out: string[] = [];
    jsonTokens(text, (a, b, t) => out.push(`${a}-${b}:${t}`));
    return out;
  };

  it('are the tokens a scanner of the whole cell reads, on any cell', () => {
    fc.assert(fc.property(cells, (text) => { assert.deepEqual(fromParse(text), fromScanner(text), JSON.stringify(text)); }), { numRuns: 3000 });
  });

  it('a cell with markers, comments and junk: commands, events, members, values, operators (a stray word is no token)', () => {
    const text = '// first\n-> {"execute": "query-status"} junk\n<- {"return": {"running": true, "n": 1}}\n{"wait-event": "STOP"}';
    const kinds = fromParse(text).map((t) => t.split(':')[1]);
    assert.deepEqual(kinds, ['comment', 'operator', 'property', 'function', 'operator', 'property', 'property', 'keyword', 'property', 'number', 'property', 'event']);
  });
});
