// One tree per cell version (issue 18): a `qmp` cell is scanned once and each object read into one tree
// (validate.ts's buildTree), which the diagnostics, completion, hover, code actions, OOB hints, live values and
// named replies all read. Proved here: the tree's strict part is jsonc-parser's parseTree on any input; the
// diagnostics of random broken cells are the ones recorded before the one tree; ten requests of every feature
// on one version scan once and build one tree per object; building it is linear, large or deep.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import fc from 'fast-check';
import * as jsonc from 'jsonc-parser';
import { parseCell } from '../../src/format/cell';
import { buildTree, scanJson, type JsonNode, type JsonProperty } from '../../src/format/validate';
import { diagnose } from '../../src/language/diagnostics';
import { CellText, parseStats } from '../../src/language/parsed';
import { languageService, liveNeeds, type LiveLookup } from '../../src/language/service';
import { liveSpots } from '../../src/language/live';
import type { LiveKind } from '../../src/qmp/liveRefs';
import { assertLinear } from '../support/linear';
import { garbledCells } from './garbledCells';
import { fixtureSchema } from './schemaFixtures';

const schema = fixtureSchema('10.0');
const root = path.resolve(__dirname, '..', '..', '..');

const pieces = fc.constantFrom(
  '{', '}', '[', ']', ',', ':', ' ', '\n', '"', '"execute"', '"a b', "'x'", 'true', 'false', 'nul', 'null', '-', '1', '1.', '2e', '0x1',
  'word', '// c\n', '/* c */', '/* open', '"\\u12"', '"\\q"', '"\\"', '\u0001', '->', '<-', '\\', '"}"', '#', '"k":', '{"a": 1}',
);
const jsonish = fc.array(pieces, { maxLength: 60 }).map((xs) => xs.join(''));

type AnyNode = { type: string; offset: number; length: number; value?: unknown; colonOffset?: number | undefined; children?: readonly AnyNode[] | undefined; parent?: unknown };

/** What parseTree's Node says, as data: the fields the diagnostics and the runner read. */
function shape(n: AnyNode): unknown {
  const leaf = n.type !== 'object' && n.type !== 'array' && n.type !== 'property';
  return {
    type: n.type, offset: n.offset, length: n.length,
    ...(leaf ? { value: n.value } : {}),
    ...(n.colonOffset !== undefined ? { colonOffset: n.colonOffset } : {}),
    ...(n.children !== undefined && !leaf ? { children: n.children.map(shape) } : {}),
  };
}

/** Every node of the tree, loose ones included (iterative). */
function allNodes(rootNode: JsonNode | undefined): (JsonNode | JsonProperty)[] {
  const out: (JsonNode | JsonProperty)[] = [];
  const stack: (JsonNode | JsonProperty)[] = rootNode === undefined ? [] : [rootNode];
  while (stack.length > 0) {
    const n = stack.pop() as JsonNode | JsonProperty;
    out.push(n);
    if (n.type === 'object') stack.push(...n.properties);
    else if (n.type === 'array') stack.push(...n.items);
    else if (n.type === 'property') {
      stack.push(n.children[0] as JsonNode);
      if (n.value !== undefined) stack.push(n.value);
    }
  }
  return out;
}

