// Masks are notebook text, so hostile ones must not hang whoever runs or opens the notebook: patterns run on
// a linear-time engine (no backtracking blow-up), `**` paths are matched with a set of positions per node,
// and what the engine cannot take (or a flag it does not know) is a clear error, never a silent path.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { maskMessage, maskText, maskTree, parseMask, MASKED, type Mask } from '../../src/testing/masks';
import { cellRules, notebookRules } from '../../src/run/rules';
import { eventKey } from '../../src/run/expectEvents';
import { parseJsonTree, printJsonTree, type JsonNode } from '../../src/run/jsonTree';
import { assertLinear } from '../support/linear';
import { planCell } from '../../src/run/plan';

function mask(text: string): Mask {
  const m = parseMask(text);
  if ('error' in m) throw new Error(m.error);
  return m;
}

function error(text: string): string {
  const m = parseMask(text);
  assert.ok('error' in m, `${text} should not parse`);
  return m.error;
}

describe('masks: what a pattern may be', () => {
  test('a flag other than i, m, s, u is named, never taken as a path', () => {
    assert.match(error('/[0-9]+/g'), /flag 'g' is not supported \(a mask already replaces every match\)/);
    assert.match(error('/x/y'), /flag 'y' is not supported/);
    assert.match(error('/x/d'), /flag 'd' is not supported/);
    assert.match(error('/x/ii'), /flag 'i' is given twice/);
    assert.match(error('/no-closing-slash'), /expected \/PATTERN\/ with optional flags/);
    // The same error in a cell directive and in the front matter (one parser).
    assert.match(cellRules('// test: mask /[0-9]+/g\n{"execute": "stop"}', notebookRules({}).rules).errors.join(), /line 1: .*flag 'g'/);
    assert.match(notebookRules({ masks: ['/[0-9]+/g'] }).errors.join(), /flag 'g'/);
  });

  test('what the linear-time engine cannot take is a clear error naming the construct', () => {
    assert.match(error('/(a)\\1/'), /backreferences .* not supported/);
    assert.match(error('/(?<n>a)\\k<n>/'), /backreferences .* not supported/);
    for (const p of ['/a(?=b)/', '/a(?!b)/', '/(?<=a)b/', '/(?<!a)b/']) assert.match(error(p), /lookahead and lookbehind .* not supported/, p);
    assert.match(error('/a(/'), /bad pattern \/a\(\/: .*missing closing \)/);
    // An escaped backslash followed by a digit is a literal, not a backreference.
    assert.equal(maskText('a\\1b', { masks: [mask('/\\\\1/')] }), `a${MASKED}b`);
  });

  test('JavaScript spellings keep their meaning: flags, \\/, \\uXXXX, classes, anchors', () => {
    assert.equal(maskText('PID 42 pid 7', { masks: [mask('/pid [0-9]+/i')] }), `${MASKED} ${MASKED}`);
    assert.equal(maskText('a/b', { masks: [mask('/a\\/b/')] }), MASKED);
    assert.equal(maskText('café', { masks: [mask('/caf\\u00e9/')] }), MASKED);
    assert.equal(maskText('x\ny', { masks: [mask('/x.y/')] }), 'x\ny', 'without s, . does not match a newline');
    assert.equal(maskText('x\ny', { masks: [mask('/x.y/s')] }), MASKED);
    assert.equal(maskText('a\nb', { masks: [mask('/^b$/m')] }), `a\n${MASKED}`);
    assert.equal(maskText('a\nb', { masks: [mask('/^b$/')] }), 'a\nb');
    assert.equal(maskText('t 12 u 345', { masks: [mask('/\\d+/')] }), `t ${MASKED} u ${MASKED}`);
    assert.equal(maskMessage('{"return": {"pid": "pid 4242"}}', { masks: [mask('/pid [0-9]+/')] }), `{"return": {"pid": "${MASKED}"}}`);
  });
});

describe('masks: hostile patterns and paths take linear time', () => {
  test('/(a+)+$/ on a run of a then !, /(x+x+)+y/ on x…, nested quantifiers: linear in the text', () => {
    for (const [pattern, text] of [['/(a+)+$/', (n: number) => `${'a'.repeat(n)}!`], ['/(x+x+)+y/', (n: number) => 'x'.repeat(n)],
      ['/(a|aa)+$/', (n: number) => `${'a'.repeat(n)}b`], ['/(a*)*b/', (n: number) => 'a'.repeat(n)]] as const) {
      const opts = { masks: [mask(pattern)] };
      assertLinear(pattern, text, (t) => maskText(t, opts), 2000);
    }
  });

  test('the issue\'s sample finishes: /(a+)+$/ on 40 a and !', () => {
    const opts = { masks: [mask('/(a+)+$/')] };
    const reply = `{"return": {"s": "${'a'.repeat(40)}!"}}`;
    assert.equal(maskMessage(reply, opts), reply);
  });

  test('**.**.**.**.**.**.x on a reply nested deep: linear in the depth', () => {
    const nested = (n: number): JsonNode => parseJsonTree(`{"return": ${'{"a": '.repeat(n)}{"x": 1}${'}'.repeat(n)}}`) as JsonNode;
    const opts = { masks: [mask('**.**.**.**.**.**.x')] };
    assertLinear('**.**.**.**.**.**.x', nested, (t) => maskTree(t, opts), 50);
    assert.match(printJsonTree(maskTree(nested(400), opts)), /"x": "MASKED"/);
    // Wide as well as deep: many siblings at every level.
    const wide = (n: number): JsonNode => parseJsonTree(JSON.stringify({ return: Array.from({ length: n }, (_, i) => ({ a: [{ b: { x: i } }] })) })) as JsonNode;
    assertLinear('**.*.**.x on a wide reply', wide, (t) => maskTree(t, { masks: [mask('**.*.**.x')] }), 200);
  });

  test('through the engine\'s expected events (a cell directive): linear too', () => {
    const rules = cellRules('// test: mask /(x+x+)+y/\n{"execute": "stop"}', notebookRules({}).rules).rules;
    assertLinear('expected event with /(x+x+)+y/', (n) => JSON.stringify({ event: 'STOP', data: { s: 'x'.repeat(n) } }),
      (json) => eventKey(json, rules.masks), 2000);
  });
});

