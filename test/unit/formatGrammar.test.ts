import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..', '..');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function load(file: string): { [key: string]: Json } {
  return JSON.parse(readFileSync(path.join(root, file), 'utf8')) as { [key: string]: Json };
}

interface GrammarEntry { scopeName: string; path: string; language?: string; injectTo?: string[] }
interface LanguageEntry { id: string; configuration: string }

const manifest = load('package.json') as unknown as { contributes: { grammars: GrammarEntry[]; languages: LanguageEntry[] } };
const grammars = manifest.contributes.grammars.map((g) => ({ entry: g, json: load(g.path) }));

/**
 * Compiles a TextMate regex with JavaScript's engine. The grammars use the syntax both engines share;
 * `\G` (Oniguruma's "where the last match ended", used by the markdown fence injection the same way
 * VS Code's own markdown grammar does) has no JavaScript equivalent and is read as an empty group.
 */
function compile(source: string): RegExp {
  return new RegExp(source.replace(/\\G/g, '(?:)'));
}

/** Every regex of a grammar, with where it is. */
function regexes(node: Json, where: string, out: [string, string][] = []): [string, string][] {
  if (Array.isArray(node)) node.forEach((n, i) => regexes(n, `${where}[${i}]`, out));
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if ((k === 'match' || k === 'begin' || k === 'end' || k === 'while') && typeof v === 'string') out.push([`${where}.${k}`, v]);
      else regexes(v, `${where}.${k}`, out);
    }
  }
  return out;
}

function includes(node: Json, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => includes(n, out));
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'include' && typeof v === 'string') out.push(v);
      else includes(v, out);
    }
  }
  return out;
}

function rule(scope: string, name: string): { [key: string]: Json } {
  const g = grammars.find((x) => x.entry.scopeName === scope);
  const repo = g?.json['repository'] as { [key: string]: { [key: string]: Json } } | undefined;
  const r = repo?.[name];
  assert.ok(r, `${scope}#${name}`);
  return r;
}