describe('the one tree', () => {
  test('its strict part (children, offset, length, value, colonOffset) is jsonc-parser\'s parseTree, on any input', () => {
    fc.assert(fc.property(jsonish, fc.integer({ min: 0, max: 3 }), (body, pad) => {
      // Inside a longer cell: offsets are the segment's, start/end the cell's.
      const text = ' '.repeat(pad) + body;
      const ours = buildTree(scanJson(text, pad)).root;
      const theirs = jsonc.parseTree(body, [], { disallowComments: false, allowTrailingComma: false, allowEmptyContent: false });
      assert.deepEqual(ours === undefined ? undefined : shape(ours), theirs === undefined ? undefined : shape(theirs));
      for (const n of allNodes(ours)) {
        assert.equal(n.start, pad + n.offset, 'start is the cell offset of offset');
        if (n.type === 'object' || n.type === 'array' || n.type === 'property') {
          for (const c of n.children) assert.equal(c.parent, n, 'parent links');
          const all: (JsonNode | JsonProperty)[] = n.type === 'object' ? n.properties : n.type === 'array' ? n.items : [];
          if (n.type !== 'property') {
            assert.deepEqual(all.filter((x) => x.loose === undefined), n.children, 'the strict members, in order');
            for (let i = 1; i < all.length; i++) assert.ok((all[i - 1] as JsonNode).start < (all[i] as JsonNode).start, 'text order');
          }
        }
        if (n.type === 'word') assert.equal(n.loose, true, 'a bare word is loose');
      }
    }), { numRuns: 3000 });
  });

  test('the tolerant cases the cursor needs: keys without a colon, words without quotes', () => {
    const tree = (text: string): JsonNode | undefined => buildTree(scanJson(text)).root;
    const obj = tree('{"execute": "blockdev-add", "arguments": {dev, "driver": qco}}');
    assert.equal(obj?.type, 'object');
    if (obj?.type !== 'object') return;
    const args = obj.properties[1]?.value;
    assert.equal(args?.type, 'object');
    if (args?.type !== 'object') return;
    assert.deepEqual(args.properties.map((p) => [p.key, p.keyQuoted, p.loose === true, p.value?.type, p.value?.loose === true]),
      [['dev', false, true, undefined, false], ['driver', true, false, 'word', true]]);
    assert.deepEqual(args.children.map((p) => p.key), ['driver'], 'parseTree has only the quoted key, without a value');
    const colonless = tree('{"execute": "x", "arguments": {"node-name" "driver": "qcow2"}}');
    const a2 = colonless?.type === 'object' ? colonless.properties[1]?.value : undefined;
    assert.deepEqual(a2?.type === 'object' ? a2.properties.map((p) => [p.key, p.colon !== undefined, p.value?.type]) : [],
      [['node-name', false, undefined], ['driver', true, 'string']]);
    const word = tree('{dev: 1}');
    assert.deepEqual(word?.type === 'object' ? word.properties.map((p) => [p.key, p.colon, (p.value as { value?: unknown } | undefined)?.value]) : [], [['dev', 4, 1]]);
    const open = tree('{"a": "x\n');
    assert.equal(open?.type === 'object' ? (open.properties[0]?.value as { terminated?: boolean }).terminated : undefined, false);
  });

  test('the diagnostics of 4,000 random broken cells are the ones recorded before the one tree', () => {
    const oracle = JSON.parse(readFileSync(path.join(root, 'test', 'fixtures', 'diagnostics-oracle.json'), 'utf8')) as { hashes: string[] };
    const canon = (v: unknown): string => Array.isArray(v) ? `[${v.map(canon).join(',')}]` : v !== null && typeof v === 'object'
      ? `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .map((k) => `${JSON.stringify(k)}:${canon((v as Record<string, unknown>)[k])}`).join(',')}}`
      : JSON.stringify(v);
    const cells = garbledCells(4000);
    assert.equal(oracle.hashes.length, cells.length);
    let differ = 0;
    const shown: string[] = [];
    cells.forEach((c, i) => {
      const got = diagnose(c, i % 4 === 3 ? undefined : schema, i % 5 === 0 ? { oobNegotiated: false } : {});
      // From the CellText too (the editor's path): the same.
      assert.deepEqual(languageService('qmp')?.diagnose(new CellText(c), { ...(i % 4 === 3 ? {} : { schema }), ...(i % 5 === 0 ? { oobNegotiated: false } : {}) })
        .filter((d) => d.code !== 'bad-reference'), got, c);
      if (createHash('sha256').update(canon(got)).digest('hex').slice(0, 16) !== oracle.hashes[i]) {
        differ++;
        if (shown.length < 3) shown.push(`${JSON.stringify(c)} → ${JSON.stringify(got)}`);
      }
    });
    assert.equal(differ, 0, shown.join('\n'));
  });
});

