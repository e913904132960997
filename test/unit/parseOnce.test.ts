// Parse once per document version (src/language/parsed.ts): every feature of the language service on one
// version of a cell shares one parse of it, code actions reuse the diagnostics, a new version parses again, and
// the cache of parsed cells is bounded. Counted through `parseStats`, both on the services directly and through
// the language server (in process) answering completion, hover, code actions and code lenses.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Diagnostic } from '../../src/language/diagnostics';
import { CellText, ParseCache, parseStats } from '../../src/language/parsed';
import { languageService, liveNeeds } from '../../src/language/service';
import { inProcessServer } from '../support/inProcessLsp';
import { fixtureSchema } from './schemaFixtures';

const schema = fixtureSchema('10.0');
const root = path.resolve(__dirname, '..', '..', '..');
const schemaFile = path.join(root, 'test', 'fixtures', 'qemu-10.0', 'query-qmp-schema.json');

function counted<T>(fn: () => T): { value: T; json: number; shellLines: number; shell: number; diagnose: number } {
  const before = { ...parseStats };
  const value = fn();
  return {
    value, json: parseStats.json - before.json, shellLines: parseStats.shellLines - before.shellLines,
    shell: parseStats.shell - before.shell, diagnose: parseStats.diagnose - before.diagnose,
  };
}

const QMP = '{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n0", "bogus": 1}}\n{"execute": "query-status"}';
const SHELL = 'blockdev-add driver=null-co node-name=n0 bogus=1\nquery-status';

describe('the services share one parse per cell version', () => {
  for (const [language, text] of [['qmp', QMP], ['qmp-shell', SHELL]] as const) {
    it(`${language}: diagnostics, completion, hover, code actions, hints and live needs parse once`, () => {
      const svc = languageService(language);
      assert.ok(svc);
      const ctx = { schema };
      const cache = new ParseCache();
      const run = (cell: CellText): number => {
        const diags = svc.diagnose(cell, ctx);
        assert.ok(diags.some((d) => d.code === 'unknown-member'), JSON.stringify(diags));
        const at = cell.text.indexOf('query-status');
        svc.complete(cell, at + 3, ctx);
        assert.ok(svc.hover(cell, at + 3, ctx) !== undefined, 'hover on query-status');
        const actions = svc.codeActions(cell, 0, cell.text.length, ctx);
        assert.ok(actions.some((a) => /bogus/.test(a.title)), actions.map((a) => a.title).join(' / '));
        svc.hints(cell, ctx);
        liveNeeds(language, cell);
        return actions.length;
      };
      const first = counted(() => run(cache.get('doc#0', 1, text)));
      if (language === 'qmp') assert.equal(first.json, 1, 'one JSON tree');
      else assert.deepEqual([first.shellLines, first.shell], [1, 1], 'one tokenization, one shell parse');
      assert.equal(first.diagnose, 1, 'code actions reused the diagnostics');
      // The same version again (another request): nothing is parsed.
      const again = counted(() => run(cache.get('doc#0', 1, text)));
      assert.deepEqual([again.json, again.shellLines, again.shell, again.diagnose], [0, 0, 0, 0]);
      // A new version parses again, once.
      const bumped = counted(() => run(cache.get('doc#0', 2, `${text}\n`)));
      assert.equal(language === 'qmp' ? bumped.json : bumped.shellLines, 1);
      assert.equal(bumped.diagnose, 1);
      // Another schema: the diagnostics are computed again, the parse is not.
      const other = counted(() => svc.diagnose(cache.get('doc#0', 2, `${text}\n`), { schema: fixtureSchema('7.2') }));
      assert.deepEqual([other.json, other.shellLines, other.diagnose], [0, 0, 1]);
    });
  }

  it('qmp: the diagnostics and the cursor features use one parse of the cell: whichever asks first parses, once', () => {
    const svc = languageService('qmp');
    assert.ok(svc);
    const ctx = { schema };
    const cache = new ParseCache();
    for (const [version, text] of [[1, QMP], [2, `${QMP}\n// more`]] as const) {
      const cell = cache.get('doc#1', version, text);
      const diagnosed = counted((): Diagnostic[] => svc.diagnose(cell, ctx));
      assert.ok(diagnosed.value.some((d) => d.code === 'unknown-member'));
      assert.deepEqual([diagnosed.json, diagnosed.diagnose], [1, 1], `version ${version}: the diagnostics parsed the cell`);
      const at = text.indexOf('query-status');
      const features = counted(() => {
        assert.ok(svc.complete(cell, at + 3, ctx).items.length > 0);
        assert.ok(svc.hover(cell, at + 3, ctx) !== undefined);
        assert.ok(svc.codeActions(cell, 0, text.length, ctx).some((a) => /bogus/.test(a.title)));
        svc.hints(cell, ctx);
      });
      assert.deepEqual([features.json, features.diagnose], [0, 0], `version ${version}: completion, hover and code actions reused that parse`);
    }
    // The other order: completion first, then the diagnostics (a syntax error too: its problem comes from the same scan).
    const broken = '{"execute": "query-status", "arguments": {"x": }}\n{"execute": "stop"';
    const brokenCell = cache.get('doc#2', 1, broken);
    const c = counted((): Diagnostic[] => {
      svc.complete(brokenCell, broken.indexOf('stop') + 2, ctx);
      svc.hover(brokenCell, 14, ctx);
      return svc.diagnose(brokenCell, ctx);
    });
    assert.equal(c.json, 1);
    assert.deepEqual(c.value, svc.diagnose(broken, ctx), 'the same diagnostics as from the text alone');
    assert.ok(c.value.some((d) => d.code === 'json-syntax'), JSON.stringify(c.value));
  });

  it('a plain string still works (parsed for that call)', () => {
    const svc = languageService('qmp');
    const c = counted(() => svc?.complete(QMP, 5, { schema }));
    assert.equal(c.json, 1);
    assert.ok((c.value?.items.length ?? 0) > 0);
  });

  it('the cache is bounded, least recently used first', () => {
    const cache = new ParseCache(3);
    const a = cache.get('a', 1, 'x');
    for (const k of ['b', 'c']) cache.get(k, 1, 'y');
    assert.equal(cache.get('a', 1, 'x'), a, 'a was used last, kept');
    cache.get('d', 1, 'z');
    assert.equal(cache.size, 3);
    assert.notEqual(cache.get('b', 1, 'y'), undefined);
    for (let i = 0; i < 1000; i++) cache.get(`k${i}`, i, 'w');
    assert.equal(cache.size, 3);
    assert.notEqual(cache.get('a', 1, 'x'), a, 'a fell out');
    // The same key and version with other text (a client that reuses versions) is not trusted.
    const t = cache.get('t', 1, 'one');
    assert.notEqual(cache.get('t', 1, 'two'), t);
    cache.forget('t');
    assert.equal(cache.size, 3 - 1);
  });
});

