import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  formatCellProblem, parseCell, typeShellValue,
  type CellItem, type CommandItem, type ValueKind, type ValueKindOracle,
} from '../../src/format';
import { fixtureSchema } from './schemaFixtures';

function commands(items: CellItem[]): CommandItem[] {
  return items.filter((i): i is CommandItem => i.kind === 'command');
}

/** The JSON each command of a qmp-shell cell will send; fails the test on any problem. */
function sent(source: string, schema?: ValueKindOracle): string[] {
  const { items, errors } = parseCell(source, 'qmp-shell', schema);
  assert.deepEqual(errors.map(formatCellProblem), []);
  return commands(items).map((c) => c.json);
}

function problems(source: string, schema?: ValueKindOracle): string[] {
  return parseCell(source, 'qmp-shell', schema).errors.map(formatCellProblem);
}

/** A small stand-in schema: device_del's id is a string, block_resize's size an int. */
const fake: ValueKindOracle = {
  valueKindsAt(command: string, path: string[]): ValueKind[] | undefined {
    const key = `${command}:${path.join('.')}`;
    const table: Record<string, ValueKind[]> = {
      'device_del:id': ['string'],
      'block_resize:size': ['int'],
      'block_resize:node-name': ['string'],
      'x:flag': ['boolean'],
      'x:ratio': ['number'],
      'x:ref': ['object', 'string'],
      'x:maybe': ['string', 'null'],
      'x:list': ['array'],
    };
    return table[key];
  },
};

