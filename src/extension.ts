// The extension's entry point: it only composes the parts. Things that live as long as the extension are
// pushed to context.subscriptions; sessions (connections, sandbox QEMUs) are owned by the SessionManager and
// shut down in deactivate(), which VS Code awaits, so no sandbox QEMU outlives the window.
import * as vscode from 'vscode';
import { registerLanguageFeatures } from './language/vscodeAdapter';
import { GuestAgentClient, LibvirtClient, startSandbox, startStorageDaemon } from './endpoints';
import { QmpClient, Schema, type SchemaInfo } from './qmp';
import { QmpControllers, notebookType } from './notebook/controller';
import { QmpNotebookSerializer, toNotebookData } from './notebook/serializer';
import { registerCommands } from './session/commands';
import type { QmpPorts } from './session/ports';
import { SessionSchemaSource } from './session/schemaSource';
import { SessionManager } from './session/sessionManager';
import { confirmLibvirtTaint, registerConnectLibvirt } from './session/endpointPrompts';
import { SessionStatusBar } from './session/statusBar';

/**
 * What activate() returns. Internal: for the extension-host tests only, not a public API; it may change in
 * any release.
 */
export interface QmpTestApi {
  sessions: SessionManager;
  controllers: QmpControllers;
  statusBar: SessionStatusBar;
  schemaSource: SessionSchemaSource;
  log: vscode.LogOutputChannel;
}

let sessionsToClose: SessionManager | undefined;

const ports: QmpPorts = {
  createClient: (options, kind) => kind?.kind === 'guest-agent' ? new GuestAgentClient(options)
    : kind?.kind === 'libvirt' ? new LibvirtClient({ domain: kind.domain, ...(kind.uri !== undefined ? { uri: kind.uri } : {}) }, options)
    : new QmpClient(options),
  schemaFromIntrospection: (infos, version) => Schema.fromIntrospection(infos as SchemaInfo[], version),
  startSandbox: (options) => startSandbox(options),
  startStorageDaemon: (options) => startStorageDaemon(options),
};

/** The notebook qmp.newNotebook opens: a note and a first command for the sandbox. */
async function openNewNotebook(): Promise<void> {
  const data = toNotebookData({
    profile: 'sandbox',
    cells: [
      {
        kind: 'markdown', language: 'markdown',
        source: '# QMP notebook\n\nRun the cell below with the **sandbox** kernel: the extension starts a private QEMU '
          + 'that runs no guest, connects to it, and shows QEMU\'s reply under the cell.',
      },
      { kind: 'code', language: 'qmp', source: '{ "execute": "query-status" }' },
      { kind: 'code', language: 'qmp-shell', source: 'query-version' },
    ],
  });
  const doc = await vscode.workspace.openNotebookDocument(notebookType, data);
  await vscode.window.showNotebookDocument(doc);
}

function compose(context: vscode.ExtensionContext): QmpTestApi {
  const log = vscode.window.createOutputChannel('QMP', { log: true });
  const events = vscode.window.createOutputChannel('QMP Events', 'log');
  context.subscriptions.push(log, events);

  const sessions = new SessionManager(ports, context.globalStorageUri, log, events);
  sessions.confirmLibvirt = (profile) => confirmLibvirtTaint(context.globalState, profile);
  sessionsToClose = sessions;
  const statusBar = new SessionStatusBar(sessions);
  const controllers = new QmpControllers(sessions, log);
  const schemaSource = new SessionSchemaSource(sessions, (nb) => controllers.profileOf(nb), controllers.onDidChangeNotebookProfile);
  context.subscriptions.push(
    statusBar, controllers, schemaSource,
    vscode.workspace.registerNotebookSerializer(notebookType, new QmpNotebookSerializer(), { transientOutputs: false }),
    registerCommands({ sessions, log, events, newNotebook: openNewNotebook }),
    registerConnectLibvirt(sessions, log),
  );
  context.subscriptions.push(registerLanguageFeatures(context, schemaSource));
  context.subscriptions.push(sessions);
  return { sessions, controllers, statusBar, schemaSource, log };
}

export function activate(context: vscode.ExtensionContext): QmpTestApi {
  try {
    return compose(context);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    void vscode.window.showErrorMessage(`QMP Notebook failed to start: ${message}`);
    throw err;
  }
}

export async function deactivate(): Promise<void> {
  const sessions = sessionsToClose;
  sessionsToClose = undefined;
  await sessions?.disposeAsync();
}
