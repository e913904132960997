// The schema the language features should use for a document: the schema of the profile its notebook runs
// on, live when connected and cached otherwise. This is the `schemaSource` that
// src/language/vscodeAdapter.ts's registerLanguageFeatures() takes.
import * as fs from 'fs';
import * as vscode from 'vscode';
import { ENDPOINTS } from '../endpoints/kinds';
import type { QemuVersion } from './ports';
import type { Schema } from '../qmp';
import type { LiveValues } from '../qmp/liveValues';
import type { Session, SessionManager } from './sessionManager';

export interface SchemaSnapshot {
  schema: Schema;
  cached: boolean;
  version: QemuVersion | undefined;
  /** Set when the schema is the one shipped in the package (no session has one yet): what to call it. */
  bundled?: string;
}

export interface SchemaSource<C extends object = object> {
  /** The schema for a notebook or cell document (or the most relevant one when no URI is given). */
  current(notebookUri?: vscode.Uri): SchemaSnapshot | undefined;
  /** Fires when any schema changes, or a notebook moves to another profile. */
  readonly onDidChange: vscode.Event<void>;
  /** Whether OOB was negotiated on the connection the document would run on; undefined when not connected. */
  oobNegotiated(notebookUri?: vscode.Uri): boolean | undefined;
  /** The device types of the connected QEMU the document runs on (for device_add's `driver`). */
  deviceTypes(notebookUri?: vscode.Uri): readonly string[] | undefined;
  /** The `-compat` input policy of the profile the document runs on, parsed; undefined when it declares none. */
  compat(notebookUri?: vscode.Uri): C | undefined;
  /** The live values of the connected session the document runs on; undefined when not connected. */
  live(notebookUri?: vscode.Uri): LiveValues | undefined;
  /**
   * The man page that documents the endpoint a document runs on: qemu-qmp-ref(7), qemu-storage-daemon-qmp-ref(7)
   * or qemu-ga-ref(7). The language adapter reads it.
   */
  manPage(notebookUri?: vscode.Uri): string;
  /** The notebook cell whose text document has this URI (one lookup). */
  cell(uri: vscode.Uri): vscode.NotebookCell | undefined;
}

/**
 * Parses a profile's `compat` text into the language layer's policy. extension.ts passes the language layer's
 * parser in, so this layer does not depend on the language layer.
 */
export type CompatParser<C extends object> = (text: string) => C | undefined;

/**
 * The open notebooks and their cells by URI, kept up to date as notebooks open, close and gain or lose cells:
 * finding the notebook or the cell a URI names is one map lookup, not a walk over every cell of every notebook
 * (which made each refresh of the language features cost cells² at a Run All of thousands of cells).
 */
export class NotebookIndex implements vscode.Disposable {
  private readonly notebooks = new Map<string, vscode.NotebookDocument>();
  private readonly cells = new Map<string, vscode.NotebookCell>();
  private readonly subscriptions: vscode.Disposable[];

  constructor() {
    this.subscriptions = [
      vscode.workspace.onDidOpenNotebookDocument((nb) => this.add(nb)),
      vscode.workspace.onDidCloseNotebookDocument((nb) => this.remove(nb)),
      vscode.workspace.onDidChangeNotebookDocument((e) => {
        for (const change of e.contentChanges) {
          for (const c of change.removedCells) this.cells.delete(c.document.uri.toString());
          for (const c of change.addedCells) this.cells.set(c.document.uri.toString(), c);
        }
      }),
    ];
    for (const nb of vscode.workspace.notebookDocuments) this.add(nb);
  }

  private add(nb: vscode.NotebookDocument): void {
    this.notebooks.set(nb.uri.toString(), nb);
    for (const c of nb.getCells()) this.cells.set(c.document.uri.toString(), c);
  }

  private remove(nb: vscode.NotebookDocument): void {
    if (this.notebooks.get(nb.uri.toString()) === nb) this.notebooks.delete(nb.uri.toString());
    for (const c of nb.getCells()) {
      const key = c.document.uri.toString();
      if (this.cells.get(key)?.notebook === nb) this.cells.delete(key);
    }
  }

  /**
   * Indexes the notebooks VS Code has open that the index has not seen yet: a cell's text document can be
   * announced before its notebook's open event. Linear in the number of notebooks, not of cells.
   */
  private catchUp(): boolean {
    let added = false;
    for (const nb of vscode.workspace.notebookDocuments) {
      if (this.notebooks.get(nb.uri.toString()) !== nb) {
        this.add(nb);
        added = true;
      }
    }
    return added;
  }