describe('parseCell: qmp-shell', () => {
  test('commands without and with arguments', () => {
    assert.deepEqual(sent('query-block\ndevice_del id=kbd0'), [
      '{"execute":"query-block"}',
      '{"execute":"device_del","arguments":{"id":"kbd0"}}',
    ]);
  });

  test('without a schema, values are guessed like qmp-shell: integers, booleans, JSON', () => {
    assert.deepEqual(sent('blockdev-add driver=null-co node-name=n1 size=1048576 read-only=False cache={"direct":false} ratio=0.5 n=null'), [
      '{"execute":"blockdev-add","arguments":{"driver":"null-co","node-name":"n1","size":1048576,"read-only":false,"cache":{"direct":false},"ratio":"0.5","n":"null"}}',
    ]);
  });

  // Each line below is what a user types into QEMU's qmp-shell; the expected JSON is what its _build_cmd
  // builds, reasoned from python/qemu/qmp/qmp_shell.py: `_parse_value` tries int(val), then 'true'/'false' in
  // any case, then for values starting with { or [ json.loads and then ast.literal_eval (null/true/false
  // allowed), and otherwise keeps the text as a string; `_cli_expr` nests dotted keys.
  test('real qmp-shell lines build the JSON qmp-shell builds', () => {
    const cases: [string, string][] = [
      // The example in qmp-shell's own documentation.
      ['device_add driver=e1000 id=net1', '{"execute":"device_add","arguments":{"driver":"e1000","id":"net1"}}'],
      // int('1.5') fails: a string (QEMU refuses a number for a string member).
      ['device_add driver=e1000 id=1.5', '{"execute":"device_add","arguments":{"driver":"e1000","id":"1.5"}}'],
      // int() takes underscores between digits, a sign and leading zeros, but not hex; '1e3' is no int either.
      ['x a=1_000 b=+5 c=007 d=-3 e=0x10 f=1e3 g=1__0', '{"execute":"x","arguments":{"a":1000,"b":5,"c":7,"d":-3,"e":"0x10","f":"1e3","g":"1__0"}}'],
      // Booleans in any case; None and null are plain words outside a literal.
      ['x a=True b=FALSE c=None d=null', '{"execute":"x","arguments":{"a":true,"b":false,"c":"None","d":"null"}}'],
      // Python literals: single quotes, True/None, a trailing comma, a tuple, hex inside a literal.
      ["blockdev-add driver=qcow2 node-name=d file={'driver':'file','filename':'a.qcow2',}",
        '{"execute":"blockdev-add","arguments":{"driver":"qcow2","node-name":"d","file":{"driver":"file","filename":"a.qcow2"}}}'],
      ["x o={'a':None,'b':True,'c':null,'d':(1,2),'e':0x10} l=[1,2,]", '{"execute":"x","arguments":{"o":{"a":null,"b":true,"c":null,"d":[1,2],"e":16},"l":[1,2]}}'],
      ['example-command arg-name1={\'key\':\'value\',\'obj\':{\'prop\':"value"}}', '{"execute":"example-command","arguments":{"arg-name1":{"key":"value","obj":{"prop":"value"}}}}'],
      // A JSON value extended by dotted keys merges.
      ['blockdev-add driver=qcow2 node-name=d file={"driver":"file"} file.filename=a.qcow2',
        '{"execute":"blockdev-add","arguments":{"driver":"qcow2","node-name":"d","file":{"driver":"file","filename":"a.qcow2"}}}'],
      // A float inside a literal stays a float, as json.dumps writes it.
      ['x l=[2.0,1.5]', '{"execute":"x","arguments":{"l":[2.0,1.5]}}'],
    ];
    for (const [line, json] of cases) assert.deepEqual(sent(line), [json], line);
  });

  test('an object or array value that parses as neither JSON nor Python is an error, with a schema too', () => {
    assert.deepEqual(problems('x v={oops'), ["line 1, col 3: v: invalid JSON or Python value '{oops': 'oops' is not a literal at character 2"]);
    assert.match(problems("x v=[1 2]")[0] ?? '', /v: invalid JSON or Python value '\[1 2\]'/);
    assert.match(problems("x v={1,2}")[0] ?? '', /a set is not JSON/);
    assert.match(problems('device_del id={oops', fixtureSchema('7.2'))[0] ?? '', /id: invalid JSON or Python value/);
    // Setting a key of a JSON value twice is refused, as qmp-shell refuses it.
    assert.match(problems('x file={"driver":"file"} file.driver=x')[0] ?? '', /'file.driver' is set more than once/);
  });

  test('dotted keys nest, and JSON values may hold spaces', () => {
    assert.deepEqual(sent('blockdev-add driver=file node-name=f filename=/tmp/x cache.direct=false cache.no-flush=true opts={"a": [1, 2]}'), [
      '{"execute":"blockdev-add","arguments":{"driver":"file","node-name":"f","filename":"/tmp/x","cache":{"direct":false,"no-flush":true},"opts":{"a":[1,2]}}}',
    ]);
  });

  test('quoted values may hold spaces and are always strings', () => {
    assert.deepEqual(sent(`human-monitor-command command-line="info status" a='it\\'s' n="42"`), [
      '{"execute":"human-monitor-command","arguments":{"command-line":"info status","a":"it\'s","n":"42"}}',
    ]);
  });

  test('integers beyond 2^53 are sent exactly', () => {
    const [cmd] = commands(parseCell('block_resize node-name=n1 size=18446744073709551615', 'qmp-shell').items);
    assert.equal(cmd?.argumentsText, '{"node-name":"n1","size":18446744073709551615}');
  });

  test('the schema keeps number-looking strings as strings', () => {
    assert.deepEqual(sent('device_del id=123', fake), ['{"execute":"device_del","arguments":{"id":"123"}}']);
    assert.deepEqual(sent('device_del id=123'), ['{"execute":"device_del","arguments":{"id":123}}']);
    assert.deepEqual(sent('x flag=true ratio=2 ref=n1 maybe=null list=[1]', fake), [
      '{"execute":"x","arguments":{"flag":true,"ratio":2,"ref":"n1","maybe":null,"list":[1]}}',
    ]);
  });

  test('a value the schema does not allow is an error with its place', () => {
    assert.deepEqual(problems('block_resize node-name=n1 size=big', fake), ["line 1, col 27: size: expected an integer, found 'big'"]);
    assert.deepEqual(problems('x list=nope', fake), ["line 1, col 3: list: expected a JSON array, found 'nope'"]);
  });

  test('typed against QEMU 7.2\'s real schema', () => {
    const schema = fixtureSchema('7.2');
    assert.deepEqual(sent('device_del id=42', schema), ['{"execute":"device_del","arguments":{"id":"42"}}']);
    assert.deepEqual(sent('blockdev-add driver=null-co node-name=1234 size=1048576 read-zeroes=true', schema), [
      '{"execute":"blockdev-add","arguments":{"driver":"null-co","node-name":"1234","size":1048576,"read-zeroes":true}}',
    ]);
    // `backing` is BlockdevRefOrNull: null means "no backing file"; `file` is BlockdevRef: a node name.
    assert.deepEqual(sent('blockdev-add node-name=q file=n1 backing=null driver=qcow2', schema), [
      '{"execute":"blockdev-add","arguments":{"node-name":"q","file":"n1","backing":null,"driver":"qcow2"}}',
    ]);
    assert.deepEqual(sent('blockdev-add driver=file node-name=f filename=/tmp/1 cache.direct=false', schema), [
      '{"execute":"blockdev-add","arguments":{"driver":"file","node-name":"f","filename":"/tmp/1","cache":{"direct":false}}}',
    ]);
    assert.deepEqual(problems('block_resize node-name=n1 size=big', schema), ["line 1, col 27: size: expected an integer, found 'big'"]);
    // device_add takes any property of the device: values are guessed there.
    assert.deepEqual(sent('device_add driver=usb-kbd id=kbd0 port=1', schema), [
      '{"execute":"device_add","arguments":{"driver":"usb-kbd","id":"kbd0","port":1}}',
    ]);
  });

  test('--oob sends exec-oob; --id gives the author\'s id', () => {
    const { items } = parseCell('query-yank --oob --id=7', 'qmp-shell');
    const [cmd] = commands(items);
    assert.deepEqual(cmd?.input, { 'exec-oob': 'query-yank', idText: '7' });
    assert.equal(cmd?.oob, true);
    assert.equal(cmd?.json, '{"exec-oob":"query-yank","id":7}');
    assert.equal(commands(parseCell('stop --id=abc', 'qmp-shell').items)[0]?.input.idText, '"abc"');
  });

  test('transactions, in qmp-shell\'s multi-line form and on one line with ;', () => {
    const expected = '{"execute":"transaction","arguments":{"actions":[{"type":"block-dirty-bitmap-add","data":{"node":"drive0","name":"bitmap1"}},{"type":"block-dirty-bitmap-clear","data":{"node":"drive0","name":"bitmap0"}}]}}';
    assert.deepEqual(sent('transaction(\n  block-dirty-bitmap-add node=drive0 name=bitmap1\n  block-dirty-bitmap-clear node=drive0 name=bitmap0\n)'), [expected]);
    assert.deepEqual(sent('transaction( block-dirty-bitmap-add node=drive0 name=bitmap1 ; block-dirty-bitmap-clear node=drive0 name=bitmap0 )'), [expected]);
    assert.deepEqual(sent('transaction( block-dirty-bitmap-add node=drive0 name=bitmap1; block-dirty-bitmap-clear node=drive0 name=bitmap0 )'), [expected]);
    // qmp-shell's one-action form, and a last action that closes the transaction on its own line.
    assert.deepEqual(sent('transaction( abort )'), ['{"execute":"transaction","arguments":{"actions":[{"type":"abort","data":{}}]}}']);
    assert.deepEqual(sent('transaction(\n abort\n abort )\nquery-status').length, 2);
  });

  test('transaction actions are typed as the command of the same name', () => {
    assert.deepEqual(sent('transaction( block-dirty-bitmap-add node=n1 name=007 )', fixtureSchema('10.0')), [
      '{"execute":"transaction","arguments":{"actions":[{"type":"block-dirty-bitmap-add","data":{"node":"n1","name":"007"}}]}}',
    ]);
  });

  test('wait-event lines', () => {
    const { items, errors } = parseCell('device_del id=kbd0\nwait-event DEVICE_DELETED device=kbd0 timeout=5000\nwait-event STOP', 'qmp-shell');
    assert.deepEqual(errors, []);
    assert.deepEqual(items.slice(1).map((i) => (i.kind === 'wait' ? [i.event, i.data, i.timeoutMs] : i.kind)), [
      ['DEVICE_DELETED', { device: 'kbd0' }, 5000],
      ['STOP', undefined, 10000],
    ]);
  });

  test('comments and blank lines are skipped; ranges point at the command', () => {
    const source = '# first\n\n  query-status  \n// second\nstop';
    const { items } = parseCell(source, 'qmp-shell');
    assert.deepEqual(commands(items).map((c) => source.slice(c.start, c.end)), ['query-status', 'stop']);
  });

  test('mistakes are reported with their place', () => {
    assert.deepEqual(problems('device_del kbd0'), ["line 1, col 12: expected key=value, found 'kbd0'"]);
    assert.deepEqual(problems('x a=1 a=2'), ["line 1, col 7: 'a' is set more than once"]);
    assert.deepEqual(problems('x a=1 a.b=2'), ["line 1, col 7: cannot use 'a' as both a value and an object"]);
    assert.deepEqual(problems('x a.=1'), ["line 1, col 3: empty member name in 'a.'"]);
    assert.deepEqual(problems('x a="open'), ['line 1, col 5: unterminated string']);
    assert.deepEqual(problems('x --fast'), ["line 1, col 3: unknown option '--fast' (options: --oob, --id=VALUE)"]);
    assert.deepEqual(problems('transaction(\n abort'), ["line 1, col 1: transaction( is not closed: end it with ')' on its own or after the last action"]);
    assert.deepEqual(problems('transaction( abort ) extra'), ["line 1, col 22: unexpected 'extra' after the end of the transaction"]);
    assert.deepEqual(problems('wait-event'), ['line 1, col 1: wait-event needs an event name, e.g. wait-event DEVICE_DELETED device=kbd0 timeout=5000']);
    assert.deepEqual(problems('wait-event STOP timeout=soon'), ["line 1, col 17: timeout must be a whole, non-negative number of milliseconds, found 'soon'"]);
    assert.deepEqual(problems('wait-event STOP timeout=3000000000'), ["line 1, col 17: timeout must be at most 2147483647 ms (about 24.8 days), found '3000000000'"]);
    assert.deepEqual(problems('x cache={"direct":'), ['line 1, col 3: cache: invalid JSON or Python value \'{"direct":\': expected a value at character 11']);
  });

  test('member names such as __proto__ are just names', () => {
    assert.deepEqual(sent('x __proto__.a=1'), ['{"execute":"x","arguments":{"__proto__":{"a":1}}}']);
    const [cmd] = commands(parseCell('x __proto__.a=1', 'qmp-shell').items);
    assert.deepEqual(Object.keys(cmd?.input.arguments ?? {}), ['__proto__']);
  });

  test('typeShellValue prefers the non-string reading only where the schema allows it', () => {
    assert.deepEqual(typeShellValue('10', ['string', 'int']), { json: '10' });
    assert.deepEqual(typeShellValue('10', ['string']), { json: '"10"' });
    assert.deepEqual(typeShellValue('007', undefined), { json: '7' });
    assert.deepEqual(typeShellValue('1e3', ['number']), { json: '1e3' });
    assert.deepEqual(typeShellValue('TRUE', ['boolean']), { json: 'true' });
    assert.deepEqual(typeShellValue('[1,2]', ['string']), { json: '"[1,2]"' });
    assert.deepEqual(typeShellValue('x', ['int']), { error: "expected an integer, found 'x'" });
  });
});

