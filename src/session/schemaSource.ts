// The schema the language features should use for a document: the schema of the profile its notebook runs
// on, live when connected and cached otherwise. This is the `schemaSource` that
// src/language/vscodeAdapter.ts's registerLanguageFeatures() takes.
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
}

/**
 * Parses a profile's `compat` text into the language layer's policy. extension.ts passes the language layer's
 * parser in, so this layer does not depend on the language layer.
 */
export type CompatParser<C extends object> = (text: string) => C | undefined;

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

export class SessionSchemaSource<C extends object = object> implements SchemaSource<C>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.emitter.event;
  private readonly subscriptions: vscode.Disposable[];

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
  ) {
    this.subscriptions = [
      this.emitter,
      sessions.onDidChangeSchema(() => this.emitter.fire()),
      // OOB negotiation changes with the connection state.
      sessions.onDidChangeState(() => this.emitter.fire()),
      profileChanged(() => this.emitter.fire()),
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