  /** The cell whose text document has this URI. */
  cell(uri: vscode.Uri): vscode.NotebookCell | undefined {
    if (uri.scheme !== 'vscode-notebook-cell') return undefined;
    const key = uri.toString();
    const found = this.cells.get(key);
    if (found !== undefined && !found.notebook.isClosed) return found;
    return this.catchUp() ? this.cells.get(key) : undefined;
  }

  /** The notebook a URI names: the notebook itself or one of its cells. */
  notebook(uri: vscode.Uri): vscode.NotebookDocument | undefined {
    const cell = this.cell(uri);
    if (cell !== undefined) return cell.notebook;
    const key = uri.toString();
    return this.notebooks.get(key) ?? (this.catchUp() ? this.notebooks.get(key) : undefined);
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
    this.notebooks.clear();
    this.cells.clear();
  }
}

/** The schema shipped in the package (schemas/), for completion, hover and diagnostics before any connection. */
export interface BundledSchema {
  schema: Schema;
  version: QemuVersion;
  /** What hover and the status say about it, e.g. "bundled QEMU 10.0 (not connected)". */
  label: string;
}

/**
 * Reads the bundled schema file (`{ version, schema }`: query-version's `qemu` part and query-qmp-schema's
 * return) once, when first needed; undefined (and `onError` told once) when it cannot be read.
 */
export function bundledSchemaLoader(file: string, build: (infos: unknown[], version: QemuVersion) => Schema,
  onError?: (message: string) => void): () => BundledSchema | undefined {
  let loaded: BundledSchema | null | undefined;
  return () => {
    if (loaded !== undefined) return loaded ?? undefined;
    try {
      const data = JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: QemuVersion; schema?: unknown };
      const v = data.version;
      if (v === undefined || typeof v.major !== 'number' || typeof v.minor !== 'number' || !Array.isArray(data.schema)) {
        throw new Error('not a { version, schema } object');
      }
      loaded = { schema: build(data.schema as unknown[], v), version: v, label: `bundled QEMU ${v.major}.${v.minor} (not connected)` };
    } catch (err) {
      loaded = null;
      onError?.(`the bundled schema ${file} could not be read: ${err instanceof Error ? err.message : String(err)}`);
    }
    return loaded ?? undefined;
  };
}

export class SessionSchemaSource<C extends object = object> implements SchemaSource<C>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.emitter.event;
  private readonly subscriptions: vscode.Disposable[];
  private readonly index = new NotebookIndex();

  /**
   * @param profileOf the profile a notebook runs on (its selected controller, else its metadata), or
   *   undefined when it has none yet.
   * @param profileChanged fires when a notebook's profile changes.
   */
  constructor(
    private readonly sessions: SessionManager,
    private readonly profileOf: (notebook: vscode.NotebookDocument) => string | undefined,
    profileChanged: vscode.Event<unknown>,
    private readonly parseCompat?: CompatParser<C>,
    private readonly bundled?: () => BundledSchema | undefined,
  ) {
    this.subscriptions = [
      this.emitter, this.index,
      sessions.onDidChangeSchema(() => this.emitter.fire()),
      // OOB negotiation changes with the connection state.
      sessions.onDidChangeState(() => this.emitter.fire()),
      profileChanged(() => this.emitter.fire()),
    ];
  }

  private sessionFor(uri: vscode.Uri | undefined): Session | undefined {
    const nb = uri ? this.index.notebook(uri) : undefined;
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
    if (s?.schema) return { schema: s.schema.schema, cached: s.schema.cached, version: s.schema.version };
    // No schema yet (a fresh profile, never connected): QEMU's bundled one, for a QEMU endpoint only.
    if ((s?.endpoint ?? 'qemu') !== 'qemu') return undefined;
    const b = this.bundled?.();
    return b ? { schema: b.schema, cached: true, version: b.version, bundled: b.label } : undefined;
  }

  cell(uri: vscode.Uri): vscode.NotebookCell | undefined {
    return this.index.cell(uri);
  }

  oobNegotiated(notebookUri?: vscode.Uri): boolean | undefined {
    return this.sessionFor(notebookUri)?.oobEnabled;
  }

  compat(notebookUri?: vscode.Uri): C | undefined {
    const text = this.sessionFor(notebookUri)?.profile.compat;
    return text !== undefined ? this.parseCompat?.(text) : undefined;
  }

  live(notebookUri?: vscode.Uri): LiveValues | undefined {
    const s = this.sessionFor(notebookUri);
    return s?.state === 'connected' ? s.live : undefined;
  }

  deviceTypes(notebookUri?: vscode.Uri): readonly string[] | undefined {
    const s = this.sessionFor(notebookUri);
    return s?.state === 'connected' ? s.deviceTypes : undefined;
  }

  manPage(notebookUri?: vscode.Uri): string {
    return ENDPOINTS[this.sessionFor(notebookUri)?.endpoint ?? 'qemu'].manPage;
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
  }
}
