// The schema the language features should use for a document: the schema of the profile its notebook runs
// on, live when connected and cached otherwise. This is the `schemaSource` that
// src/language/vscodeAdapter.ts's registerLanguageFeatures() takes.
import * as vscode from 'vscode';
import { ENDPOINTS } from '../endpoints/kinds';
import { loadQmpManPage, type QmpDocs, type QmpManPageName } from '../language/manpage';
import type { QemuVersion, SchemaLike } from './ports';
import type { Session, SessionManager } from './sessionManager';

export interface SchemaSnapshot {
  schema: SchemaLike;
  cached: boolean;
  version: QemuVersion | undefined;
}

export interface SchemaSource {
  /** The schema for a notebook or cell document (or the most relevant one when no URI is given). */
  current(notebookUri?: vscode.Uri): SchemaSnapshot | undefined;
  /** Fires when any schema changes, or a notebook moves to another profile. */
  readonly onDidChange: vscode.Event<void>;
  /** Whether OOB was negotiated on the connection the document would run on; undefined when not connected. */
  oobNegotiated(notebookUri?: vscode.Uri): boolean | undefined;
  /**
   * The reference of the endpoint a document runs on, when installed: qemu-qmp-ref(7) (or `qmp.manPage`),
   * qemu-storage-daemon-qmp-ref(7) or qemu-ga-ref(7).
   */
  docs(notebookUri?: vscode.Uri): QmpDocs | undefined;
}

/** Finds the notebook a URI names: the notebook itself or one of its cells. */
export function notebookOf(uri: vscode.Uri): vscode.NotebookDocument | undefined {
  const key = uri.toString();
  for (const nb of vscode.workspace.notebookDocuments) {
    if (nb.uri.toString() === key) return nb;
  }
  if (uri.scheme === 'vscode-notebook-cell') {
    for (const nb of vscode.workspace.notebookDocuments) {
      if (nb.getCells().some((c) => c.document.uri.toString() === key)) return nb;
    }
  }
  return undefined;
}

export class SessionSchemaSource implements SchemaSource, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.emitter.event;
  private readonly subscriptions: vscode.Disposable[];
  /** The loaded man pages: absent until first asked, null when there is none. */
  private readonly manPages = new Map<QmpManPageName, QmpDocs | null>();

  /**
   * @param profileOf the profile a notebook runs on (its selected controller, else its metadata), or
   *   undefined when it has none yet.
   * @param profileChanged fires when a notebook's profile changes.
   */
  constructor(
    private readonly sessions: SessionManager,
    private readonly profileOf: (notebook: vscode.NotebookDocument) => string | undefined,
    profileChanged: vscode.Event<unknown>,
  ) {
    this.subscriptions = [
      this.emitter,
      sessions.onDidChangeSchema(() => this.emitter.fire()),
      // OOB negotiation changes with the connection state.
      sessions.onDidChangeState(() => this.emitter.fire()),
      profileChanged(() => this.emitter.fire()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('qmp.manPage')) this.manPages.clear();
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => { this.manPages.clear(); }),
    ];
  }

  private sessionFor(uri: vscode.Uri | undefined): Session | undefined {
    const nb = uri ? notebookOf(uri) : undefined;
    const name = nb ? this.profileOf(nb) : undefined;
    if (name) {
      const s = this.sessions.session(name);
      if (s) return s;
    }
    // Without a profile: a connected session first, then any session with a schema, then the sandbox.
    const all = this.sessions.allSessions();
    const sandbox = this.sessions.session(this.sessions.sandboxProfileName() ?? '');
    return all.find((s) => s.state === 'connected' && s.schema)
      ?? (sandbox?.schema ? sandbox : undefined)
      ?? all.find((s) => s.schema);
  }

  current(notebookUri?: vscode.Uri): SchemaSnapshot | undefined {
    const s = this.sessionFor(notebookUri);
    if (!s?.schema) return undefined;
    return { schema: s.schema.schema, cached: s.schema.cached, version: s.schema.version };
  }

  oobNegotiated(notebookUri?: vscode.Uri): boolean | undefined {
    return this.sessionFor(notebookUri)?.oobEnabled;
  }

  docs(notebookUri?: vscode.Uri): QmpDocs | undefined {
    const page = ENDPOINTS[this.sessionFor(notebookUri)?.endpoint ?? 'qemu'].manPage;
    let docs = this.manPages.get(page);
    if (docs === undefined) {
      // The path names a file to read, so it counts only in a trusted workspace; otherwise the installed page.
      // qmp.manPage replaces QEMU's own reference only.
      const configured = page === 'qemu-qmp-ref' && vscode.workspace.isTrusted
        ? vscode.workspace.getConfiguration('qmp').get<string>('manPage')?.trim() : undefined;
      docs = loadQmpManPage(configured || undefined, page) ?? null;
      this.manPages.set(page, docs);
    }
    return docs ?? undefined;
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
  }
}