// The reference: a node at key path K is masked when K (from the message root) matches the path, `*` one key,
// `**` any number of keys; its descendants are then gone with it.
function matches(keys: readonly string[], segs: readonly string[]): boolean {
  const memo = new Map<string, boolean>();
  const go = (i: number, j: number): boolean => {
    const k = `${i},${j}`;
    const hit = memo.get(k);
    if (hit !== undefined) return hit;
    let r: boolean;
    if (j === segs.length) r = i === keys.length;
    else if (segs[j] === '**') r = go(i, j + 1) || (i < keys.length && go(i + 1, j));
    else r = i < keys.length && (segs[j] === '*' || segs[j] === keys[i]) && go(i + 1, j + 1);
    memo.set(k, r);
    return r;
  };
  return go(0, 0);
}

function reference(value: unknown, segs: readonly string[], keys: string[] = []): unknown {
  if (matches(keys, segs)) return MASKED;
  if (Array.isArray(value)) return value.map((v, i) => reference(v, segs, [...keys, String(i)]));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reference(v, segs, [...keys, k])]));
  }
  return value;
}

describe('masks: a pattern whose every match reads ahead has a bound', () => {
  const pattern = (text: string): Mask => {
    const m = parseMask(text);
    if ('error' in m) throw new Error(m.error);
    return m;
  };

  test('/a+b|a/ on 200k a (quadratic in RE2 itself: minutes unbounded) ends, the rest of the value masked whole', { timeout: 60_000 }, () => {
    const value = 'a'.repeat(200_000);
    const out = maskText(value, { masks: [pattern('/a+b|a/')] });
    assert.ok(out.startsWith(MASKED), out.slice(0, 40));
    assert.ok(out.endsWith(MASKED));
    assert.ok(!out.includes('a'), 'no unmasked a is left');
  });

  test('within the budget, patterns replace exactly as String.replace with /g does (empty matches too)', () => {
    const bodies = ['[0-9]+', 'a|b', 'x*', '^', '$', 'b+', '[^a]'];
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('a', 'b', 'x', '1', '2', ' ') , maxLength: 40 }), fc.constantFrom(...bodies), (text, body) => {
      assert.equal(maskText(text, { masks: [pattern(`/${body}/`)] }), text.replace(new RegExp(body, 'g'), MASKED));
    }), { numRuns: 500 });
  });
});

describe('masks: the path matcher agrees with the definition', () => {
  test('random paths of a, b, 0, *, ** over random trees (property)', () => {
    const key = fc.constantFrom('a', 'b', 'x');
    const leaf = fc.oneof(fc.integer(), fc.constant('s'));
    const tree = fc.letrec<{ node: unknown }>((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, fc.dictionary(key, tie('node'), { maxKeys: 3 }), fc.array(tie('node'), { maxLength: 2 })),
    })).node;
    const seg = fc.constantFrom('a', 'b', 'x', '0', '1', '*', '**');
    fc.assert(fc.property(fc.dictionary(key, tree, { maxKeys: 3 }), fc.array(seg, { minLength: 1, maxLength: 5 }), (root, segs) => {
      fc.pre(!segs.every((s) => s === '**'));
      const got = JSON.parse(maskMessage(JSON.stringify(root), { masks: [mask(segs.join('.'))] })) as unknown;
      assert.deepEqual(got, reference(root, segs), segs.join('.'));
    }), { numRuns: 500 });
  });
});

describe('masks: a bad directive is reported where it matters', () => {
  test('a cell with expected events and a bad mask directive is malformed for run (not silently unmasked)', () => {
    const plan = planCell('// test: mask /[0-9]+/g\n{"execute": "stop"}\n<- {"event": "STOP"}', 'qmp');
    assert.match(plan.problems.map((p) => p.message).join('\n'), /test directive: line 1: bad pattern \/\[0-9\]\+\/g: flag 'g' is not supported/);
    assert.deepEqual(planCell('// test: mask /[0-9]+/\n{"execute": "stop"}\n<- {"event": "STOP"}', 'qmp').problems, []);
  });
});
