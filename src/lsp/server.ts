// `qmp-notebook lsp`: the language service of src/language (service.ts) served over the Language Server Protocol, for
// every editor with an LSP client. A thin adapter, like src/language/vscodeAdapter.ts is for VS Code: it finds
// the cells of a document (regions.ts), maps positions, and converts the pure results to LSP shapes. It has no
// completion, hover, diagnostic or quick-fix logic of its own. No `vscode` import.

import { fileURLToPath } from 'node:url';
import {
  type CancellationToken, CodeActionKind, type CodeAction as LspCodeAction, type CodeLens, type Connection,
  type CompletionItem as LspCompletionItem, CompletionItemKind, CompletionItemTag, type Diagnostic as LspDiagnostic,
  DiagnosticSeverity, DiagnosticTag, DocumentDiagnosticReportKind, ErrorCodes, type Hover,
  InsertTextFormat, MarkupKind, MessageType, ShowMessageNotification, type Range, ResponseError, SemanticTokensBuilder,
  TextDocumentSyncKind, type TextEdit as LspTextEdit,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { switchToExecOob } from '../language/codeActions';
import { type DocsProvider, manPageDocs } from '../language/providers';
import { type CellText, type CompletionItem, type Diagnostic, fetchLive, type LanguageContext, languageService, namedContextOf, NamedScan, type NamedContext, ParseCache, type TextEdit } from '../language/service';
import type { Schema } from '../qmp/schema';
import { documentSymbols, foldingRanges, SEMANTIC_LEGEND, semanticTokens } from './features';
import { cacheDirs, loadCachedSchema, loadSchemaFile, resolveConfig, type ResolvedConfig } from './config';
import { findRegions, isNotebookDocument, regionIndexAt, updateRegions, type Region, toCellOffset, toDocPosition, toDocRange, type LinePosition } from './regions';
import { LspSession, type RunCellResult } from './session';

export const RUN_CELL_COMMAND = 'qmp.runCell';
export const SWITCH_OOB_COMMAND = 'qmp.switchToExecOob';
const TRIGGERS = ['"', '{', ':', '=', '.', ' ', ','];
/** Completion lists longer than this carry their documentation only on completionItem/resolve. */
const INLINE_DOC_ITEMS = 10;
/**
 * A completion reply holds at most this many items (the best by sort order among those matching what was
 * typed), marked incomplete so the client asks again as the user types: the full command list (233 items on
 * QEMU 10.0) was 62.7 KB per reply, and Emacs took 72 ms to parse it.
 */
export const REPLY_MAX_ITEMS = 30;
/**
 * The debounce before diagnostics is as long as the last computation of that document took (at most this):
 * a small notebook is checked at once, a huge one waits for a pause in typing instead of falling behind.
 */
const DEBOUNCE_MAX_MS = 250;
/** A computation this cheap is not worth delaying (the next event-loop turn still merges a burst of changes). */
const DEBOUNCE_FREE_MS = 5;
/** Diagnostics of a large document are computed in slices this long, so requests are answered in between. */
const SLICE_MS = 8;
/** Cells whose diagnostics are remembered (by language and text) across edits, and their total text size. */
const MEMO_MAX = 50_000;
const MEMO_MAX_CHARS = 32 * 1024 * 1024;
/** Cells whose parse the server keeps (each is linear in its text; the documents bound the texts). */
const PARSE_CACHE_MAX = 4096;


const KINDS: Record<CompletionItem['kind'], CompletionItemKind> = {
  command: CompletionItemKind.Function,
  event: CompletionItemKind.Event,
  property: CompletionItemKind.Property,
  value: CompletionItemKind.Value,
  enum: CompletionItemKind.EnumMember,
  keyword: CompletionItemKind.Keyword,
  snippet: CompletionItemKind.Snippet,
};

const SEVERITY: Record<Diagnostic['severity'], DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  info: DiagnosticSeverity.Information,
};

export interface ServerOptions {
  /** Where to look for the extension's schema cache (tests point it at a temporary folder). */
  cacheDirs?: string[];
  /** The documentation provider; default qemu-qmp-ref(7) (initializationOptions.manPage, else `man -w`). */
  docs?: DocsProvider;
}

interface SchemaState {
  schema: Schema | undefined;
  cached: boolean;
  origin: string;
  oobNegotiated: boolean | undefined;
}

