// The one file in src/language that knows about VS Code: it registers the pure language features
// (completion, hover, diagnostics, quick fixes, OOB code lenses) for `qmp` and `qmp-shell` documents,
// notebook cells included, and converts offsets to positions. No logic of its own beyond that.

import * as vscode from 'vscode';
import { Schema } from '../qmp/schema';
import { codeActions, switchToExecOob, type TextEdit } from './codeActions';
import { type CompletionItem, complete } from './completion';
import { type Diagnostic, diagnose } from './diagnostics';
import { hover } from './hover';
import type { QmpDocs } from './manpage';
import { oobHints } from './oobHints';
import { completeShell } from './shellCompletion';
import { parseShellCell } from '../notebook/format/shell';

/** A QEMU version as the session layer reports it. */
export interface SchemaVersionLike {
  major: number;
  minor: number;
  micro: number;
}

/** Where the language features get the schema of a document from (the session layer implements it). */
export interface SchemaSource {
  /** The schema for a document or notebook cell; undefined when no schema is known. */
  current(uri?: vscode.Uri): { schema: Schema | object; cached: boolean; version?: string | SchemaVersionLike } | undefined;
  /** Fires when any schema changes (connect, reload, profile switch). */
  onDidChange: vscode.Event<void>;
  /** Whether the connection negotiated OOB; undefined when not connected. */
  oobNegotiated(uri?: vscode.Uri): boolean | undefined;
  /** The QMP reference documentation (qemu-qmp-ref(7)), when installed; read on first call and kept. */
  docs(notebookUri?: vscode.Uri): QmpDocs | undefined;
}

const SELECTOR: vscode.DocumentSelector = [{ language: 'qmp' }, { language: 'qmp-shell' }];
const TRIGGERS = ['"', '{', ':', '=', '.', ' ', ','];
const DEBOUNCE_MS = 150;
const SWITCH_COMMAND = 'qmp.language.switchToExecOob';
/** The man page is read a little after activation (it takes a few hundred ms), not on the first hover. */
const MAN_PAGE_DELAY_MS = 2000;

