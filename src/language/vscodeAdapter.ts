// The one file in src/language that knows about VS Code: it registers the pure language features
// (completion, hover, diagnostics, quick fixes, OOB code lenses) for `qmp` and `qmp-shell` documents,
// notebook cells included, and converts offsets to positions. No logic of its own beyond that.

import * as vscode from 'vscode';
import { Schema } from '../qmp/schema';
import { switchToExecOob, type TextEdit } from './codeActions';
import type { CompletionItem } from './completion';
import type { CompatPolicy, Diagnostic } from './diagnostics';
import type { QmpDocs, QmpManPageName } from './manpage';
import { manPageDocs, type DocsProvider } from './providers';
import { findCellName } from '../format/references';
import type { LiveValues } from '../qmp/liveValues';
import { fetchLive, languageService, namesCreatedBy, ParseCache, type CellText, type CreatedNames, type LanguageContext, type LanguageService, type NamedContext } from './service';

/** A QEMU version as the session layer reports it. */
export interface SchemaVersionLike {
  major: number;
  minor: number;
  micro: number;
}

/** Where the language features get the schema of a document from (the session layer implements it). */
export interface SchemaSource {
  /** The schema for a document or notebook cell; undefined when no schema is known. */
  current(uri?: vscode.Uri): { schema: Schema | object; cached: boolean; version?: string | SchemaVersionLike | undefined; bundled?: string | undefined } | undefined;
  /** Fires when any schema changes (connect, reload, profile switch). */
  onDidChange: vscode.Event<void>;
  /** Whether the connection negotiated OOB; undefined when not connected. */
  oobNegotiated(uri?: vscode.Uri): boolean | undefined;
  /** The device types QEMU lists (qom-list-types), for device_add's `driver`; undefined when unknown. */
  deviceTypes?(uri?: vscode.Uri): readonly string[] | undefined;
  /**
   * QEMU's -compat input policy for a document (from its profile or its notebook's front matter); undefined
   * means QEMU's default (accept deprecated and unstable input). Optional: older sources do not know it.
   */
  compat?(uri?: vscode.Uri): CompatPolicy | undefined;
  /** The connected session's live values (docs/live-values.md); undefined when not connected. */
  live?(uri?: vscode.Uri): LiveValues | undefined;
  /**
   * The reference page of the endpoint a document runs on (`qemu-qmp-ref`, `qemu-storage-daemon-qmp-ref`,
   * `qemu-ga-ref`); QEMU's when absent. The adapter reads it through a DocsProvider.
   */
  manPage?(uri?: vscode.Uri): string;
  /** The notebook cell whose text document has this URI, in one lookup; without it cells are searched. */
  cell?(uri: vscode.Uri): vscode.NotebookCell | undefined;
}

/**
 * One parse per (document, version), shared by completion, hover, diagnostics, code actions, code lenses and
 * the commands a cell sends (commandsOf).
 */
const parses = new ParseCache();
const parsedOf = (doc: vscode.TextDocument): CellText => parses.get(doc.uri.toString(), doc.version, doc.getText());

/** The commands a cell's text sends, from the one parse of its version. */
const commandsCache = new WeakMap<vscode.TextDocument, { version: number; commands: Array<{ command: string; args: unknown }> }>();

function commandsOf(doc: vscode.TextDocument): Array<{ command: string; args: unknown }> {
  const hit = commandsCache.get(doc);
  if (hit !== undefined && hit.version === doc.version) return hit.commands;
  const commands: Array<{ command: string; args: unknown }> = [];
  const lang = doc.languageId;
  if (lang === 'qmp' || lang === 'qmp-shell') {
    for (const item of parsedOf(doc).commands(lang).items) {
      if (item.kind !== 'command') continue;
      const name = item.input.execute ?? item.input['exec-oob'];
      if (name !== undefined) commands.push({ command: name, args: item.input.arguments });
    }
  }
  commandsCache.set(doc, { version: doc.version, commands });
  return commands;
}

