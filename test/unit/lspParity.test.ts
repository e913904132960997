// The language server and the in-process providers of the VS Code extension must say the same things: the
// same inputs go through the server (in this process, over a stream pair, as bytes) and straight through the
// language service the adapter calls, and completion, hover and diagnostics are compared item by item.
import assert from 'node:assert/strict';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver/node';
import { manPageDocs } from '../../src/language/providers';
import { languageService, type LanguageContext } from '../../src/language/service';
import { type QmpDocs } from '../../src/language/manpage';
import { loadSchemaFile } from '../../src/lsp/config';
import { fitRange, forTypingClients, narrowForReply, REPLY_MAX_ITEMS, snippetToText, startServer } from '../../src/lsp/server';
import { Framer, frame, type RpcMessage } from '../support/lspClient';

const root = path.resolve(__dirname, '..', '..', '..');
const schemaFile = path.join(root, 'test', 'fixtures', 'qemu-10.0', 'query-qmp-schema.json');

/** A client over an in-process stream pair: bytes go through the real framing in both directions. */
class PairClient {
  private nextId = 1;
  private readonly pending = new Map<number, (m: RpcMessage) => void>();
  readonly notifications: RpcMessage[] = [];
  private readonly toServer = new PassThrough();
  private readonly fromServer = new PassThrough();
  private listeners: ((m: RpcMessage) => void)[] = [];

  constructor(docs: QmpDocs | undefined) {
    const connection = createConnection(new StreamMessageReader(this.toServer), new StreamMessageWriter(this.fromServer));
    startServer(connection, { cacheDirs: [], docs: { load: () => Promise.resolve(docs), current: () => docs } });
    const framer = new Framer((m) => {
      if (m.id !== undefined && m.id !== null && m.method === undefined) {
        this.pending.get(m.id as number)?.(m);
        this.pending.delete(m.id as number);
      } else if (m.method !== undefined && m.id !== undefined) {
        this.toServer.write(frame(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: null })));
      } else {
        this.notifications.push(m);
        for (const l of this.listeners) l(m);
      }
    });
    this.fromServer.on('data', (c: Buffer) => framer.push(c));
  }

  request<T>(method: string, params: unknown): Promise<T> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method}: no reply`)), 30_000);
      this.pending.set(id, (m) => {
        clearTimeout(timer);
        if (m.error !== undefined) reject(new Error(m.error.message));
        else resolve(m.result as T);
      });
      this.toServer.write(frame(JSON.stringify({ jsonrpc: '2.0', id, method, params })));
    });
  }

  notify(method: string, params: unknown): void {
    this.toServer.write(frame(JSON.stringify({ jsonrpc: '2.0', method, params })));
  }

  diagnostics(uri: string, version: number): Promise<LspDiag[]> {
    const match = (m: RpcMessage): boolean => m.method === 'textDocument/publishDiagnostics'
      && (m.params as { uri: string; version: number }).uri === uri && (m.params as { version: number }).version === version;
    const seen = this.notifications.find(match);
    if (seen !== undefined) return Promise.resolve((seen.params as { diagnostics: LspDiag[] }).diagnostics);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no diagnostics')), 30_000);
      const l = (m: RpcMessage): void => {
        if (!match(m)) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((x) => x !== l);
        resolve((m.params as { diagnostics: LspDiag[] }).diagnostics);
      };
      this.listeners.push(l);
    });
  }

  close(): void {
    this.toServer.end();
  }
}

interface Pos { line: number; character: number }
interface LspRange { start: Pos; end: Pos }
interface LspDiag { range: LspRange; message: string; code?: string; severity: number }
interface LspItem { label: string; textEdit?: { range: LspRange; newText: string }; textEditText?: string; detail?: string; sortText?: string; filterText?: string; documentation?: { value: string }; data?: unknown; insertTextFormat?: number }

/** Cells of both languages, valid and broken, put into one notebook. */
const CELLS: { language: 'qmp' | 'qmp-shell'; text: string }[] = [
  { language: 'qmp', text: '{"execute": "query-status"}' },
  { language: 'qmp', text: '{ "execute": "blockdev-add",\n  "arguments": { "driver": "qcow2", "node-name": "n1", "file": {"driver": "file", "filename": "/tmp/x"} } }' },
  { language: 'qmp', text: '-> { "execute": "qurey-status" }\n<- { "return": {} }' },
  { language: 'qmp', text: '{"execute": "device_add", "arguments": {"driver": "virtio-net-pci", "id": 5, "bogus": true}}\n{"wait-event": "DEVICE_DELETED", "data": {"device": "x"}}' },
  { language: 'qmp', text: '{"exec-oob": "migrate-pause"}\n{"execute": "migrate-set-capabilities", "arguments": {"capabilities": [{"capability": "xbzrle", "state": tru' },
  { language: 'qmp-shell', text: 'query-status\ndevice_add driver=virtio-net-pci id=n0\nblockdev-add driver=qcow2 node-name=x file.driver=file file.filename=/tmp/a' },
  { language: 'qmp-shell', text: 'qom-list path=/machine\nqom-get path=/machine property=' },
];

function buildNotebook(): { text: string; firstLines: number[] } {
  const lines = ['# Parity', ''];
  const firstLines: number[] = [];
  for (const c of CELLS) {
    lines.push('```' + c.language);
    firstLines.push(lines.length);
    lines.push(...c.text.split('\n'), '```', '', 'Text between cells.', '');
  }
  return { text: lines.join('\n'), firstLines };
}

