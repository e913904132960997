// The extension's entry point: it only composes the parts. Things that live as long as the extension are
// pushed to context.subscriptions; sessions (connections, sandbox QEMUs) are owned by the SessionManager and
// shut down in deactivate(), which VS Code awaits, so no sandbox QEMU outlives the window.
// These two come first: they stamp when the bundle starts to evaluate and when the vscode API object is there,
// so activation can be split into VS Code's part and ours (see activate()).
import './loadStamp';
import './vscodeApiStamp';
import * as vscode from 'vscode';
import { parseCompatPolicy, type CompatPolicy } from './language/service';
import { completionCallCount, recentCompletionTimes, registerLanguageFeatures } from './language/vscodeAdapter';
import { Schema, type SchemaInfo } from './qmp';
import { QmpControllers, notebookType } from './notebook/controller';
import { QmpNotebookSerializer, registerFormatDiagnostics, toNotebookData } from './notebook/serializer';
import { NotebookTestRunner } from './notebook/runAsTest';
import { registerImportCommand } from './notebook/importCommand';
import { registerExportCommands } from './notebook/exportCommands';
import { registerRendererMessaging } from './notebook/rendererMessaging';
import { parseNotebook } from './format';
import { registerCommands } from './session/commands';
import type { QmpPorts } from './session/ports';
import { bundledSchemaLoader, SessionSchemaSource } from './session/schemaSource';
import { SessionManager } from './session/sessionManager';
import { confirmLibvirtTaint, endpointPrompter, registerConnectLibvirt, type EndpointPrompter } from './session/endpointPrompts';
import { SessionStatusBar } from './session/statusBar';
import { registerAgentTools } from './agent/tools';
import { registerExplorer, type QemuExplorer } from './explorer/view';

/**
 * What activate() returns. Internal: for the extension-host tests only, not a public API; it may change in
 * any release.
 */
export interface QmpTestApi {
  sessions: SessionManager;
  controllers: QmpControllers;
  statusBar: SessionStatusBar;
  schemaSource: SessionSchemaSource<CompatPolicy>;
  log: vscode.LogOutputChannel;
  /** How long activate() itself took (composing the parts), in ms; loading the bundle comes before it. */
  activationMs: number;
  /** How long evaluating the bundle took, from its first line to its last, in ms (NaN unknown). */
  loadMs: number;
  /**
   * From the end of the bundle's evaluation to the call of activate(), in ms (NaN unknown): the extension host's
   * own work in between (it makes the extension context, whose storage it awaits), not ours.
   */
  hostWaitMs: number;
  /** Of loadMs, how long the extension host took to give us the `vscode` API object (NaN unknown). */
  apiMs: number;
  /** Asks the libvirt taint and state-change questions (modals); host tests answer them here. */
  prompter: EndpointPrompter;
  /** The QEMU explorer's tree (side bar). */
  explorer: QemuExplorer;
  /** The completion provider's own times (ms), the last 1,000 calls: its share apart from the window's round trip. */
  completionTimes: () => readonly number[];
  /** How many completion calls were timed in all (the times kept are the last 1,000). */
  completionCount: () => number;
}

let sessionsToClose: SessionManager | undefined;

/** The schema shipped in the package for the language features before any connection (docs/extension.md). */
const BUNDLED_SCHEMA = 'schemas/qemu-10.0.json';