interface DocState {
  version: number;
  regions: Region[];
  /** Whether the document is a notebook whose cells can be updated in place (no CR line ends anywhere). */
  incremental: boolean;
}

/** The open documents (incremental sync), kept here rather than in TextDocuments to see each change. */
class OpenDocuments {
  private readonly docs = new Map<string, TextDocument>();
  get(uri: string): TextDocument | undefined {
    return this.docs.get(uri);
  }
  all(): TextDocument[] {
    return [...this.docs.values()];
  }
  set(doc: TextDocument): void {
    this.docs.set(doc.uri, doc);
  }
  delete(uri: string): void {
    this.docs.delete(uri);
  }
}

/** Plain text of a snippet, for clients without snippet support: placeholders keep their default. */
export function snippetToText(snippet: string): string {
  return snippet
    .replace(/\$\{\d+\|([^,|}]*)[^}]*\|\}/g, '$1')
    .replace(/\$\{\d+:([^}]*)\}/g, '$1')
    .replace(/\$\d+/g, '')
    .replace(/\\([$}\\])/g, '$1');
}

/** The editor needs a single-line range that contains the cursor; a wider replacement is cut to the cursor's line. */
function sameRange(a: Range, b: Range): boolean {
  return a.start.line === b.start.line && a.start.character === b.start.character
    && a.end.line === b.end.line && a.end.character === b.end.character;
}

export function fitRange(r: Range, position: LinePosition): Range {
  const contains = (r.start.line < position.line || (r.start.line === position.line && r.start.character <= position.character))
    && (r.end.line > position.line || (r.end.line === position.line && r.end.character >= position.character));
  if (r.start.line === r.end.line && contains) return r;
  const start = r.start.line === position.line ? r.start : { line: position.line, character: 0 };
  const end = r.end.line === position.line && r.end.character >= position.character ? r.end : position;
  return { start, end };
}

/**
 * An item as clients that filter by the word at the cursor can use it while the user types. Emacs (eglot) takes
 * the symbol at point (`query-sta`, without the quote) as the prefix and matches it against `filterText` (or the
 * label); Neovim's omnifunc takes the start of the items' edit range as the start of the word and keeps the
 * items whose inserted text starts with what was typed from there, and only when no item has a `filterText`.
 * So an item that replaces a string from its opening quote starts after the quote instead (the quote stays,
 * the inserted text drops it), and a filterText that says no more than the label is left out. VS Code-style
 * clients, which filter the range's text against filterText or label, get the same result either way.
 */
export function forTypingClients(item: CompletionItem, text: string, offset: number): CompletionItem {
  let out = item;
  if (text.charCodeAt(item.range.start) === 34 && offset > item.range.start && item.insertText.startsWith('"')) {
    out = { ...item, range: { start: item.range.start + 1, end: item.range.end }, insertText: item.insertText.slice(1) };
    if (item.filterText?.startsWith('"') === true) out.filterText = item.filterText.slice(1);
  }
  const f = out.filterText;
  if (f !== undefined && (f === out.label || (f.endsWith('"') && f.slice(0, -1) === out.label))) {
    out = { ...out };
    delete out.filterText;
  }
  return out;
}

/** Whether `typed` occurs in `word` in order, ignoring case (every fuzzy match a client makes is one). */
function subsequence(typed: string, word: string): boolean {
  let k = 0;
  const t = typed.toLowerCase();
  const w = word.toLowerCase();
  for (let i = 0; i < w.length && k < t.length; i++) if (w.charCodeAt(i) === t.charCodeAt(k)) k++;
  return k === t.length;
}

/**
 * The items a reply carries: those whose filter text (or label) holds what was typed in their range, in
 * order; at most REPLY_MAX_ITEMS of them, the first by sort text. `incomplete` when any item was left out,
 * so the client asks again as the user types (or deletes) instead of filtering a partial list.
 */