/** Cell offset → document position, computed here independently of the server's mapping. */
function docPos(cellText: string, firstLine: number, offset: number): Pos {
  const before = cellText.slice(0, offset).split('\n');
  return { line: firstLine + before.length - 1, character: (before[before.length - 1] ?? '').length };
}

describe('language server and in-process providers give identical results', () => {
  const { text, firstLines } = buildNotebook();
  const uri = 'file:///parity/notebook.qmp';
  let client: PairClient;
  /** A client that takes completion list defaults (LSP 3.17 `itemDefaults.editRange`), as VS Code does. */
  let defaultsClient: PairClient;
  let ctx: LanguageContext;

  before(async () => {
    const docs = await manPageDocs().load();
    ctx = { schema: loadSchemaFile(schemaFile), docs, cached: true };
    client = new PairClient(docs);
    await client.request('initialize', {
      processId: null, rootUri: null, initializationOptions: { schemaFile },
      capabilities: { textDocument: { completion: { completionItem: { snippetSupport: true } } } },
    });
    client.notify('initialized', {});
    client.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text } });
    defaultsClient = new PairClient(docs);
    await defaultsClient.request('initialize', {
      processId: null, rootUri: null, initializationOptions: { schemaFile },
      capabilities: { textDocument: { completion: { completionItem: { snippetSupport: true }, completionList: { itemDefaults: ['editRange'] } } } },
    });
    defaultsClient.notify('initialized', {});
    defaultsClient.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text } });
  });
  after(async () => {
    for (const c of [client, defaultsClient]) {
      await c.request('shutdown', null);
      c.close();
    }
  });

  const expectCompletion = async (cellIndex: number, offset: number): Promise<void> => {
    const cell = CELLS[cellIndex] as (typeof CELLS)[number];
    const first = firstLines[cellIndex] as number;
    const position = docPos(cell.text, first, offset);
    const service = languageService(cell.language)?.complete(cell.text, offset, ctx).items ?? [];
    // The server hands the items to typing clients without the opening quote in the range (forTypingClients):
    // accepting either gives the same text.
    const typing = service.map((i) => forTypingClients(i, cell.text, offset));
    // ... and a long list narrowed to what was typed, at most REPLY_MAX_ITEMS of it (marked incomplete).
    const narrowed = narrowForReply(typing, cell.text, offset);
    const expected = narrowed.items;
    assert.ok(expected.length <= REPLY_MAX_ITEMS);
    service.forEach((orig, i) => {
      const e = typing[i] as (typeof typing)[number];
      const apply = (x: typeof e): string => cell.text.slice(0, x.range.start) + x.insertText + cell.text.slice(x.range.end);
      assert.equal(apply(e), apply(orig), `${orig.label}: the same text accepted`);
      if (e.filterText === undefined && orig.filterText !== undefined) assert.match(orig.filterText, new RegExp(`^"?${e.label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"?$`));
    });
    type List = { items: LspItem[]; itemDefaults?: { editRange?: LspRange }; isIncomplete?: boolean } | null;
    const got = await client.request<List>('textDocument/completion', { textDocument: { uri }, position });
    const withDefaults = await defaultsClient.request<List>('textDocument/completion', { textDocument: { uri }, position });
    const items = got?.items ?? [];
    assert.equal(items.length, expected.length, `cell ${cellIndex} offset ${offset}: item count`);
    assert.equal(got?.itemDefaults, undefined, 'no list defaults for a client that did not ask for them');
    if (got !== null) assert.equal(got.isIncomplete, narrowed.incomplete);
    assert.equal(withDefaults?.items.length ?? 0, expected.length, `cell ${cellIndex} offset ${offset}: item count with list defaults`);
    for (let i = 0; i < expected.length; i++) {
      const e = expected[i] as (typeof expected)[number];
      const g = items[i] as LspItem;
      assert.equal(g.label, e.label);
      assert.equal(g.textEdit?.newText, e.insertText);
      assert.equal(g.insertTextFormat ?? 1, e.isSnippet === true ? 2 : 1);
      const range = fitRange({ start: docPos(cell.text, first, e.range.start), end: docPos(cell.text, first, e.range.end) }, position);
      assert.deepEqual(g.textEdit?.range, range, `${e.label} range`);
      // The same edit, whether the range comes with the item or as the list's default.
      const d = withDefaults?.items[i] as LspItem;
      const edit = d.textEdit ?? { range: withDefaults?.itemDefaults?.editRange, newText: d.textEditText ?? d.label };
      assert.deepEqual(edit, { range, newText: e.insertText }, `${e.label} edit with list defaults`);
      assert.equal(d.insertTextFormat, g.insertTextFormat);
      assert.equal(g.detail, e.detail);
      assert.equal(g.sortText, e.sortText);
      assert.equal(g.filterText, e.filterText);
      let doc = g.documentation?.value;
      if (doc === undefined && g.data !== undefined) doc = (await client.request<LspItem>('completionItem/resolve', g)).documentation?.value;
      assert.equal(doc, e.documentation, `${e.label} documentation`);
    }
  };

  it('completion: every offset of every cell', async () => {
    for (let c = 0; c < CELLS.length; c++) {
      const cell = CELLS[c] as (typeof CELLS)[number];
      for (let o = 0; o <= cell.text.length; o++) await expectCompletion(c, o);
    }
  });

  it('hover: every offset of every cell', async () => {
    for (let c = 0; c < CELLS.length; c++) {
      const cell = CELLS[c] as (typeof CELLS)[number];
      const first = firstLines[c] as number;
      for (let o = 0; o <= cell.text.length; o++) {
        const expected = languageService(cell.language)?.hover(cell.text, o, ctx);
        const got = await client.request<{ contents: { value: string }; range: LspRange } | null>('textDocument/hover', { textDocument: { uri }, position: docPos(cell.text, first, o) });
        if (expected === undefined) {
          assert.equal(got, null, `cell ${c} offset ${o}`);
          continue;
        }
        assert.equal(got?.contents.value, expected.contents);
        assert.deepEqual(got?.range, { start: docPos(cell.text, first, expected.range.start), end: docPos(cell.text, first, expected.range.end) });
      }
    }
  });

  it('diagnostics: the same problems at the same places', async () => {
    const got = await client.diagnostics(uri, 1);
    const expected = CELLS.flatMap((cell, c) => (languageService(cell.language)?.diagnose(cell.text, ctx) ?? []).map((d) => ({
      range: { start: docPos(cell.text, firstLines[c] as number, d.start), end: docPos(cell.text, firstLines[c] as number, d.end) },
      message: d.message, code: d.code, severity: d.severity === 'error' ? 1 : d.severity === 'warning' ? 2 : 3,
    })));
    assert.ok(expected.length >= 4, 'the inputs have problems to compare');
    assert.deepEqual(got.map((d) => ({ range: d.range, message: d.message, code: d.code, severity: d.severity })), expected);
  });

  it('completion at random positions of random edits agrees too (property)', async () => {
    let version = 1;
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 0, max: CELLS.length - 1 }), fc.nat(), fc.constantFrom('', '"', '{', '"execute": "', ', "arguments": {"', 'x', '}'),
      async (c, at, insert) => {
        const cell = CELLS[c] as (typeof CELLS)[number];
        const offset = at % (cell.text.length + 1);
        // Insert the text into the server's copy and into ours.
        const position = docPos(cell.text, firstLines[c] as number, offset);
        version++;
        for (const k of [client, defaultsClient]) {
          k.notify('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [{ range: { start: position, end: position }, text: insert }] });
        }
        const original = cell.text;
        cell.text = original.slice(0, offset) + insert + original.slice(offset);
        try {
          await expectCompletion(c, offset + insert.length);
        } finally {
          version++;
          const end = docPos(cell.text, firstLines[c] as number, offset + insert.length);
          for (const k of [client, defaultsClient]) {
            k.notify('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [{ range: { start: position, end }, text: '' }] });
          }
          cell.text = original;
        }
      }), { numRuns: 60 });
  });

  it('snippetToText keeps placeholder defaults for clients without snippets', () => {
    assert.equal(snippetToText('{"execute": "x", "arguments": {"a": "${1|on,off|}", "b": ${2:0}, "c": "$3"}}'), '{"execute": "x", "arguments": {"a": "on", "b": 0, "c": ""}}');
  });
});