type Request = (method: string, params: unknown) => Promise<unknown>;

/** The schema loads after `initialized`: asks for the document's diagnostics until they include the schema's verdict (bounded). */
async function untilSchemaDiagnostics(request: Request, uri: string): Promise<void> {
  let items: { code?: string }[] = [];
  for (let i = 0; i < 200 && !items.some((d) => d.code === 'unknown-member'); i++) {
    items = ((await request('textDocument/diagnostic', { textDocument: { uri } })) as { items: { code?: string }[] }).items;
    if (!items.some((d) => d.code === 'unknown-member')) await new Promise((r) => setTimeout(r, 25));
  }
  assert.ok(items.some((d) => d.code === 'unknown-member'), JSON.stringify(items));
}

describe('through the language server', () => {
  const { request, notify, end } = inProcessServer();
  after(end);

  it('diagnostics, completion, hover, code actions and code lenses on one version parse the cell once; a new version once more', async () => {
    await request('initialize', { processId: null, rootUri: null, initializationOptions: { schemaFile }, capabilities: { textDocument: { diagnostic: {} } } });
    notify('initialized', {});
    const uri = 'file:///parse-once.qmp';
    const doc = (body: string): string => `# Parse once\n\n\`\`\`qmp\n${body}\n\`\`\`\n`;
    const before = { ...parseStats };
    notify('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text: doc(QMP) } });
    await untilSchemaDiagnostics(request, uri);
    const line = 4; // {"execute": "query-status"}
    const features = async (): Promise<void> => {
      await request('textDocument/completion', { textDocument: { uri }, position: { line, character: 16 } });
      await request('textDocument/hover', { textDocument: { uri }, position: { line, character: 16 } });
      const actions = await request('textDocument/codeAction', {
        textDocument: { uri }, range: { start: { line: 3, character: 0 }, end: { line: 4, character: 0 } }, context: { diagnostics: [] },
      }) as { title: string }[];
      assert.ok(actions.some((a) => /bogus/.test(a.title)), JSON.stringify(actions));
      await request('textDocument/codeLens', { textDocument: { uri } });
      await request('textDocument/diagnostic', { textDocument: { uri } });
    };
    const diagnosed = { ...parseStats };
    await features();
    await features();
    assert.equal(parseStats.json - before.json, 1, 'the diagnostics (with and without the schema) and ten requests on one version: one JSON parse');
    assert.equal(parseStats.diagnose - diagnosed.diagnose, 0, 'code actions used the diagnostics already computed');
    notify('textDocument/didChange', { textDocument: { uri, version: 2 }, contentChanges: [{ text: doc(`${QMP}\n`) }] });
    const bumped = { ...parseStats };
    await features();
    assert.equal(parseStats.json - bumped.json, 1, 'a new version parses again, once');
  });
});

describe('every feature of the language server, counted at the scanners', () => {
  // parseStats counts the parses that go through a CellText; a feature that scans the text with a scanner of its
  // own (as semantic tokens did) or runs the qmp-shell tokenizer again (as the shell parser did) is seen only here,
  // where every jsonc-parser scanner and every run of the tokenizer is counted.
  const load = createRequire(__filename);
  const jsonc = load('jsonc-parser') as { createScanner: (...a: unknown[]) => unknown };
  const tokenizer = load('../../src/format/shellTokens') as { shellLines: (...a: unknown[]) => unknown };
  const counts = { scanners: 0, shellLines: 0 };
  const realScanner = jsonc.createScanner;
  const realShellLines = tokenizer.shellLines;
  jsonc.createScanner = (...a) => { counts.scanners++; return realScanner(...a); };
  tokenizer.shellLines = (...a) => { counts.shellLines++; return realShellLines(...a); };
  const { request, notify, end } = inProcessServer();
  after(() => {
    jsonc.createScanner = realScanner;
    tokenizer.shellLines = realShellLines;
    end();
  });

  it('after the first answer on a version, no feature scans a cell again; a new version is scanned once per kind', async () => {
    await request('initialize', { processId: null, rootUri: null, initializationOptions: { schemaFile }, capabilities: { textDocument: { diagnostic: {} } } });
    notify('initialized', {});
    const uri = 'file:///scan-once.qmp';
    const doc = (body: string): string => `# Scan once\n\n\`\`\`qmp\n${body}\n// a comment\n-> {"execute": "stop"}\n\`\`\`\n\n\`\`\`qmp-shell\n${SHELL}\n\`\`\`\n`;
    notify('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text: doc(QMP) } });
    await untilSchemaDiagnostics(request, uri);
    const features = async (qmpLine: number, shellLine: number): Promise<void> => {
      for (const [line, character] of [[qmpLine, 16], [shellLine, 3]] as const) {
        await request('textDocument/completion', { textDocument: { uri }, position: { line, character } });
        await request('textDocument/hover', { textDocument: { uri }, position: { line, character } });
        await request('textDocument/codeAction', {
          textDocument: { uri }, range: { start: { line, character: 0 }, end: { line: line + 1, character: 0 } }, context: { diagnostics: [] },
        });
      }
      await request('textDocument/codeLens', { textDocument: { uri } });
      await request('textDocument/diagnostic', { textDocument: { uri } });
      const tokens = await request('textDocument/semanticTokens/full', { textDocument: { uri } }) as { data: number[] };
      assert.ok(tokens.data.length >= 5 * 10, 'tokens of both cells');
      await request('textDocument/documentSymbol', { textDocument: { uri } });
      await request('textDocument/foldingRange', { textDocument: { uri } });
    };
    await features(4, 10);
    const first = { ...counts };
    await features(4, 10);
    await features(4, 10);
    assert.deepEqual({ scanners: counts.scanners - first.scanners, shellLines: counts.shellLines - first.shellLines }, { scanners: 0, shellLines: 0 },
      'every feature answered again from the parse of the version');
    // A new version: the qmp cell's objects are scanned once (one scanner per object), the text between them
    // once for the tokens; the qmp-shell cell's words once.
    notify('textDocument/didChange', { textDocument: { uri, version: 2 }, contentChanges: [{ text: doc(`${QMP}\n`) }] });
    const bumped = { ...counts };
    const json = parseStats.json;
    await features(4, 11);
    assert.equal(parseStats.json - json, 1, 'one scan of the qmp cell');
    assert.equal(counts.shellLines - bumped.shellLines, 1, 'one run of the tokenizer on the qmp-shell cell');
    const scanners = counts.scanners - bumped.scanners;
    await features(4, 11);
    assert.equal(counts.scanners - bumped.scanners, scanners, 'nothing more on the second round');
    assert.ok(scanners <= 3 + 3, `a scanner per object (3) and per stretch between them (at most 3), not per request: ${scanners}`);
  });
});
