// The QMP commands of the command palette, status bar and walkthrough, and the context keys that hide the
// ones that do not apply.
import * as vscode from 'vscode';
import { addConnection, type NewConnection } from './addConnection';
import { describeProfile } from './profiles';
import { errorText, type Session, type SessionManager } from './sessionManager';
import { explainUntrusted, UntrustedWorkspaceError } from './trust';

export interface CommandDeps {
  sessions: SessionManager;
  log: vscode.LogOutputChannel;
  events: vscode.OutputChannel;
  /** Opens a new untitled notebook (the notebook glue owns the starter content). */
  newNotebook(): Promise<void>;
  /** Selects a profile's kernel for the active QMP notebook, if one is active. */
  selectKernel(profile: string): Promise<void>;
  /** Opens a copy of the tour notebook shipped with the extension. */
  openTour(): Promise<void>;
}

/** Shows why an action failed: trust problems with the trust button, everything else with the log. */
export async function reportFailure(what: string, err: unknown, log: vscode.LogOutputChannel): Promise<void> {
  if (err instanceof UntrustedWorkspaceError) {
    // Not awaited: the message waits for the user, and the refusing command must return at once.
    void explainUntrusted(err);
    return;
  }
  log.error(`${what}: ${errorText(err)}`);
  const choice = await vscode.window.showErrorMessage(`${what}: ${errorText(err)}`, 'Show Log');
  if (choice === 'Show Log') log.show(true);
}

/**
 * A failed connect (or Retry) said in a notification that closes itself when it no longer holds: the session
 * left the error state (a later attempt, a success, Dismiss). VS Code cannot close an error message, so this
 * is a finished progress notification the user can also close; the status bar item keeps the error.
 */
function showUntilSuperseded(sessions: SessionManager, name: string, message: string): void {
  void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `$(error) ${message}`, cancellable: true },
    (progress, token) => new Promise<void>((resolve) => {
      progress.report({ increment: 100, message: 'Retry or dismiss from the status bar item; details in the QMP log.' });
      const sub = sessions.onDidChangeState((s) => { if (s.name === name && s.state !== 'error') done(); });
      const cancel = token.onCancellationRequested(done);
      // Also when it was superseded before this ran.
      if (sessions.session(name)?.state !== 'error') done();
      function done(): void { sub.dispose(); cancel.dispose(); resolve(); }
    }));
}

async function pickProfile(sessions: SessionManager, placeHolder: string, filter: (s: Session) => boolean): Promise<string | undefined> {
  const candidates = sessions.profiles
    .map((p) => sessions.session(p.name))
    .filter((s): s is Session => s !== undefined && filter(s));
  if (candidates.length === 0) return undefined;
  if (candidates.length === 1) return candidates[0]?.name;
  const picked = await vscode.window.showQuickPick(candidates.map((s) => ({
    label: s.name,
    description: describeProfile(s.profile),
    detail: s.describeState(),
  })), { placeHolder });
  return picked?.label;
}

function nameArg(arg: unknown): string | undefined {
  return typeof arg === 'string' ? arg : undefined;
}