/** The cell of a cell document: one lookup through the source, else a search of the open notebooks. */
function cellOf(source: SchemaSource, doc: vscode.TextDocument): vscode.NotebookCell | undefined {
  if (doc.uri.scheme !== 'vscode-notebook-cell') return undefined;
  if (source.cell !== undefined) return source.cell(doc.uri);
  const key = doc.uri.toString();
  for (const nb of vscode.workspace.notebookDocuments) {
    const found = nb.getCells().find((c) => c.document.uri.toString() === key);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * The cells of each notebook that send commands creating names (blockdev-add, device_add…), in order: found
 * with one pass over the notebook, kept until the notebook or one of its cells changes (forgetCreators).
 */
const creatorsCache = new WeakMap<vscode.NotebookDocument, vscode.NotebookCell[]>();

function creatorsOf(nb: vscode.NotebookDocument): vscode.NotebookCell[] {
  let creators = creatorsCache.get(nb);
  if (creators === undefined) {
    creators = nb.getCells().filter((c) => namesCreatedBy(commandsOf(c.document)).size > 0);
    creatorsCache.set(nb, creators);
  }
  return creators;
}

function forgetCreators(nb: vscode.NotebookDocument | undefined): void {
  if (nb !== undefined) creatorsCache.delete(nb);
}

/** The `@name`d cells of each notebook, in order (one pass), kept like creatorsCache. */
const namedCache = new WeakMap<vscode.NotebookDocument, Array<{ cell: vscode.NotebookCell; name: string }>>();

function namedCellsOf(nb: vscode.NotebookDocument): Array<{ cell: vscode.NotebookCell; name: string }> {
  let named = namedCache.get(nb);
  if (named === undefined) {
    named = [];
    for (const c of nb.getCells()) {
      const lang = c.document.languageId;
      if (lang !== 'qmp' && lang !== 'qmp-shell' && lang !== 'hmp') continue;
      const found = findCellName(c.document.getText(), lang).name;
      if (found !== undefined) named.push({ cell: c, name: found.name });
    }
    namedCache.set(nb, named);
  }
  return named;
}

/**
 * Whether an edit of a cell changed the names of its notebook (its `@name` line added, removed or changed):
 * only then is the notebook's list of named cells made again, so typing in a cell costs that cell.
 */
function cellNameChanged(cell: vscode.NotebookCell): boolean {
  const cached = namedCache.get(cell.notebook);
  if (cached === undefined) return true;
  const lang = cell.document.languageId;
  const now = lang === 'qmp' || lang === 'qmp-shell' || lang === 'hmp' ? findCellName(cell.document.getText(), lang).name?.name : undefined;
  if (cached.find((n) => n.cell === cell)?.name === now) return false;
  namedCache.delete(cell.notebook);
  return true;
}

/** Where a notebook's saved named replies are read (the controller keeps them): the reply text of a name. */
export type NamedReplyLookup = (notebook: vscode.NotebookDocument, name: string) => string | undefined;

/** The named replies around a cell: names of the cells above (the last one of a name wins), below, and their replies. */
function namedAround(source: SchemaSource, doc: vscode.TextDocument, lookup: NamedReplyLookup | undefined): NamedContext | undefined {
  const cell = cellOf(source, doc);
  if (cell === undefined) return undefined;
  const above = new Map<string, { command?: string | undefined; cell: number }>();
  const below = new Set<string>();
  for (const n of namedCellsOf(cell.notebook)) {
    const lang = n.cell.document.languageId;
    const command = lang === 'hmp' ? 'human-monitor-command' : commandsOf(n.cell.document).at(-1)?.command;
    if (n.cell.index >= 0 && n.cell.index < cell.index) above.set(n.name, { command, cell: n.cell.index });
    else if (n.cell.index > cell.index) below.add(n.name);
  }
  const nb = cell.notebook;
  return { above, below, ...(lookup ? { reply: (name: string) => lookup(nb, name) } : {}) };
}

/**
 * The names the cells above `doc` (in its notebook) create: known to the live checks before they run. Only
 * the cells that create names are looked at (creatorsOf), so diagnosing every cell of a notebook is linear.
 */
function createdAbove(source: SchemaSource, doc: vscode.TextDocument): CreatedNames | undefined {
  const cell = cellOf(source, doc);
  if (cell === undefined) return undefined;
  const above = creatorsOf(cell.notebook).filter((c) => c.index >= 0 && c.index < cell.index);
  return namesCreatedBy(above.flatMap((c) => commandsOf(c.document)));
}

const SELECTOR: vscode.DocumentSelector = [{ language: 'qmp' }, { language: 'qmp-shell' }];
const TRIGGERS = ['"', '{', ':', '=', '.', ' ', ','];
const DEBOUNCE_MS = 150;
const SWITCH_COMMAND = 'qmp.language.switchToExecOob';
/** The man page is read a little after activation (it takes a few hundred ms), not on the first hover. */
const MAN_PAGE_DELAY_MS = 2000;

function schemaOf(source: SchemaSource, uri: vscode.Uri): { schema: Schema; cached: boolean; label: string | undefined } | undefined {
  const snap = source.current(uri);
  return snap !== undefined && snap.schema instanceof Schema ? { schema: snap.schema, cached: snap.cached, label: snap.bundled } : undefined;
}

/** The service and the context for a document; undefined for languages without a service. */
function serviceFor(source: SchemaSource, doc: vscode.TextDocument, docs: QmpDocs | undefined,
  lookup?: NamedReplyLookup): { svc: LanguageService; ctx: LanguageContext } | undefined {
  if (doc.languageId !== 'qmp' && doc.languageId !== 'qmp-shell') return undefined;
  const svc = languageService(doc.languageId);
  if (svc === undefined) return undefined;
  const s = schemaOf(source, doc.uri);
  return {
    svc,
    ctx: {
      schema: s?.schema, cached: s?.cached === true, schemaLabel: s?.label, oobNegotiated: source.oobNegotiated(doc.uri), docs,
      compat: source.compat?.(doc.uri), deviceTypes: source.deviceTypes?.(doc.uri), live: source.live?.(doc.uri),
      named: namedAround(source, doc, lookup),
    },
  };
}

function range(doc: vscode.TextDocument, start: number, end: number): vscode.Range {
  return new vscode.Range(doc.positionAt(start), doc.positionAt(end));
}

const KINDS: Record<CompletionItem['kind'], vscode.CompletionItemKind> = {
  command: vscode.CompletionItemKind.Function,
  event: vscode.CompletionItemKind.Event,
  property: vscode.CompletionItemKind.Property,
  value: vscode.CompletionItemKind.Value,
  enum: vscode.CompletionItemKind.EnumMember,
  keyword: vscode.CompletionItemKind.Keyword,
  snippet: vscode.CompletionItemKind.Snippet,
};

/** Each completion item's documentation (markdown) until the editor resolves it (see toVscodeItem). */
const documentationOf = new WeakMap<vscode.CompletionItem, string>();

function toVscodeItem(doc: vscode.TextDocument, position: vscode.Position, item: CompletionItem): vscode.CompletionItem {
  const out = new vscode.CompletionItem(item.label, KINDS[item.kind]);
  out.insertText = item.isSnippet === true ? new vscode.SnippetString(item.insertText) : item.insertText;
  let r = range(doc, item.range.start, item.range.end);
  // The editor needs a single-line range that contains the cursor; a replacement that spans lines
  // (a multi-line `{ }` being replaced by a skeleton) is cut to the cursor's line.
  if (r.start.line !== r.end.line || !r.contains(position)) {
    const start = r.start.line === position.line ? r.start : new vscode.Position(position.line, 0);
    const end = r.end.line === position.line && r.end.isAfterOrEqual(position) ? r.end : position;
    r = new vscode.Range(start, end);
  }
  out.range = r;
  if (item.detail !== undefined) out.detail = item.detail;
  // The documentation is given when the editor shows the item's details (resolveCompletionItem), not with the
  // list: VS Code parses every MarkdownString it sends (for its links), which was most of a list's time.
  if (item.documentation !== undefined) documentationOf.set(out, item.documentation);
  if (item.sortText !== undefined) out.sortText = item.sortText;
  if (item.filterText !== undefined) out.filterText = item.filterText;
  if (item.tags?.includes('deprecated') === true) out.tags = [vscode.CompletionItemTag.Deprecated];
  if (item.retrigger === true) out.command = { command: 'editor.action.triggerSuggest', title: 'Suggest' };
  return out;
}

const SEVERITY: Record<Diagnostic['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

/** The 1-based position of a notebook cell's document among its notebook's cells, undefined for other documents. */
function cellNumber(doc: vscode.TextDocument): number | undefined {
  if (doc.uri.scheme !== 'vscode-notebook-cell') return undefined;
  const key = doc.uri.toString();
  for (const nb of vscode.workspace.notebookDocuments) {
    if (nb.uri.path !== doc.uri.path) continue;
    const cell = nb.getCells().find((c) => c.document.uri.toString() === key);
    if (cell) return cell.index + 1;
  }
  return undefined;
}

function toVscodeDiagnostic(doc: vscode.TextDocument, d: Diagnostic): vscode.Diagnostic {
  const out = new vscode.Diagnostic(range(doc, d.start, d.end), d.message, SEVERITY[d.severity]);
  out.code = d.code;
  out.source = doc.languageId === 'qmp-shell' ? 'qmp-shell' : 'qmp';
  // The Problems panel shows a cell's problems under its notebook with only "Ln 1, Col 14": a related entry
  // says which cell (and goes to it).
  const cell = cellNumber(doc);
  if (cell !== undefined) out.relatedInformation = [new vscode.DiagnosticRelatedInformation(new vscode.Location(doc.uri, out.range), `cell ${cell}`)];
  if (d.code === 'deprecated') out.tags = [vscode.DiagnosticTag.Deprecated];
  return out;
}

function toWorkspaceEdit(doc: vscode.TextDocument, edits: readonly TextEdit[]): vscode.WorkspaceEdit {
  const we = new vscode.WorkspaceEdit();
  for (const e of edits) we.replace(doc.uri, range(doc, e.start, e.end), e.newText);
  return we;
}

/** The longest a slice of a diagnostics pass runs before it yields to the event loop. */
const SLICE_MS = 8;

/** Small numbers for objects, so that a context can be compared by identity in a string key. */
const identities = new WeakMap<object, number>();
let nextIdentity = 0;
function identity(o: object | undefined): number {
  if (o === undefined) return 0;
  let n = identities.get(o);
  if (n === undefined) identities.set(o, (n = ++nextIdentity));
  return n;
}

/**
 * What a document's diagnostics depend on besides its text: equal keys give equal diagnostics. Live values change
 * inside the same object (a fetch, an invalidation), so a document checked against them gets a key of its own
 * each time: it is never skipped.
 */
let liveChecks = 0;
function contextKey(doc: vscode.TextDocument, ctx: LanguageContext): string {
  if (ctx.live !== undefined) return `live ${++liveChecks}`;
  return [doc.version, identity(ctx.schema), ctx.cached === true, ctx.schemaLabel ?? '', String(ctx.oobNegotiated),
    JSON.stringify(ctx.compat ?? null), identity(ctx.deviceTypes), identity(ctx.live),
    ctx.named ? `${[...ctx.named.above.keys()].join(',')}/${ctx.named.below instanceof Set ? [...(ctx.named.below as Set<string>)].join(',') : ''}` : ''].join('|');
}

/**
 * Works through a queue of items in slices of at most SLICE_MS, yielding to the event loop between slices.
 * restart() replaces the queue (what a new change makes stale need not finish); add() queues one more.
 */
export class SlicedPass<T> implements vscode.Disposable {
  private queue: T[] = [];
  private next = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly work: (item: T) => void, private readonly sliceMs = SLICE_MS) {}

  restart(items: T[]): void {
    this.queue = items;
    this.next = 0;
    this.kick();
  }

  add(item: T): void {
    if (this.next > 0 && this.next === this.queue.length) {
      this.queue = [];
      this.next = 0;
    }
    this.queue.push(item);
    this.kick();
  }

  private kick(): void {
    this.timer ??= setTimeout(() => this.slice(), 0);
  }

  private slice(): void {
    this.timer = undefined;
    const until = Date.now() + this.sliceMs;
    while (this.next < this.queue.length) {
      const item = this.queue[this.next++] as T;
      try {
        this.work(item);
      } catch {
        // One item's failure does not stop the pass.
      }
      if (Date.now() >= until) break;
    }
    if (this.next < this.queue.length) this.kick();
    else {
      this.queue = [];
      this.next = 0;
    }
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
  }
}

/** Registers every language feature; dispose the result to remove them all. */
/**
 * How long the completion provider itself took (ms, from its call to its answer, waits for live values
 * included), the last COMPLETION_TIMES calls: the extension host's share of a completion, apart from the
 * window's round trip. For the host tests' scale measurements (QmpTestApi.completionTimes).
 */
const COMPLETION_TIMES = 1000;
const completionTimes: number[] = [];

/** How many calls there were in all (the times kept are the last COMPLETION_TIMES of them). */
let completionCalls = 0;

function noteCompletionTime(ms: number): void {
  if (completionTimes.length >= COMPLETION_TIMES) completionTimes.shift();
  completionTimes.push(ms);
  completionCalls++;
}

/** How many completion calls were timed since activation. */
export function completionCallCount(): number {
  return completionCalls;
}

/** The completion provider's own times so far (the last 1,000), oldest first. */
export function recentCompletionTimes(): readonly number[] {
  return [...completionTimes];
}

/**
 * `interacted`: told at once when the user asks something of the editor (completion, hover, signature help): the
 * earliest sign the extension host sees that someone waits for the window (a Run All gives way to it).
 */
export function registerLanguageFeatures(context: vscode.ExtensionContext, schemaSource: SchemaSource, namedReply?: NamedReplyLookup,
  interacted: (what: string) => void = () => undefined): vscode.Disposable {
  const disposables: vscode.Disposable[] = [];
  // Documentation: the reference page of each endpoint kind, read once, asynchronously (honouring qmp.manPage for
  // QEMU's own page, in a trusted workspace only), started a little after activation so that neither activation
  // nor the first hover waits for it.
  const providers = new Map<string, DocsProvider>();
  const providerFor = (page: string): DocsProvider => {
    let p = providers.get(page);
    if (p === undefined) {
      const configured = page === 'qemu-qmp-ref' && vscode.workspace.isTrusted
        ? vscode.workspace.getConfiguration('qmp').get<string>('manPage')?.trim() : undefined;
      p = manPageDocs({ file: configured !== undefined && configured !== '' ? configured : undefined, page: page as QmpManPageName });
      providers.set(page, p);
    }
    return p;
  };
  const docs = (uri?: vscode.Uri): QmpDocs | undefined => providerFor(schemaSource.manPage?.(uri) ?? 'qemu-qmp-ref').current();
  const manPageTimer = setTimeout(() => { docs(); }, MAN_PAGE_DELAY_MS);
  disposables.push(
    { dispose: () => clearTimeout(manPageTimer) },
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('qmp.manPage')) providers.clear();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => { providers.clear(); }),
  );
  const collection = vscode.languages.createDiagnosticCollection('qmp');
  disposables.push(collection);

  disposables.push(vscode.languages.registerCompletionItemProvider(SELECTOR, {
    async provideCompletionItems(doc, position) {
      interacted('completion');
      const t0 = performance.now();
      const found = serviceFor(schemaSource, doc, docs(doc.uri), namedReply);
      if (found === undefined) return [];
      const text = parsedOf(doc);
      const offset = doc.offsetAt(position);
      await fetchLive(found.ctx.live as LiveValues | undefined, doc.languageId, text, offset);
      const result = found.svc.complete(text, offset, found.ctx);
      const items = result.items.map((i) => toVscodeItem(doc, position, i));
      noteCompletionTime(performance.now() - t0);
      return items;
    },
    resolveCompletionItem(item) {
      const doc = documentationOf.get(item);
      if (doc !== undefined) item.documentation = new vscode.MarkdownString(doc);
      return item;
    },
  }, ...TRIGGERS));

  disposables.push(vscode.languages.registerHoverProvider(SELECTOR, {
    provideHover(doc, position) {
      interacted('hover');
      const found = serviceFor(schemaSource, doc, docs(doc.uri), namedReply);
      const h = found?.svc.hover(parsedOf(doc), doc.offsetAt(position), found.ctx);
      if (h === undefined) return undefined;
      const md = new vscode.MarkdownString(h.contents);
      return new vscode.Hover(md, range(doc, h.range.start, h.range.end));
    },
  }));

  // Diagnostics: recomputed shortly after each change, and for the open documents whose context (schema,
  // connection, policy, live values) changed when the source says something changed. That pass runs in slices
  // of at most SLICE_MS, visible documents first, yielding to the event loop between slices, so a notebook of
  // thousands of cells neither blocks typing nor completion; a document whose version and context are those it
  // was last diagnosed with is skipped, so a change costs what it touches.
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const diagnosedWith = new WeakMap<vscode.TextDocument, string>();
  const refresh = (doc: vscode.TextDocument, key?: string): void => {
    // Diagnostics need no documentation: the man page is not loaded for them.
    const found = serviceFor(schemaSource, doc, undefined, namedReply);
    if (found === undefined) return;
    const k = key ?? contextKey(doc, found.ctx);
    if (diagnosedWith.get(doc) === k) return;
    diagnosedWith.set(doc, k);
    const text = parsedOf(doc);
    if (found.ctx.live !== undefined) found.ctx.created = createdAbove(schemaSource, doc);
    collection.set(doc.uri, found.svc.diagnose(text, found.ctx).map((d) => toVscodeDiagnostic(doc, d)));
    // Live values not fetched yet: fetch them (bounded, in the background) and check again once.
    void fetchLive(found.ctx.live as LiveValues | undefined, doc.languageId, text).then((fetched) => {
      if (fetched && !doc.isClosed && doc.getText() === text.text) {
        collection.set(doc.uri, found.svc.diagnose(text, found.ctx).map((d) => toVscodeDiagnostic(doc, d)));
      }
    });
  };
  const schedule = (doc: vscode.TextDocument): void => {
    if (doc.languageId !== 'qmp' && doc.languageId !== 'qmp-shell') return;
    const key = doc.uri.toString();
    const pending = timers.get(key);
    if (pending !== undefined) clearTimeout(pending);
    timers.set(key, setTimeout(() => {
      timers.delete(key);
      if (!doc.isClosed) refresh(doc);
    }, DEBOUNCE_MS));
  };
  const pass = new SlicedPass<vscode.TextDocument>((doc) => { if (!doc.isClosed) refresh(doc); });
  // The other cells of a notebook are checked again when its named cells (names, order) change: a use below a
  // new name is no longer unknown. Their context key holds the names, so the cells it does not touch are skipped.
  const namesSeen = new WeakMap<vscode.NotebookDocument, string>();
  const namesMayHaveChanged = (nb: vscode.NotebookDocument): void => {
    const sig = namedCellsOf(nb).map((n) => `${n.cell.index}:${n.name}`).join(',');
    if (namesSeen.get(nb) === sig) return;
    const first = !namesSeen.has(nb);
    namesSeen.set(nb, sig);
    if (!first || sig !== '') pass.restart(nb.getCells().map((c) => c.document).filter((d) => d.languageId === 'qmp' || d.languageId === 'qmp-shell'));
  };
  const isOurs = (doc: vscode.TextDocument): boolean => doc.languageId === 'qmp' || doc.languageId === 'qmp-shell';
  const refreshAll = (): void => {
    const visible = new Set(vscode.window.visibleTextEditors.map((e) => e.document));
    const docs = vscode.workspace.textDocuments.filter(isOurs);
    pass.restart([...docs.filter((d) => visible.has(d)), ...docs.filter((d) => !visible.has(d))]);
  };
  disposables.push(
    vscode.workspace.onDidOpenTextDocument((doc) => { if (isOurs(doc)) pass.add(doc); }),
    vscode.workspace.onDidChangeTextDocument((e) => {
      const cell = cellOf(schemaSource, e.document);
      forgetCreators(cell?.notebook);
      schedule(e.document);
      if (cell !== undefined && cellNameChanged(cell)) namesMayHaveChanged(cell.notebook);
    }),
    vscode.workspace.onDidChangeNotebookDocument((e) => {
      if (e.contentChanges.length === 0) return;
      forgetCreators(e.notebook);
      namedCache.delete(e.notebook);
      namesMayHaveChanged(e.notebook);
    }),
    vscode.workspace.onDidCloseTextDocument((doc) => {
      collection.delete(doc.uri);
      parses.forget(doc.uri.toString());
      const pending = timers.get(doc.uri.toString());
      if (pending !== undefined) clearTimeout(pending);
      timers.delete(doc.uri.toString());
    }),
    schemaSource.onDidChange(refreshAll),
    pass,
    { dispose: () => { for (const t of timers.values()) clearTimeout(t); timers.clear(); } },
  );
  refreshAll();

  disposables.push(vscode.languages.registerCodeActionsProvider(SELECTOR, {
    provideCodeActions(doc, r, ctx) {
      const found = serviceFor(schemaSource, doc, undefined, namedReply);
      if (found === undefined) return [];
      // The service's own diagnostics (they carry the data the editor's do not), computed once per version.
      return found.svc.codeActions(parsedOf(doc), doc.offsetAt(r.start), doc.offsetAt(r.end), found.ctx).map((a) => {
        const kind = a.kind === 'quickfix' ? vscode.CodeActionKind.QuickFix : vscode.CodeActionKind.RefactorRewrite;
        const action = new vscode.CodeAction(a.title, kind);
        action.edit = toWorkspaceEdit(doc, a.edits);
        if (a.isPreferred === true) action.isPreferred = true;
        if (a.diagnostic !== undefined) {
          const d = a.diagnostic;
          const match = ctx.diagnostics.filter((v) => v.code === d.code && doc.offsetAt(v.range.start) === d.start);
          if (match.length > 0) action.diagnostics = match;
        }
        return action;
      });
    },
  }, { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix, vscode.CodeActionKind.RefactorRewrite] }));

  const lensChanged = new vscode.EventEmitter<void>();
  disposables.push(lensChanged, schemaSource.onDidChange(() => lensChanged.fire()));
  disposables.push(vscode.languages.registerCodeLensProvider(SELECTOR, {
    onDidChangeCodeLenses: lensChanged.event,
    provideCodeLenses(doc) {
      const found = serviceFor(schemaSource, doc, undefined, namedReply);
      const hints = found?.svc.hints(parsedOf(doc), found.ctx) ?? [];
      return hints.map((h) => {
        const r = range(doc, h.start, h.end);
        if (h.kind === 'can-run-oob') {
          return new vscode.CodeLens(r, { title: '$(zap) can run out-of-band: switch to exec-oob', command: SWITCH_COMMAND, arguments: [doc.uri, h.objectStart] });
        }
        return new vscode.CodeLens(r, { title: h.kind === 'deprecated' ? `$(warning) ${h.message}` : `$(beaker) ${h.message}`, command: '' });
      });
    },
  }));

  disposables.push(vscode.commands.registerCommand(SWITCH_COMMAND, async (uri: vscode.Uri, objectStart: number) => {
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (doc === undefined) return;
    const edits = switchToExecOob(parsedOf(doc), objectStart);
    if (edits !== undefined) await vscode.workspace.applyEdit(toWorkspaceEdit(doc, edits));
  }));

  const all = vscode.Disposable.from(...disposables);
  context.subscriptions.push(all);
  return all;
}