const ports: QmpPorts = {
  schemaFromIntrospection: (infos, version) => Schema.fromIntrospection(infos as SchemaInfo[], version),
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

/**
 * Opens the tour shipped in the package as a new untitled notebook named "QMP Tour.qmp" (its tab says what it
 * is, not "Untitled-2"), so that the installed copy stays as it is. A second tour while one is open is
 * "QMP Tour 2.qmp".
 */
async function openTour(extensionUri: vscode.Uri): Promise<void> {
  const bytes = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(extensionUri, 'samples', 'tour.qmp'));
  const data = toNotebookData(parseNotebook(new TextDecoder().decode(bytes)));
  const open = new Set(vscode.workspace.notebookDocuments.map((d) => d.uri.toString()));
  let uri = vscode.Uri.from({ scheme: 'untitled', path: 'QMP Tour.qmp' });
  for (let i = 2; open.has(uri.toString()); i++) uri = vscode.Uri.from({ scheme: 'untitled', path: `QMP Tour ${i}.qmp` });
  let doc: vscode.NotebookDocument | undefined;
  try {
    doc = await vscode.workspace.openNotebookDocument(uri);
    if (doc.notebookType !== notebookType) doc = undefined;
  } catch {
    doc = undefined;
  }
  if (doc) {
    const edit = new vscode.WorkspaceEdit();
    edit.set(doc.uri, [
      vscode.NotebookEdit.replaceCells(new vscode.NotebookRange(0, doc.cellCount), data.cells),
      vscode.NotebookEdit.updateNotebookMetadata(data.metadata ?? {}),
    ]);
    if (!(await vscode.workspace.applyEdit(edit))) doc = undefined;
  }
  // A VS Code that cannot name an untitled notebook: an anonymous one still opens the tour.
  doc ??= await vscode.workspace.openNotebookDocument(notebookType, data);
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
  const schemaSource = new SessionSchemaSource<CompatPolicy>(sessions, (nb) => controllers.profileOf(nb), controllers.onDidChangeNotebookProfile,
    (text) => { const parsed = parseCompatPolicy(text); return 'policy' in parsed ? parsed.policy : undefined; },
    bundledSchemaLoader(context.asAbsolutePath(BUNDLED_SCHEMA), (infos, version) => ports.schemaFromIntrospection(infos, version), (m) => log.warn(m)));
  context.subscriptions.push(
    statusBar, controllers, schemaSource,
    vscode.workspace.registerNotebookSerializer(notebookType, new QmpNotebookSerializer(), { transientOutputs: false }),
    registerFormatDiagnostics(),
    registerCommands({
      sessions, log, events, newNotebook: openNewNotebook, openTour: () => openTour(context.extensionUri),
      selectKernel: async (profile) => {
        const editor = vscode.window.activeNotebookEditor;
        const controller = controllers.controllerFor(profile);
        if (editor?.notebook.notebookType !== notebookType || !controller) return;
        await vscode.commands.executeCommand('notebook.selectKernel', { id: controller.id, extension: context.extension.id });
      },
    }),
    new NotebookTestRunner(controllers),
    registerExportCommands(),
    registerImportCommand(),
    registerRendererMessaging(),
    registerConnectLibvirt(sessions, log),
  );
  context.subscriptions.push(registerLanguageFeatures(context, schemaSource, (nb, name) => controllers.namedReply(nb, name), (what) => controllers.interacted(what)));
  context.subscriptions.push(registerAgentTools(context, sessions, log));
  const explorer = registerExplorer(sessions);
  context.subscriptions.push(explorer.disposable);
  context.subscriptions.push(sessions);
  return { sessions, controllers, statusBar, schemaSource, log, activationMs: 0, loadMs: Number.NaN, hostWaitMs: Number.NaN, apiMs: Number.NaN, prompter: endpointPrompter, explorer: explorer.explorer,
    completionTimes: recentCompletionTimes, completionCount: completionCallCount };
}

export function activate(context: vscode.ExtensionContext): QmpTestApi {
  try {
    const started = performance.now();
    const api = compose(context);
    api.activationMs = performance.now() - started;
    // Set by ./loadStamp and ./vscodeApiStamp, the first modules the bundle evaluates, and by this module's
    // last statement, the last the bundle evaluates.
    const stamps = globalThis as { __qmpNotebookLoadStart?: unknown; __qmpNotebookApiLoaded?: unknown; __qmpNotebookLoadEnd?: unknown };
    const loadStart = stamps.__qmpNotebookLoadStart;
    const apiLoaded = stamps.__qmpNotebookApiLoaded;
    const loadEnd = stamps.__qmpNotebookLoadEnd;
    const evaluated = typeof loadEnd === 'number' ? loadEnd : started;
    api.loadMs = typeof loadStart === 'number' ? evaluated - loadStart : Number.NaN;
    api.hostWaitMs = typeof loadEnd === 'number' ? started - loadEnd : Number.NaN;
    api.apiMs = typeof loadStart === 'number' && typeof apiLoaded === 'number' ? apiLoaded - loadStart : Number.NaN;
    api.log.info(`activated in ${api.activationMs.toFixed(1)} ms (the bundle loaded in ${api.loadMs.toFixed(1)} ms)`);
    return api;
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

// The bundle's last statement: evaluation ends here; activate() is called by the extension host later.
(globalThis as { __qmpNotebookLoadEnd?: number }).__qmpNotebookLoadEnd = performance.now();