function schemaOf(source: SchemaSource, uri: vscode.Uri): { schema: Schema; cached: boolean } | undefined {
  const snap = source.current(uri);
  return snap !== undefined && snap.schema instanceof Schema ? { schema: snap.schema, cached: snap.cached } : undefined;
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
  if (item.documentation !== undefined) out.documentation = new vscode.MarkdownString(item.documentation);
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

function toVscodeDiagnostic(doc: vscode.TextDocument, d: Diagnostic): vscode.Diagnostic {
  const out = new vscode.Diagnostic(range(doc, d.start, d.end), d.message, SEVERITY[d.severity]);
  out.code = d.code;
  out.source = 'qmp';
  if (d.code === 'deprecated') out.tags = [vscode.DiagnosticTag.Deprecated];
  return out;
}

function toWorkspaceEdit(doc: vscode.TextDocument, edits: readonly TextEdit[]): vscode.WorkspaceEdit {
  const we = new vscode.WorkspaceEdit();
  for (const e of edits) we.replace(doc.uri, range(doc, e.start, e.end), e.newText);
  return we;
}

/** Registers every language feature; dispose the result to remove them all. */
export function registerLanguageFeatures(context: vscode.ExtensionContext, schemaSource: SchemaSource): vscode.Disposable {
  const disposables: vscode.Disposable[] = [];
  // Documentation comes from the schema source, which reads qemu-qmp-ref(7) once (honouring qmp.manPage and
  // workspace trust); warm it in the background so the first hover or completion does not wait for it.
  const manPageTimer = setTimeout(() => { schemaSource.docs(); }, MAN_PAGE_DELAY_MS);
  disposables.push({ dispose: () => clearTimeout(manPageTimer) });
  // The reference of the endpoint the document runs on (QEMU's, the storage daemon's, the guest agent's).
  const docs = (uri?: vscode.Uri): QmpDocs | undefined => schemaSource.docs(uri);
  const collection = vscode.languages.createDiagnosticCollection('qmp');
  disposables.push(collection);

  disposables.push(vscode.languages.registerCompletionItemProvider(SELECTOR, {
    provideCompletionItems(doc, position) {
      const s = schemaOf(schemaSource, doc.uri);
      const text = doc.getText();
      const offset = doc.offsetAt(position);
      const result = doc.languageId === 'qmp-shell'
        ? completeShell(text, offset, s?.schema)
        : complete(text, offset, s?.schema, { oobNegotiated: schemaSource.oobNegotiated(doc.uri), docs: docs(doc.uri) });
      return result.items.map((i) => toVscodeItem(doc, position, i));
    },
  }, ...TRIGGERS));

  disposables.push(vscode.languages.registerHoverProvider(SELECTOR, {
    provideHover(doc, position) {
      const s = schemaOf(schemaSource, doc.uri);
      const language = doc.languageId === 'qmp-shell' ? 'qmp-shell' : 'qmp';
      const h = hover(doc.getText(), doc.offsetAt(position), s?.schema, docs(doc.uri), { cached: s?.cached === true, language });
      if (h === undefined) return undefined;
      const md = new vscode.MarkdownString(h.contents);
      return new vscode.Hover(md, range(doc, h.range.start, h.range.end));
    },
  }));

  // Diagnostics: recomputed shortly after each change, and for every open document when the schema changes.
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const refresh = (doc: vscode.TextDocument): void => {
    if (doc.languageId === 'qmp-shell') {
      // The shorthand's own parser reports what the runner would refuse (syntax, values of the wrong kind).
      const parsed = parseShellCell(doc.getText(), schemaOf(schemaSource, doc.uri)?.schema);
      collection.set(doc.uri, parsed.errors.map((e) => {
        const d = new vscode.Diagnostic(range(doc, e.start, e.end), e.message, vscode.DiagnosticSeverity.Error);
        d.source = 'qmp-shell';
        return d;
      }));
      return;
    }
    if (doc.languageId !== 'qmp') return;
    const s = schemaOf(schemaSource, doc.uri);
    const found = diagnose(doc.getText(), s?.schema, { oobNegotiated: schemaSource.oobNegotiated(doc.uri) });
    collection.set(doc.uri, found.map((d) => toVscodeDiagnostic(doc, d)));
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
  const refreshAll = (): void => {
    for (const doc of vscode.workspace.textDocuments) refresh(doc);
  };
  disposables.push(
    vscode.workspace.onDidOpenTextDocument(refresh),
    vscode.workspace.onDidChangeTextDocument((e) => schedule(e.document)),
    vscode.workspace.onDidCloseTextDocument((doc) => {
      collection.delete(doc.uri);
      const pending = timers.get(doc.uri.toString());
      if (pending !== undefined) clearTimeout(pending);
      timers.delete(doc.uri.toString());
    }),
    schemaSource.onDidChange(refreshAll),
    { dispose: () => { for (const t of timers.values()) clearTimeout(t); timers.clear(); } },
  );
  refreshAll();

  disposables.push(vscode.languages.registerCodeActionsProvider({ language: 'qmp' }, {
    provideCodeActions(doc, r, ctx) {
      const s = schemaOf(schemaSource, doc.uri);
      const text = doc.getText();
      // Diagnosed afresh so that the fixes see the data the editor's diagnostics do not carry.
      const found = diagnose(text, s?.schema, { oobNegotiated: schemaSource.oobNegotiated(doc.uri) });
      return codeActions(text, doc.offsetAt(r.start), doc.offsetAt(r.end), found, s?.schema).map((a) => {
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
  disposables.push(vscode.languages.registerCodeLensProvider({ language: 'qmp' }, {
    onDidChangeCodeLenses: lensChanged.event,
    provideCodeLenses(doc) {
      const s = schemaOf(schemaSource, doc.uri);
      const hints = oobHints(doc.getText(), s?.schema, { oobNegotiated: schemaSource.oobNegotiated(doc.uri) });
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
    const edits = switchToExecOob(doc.getText(), objectStart);
    if (edits !== undefined) await vscode.workspace.applyEdit(toWorkspaceEdit(doc, edits));
  }));

  const all = vscode.Disposable.from(...disposables);
  context.subscriptions.push(all);
  return all;
}