describe('ten requests of every feature on one version: one scan, one tree', () => {
  const saved: Partial<Record<'createScanner' | 'parseTree' | 'visit' | 'parse', unknown>> = {};
  const calls = { createScanner: 0, parseTree: 0, visit: 0, parse: 0 };
  const patch = (): void => {
    const mod = jsonc as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of ['createScanner', 'parseTree', 'visit', 'parse'] as const) {
      const original = mod[name] as (...args: unknown[]) => unknown;
      saved[name] = original;
      mod[name] = (...args: unknown[]): unknown => {
        calls[name]++;
        return original(...args);
      };
    }
  };
  afterEach(() => {
    const mod = jsonc as unknown as Record<string, unknown>;
    for (const [name, fn] of Object.entries(saved)) mod[name] = fn;
  });

  test('diagnostics, completion, hover, code actions, OOB hints, live values and named replies', () => {
    const live: LiveLookup = {
      peek: (kind: LiveKind) => (kind === 'block-node' ? { kind, items: [{ value: 'n0', detail: '' }], stale: false, listable: true } : undefined),
    };
    const named = { above: new Map([['st', { command: 'query-status', cell: 0 }]]) };
    const text = [
      '-> {"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n1", "bogus": 1}}',
      '{"exec-oob": "migrate-pause"} {"execute": "migrate-pause"}',
      '{"execute": "block-dirty-bitmap-add", "arguments": {"node": "n9", "name": "{{st.return.status}}"}}',
      '{"execute": "query-block-jobs", "arguments": {dev',
    ].join('\n');
    const objects = 5;
    const ctx = { schema, live, named, oobNegotiated: false };
    const svc = languageService('qmp');
    assert.ok(svc);
    const cell = new CellText(text);
    patch();
    const before = { ...parseStats };
    const offsets = [text.indexOf('bogus') + 2, text.indexOf('"n9"') + 2, text.indexOf('st.return') + 3, text.indexOf('{dev') + 3, text.indexOf('null-co') + 2];
    for (let round = 0; round < 10; round++) {
      const diags = svc.diagnose(cell, ctx);
      assert.ok(diags.some((d) => d.code === 'unknown-member'), JSON.stringify(diags));
      assert.ok(diags.some((d) => d.code === 'unknown-live-value'), 'live values checked');
      assert.ok(diags.some((d) => d.code === 'oob-not-negotiated'), 'OOB checked');
      for (const at of offsets) {
        svc.complete(cell, at, ctx);
        svc.hover(cell, at, ctx);
      }
      assert.ok(svc.complete(cell, text.indexOf('"n9"') + 2, ctx).items.some((i) => i.label === 'n0'), 'live completion');
      assert.ok(svc.complete(cell, text.indexOf('st.return') + 2, ctx).items.some((i) => i.label === 'st'), 'named completion');
      assert.ok(svc.codeActions(cell, 0, text.length, ctx).some((a) => /bogus/.test(a.title)));
      assert.ok(svc.hints(cell, { schema }).some((h) => h.kind === 'can-run-oob'), 'OOB hints');
      assert.ok(liveNeeds('qmp', cell).length > 0);
      assert.ok(liveSpots('qmp', cell).length > 0);
      assert.equal(cell.commands('qmp').items.filter((i) => i.kind === 'command').length, 4, 'the commands without errors');
    }
    assert.equal(parseStats.json - before.json, 1, 'one scan of the cell');
    assert.equal(parseStats.tree - before.tree, objects, 'one tree per object, built once');
    assert.equal(calls.createScanner, objects, 'the scanner ran once per object segment, never again');
    assert.deepEqual([calls.parseTree, calls.visit, calls.parse], [0, 0, 0], 'jsonc-parser never parsed the cell');
  });
});