describe('grammars and language configurations', () => {
  test('every contributed grammar and configuration file exists, and scope names agree', () => {
    assert.deepEqual(grammars.map((g) => g.entry.scopeName).sort(), ['markdown.qmp.codeblock', 'source.hmp', 'source.qmp', 'source.qmp-output', 'source.qmp-shell', 'text.html.markdown.qmp']);
    for (const g of grammars) assert.equal(g.json['scopeName'], g.entry.scopeName, g.entry.path);
    for (const l of manifest.contributes.languages) assert.ok(existsSync(path.join(root, l.configuration)), l.configuration);
  });

  test('every regex compiles', () => {
    let count = 0;
    for (const g of grammars) {
      for (const [where, source] of regexes(g.json, g.entry.path)) {
        assert.doesNotThrow(() => compile(source), `${where}: ${source}`);
        count++;
      }
    }
    assert.ok(count > 30, `only ${count} regexes`);
  });

  test('every include resolves', () => {
    const scopes = new Map(grammars.map((g) => [g.entry.scopeName, g.json]));
    for (const g of grammars) {
      for (const inc of includes(g.json)) {
        const [scope, name] = inc.startsWith('#') ? [g.entry.scopeName, inc.slice(1)] : inc.split('#');
        // VS Code's own Markdown grammar: the `.qmp` text view (qmp-markdown) is Markdown underneath.
        if (scope === 'text.html.markdown' && name === undefined) continue;
        const target = scopes.get(scope ?? '');
        assert.ok(target, `${g.entry.path}: ${inc}`);
        if (name !== undefined) assert.ok((target['repository'] as { [key: string]: Json })[name], `${g.entry.path}: ${inc}`);
      }
    }
  });

  test('qmp: command names, event names and wait-event clauses are picked out', () => {
    const cmd = compile(rule('source.qmp', 'command-key')['match'] as string).exec('{ "execute": "query-status" }');
    assert.equal(cmd?.[2], 'execute');
    assert.equal(cmd?.[5], '"query-status"');
    assert.equal(compile(rule('source.qmp', 'command-key')['match'] as string).exec('"exec-oob": "query-yank"')?.[5], '"query-yank"');
    assert.equal(compile(rule('source.qmp', 'wait-key')['match'] as string).exec('{"wait-event": "DEVICE_DELETED"}')?.[5], '"DEVICE_DELETED"');
    assert.equal(compile(rule('source.qmp', 'event-key')['match'] as string).exec('<- { "event": "STOP" }')?.[5], '"STOP"');
    const key = compile(rule('source.qmp', 'key')['match'] as string);
    assert.equal(key.exec('"node-name" : "n1"')?.[0], '"node-name"');
    assert.equal(key.exec('"n1", "x"'), null);
    assert.equal(compile(rule('source.qmp', 'number')['match'] as string).exec('x: -1.5e3')?.[0], '-1.5e3');
  });

  test('qmp-shell: command names, dotted keys, values, options, transactions and wait-event', () => {
    const command = compile(rule('source.qmp-shell', 'command')['match'] as string);
    assert.equal(command.exec('device_del id=kbd0')?.[1], 'device_del');
    assert.equal(command.exec('id=kbd0'), null);
    const args = rule('source.qmp-shell', 'arguments')['patterns'] as { [key: string]: Json }[];
    const keyBegin = compile(args[2]?.['begin'] as string);
    assert.equal(keyBegin.exec('blockdev-add cache.direct=false')?.index, 13);
    const values = rule('source.qmp-shell', 'value')['patterns'] as { [key: string]: Json }[];
    const number = compile(values[4]?.['match'] as string);
    assert.equal(number.exec('size=1048576')?.[0], '1048576');
    assert.equal(number.exec('name=a1'), null);
    assert.equal(compile(values[5]?.['match'] as string).exec('read-only=False')?.[0], 'False');
    assert.equal(compile(args[0]?.['match'] as string).exec('query-yank --oob')?.[1], '--oob');
    const tx = rule('source.qmp-shell', 'transaction')['patterns'] as { [key: string]: Json }[];
    assert.equal(compile(tx[0]?.['match'] as string).exec('transaction(')?.[1], 'transaction');
    const wait = compile(rule('source.qmp-shell', 'wait-event')['match'] as string).exec('wait-event DEVICE_DELETED device=kbd0');
    assert.equal(wait?.[2], 'DEVICE_DELETED');
  });

  test('markdown fences of each language are recognised, and only their own', () => {
    const qmp = compile(rule('markdown.qmp.codeblock', 'qmp-block')['begin'] as string);
    const shell = compile(rule('markdown.qmp.codeblock', 'qmp-shell-block')['begin'] as string);
    assert.ok(qmp.test('```qmp'));
    assert.ok(!qmp.test('```qmp-shell'));
    assert.ok(shell.test('````qmp-shell'));
    assert.ok(!qmp.test('```json'));
    assert.ok(!qmp.test('```qmp-output'));
    assert.ok(compile(rule('markdown.qmp.codeblock', 'qmp-output-block')['begin'] as string).test('```qmp-output'));
  });

  test('language configurations are valid and say how comments are written', () => {
    const qmp = load('syntaxes/qmp.language-configuration.json');
    assert.deepEqual(qmp['comments'], { lineComment: '//', blockComment: ['/*', '*/'] });
    assert.equal((load('syntaxes/qmp-shell.language-configuration.json')['comments'] as { lineComment: string }).lineComment, '#');
    assert.equal((load('syntaxes/hmp.language-configuration.json')['comments'] as { lineComment: string }).lineComment, '#');
    const rules = qmp['indentationRules'] as { increaseIndentPattern: string; decreaseIndentPattern: string };
    assert.ok(compile(rules.increaseIndentPattern).test('-> { "execute": "x",'.replace(',', ', "arguments": {')));
    assert.ok(compile(rules.decreaseIndentPattern).test('  },'));
  });
});
