// What the editor asks before it acts on a VM it does not own: libvirt's taint (once per domain, before
// the first passthrough command), and commands that change a VM's state (`qmp.confirmStateChanges`). Also
// "QMP: Connect to libvirt Domain…", which lists the domains of a URI and writes the profile.
import * as vscode from 'vscode';
import { stateChangingCommands, type CommandToCheck } from '../endpoints/index';
import { isDisabledCommand } from '../qmp/schema';
export { commandsOf } from '../endpoints/index';
import { askLibvirtDomain } from './addConnection';
import { isLaunchedProfile, readProfiles, type Profile } from './profiles';
import type { Session, SessionManager } from './sessionManager';

const acceptedKey = 'qmp.libvirtTaintAccepted';

/** How the questions below are asked: VS Code's modal warning. Replaceable only through the test API. */
export interface EndpointPrompter {
  warning(message: string, options: vscode.MessageOptions, ...items: string[]): Thenable<string | undefined>;
}

/** The one prompter; the host tests answer its modals through QmpTestApi.prompter (a real modal would block them). */
export const endpointPrompter: EndpointPrompter = {
  warning: (message, options, ...items) => vscode.window.showWarningMessage(message, options, ...items),
};

function domainKey(p: Extract<Profile, { kind: 'libvirt' }>): string {
  return `${p.uri ?? ''}#${p.domain}`;
}

/**
 * Asks once per domain (remembered in the extension's global state) whether to go on, because libvirt
 * marks a domain "tainted: custom-monitor" when a QMP command is passed through. False: the user declined.
 */
export async function confirmLibvirtTaint(state: vscode.Memento, profile: Extract<Profile, { kind: 'libvirt' }>): Promise<boolean> {
  const accepted = state.get<string[]>(acceptedKey, []);
  if (accepted.includes(domainKey(profile))) return true;
  const go = 'Connect and Mark Tainted';
  const choice = await endpointPrompter.warning(
    `Sending QMP commands to the libvirt domain "${profile.domain}" makes libvirt mark it as tainted (custom-monitor).`,
    {
      modal: true,
      detail: 'libvirt owns this monitor. Commands sent from here can change what libvirt believes about the domain; ' +
        'libvirt records the taint in its log and in `virsh dominfo`. It is harmless for queries, but support may ask ' +
        'about it. You are asked once per domain.',
    },
    go,
  );
  if (choice !== go) return false;
  await state.update(acceptedKey, [...accepted, domainKey(profile)]);
  return true;
}

/**
 * Asks before a cell's state-changing commands run on a session the extension does not own (a socket, a
 * libvirt domain, a guest agent); never on the sandbox or the storage daemon it started, nor when
 * `qmp.confirmStateChanges` is off. False: the user declined.
 */
export async function confirmStateChanges(session: Session, commands: readonly CommandToCheck[]): Promise<boolean> {
  if (isLaunchedProfile(session.profile)) return true;
  if (!(vscode.workspace.getConfiguration('qmp').get<boolean>('confirmStateChanges') ?? true)) return true;
  // A command this guest agent disabled is refused before sending anyway: asking about it would be noise.
  const schema = session.schema?.schema;
  const live = schema === undefined ? commands : commands.filter((c) => {
    const def = schema.command(c.name);
    return def === undefined || !isDisabledCommand(def);
  });
  const changing = stateChangingCommands(live);
  if (changing.length === 0) return true;
  const run = 'Run';
  const never = 'Run, and Stop Asking';
  const choice = await endpointPrompter.warning(
    `Run ${changing.map((c) => `"${c}"`).join(', ')} on "${session.name}"?`,
    { modal: true, detail: `${changing.length === 1 ? 'This command changes' : 'These commands change'} the state of a VM ` +
      'that the extension did not start. Turn this question off with the setting qmp.confirmStateChanges.' },
    run, never,
  );
  if (choice === never) {
    await vscode.workspace.getConfiguration('qmp').update('confirmStateChanges', false, vscode.ConfigurationTarget.Global);
  }
  return choice === run || choice === never;
}

/** "QMP: Connect to libvirt Domain…": a URI, a domain of it, a profile written to the user settings, a connection. */
export function registerConnectLibvirt(sessions: SessionManager, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand('qmp.connectLibvirt', async (): Promise<string | undefined> => {
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showWarningMessage('QMP: connecting to libvirt needs a trusted workspace.');
      return undefined;
    }
    const picked = await askLibvirtDomain(undefined, (m) => log.error(m));
    if (!picked) return undefined;
    const { uri, domain } = picked;
    // Write the profile (user settings), named after the domain; an existing profile for it is reused.
    const config = vscode.workspace.getConfiguration('qmp');
    const raw = config.inspect<unknown[]>('connections')?.globalValue ?? [];
    const existing = readProfiles().profiles.find((p) => p.kind === 'libvirt' && p.domain === domain && (p.uri ?? '') === uri);
    let name = existing?.name;
    if (!name) {
      const taken = new Set(readProfiles().profiles.map((p) => p.name));
      name = domain;
      for (let i = 2; taken.has(name); i++) name = `${domain}-${i}`;
      await config.update('connections', [...raw, { name, libvirt: { uri, domain } }], vscode.ConfigurationTarget.Global);
    }
    try {
      await sessions.connect(name);
    } catch (err) {
      void vscode.window.showErrorMessage(`Could not connect to "${name}": ${err instanceof Error ? err.message : String(err)}`);
    }
    return name;
  });
}