describe('building the tree is linear', () => {
  const svc = languageService('qmp');
  test('a large cell: many members, many objects', () => {
    const wide = (n: number): string => `{"execute": "blockdev-add", "arguments": {${Array.from({ length: n }, (_, i) => `"m${i}": [${i}, "v", {"x": null}]`).join(', ')}}}`;
    assertLinear('one tree, wide', wide, (t) => buildTree(scanJson(t)), 4000);
    const many = (n: number): string => Array.from({ length: n }, (_, i) => `{"execute": "query-status", "id": ${i}}`).join('\n');
    assertLinear('every feature, many objects', many, (t) => {
      const cell = new CellText(t);
      svc?.diagnose(cell, { schema });
      svc?.complete(cell, t.length - 3, { schema });
      svc?.hover(cell, 5, { schema });
    }, 150);
  });

  test('deep nesting: up to QEMU\'s limit a tree, 100,000 deep no tree and no stack overflow', () => {
    const nested = (n: number): string => `{"execute": "x", "arguments": {"a": ${'['.repeat(n)}1${']'.repeat(n)}}}`;
    assertLinear('one tree, deep', (n) => `${'['.repeat(n)}${'{"a": '.repeat(n)}1${'}'.repeat(n)}${']'.repeat(n)}`, (t) => buildTree(scanJson(t)), 100);
    const at1000 = buildTree(scanJson(nested(1000)));
    assert.equal(at1000.root?.type, 'object');
    assert.deepEqual(at1000.problems, []);
    const deep = nested(100_000);
    const cell = new CellText(deep);
    const diags = svc?.diagnose(cell, { schema }) ?? [];
    assert.deepEqual(diags.map((d) => d.code), ['too-deep']);
    assert.ok(Array.isArray(svc?.complete(cell, deep.length - 5, { schema }).items));
    assert.equal(svc?.hover(cell, deep.length - 5, { schema }), undefined);
    // Open brackets only (typing): no tree either, one problem.
    assert.deepEqual(buildTree(scanJson('['.repeat(100_000))).problems.map((p) => p.code), ['too-deep']);
    assertLinear('diagnostics, deep', (n) => `{"a": ${'['.repeat(n)}`, (t) => svc?.diagnose(new CellText(t), { schema }), 20_000);
  });

  test('mismatched brackets nest the parse deeper than a bracket count sees: stopped at QEMU\'s limit, no stack overflow', () => {
    // Each `]` is skipped by the parser (a value was expected) but closes a level for a bracket count.
    const sneaky = (n: number): string => `{"execute": "blockdev-add", "arguments": {"driver": "qcow2", "node-name": "x", ${'"file": {"driver": "qcow2", "b": ], '.repeat(n)}`;
    const few = new CellText(sneaky(3));
    assert.ok(svc?.diagnose(few, { schema }).some((d) => d.code === 'unknown-member' && /file\.b/.test(d.message)), 'a tree at a depth QEMU accepts');
    const text = sneaky(100_000);
    const cell = new CellText(text);
    const diags = svc?.diagnose(cell, { schema }) ?? [];
    assert.deepEqual(diags.map((d) => d.code), ['too-deep']);
    assert.equal(text.slice(diags[0]?.start, (diags[0]?.start ?? 0) + 1), '{', 'at the bracket that opens level 1025');
    assert.ok(Array.isArray(svc?.complete(cell, text.length - 4, { schema }).items));
    assert.equal(svc?.hover(cell, text.length - 25, { schema }), undefined);
    assert.ok(Array.isArray(svc?.codeActions(cell, 0, text.length, { schema })));
    assert.deepEqual(parseCell(text, 'qmp').errors.map((e) => e.code), ['too-deep'], 'the runner refuses it the same way');
    assertLinear('one tree, mismatched brackets', sneaky, (t) => buildTree(scanJson(t)), 2000);
  });
});