export function narrowForReply(items: readonly CompletionItem[], text: string, offset: number): { items: CompletionItem[]; incomplete: boolean } {
  const typed = (i: CompletionItem): string => text.slice(i.range.start, Math.max(i.range.start, offset));
  let kept = items.filter((item) => subsequence(typed(item), item.filterText ?? item.label));
  if (kept.length > REPLY_MAX_ITEMS) {
    // What starts with the typed text first, then the rest of the matches; each by its sort text.
    const key = (i: CompletionItem): string => ((i.filterText ?? i.label).toLowerCase().startsWith(typed(i).toLowerCase()) ? '0' : '1') + (i.sortText ?? i.label);
    kept = kept.map((item, index) => ({ item, index }))
      .sort((a, b) => (key(a.item) < key(b.item) ? -1 : key(a.item) > key(b.item) ? 1 : a.index - b.index))
      .slice(0, REPLY_MAX_ITEMS)
      .sort((a, b) => a.index - b.index)
      .map((x) => x.item);
  }
  return { items: kept, incomplete: kept.length < items.length };
}

/** Starts the language server on a connection (stdio in `qmp-notebook lsp`, a stream pair in tests). */
export function startServer(connection: Connection, options: ServerOptions = {}): { stop(): Promise<void> } {
  const documents = new OpenDocuments();
  const states = new Map<string, DocState>();
  const memo = new Map<string, Diagnostic[]>();
  let memoChars = 0;
  // One parse per (document, cell, version), shared by every feature (completion, hover, diagnostics, code
  // actions, code lenses, live values); bounded, least recently used dropped first.
  const parses = new ParseCache(PARSE_CACHE_MAX);
  const parsed = (doc: { uri: string; version: number }, r: Region): CellText => parses.get(`${doc.uri}#${r.index}`, doc.version, r.text);
  let schemaState: SchemaState = { schema: undefined, cached: false, origin: 'none', oobNegotiated: undefined };
  let config: ResolvedConfig | undefined;
  let session: LspSession | undefined;
  let docs: DocsProvider | undefined = options.docs;
  let snippets = false;
  /** The client takes `itemDefaults.editRange` in completion lists (LSP 3.17). */
  let defaultEditRange = false;
  let pullDiagnostics = false;
  let refreshDiagnostics = false;
  let refreshLenses = false;
  let lastCompletion: { items: CompletionItem[] } | undefined;
  let shuttingDown = false;
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const lastCost = new Map<string, number>();

  const log = (msg: string): void => { connection.console.log(msg); };
  /** A notification to the client: once the connection is gone (the input ended), nothing is sent. */
  const send = (f: () => Promise<void>): void => {
    if (shuttingDown) return;
    try {
      f().catch(() => undefined);
    } catch {
      // The connection closed: the process is ending (stdio.ts).
    }
  };

  const docsProvider = (): DocsProvider => (docs ??= manPageDocs(config?.user.manPage !== undefined ? { file: config.user.manPage } : {}));
  /** What the service gets besides the text: the schema, the session's OOB, the man page once loaded. */
  const context = (): LanguageContext => ({
    schema: schemaState.schema, oobNegotiated: schemaState.oobNegotiated, docs: docsProvider().current(), cached: schemaState.cached,
  });
  /**
   * With the connection's live values (docs/live-values.md), for completion and hover: the names QEMU holds.
   * Not for diagnostics: a name an earlier cell creates is no warning, and the server does not follow what
   * cells create (the named replies of the cells above it does follow: see computeDiagnostics).
   */
  const liveContext = (): LanguageContext => ({ ...context(), live: session?.live });

  /**
   * For completion and hover: the live context plus the named replies of the document's cells above (names,
   * and the replies runCell saved on this connection). Diagnostics get the names alone (computeDiagnostics).
   */
  /** A document's regions with the parse of each one's version (the cache's), so that no cell is parsed twice. */
  const withParses = (doc: TextDocument): Array<Region & { parsed: CellText }> => regionsOf(doc).map((r) => ({ ...r, parsed: parsed(doc, r) }));

  const namedContext = (doc: TextDocument, region: Region): LanguageContext => ({
    ...liveContext(),
    named: namedContextOf(withParses(doc), region.index, (name) => session?.namedReply(name)),
  });

  const regionsOf = (doc: TextDocument): Region[] => {
    const s = states.get(doc.uri);
    if (s !== undefined && s.version === doc.version) return s.regions;
    const text = doc.getText();
    const notebook = isNotebookDocument(doc.uri, doc.languageId);
    const regions = findRegions(text, notebook, doc.languageId);
    states.set(doc.uri, { version: doc.version, regions, incremental: notebook && !text.includes('\r') });
    return regions;
  };

  const at = (uri: string, pos: LinePosition): { doc: TextDocument; region: Region; offset: number } | undefined => {
    const doc = documents.get(uri);
    if (doc === undefined) return undefined;
    const regions = regionsOf(doc);
    const i = regionIndexAt(regions, pos);
    const region = regions[i];
    if (region === undefined || region.language === 'hmp') return undefined;
    const offset = toCellOffset(region, pos);
    return offset === undefined ? undefined : { doc, region, offset };
  };

  /**
   * A cell's problems, remembered by language, text and what its named-reply warnings depend on (whether each
   * name it uses is defined above or below it) until the schema changes. `named`: the names of the cells
   * around it, as the editor and `check` give them (an unknown name is warned).
   */
  const diagnoseRegion = (doc: TextDocument, r: Region, named: NamedContext): Diagnostic[] => {
    const key = `${r.language}\u0000${r.text}\u0000${NamedScan.key(r.text, named)}`;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let found: Diagnostic[];
    try {
      found = languageService(r.language)?.diagnose(parsed(doc, r), { ...context(), named }) ?? [];
    } catch (err) {
      // A bug in a check must not take the server (and every other document) down: say so, once per cell text.
      connection.console.error(`diagnostics failed on cell ${r.index}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      found = [];
    }
    if (memo.size >= MEMO_MAX || memoChars + key.length > MEMO_MAX_CHARS) {
      memo.clear();
      memoChars = 0;
    }
    memo.set(key, found);
    memoChars += key.length;
    return found;
  };

  const toLspDiagnostic = (r: Region, d: Diagnostic): LspDiagnostic => {
    const out: LspDiagnostic = { range: toDocRange(r, d.start, d.end), message: d.message, severity: SEVERITY[d.severity], source: r.language, code: d.code };
    if (d.code === 'deprecated') out.tags = [DiagnosticTag.Deprecated];
    return out;
  };

  /** All diagnostics of a document, in slices; undefined when the document changed or closed meanwhile. */
  const computeDiagnostics = async (uri: string, token?: CancellationToken): Promise<LspDiagnostic[] | undefined> => {
    const doc = documents.get(uri);
    if (doc === undefined) return undefined;
    const version = doc.version;
    const regions = regionsOf(doc);
    const out: LspDiagnostic[] = [];
    let slice = performance.now();
    // The named replies of the cells above each cell, in one pass over the cells in order.
    const names = new NamedScan(regions.map((r) => ({ ...r, parsed: parsed(doc, r) })));
    for (const r of regions) {
      for (const d of diagnoseRegion(doc, r, names.next())) out.push(toLspDiagnostic(r, d));
      if (performance.now() - slice > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        if (documents.get(uri)?.version !== version || token?.isCancellationRequested === true || shuttingDown) return undefined;
        slice = performance.now();
      }
    }
    return out;
  };

  const publish = async (uri: string): Promise<void> => {
    const started = performance.now();
    const version = documents.get(uri)?.version;
    const diagnostics = await computeDiagnostics(uri);
    // Smoothed, so that one slow run (a GC pause, a busy machine) does not delay the next check by as much.
    const cost = performance.now() - started;
    lastCost.set(uri, 0.7 * (lastCost.get(uri) ?? cost) + 0.3 * cost);
    if (diagnostics === undefined || documents.get(uri)?.version !== version) return;
    send(() => connection.sendDiagnostics({ uri, ...(version !== undefined ? { version } : {}), diagnostics }));
  };

  const schedule = (uri: string): void => {
    if (pullDiagnostics) return;
    const pending = timers.get(uri);
    if (pending !== undefined) clearTimeout(pending);
    const cost = lastCost.get(uri) ?? 0;
    const delay = cost < DEBOUNCE_FREE_MS ? 0 : Math.min(DEBOUNCE_MAX_MS, cost);
    timers.set(uri, setTimeout(() => {
      timers.delete(uri);
      publish(uri).catch((err: unknown) => connection.console.error(`diagnostics of ${uri}: ${String(err)}`));
    }, delay));
  };

  const schemaChanged = (): void => {
    memo.clear();
    memoChars = 0;
    if (pullDiagnostics) {
      if (refreshDiagnostics) connection.languages.diagnostics.refresh();
    } else {
      for (const d of documents.all()) schedule(d.uri);
    }
    if (refreshLenses) void connection.sendRequest('workspace/codeLens/refresh').catch(() => undefined);
  };

  /** No schema at all: the user sees it (window/showMessage, not only the log) and is told how to give one. */
  const noSchema = (why: string): void => {
    const message = `QMP: no schema (${why}), so only JSON syntax and the protocol's own keys are checked. `
      + 'Give one in initializationOptions or .qmp-notebook.json: "schemaFile" (a file saved by `qmp-notebook schema --sandbox > schema.json`), '
      + 'or a connection to read it from ("sandbox": true, "socket", "tcp", "storageDaemon": true, "guestAgent" or "libvirt"; see docs/lsp.md).';
    // The notification (window/showMessage), not showWarningMessage's request: nothing waits for an answer.
    send(() => connection.sendNotification(ShowMessageNotification.type, { type: MessageType.Warning, message }));
  };

  const loadSchema = async (): Promise<void> => {
    const c = config as ResolvedConfig;
    let schemaError: string | undefined;
    for (const w of c.warnings) connection.console.warn(w);
    if (c.schemaFile !== undefined) {
      try {
        schemaState = { schema: loadSchemaFile(c.schemaFile.path, c.schemaFile.root), cached: true, origin: `schema file ${c.schemaFile.path}`, oobNegotiated: undefined };
      } catch (err) {
        schemaError = `schemaFile: ${err instanceof Error ? err.message : String(err)}`;
        connection.console.error(schemaError);
      }
    }
    if (schemaState.schema === undefined) {
      const cached = loadCachedSchema(options.cacheDirs ?? (c.user.cacheDir !== undefined ? [c.user.cacheDir] : cacheDirs()), c.user.cacheProfile);
      if (cached !== undefined) {
        schemaState = { schema: cached.schema, cached: true, origin: `cached schema of profile ${cached.profile} (${cached.file})`, oobNegotiated: undefined };
      }
    }
    log(`qmp-notebook lsp: schema from ${schemaState.origin}`);
    if (schemaState.schema === undefined && c.connection === undefined) {
      noSchema(schemaError ?? 'no "schemaFile", no QEMU configured, and no schema cached by the VS Code extension');
    }
    memo.clear();
    memoChars = 0;
    if (c.connection !== undefined) {
      session = new LspSession(c.connection, c.user.qemuBinary);
      log(`qmp-notebook lsp: connecting to ${session.describe()} (configured by ${c.connection.from === 'user' ? 'the editor' : '.qmp-notebook.json, trusted'})`);
      try {
        const live = await session.liveSchema();
        if (live.schema !== undefined && !shuttingDown) {
          schemaState = { schema: live.schema, cached: false, origin: session.describe(), oobNegotiated: live.oobNegotiated };
          log(`qmp-notebook lsp: schema from ${session.describe()}`);
          schemaChanged();
        }
      } catch (err) {
        const why = `cannot connect to ${session.describe()}: ${err instanceof Error ? err.message : String(err)}`;
        connection.console.warn(`${why}; using the ${schemaState.origin}`);
        if (schemaState.schema === undefined && !shuttingDown) noSchema(why);
      }
    }
  };

  connection.onInitialize((params) => {
    const caps = params.capabilities;
    snippets = caps.textDocument?.completion?.completionItem?.snippetSupport === true;
    defaultEditRange = caps.textDocument?.completion?.completionList?.itemDefaults?.includes('editRange') === true;
    pullDiagnostics = caps.textDocument?.diagnostic !== undefined;
    refreshDiagnostics = caps.workspace?.diagnostics?.refreshSupport === true;
    refreshLenses = caps.workspace?.codeLens?.refreshSupport === true;
    const folder = params.workspaceFolders?.[0]?.uri ?? params.rootUri ?? undefined;
    let root: string | undefined;
    if (typeof folder === 'string' && folder.startsWith('file:')) {
      try {
        root = fileURLToPath(folder);
      } catch {
        root = undefined;
      }
    }
    if (root === undefined && typeof params.rootPath === 'string' && params.rootPath !== '') root = params.rootPath;
    config = resolveConfig(params.initializationOptions, root);
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
        completionProvider: { triggerCharacters: TRIGGERS, resolveProvider: true },
        hoverProvider: true,
        codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix, CodeActionKind.RefactorRewrite] },
        codeLensProvider: { resolveProvider: false },
        documentSymbolProvider: true,
        foldingRangeProvider: true,
        semanticTokensProvider: { legend: SEMANTIC_LEGEND, full: true },
        executeCommandProvider: { commands: [RUN_CELL_COMMAND, SWITCH_OOB_COMMAND] },
        ...(pullDiagnostics ? { diagnosticProvider: { interFileDependencies: false, workspaceDiagnostics: false } } : {}),
      },
      serverInfo: { name: 'qmp-notebook' },
    };
  });

  connection.onInitialized(() => {
    void loadSchema().then(() => {
      if (!pullDiagnostics) for (const d of documents.all()) schedule(d.uri);
      // The man page takes a few hundred ms to parse: read it now rather than on the first hover.
      void docsProvider().load();
    });
  });

  connection.onDidOpenTextDocument(({ textDocument: t }) => {
    documents.set(TextDocument.create(t.uri, t.languageId, t.version, t.text));
    states.delete(t.uri);
    lastCost.delete(t.uri);
    schedule(t.uri);
  });
  connection.onDidChangeTextDocument(({ textDocument: { uri, version }, contentChanges }) => {
    const doc = documents.get(uri);
    if (doc === undefined || contentChanges.length === 0) return;
    // One edit inside one cell (typing) updates that cell's region; anything else is parsed again when needed.
    const state = states.get(uri);
    const only = contentChanges.length === 1 ? contentChanges[0] : undefined;
    let regions: Region[] | undefined;
    if (state !== undefined && state.version === doc.version && state.incremental && only !== undefined && 'range' in only) {
      const { range, text } = only as { range: Range; text: string };
      regions = updateRegions(state.regions, { range, oldText: doc.getText(range), text });
    }
    const updated = TextDocument.update(doc, contentChanges, version);
    documents.set(updated);
    if (regions !== undefined) states.set(uri, { version: updated.version, regions, incremental: true });
    else states.delete(uri);
    schedule(uri);
  });
  connection.onDidCloseTextDocument(({ textDocument: { uri } }) => {
    documents.delete(uri);
    const t = timers.get(uri);
    if (t !== undefined) clearTimeout(t);
    timers.delete(uri);
    states.delete(uri);
    parses.forget(uri);
    lastCost.delete(uri);
    if (!pullDiagnostics) send(() => connection.sendDiagnostics({ uri, diagnostics: [] }));
  });

  connection.languages.diagnostics.on(async (params, token) => {
    const items = await computeDiagnostics(params.textDocument.uri, token);
    if (items === undefined) {
      if (token.isCancellationRequested) throw new ResponseError(ErrorCodes.PendingResponseRejected, 'cancelled');
      // Changed while computing: the client asks again for the new version.
      throw new ResponseError(-32802 /* ServerCancelled */, 'the document changed', { retriggerRequest: true });
    }
    return { kind: DocumentDiagnosticReportKind.Full, items };
  });

  connection.onCompletion(async (params, token) => {
    if (token.isCancellationRequested) return null;
    let hit = at(params.textDocument.uri, params.position);
    if (hit === undefined) return null;
    // The live values the position names are fetched first (bounded: then it offers what it has).
    if (await fetchLive(session?.live, hit.region.language, parsed(hit.doc, hit.region), hit.offset)) {
      if (token.isCancellationRequested) return null;
      hit = at(params.textDocument.uri, params.position);
      if (hit === undefined) return null;
    }
    const { region, offset } = hit;
    const result = languageService(region.language)?.complete(parsed(hit.doc, region), offset, namedContext(hit.doc, region)) ?? { items: [] };
    const narrowed = narrowForReply(result.items.map((item) => forTypingClients(item, region.text, offset)), region.text, offset);
    result.items = narrowed.items;
    lastCompletion = { items: result.items };
    const inline = result.items.length <= INLINE_DOC_ITEMS;
    // Items mostly share one range (the word being completed): a client that takes list defaults gets it once.
    const ranges = result.items.map((item) => fitRange(toDocRange(region, item.range.start, item.range.end), params.position));
    const first = ranges[0];
    const shared = defaultEditRange && first !== undefined && ranges.every((r) => sameRange(r, first)) ? first : undefined;
    const items = result.items.map((item, index): LspCompletionItem => {
      const out: LspCompletionItem = { label: item.label, kind: KINDS[item.kind] };
      const snippet = item.isSnippet === true && snippets;
      const newText = item.isSnippet === true && !snippets ? snippetToText(item.insertText) : item.insertText;
      if (shared !== undefined) out.textEditText = newText;
      else out.textEdit = { range: ranges[index] as Range, newText };
      // Plain text is the protocol's default format: only snippets say theirs.
      if (snippet) out.insertTextFormat = InsertTextFormat.Snippet;
      if (item.detail !== undefined) out.detail = item.detail;
      if (item.sortText !== undefined) out.sortText = item.sortText;
      if (item.filterText !== undefined) out.filterText = item.filterText;
      if (item.tags?.includes('deprecated') === true) out.tags = [CompletionItemTag.Deprecated];
      if (item.documentation !== undefined) {
        if (inline) out.documentation = { kind: MarkupKind.Markdown, value: item.documentation };
        else out.data = { index };
      }
      return out;
    });
    if (shared !== undefined) return { isIncomplete: narrowed.incomplete, itemDefaults: { editRange: shared }, items };
    return { isIncomplete: narrowed.incomplete, items };
  });

  connection.onCompletionResolve((item) => {
    const data = item.data as { index?: unknown } | undefined;
    const index = typeof data?.index === 'number' ? data.index : -1;
    const source = lastCompletion?.items[index];
    if (source !== undefined && source.label === item.label && source.documentation !== undefined) {
      item.documentation = { kind: MarkupKind.Markdown, value: source.documentation };
    }
    return item;
  });

  connection.onHover((params, token): Hover | null => {
    if (token.isCancellationRequested) return null;
    const hit = at(params.textDocument.uri, params.position);
    if (hit === undefined) return null;
    const { region, offset } = hit;
    const h = languageService(region.language)?.hover(parsed(hit.doc, region), offset, namedContext(hit.doc, region));
    if (h === undefined) return null;
    return { contents: { kind: MarkupKind.Markdown, value: h.contents }, range: toDocRange(region, h.range.start, h.range.end) };
  });

  const toWorkspaceEdit = (uri: string, r: Region, edits: readonly TextEdit[]): { changes: Record<string, LspTextEdit[]> } => ({
    changes: { [uri]: edits.map((e) => ({ range: toDocRange(r, e.start, e.end), newText: e.newText })) },
  });

  connection.onCodeAction((params, token) => {
    const doc = documents.get(params.textDocument.uri);
    if (doc === undefined || token.isCancellationRequested) return null;
    const regions = regionsOf(doc);
    const out: LspCodeAction[] = [];
    const first = Math.max(0, regionIndexAt(regions, params.range.start));
    for (let i = first; i < regions.length; i++) {
      const r = regions[i] as Region;
      if (r.startLine > params.range.end.line) break;
      const lastLine = r.startLine + r.lineStarts.length - 1;
      if (lastLine < params.range.start.line) continue;
      const start = toCellOffset(r, params.range.start.line < r.startLine ? { line: r.startLine, character: r.startCharacter } : params.range.start) ?? 0;
      const end = toCellOffset(r, params.range.end.line > lastLine ? { line: lastLine, character: Number.MAX_SAFE_INTEGER } : params.range.end) ?? r.text.length;
      const svc = languageService(r.language);
      if (svc === undefined) continue;
      for (const a of svc.codeActions(parsed(doc, r), start, end, context(), diagnoseRegion(doc, r, namedContextOf(withParses(doc), r.index)))) {
        const action: LspCodeAction = {
          title: a.title, kind: a.kind === 'quickfix' ? CodeActionKind.QuickFix : CodeActionKind.RefactorRewrite,
          edit: toWorkspaceEdit(doc.uri, r, a.edits),
        };
        if (a.isPreferred === true) action.isPreferred = true;
        if (a.diagnostic !== undefined) {
          const d = a.diagnostic;
          const startPos = toDocPosition(r, d.start);
          const match = params.context.diagnostics.filter((v) => v.code === d.code && v.range.start.line === startPos.line && v.range.start.character === startPos.character);
          action.diagnostics = match.length > 0 ? match : [toLspDiagnostic(r, d)];
        }
        out.push(action);
      }
    }
    return out;
  });

  connection.onCodeLens((params) => {
    const doc = documents.get(params.textDocument.uri);
    if (doc === undefined) return null;
    const lenses: CodeLens[] = [];
    for (const r of regionsOf(doc)) {
      if (session !== undefined) {
        const p = { line: r.startLine, character: r.startCharacter };
        lenses.push({ range: { start: p, end: p }, command: { title: '▶ Run cell', command: RUN_CELL_COMMAND, arguments: [doc.uri, p] } });
      }
      for (const h of languageService(r.language)?.hints(parsed(doc, r), context()) ?? []) {
        const range = toDocRange(r, h.start, h.end);
        // The switch rewrites JSON; other languages' hints are shown without it.
        if (h.kind === 'can-run-oob' && r.language === 'qmp') {
          lenses.push({ range, command: { title: 'can run out-of-band: switch to exec-oob', command: SWITCH_OOB_COMMAND, arguments: [doc.uri, toDocPosition(r, h.objectStart)] } });
        } else {
          lenses.push({ range, command: { title: h.message, command: '' } });
        }
      }
    }
    return lenses;
  });

  connection.onDocumentSymbol((params) => {
    const doc = documents.get(params.textDocument.uri);
    return doc === undefined ? null : documentSymbols(regionsOf(doc), schemaState.schema, (r) => parsed(doc, r).commands(r.language));
  });

  connection.onFoldingRanges((params) => {
    const doc = documents.get(params.textDocument.uri);
    return doc === undefined ? null : foldingRanges(regionsOf(doc), schemaState.schema, (r) => parsed(doc, r).commands(r.language));
  });

  connection.languages.semanticTokens.on((params) => {
    const doc = documents.get(params.textDocument.uri);
    return doc === undefined ? new SemanticTokensBuilder().build() : semanticTokens(regionsOf(doc), (r) => parsed(doc, r));
  });

  connection.onExecuteCommand(async (params): Promise<RunCellResult | null> => {
    const args = params.arguments ?? [];
    const uri = typeof args[0] === 'string' ? args[0] : undefined;
    const pos = args[1] as LinePosition | undefined;
    if (uri === undefined || typeof pos?.line !== 'number' || typeof pos.character !== 'number') {
      throw new ResponseError(ErrorCodes.InvalidParams, `${params.command} takes [uri, {line, character}]`);
    }
    const doc = documents.get(uri);
    if (doc === undefined) throw new ResponseError(ErrorCodes.InvalidParams, `${uri} is not open`);
    const regions = regionsOf(doc);
    const region = regions[regionIndexAt(regions, pos)];
    if (params.command === SWITCH_OOB_COMMAND) {
      const offset = region !== undefined ? toCellOffset(region, pos) : undefined;
      const edits = region !== undefined && offset !== undefined ? switchToExecOob(parsed(doc, region), offset) : undefined;
      if (region === undefined || edits === undefined) throw new ResponseError(ErrorCodes.InvalidParams, 'no command object at that position');
      await connection.workspace.applyEdit({ label: 'Switch to exec-oob', edit: toWorkspaceEdit(uri, region, edits) });
      return null;
    }
    if (params.command !== RUN_CELL_COMMAND) throw new ResponseError(ErrorCodes.InvalidParams, `unknown command ${params.command}`);
    if (region === undefined) throw new ResponseError(ErrorCodes.InvalidParams, 'no code cell at that position');
    if (session === undefined) {
      const message = 'no QEMU is configured: set "socket", "tcp", "sandbox", "storageDaemon", "guestAgent" or "libvirt" in initializationOptions (see docs/lsp.md)';
      return { status: 'refused', transcript: [message], message };
    }
    return session.runCell(region.text, region.language, region.index, region.startLine + 1);
  });

  const stop = async (): Promise<void> => {
    shuttingDown = true;
    for (const t of timers.values()) clearTimeout(t);
    timers.clear();
    await session?.dispose();
  };
  connection.onShutdown(stop);
  connection.onExit(() => {
    void session?.dispose();
  });

  connection.listen();
  return { stop };
}