describe('parseCell: qmp-shell, any arguments', () => {
  type Tree = { [key: string]: Tree | string | number | boolean };
  const key = fc.stringMatching(/^[a-z][a-z0-9_-]{0,6}$/);
  const leaf = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean());
  const tree: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
    tree: fc.dictionary(key, fc.oneof({ depthSize: 'small' }, leaf, tie('tree')), { minKeys: 1, maxKeys: 3 }),
  })).tree;

  /** qmp-shell pairs for a tree: nested members as dotted keys, strings always quoted. */
  function pairs(t: Tree, prefix: string): string[] {
    return Object.entries(t).flatMap(([k, v]) => {
      if (typeof v === 'object') return pairs(v, `${prefix}${k}.`);
      const value = typeof v === 'string' ? JSON.stringify(v) : String(v);
      return [`${prefix}${k}=${value}`];
    });
  }

  function withoutEmpty(t: Tree): Tree | undefined {
    const out: Tree = {};
    for (const [k, v] of Object.entries(t)) {
      const w = typeof v === 'object' ? withoutEmpty(v) : v;
      if (w !== undefined) out[k] = w;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  test('dotted key=value pairs build exactly the arguments they spell', () => {
    fc.assert(fc.property(tree, (t) => {
      const expected = withoutEmpty(t);
      const { items, errors } = parseCell(`cmd ${pairs(t, '').join(' ')}`, 'qmp-shell');
      assert.deepEqual(errors, []);
      assert.deepEqual(commands(items)[0]?.input.arguments, expected);
    }), { numRuns: 1000 });
  });
});