export function registerCommands(deps: CommandDeps): vscode.Disposable {
  const { sessions, log, events } = deps;

  const connect = async (name: string): Promise<boolean> => {
    try {
      await sessions.connect(name);
      return true;
    } catch (err) {
      if (err instanceof UntrustedWorkspaceError) {
        void reportFailure(`Could not connect to "${name}"`, err, log);
      } else {
        log.error(`Could not connect to "${name}": ${errorText(err)}`);
        showUntilSuperseded(sessions, name, `Could not connect to "${name}": ${errorText(err)}`);
      }
      return false;
    }
  };

  let sandboxRan = false;
  const updateContext = (): void => {
    const all = sessions.allSessions();
    void vscode.commands.executeCommand('setContext', 'qmp.connected', all.some((s) => s.state === 'connected'));
    void vscode.commands.executeCommand('setContext', 'qmp.connecting',
      all.some((s) => s.state === 'connecting' || s.state === 'reconnecting'));
    void vscode.commands.executeCommand('setContext', 'qmp.sandboxRunning', all.some((s) => s.sandbox !== undefined));
    void vscode.commands.executeCommand('setContext', 'qmp.failed', all.some((s) => s.state === 'error'));
    // The walkthrough's "Install QEMU" step is done once a sandbox QEMU ran here (the key stays set).
    if (!sandboxRan && all.some((s) => s.profile.kind === 'sandbox' && s.state === 'connected')) {
      sandboxRan = true;
      void vscode.commands.executeCommand('setContext', 'qmp.sandboxRan', true);
    }
  };
  updateContext();

  return vscode.Disposable.from(
    sessions.onDidChangeState(updateContext),
    vscode.commands.registerCommand('qmp.connect', async (arg?: unknown) => {
      if (!vscode.workspace.isTrusted) {
        void explainUntrusted(new UntrustedWorkspaceError('Connecting to QEMU'));
        return false;
      }
      const name = nameArg(arg) ?? await pickProfile(sessions, 'Connect to which QEMU?', (s) => s.state !== 'connected');
      if (!name) return false;
      return connect(name);
    }),
    // The way out of a wedged in-band queue (or any stuck connection): drop the connection and its waiting
    // commands, then connect again (a sandbox starts afresh).
    vscode.commands.registerCommand('qmp.reconnect', async (arg?: unknown) => {
      if (!vscode.workspace.isTrusted) {
        void explainUntrusted(new UntrustedWorkspaceError('Connecting to QEMU'));
        return false;
      }
      const name = nameArg(arg) ?? await pickProfile(sessions, 'Reconnect which QEMU?', (s) => s.state !== 'disconnected');
      if (!name) return false;
      await sessions.disconnect(name);
      return connect(name);
    }),
    vscode.commands.registerCommand('qmp.disconnect', async (arg?: unknown) => {
      const name = nameArg(arg) ?? await pickProfile(sessions, 'Disconnect which QEMU?', (s) => s.state !== 'disconnected');
      if (name) await sessions.disconnect(name);
    }),
    vscode.commands.registerCommand('qmp.startSandbox', async () => {
      const name = sessions.sandboxProfileName();
      if (!name) {
        void vscode.window.showErrorMessage('No sandbox profile: the "sandbox" profile was redefined in qmp.connections.');
        return false;
      }
      if (!vscode.workspace.isTrusted) {
        void explainUntrusted(new UntrustedWorkspaceError('Starting a sandbox QEMU'));
        return false;
      }
      return connect(name);
    }),
    vscode.commands.registerCommand('qmp.stopSandbox', async () => {
      await Promise.all(sessions.allSessions()
        .filter((s) => s.profile.kind === 'sandbox' && s.state !== 'disconnected')
        .map((s) => sessions.disconnect(s.name)));
    }),
    vscode.commands.registerCommand('qmp.reloadSchema', async (arg?: unknown) => {
      const name = nameArg(arg) ?? await pickProfile(sessions, 'Reload the schema of which QEMU?', (s) => s.state === 'connected');
      if (!name) return;
      try {
        await sessions.reloadSchema(name);
      } catch (err) {
        void reportFailure(`Could not reload the schema of "${name}"`, err, log);
      }
    }),
    vscode.commands.registerCommand('qmp.dismiss', async (arg?: unknown) => {
      // Dismissing a failed (or reconnecting) session forgets it: no retry, no status bar item.
      const name = nameArg(arg) ?? await pickProfile(sessions, 'Dismiss which failed connection?', (s) => s.state === 'error' || s.state === 'reconnecting');
      if (name) await sessions.disconnect(name);
    }),
    vscode.commands.registerCommand('qmp.sessionActions', async (arg?: unknown) => {
      const name = nameArg(arg);
      const s = name ? sessions.session(name) : undefined;
      if (!s) return;
      const stuck = s.state === 'connected' ? s.wedged ?? s.busy : undefined;
      const items: (vscode.QuickPickItem & { run: () => Thenable<unknown> })[] = stuck ? [
        {
          label: '$(debug-restart) Reconnect',
          description: s.wedged ? `drop the ${s.wedged.queued} unsent command(s) and connect again` : 'drop the connection (QEMU still finishes what it runs) and connect again',
          run: () => vscode.commands.executeCommand('qmp.reconnect', s.name),
        },
        { label: '$(watch) Keep waiting', description: 'QEMU may still answer', run: () => Promise.resolve() },
        { label: '$(output) Show Log', run: () => vscode.commands.executeCommand('qmp.showLog') },
      ] : [
        { label: '$(refresh) Retry', description: `connect to ${describeProfile(s.profile)} again`, run: () => vscode.commands.executeCommand('qmp.connect', s.name) },
        { label: '$(close) Dismiss', description: 'forget the failure and hide the item', run: () => vscode.commands.executeCommand('qmp.dismiss', s.name) },
        { label: '$(output) Show Log', run: () => vscode.commands.executeCommand('qmp.showLog') },
      ];
      const picked = await vscode.window.showQuickPick(items, { placeHolder: `${s.name}: ${s.describeState()}` });
      await picked?.run();
    }),
    vscode.commands.registerCommand('qmp.showLog', () => log.show(true)),
    vscode.commands.registerCommand('qmp.showEvents', () => events.show(true)),
    vscode.commands.registerCommand('qmp.newNotebook', () => deps.newNotebook()),
    vscode.commands.registerCommand('qmp.openTour', () => deps.openTour()),
    vscode.commands.registerCommand('qmp.addConnection', async (arg?: unknown) => {
      // Writing qmp.connections is allowed anywhere, but in an untrusted workspace the profile would not connect.
      if (!vscode.workspace.isTrusted) {
        void explainUntrusted(new UntrustedWorkspaceError('Adding a connection'));
        return undefined;
      }
      const given = typeof arg === 'object' && arg !== null ? arg as Partial<NewConnection> : {};
      return addConnection(sessions, given, deps.selectKernel);
    }),
  );
}
