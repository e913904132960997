import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { formatCellProblem, LineMap, parseCell, type CellItem, type CommandItem } from '../../src/format';

function commands(items: CellItem[]): CommandItem[] {
  return items.filter((i): i is CommandItem => i.kind === 'command');
}

function problems(source: string): string[] {
  return parseCell(source, 'qmp').errors.map(formatCellProblem);
}

/** Examples from QEMU's QMP reference (`qemu-qmp-ref(7)`), roff escapes undone. */
function manPageExamples(): string[] {
  const file = execFileSync('man', ['-w', 'qemu-qmp-ref'], { encoding: 'utf8' }).trim();
  const roff = gunzipSync(readFileSync(file)).toString('utf8');
  const blocks: string[] = [];
  let current: string[] | undefined;
  for (const line of roff.split('\n')) {
    if (line === '.nf') current = [];
    else if (line === '.fi') {
      if (current !== undefined) blocks.push(current.join('\n'));
      current = undefined;
    } else if (current !== undefined && !line.startsWith('.')) current.push(line);
  }
  return blocks
    .map((b) => b.replace(/\\\(dq/g, '"').replace(/\\\(aq/g, "'").replace(/\\-/g, '-').replace(/\\e/g, '\\').replace(/\\&/g, ''))
    .filter((b) => /^\s*(->|<-)/m.test(b));
}

describe('parseCell: qmp', () => {
  test('a QEMU documentation example: command, expected reply, and the JSON that will be sent', () => {
    const source = '-> { "execute": "query-status" }\n<- { "return": { "running": true,\n                 "status": "running" } }';
    const { items, errors } = parseCell(source, 'qmp');
    assert.deepEqual(errors, []);
    assert.equal(items.length, 2);
    const [cmd, expect] = items;
    assert.equal(cmd?.kind, 'command');
    if (cmd?.kind === 'command') {
      assert.deepEqual(cmd.input, { execute: 'query-status' });
      assert.equal(cmd.name, 'query-status');
      assert.equal(cmd.oob, false);
      assert.equal(cmd.json, '{"execute":"query-status"}');
      assert.equal(source.slice(cmd.start, cmd.end), cmd.text);
    }
    assert.deepEqual(expect?.kind === 'expect' && expect.value, { return: { running: true, status: 'running' } });
  });

  test('several objects over several lines, unprefixed, with comments stripped', () => {
    const source = '// stop, then go again\n{\n  "execute": "stop" // pause the vCPUs\n}\n/* and */ {"execute": "cont", "arguments": {}}';
    const { items, errors } = parseCell(source, 'qmp');
    assert.deepEqual(errors, []);
    assert.deepEqual(commands(items).map((c) => c.json), ['{"execute":"stop"}', '{"execute":"cont","arguments":{}}']);
  });

  test('the author\'s id is kept as raw text, even beyond 2^53', () => {
    const { items } = parseCell('{"execute": "query-status", "id": 12345678901234567891}\n{"execute": "stop", "id": {"k": "v"}}', 'qmp');
    assert.deepEqual(commands(items).map((c) => c.input.idText), ['12345678901234567891', '{"k": "v"}']);
    assert.equal(commands(items)[0]?.json, '{"execute":"query-status","id":12345678901234567891}');
  });

  test('arguments keep exact literals in argumentsText', () => {
    const [cmd] = commands(parseCell('{"execute": "x", "arguments": {"size": 18446744073709551615, "s": "\\u00e9"}}', 'qmp').items);
    assert.equal(cmd?.argumentsText, '{"size":18446744073709551615,"s":"\\u00e9"}');
  });

  test('exec-oob and the 2018 control spelling are out of band', () => {
    const { items } = parseCell('{"exec-oob": "query-yank"}\n{"execute": "migrate-pause", "control": {"run-oob": true}}', 'qmp');
    const [a, b] = commands(items);
    assert.deepEqual(a?.input, { 'exec-oob': 'query-yank' });
    assert.equal(a?.oob, true);
    assert.equal(a?.name, 'query-yank');
    assert.deepEqual(b?.input, { execute: 'migrate-pause', control: { 'run-oob': true } });
    assert.equal(b?.oob, true);
  });

  test('wait-event clauses, with data subset and timeout, and the default timeout', () => {
    const { items, errors } = parseCell('-> {"execute": "device_del", "arguments": {"id": "kbd0"}}\n{"wait-event": "DEVICE_DELETED", "data": {"device": "kbd0"}, "timeout": 5000}\n{"wait-event": "STOP"}', 'qmp');
    assert.deepEqual(errors, []);
    assert.deepEqual(items.slice(1).map((i) => (i.kind === 'wait' ? [i.event, i.data, i.timeoutMs] : i.kind)), [
      ['DEVICE_DELETED', { device: 'kbd0' }, 5000],
      ['STOP', undefined, 10000],
    ]);
  });

  test('syntax errors say where and what', () => {
    assert.deepEqual(problems('{\n  "execute": "stop"\n  "id": 1\n}'), ["line 3, col 3: expected ',' or '}'"]);
    assert.deepEqual(problems('{"execute": "x", "arguments": {"a": [1 2]}}'), ["line 1, col 40: expected ',' or ']'"]);
    assert.deepEqual(problems('{"execute": "stop",}'), ["line 1, col 20: trailing comma: remove the ',' before '}'"]);
    assert.deepEqual(problems("{'execute': 'stop'}").slice(0, 1), ['line 1, col 2: strings must use double quotes']);
    assert.deepEqual(problems('{"execute": "stop"'), ["line 1, col 19: expected '}': the object is not closed"]);
    assert.deepEqual(problems('hello\n{"execute": "stop"}'), ["line 1, col 1: expected a JSON object ({ … }), found 'hello'"]);
  });

  test('malformed commands are errors, and a cell with errors has no command for them', () => {
    assert.deepEqual(problems('{"arguments": {}}'), ['line 1, col 1: QMP input lacks member \'execute\' (a command is {"execute": NAME} or {"exec-oob": NAME})']);
    assert.deepEqual(problems('{"execute": "a", "exec-oob": "b"}'), ["line 1, col 2: QMP input member 'execute' clashes with 'exec-oob'"]);
    assert.deepEqual(problems('{"execute": "a", "arguments": [1]}'), ["line 1, col 31: QMP input member 'arguments' must be an object"]);
    assert.deepEqual(problems('{"execute": "a", "foo": 1}'), ["line 1, col 18: QMP input member 'foo' is unexpected"]);
    assert.deepEqual(problems('{"execute": "a", "ide": 1}'), ["line 1, col 18: QMP input member 'ide' is unexpected; did you mean 'id'?"]);
    assert.deepEqual(problems('{"execute": "a", "execute": "b"}'), ["line 1, col 18: duplicate member 'execute': QEMU refuses the whole input"]);
    assert.deepEqual(problems('{"wait-event": 1, "timeout": "soon"}'), [
      'line 1, col 16: \'wait-event\' must be an event name, e.g. "STOP"', 'line 1, col 30: timeout must be a whole, non-negative number of milliseconds',
    ]);
    const parsed = parseCell('{"execute": "stop"}\n{"execute": 1}', 'qmp');
    assert.equal(parsed.errors.length, 1);
    assert.equal(commands(parsed.items).length, 1);
  });

  test('QEMU reference examples: most parse as they are, and each -> line becomes a command', () => {
    const examples = manPageExamples();
    assert.ok(examples.length > 100, `only ${examples.length} examples found`);
    let clean = 0;
    for (const example of examples) {
      const { items, errors } = parseCell(example, 'qmp');
      if (errors.length > 0) continue;
      clean++;
      const arrows = example.split('\n').filter((l) => /^\s*->\s*\{/.test(l)).length;
      const waits = items.filter((i) => i.kind === 'wait').length;
      assert.equal(commands(items).length + waits, arrows, example);
    }
    // The rest hold prose, `...` elisions or real mistakes in the documentation (e.g. a missing comma).
    assert.ok(clean / examples.length > 0.85, `${clean} of ${examples.length} parse cleanly`);
  });
});

describe('parseCell: hmp', () => {
  test('each non-empty, non-comment line is one human-monitor-command', () => {
    const source = '# what is it doing?\ninfo status\n\n  info version  \n';
    const { items, errors } = parseCell(source, 'hmp');
    assert.deepEqual(errors, []);
    assert.deepEqual(commands(items).map((c) => [c.input, c.text, source.slice(c.start, c.end)]), [
      [{ execute: 'human-monitor-command', arguments: { 'command-line': 'info status' } }, 'info status', 'info status'],
      [{ execute: 'human-monitor-command', arguments: { 'command-line': 'info version' } }, 'info version', 'info version'],
    ]);
    assert.equal(commands(items)[0]?.json, '{"execute":"human-monitor-command","arguments":{"command-line":"info status"}}');
  });

  test('markdown cells have nothing to run', () => {
    assert.deepEqual(parseCell('# title', 'markdown'), { items: [], errors: [] });
  });
});

describe('parseCell: any text', () => {
  const alphabet = fc.constantFrom('{', '}', '[', ']', '"', '\\', '/', '*', '->', '<-', ' ', '\n', 'a', ':', ',', '1', '=',
    '"execute"', '"wait-event"', '"arguments"', '"id"', 'transaction(', ')', ';', '--oob', 'wait-event', '#', "'", '.');
  const text = fc.array(alphabet, { maxLength: 50 }).map((a) => a.join(''));

  test('never throws; every item and problem lies inside the cell with a matching line and column', () => {
    fc.assert(fc.property(text, fc.constantFrom('qmp' as const, 'qmp-shell' as const, 'hmp' as const), (source, language) => {
      const { items, errors } = parseCell(source, language);
      const lines = new LineMap(source);
      for (const r of [...items, ...errors]) {
        assert.ok(r.start >= 0 && r.start <= r.end && r.end <= source.length, JSON.stringify({ source, r }));
      }
      for (const e of errors) assert.deepEqual({ line: e.line, col: e.col }, lines.position(e.start));
    }), { numRuns: 3000 });
  });

  test('any command object, however spaced and commented, parses back to what it says', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);
    const args = fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
    fc.assert(fc.property(name, fc.option(args, { nil: undefined }), fc.boolean(), fc.nat(3), (execute, argumentsValue, oob, style) => {
      const cmd: Record<string, unknown> = { [oob ? 'exec-oob' : 'execute']: execute };
      if (argumentsValue !== undefined) cmd['arguments'] = argumentsValue;
      const body = style === 0 ? JSON.stringify(cmd) : JSON.stringify(cmd, null, style);
      const source = `// a command\n${style === 2 ? '-> ' : ''}${body.replace('{', '{ /* c */')} // done\n`;
      const { items, errors } = parseCell(source, 'qmp');
      assert.deepEqual(errors, []);
      const [item] = commands(items);
      assert.equal(item?.oob, oob);
      assert.equal(item?.name, execute);
      // JSON.parse drops -0's sign the same way on both sides; compare as JSON.
      assert.equal(JSON.stringify(item?.input.arguments), JSON.stringify(argumentsValue));
      assert.equal(item?.json, JSON.stringify(cmd));
    }), { numRuns: 1000 });
  });
});