describe('parseCell: qmp-shell, Python literals', () => {
  type J = null | boolean | number | string | J[] | { [k: string]: J };
  /** A Python spelling of a JSON value: True/False/None, single-quoted strings, trailing commas, tuples. */
  function py(v: J, style: number): string {
    if (v === null) return 'None';
    if (v === true) return style % 2 === 0 ? 'True' : 'true';
    if (v === false) return 'False';
    if (typeof v === 'number') return String(v);
    if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
    if (Array.isArray(v)) {
      const items = v.map((x) => py(x, style + 1));
      if (style % 3 === 0 && items.length > 0) return `(${items.join(', ')},)`;
      return `[${items.join(', ')}${style % 2 === 0 && items.length > 0 ? ',' : ''}]`;
    }
    const members = Object.entries(v).map(([k, x]) => `${py(k, style)}: ${py(x, style + 1)}`);
    return `{${members.join(', ')}${style % 2 === 1 && members.length > 0 ? ',' : ''}}`;
  }
  const scalar = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.stringMatching(/^[ -~]{0,6}$/));
  const value: fc.Arbitrary<J> = fc.letrec<{ v: J }>((tie) => ({
    v: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(fc.stringMatching(/^[a-z]{1,4}$/), tie('v'), { maxKeys: 3 })),
  })).v;

  test('a Python literal of any JSON value sends that value', () => {
    fc.assert(fc.property(value.filter((v) => typeof v === 'object' && v !== null), fc.nat(5), (v, style) => {
      const text = py(v, style * 3 + 1); // never a tuple at the top: qmp-shell reads only {…} and […] as literals
      const { items, errors } = parseCell(`cmd v=${text}`, 'qmp-shell');
      assert.deepEqual(errors, [], text);
      // Compared as JSON: what is sent (and -0 is sent as 0 by Python's int too).
      assert.equal(JSON.stringify(commands(items)[0]?.input.arguments), JSON.stringify({ v }), text);
    }), { numRuns: 500 });
  });
});
