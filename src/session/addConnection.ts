// "QMP: Add Connection…": asks for a unix socket, a TCP host:port or a sandbox, validates what the user types,
// appends the profile to `qmp.connections` (workspace or user settings) and selects its kernel for the active
// QMP notebook. The checks are pure functions of the text, so that they are tested without an editor.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseAddress } from '../qmp';
import type { Profile } from './profiles';
import type { SessionManager } from './sessionManager';

export type NewConnectionKind = 'socket' | 'tcp' | 'sandbox';

/** What the command may be given instead of asking (the walkthrough and the tests pass it). */
export interface NewConnection {
  kind: NewConnectionKind;
  /** The socket path (`socket`) or `host:port` (`tcp`); unused for a sandbox. */
  address?: string;
  name: string;
  target?: 'workspace' | 'user';
}

/** The setting entry for a new profile, or the reason the input is not one. */
export type CheckedEntry = { ok: true; entry: Record<string, unknown> } | { ok: false; message: string };

/** Why a profile name cannot be used, or undefined when it can. */
export function checkProfileName(name: string, existing: readonly Pick<Profile, 'name'>[]): string | undefined {
  const n = name.trim();
  if (n === '') return 'A profile needs a name.';
  if (n.length > 64) return 'Keep the name under 64 characters: it is shown in the status bar and the kernel picker.';
  if (existing.some((p) => p.name === n)) return `A profile named "${n}" exists already.`;
  return undefined;
}

/** Checks the address the user typed for a kind of connection. */
export function checkAddress(kind: NewConnectionKind, text: string | undefined): CheckedEntry {
  const t = (text ?? '').trim();
  if (kind === 'sandbox') return { ok: true, entry: { sandbox: true } };
  if (kind === 'socket') {
    const p = t.startsWith('unix:') ? t.slice(5).split(',')[0] ?? '' : t;
    if (p === '') return { ok: false, message: 'Type the path of the QMP socket, e.g. /run/qemu/vm1.qmp.' };
    if (!path.isAbsolute(p)) return { ok: false, message: 'Use an absolute path: the extension does not run in your shell\'s folder.' };
    return { ok: true, entry: { socket: p } };
  }
  if (t === '') return { ok: false, message: 'Type host:port, e.g. 127.0.0.1:4444.' };
  let address;
  try {
    address = parseAddress(t.startsWith('tcp:') ? t : `tcp:${t}`);
  } catch {
    return { ok: false, message: `"${t}" is not host:port (a port from 1 to 65535; IPv6 as [::1]:4444).` };
  }
  if (address.kind !== 'tcp' || address.host === '') return { ok: false, message: `"${t}" is not host:port.` };
  return { ok: true, entry: { host: address.host, port: address.port } };
}

/** Asks for what `given` does not say; undefined when the user cancels. */
async function ask(sessions: SessionManager, given: Partial<NewConnection>): Promise<NewConnection | undefined> {
  let kind = given.kind;
  if (kind === undefined) {
    const picked = await vscode.window.showQuickPick([
      { label: '$(plug) Unix socket', detail: 'QEMU started with -qmp unix:/path/qmp.sock,server=on,wait=off', connection: 'socket' as const },
      { label: '$(globe) TCP', detail: 'QEMU started with -qmp tcp:127.0.0.1:4444,server=on,wait=off', connection: 'tcp' as const },
      { label: '$(vm) Sandbox', detail: 'a private QEMU that the extension starts, with no guest', connection: 'sandbox' as const },
    ], { title: 'Add QMP Connection (1/3)', placeHolder: 'How does QMP reach QEMU?' });
    if (!picked) return undefined;
    kind = picked.connection;
  }
  const chosen: NewConnectionKind = kind;
  let address = given.address;
  if (address === undefined && chosen !== 'sandbox') {
    address = await vscode.window.showInputBox({
      title: 'Add QMP Connection (2/3)',
      prompt: chosen === 'socket' ? 'Path of the QMP unix socket' : 'host:port of the QMP TCP monitor',
      placeHolder: chosen === 'socket' ? '/run/qemu/vm1.qmp' : '127.0.0.1:4444',
      validateInput: (v) => { const r = checkAddress(chosen, v); return r.ok ? undefined : r.message; },
    });
    if (address === undefined) return undefined;
  }
  let name = given.name;
  if (name === undefined) {
    name = await vscode.window.showInputBox({
      title: 'Add QMP Connection (3/3)', prompt: 'A name for the kernel picker and the status bar',
      value: chosen === 'sandbox' ? 'sandbox-2' : 'my-vm',
      validateInput: (v) => checkProfileName(v, sessions.profiles),
    });
    if (name === undefined) return undefined;
  }
  let target = given.target;
  if (target === undefined) {
    if (vscode.workspace.workspaceFolders?.length) {
      const picked = await vscode.window.showQuickPick([
        { label: 'Workspace settings', description: 'for this folder only', target: 'workspace' as const },
        { label: 'User settings', description: 'for every window', target: 'user' as const },
      ], { title: 'Save the profile in' });
      if (!picked) return undefined;
      target = picked.target;
    } else {
      target = 'user';
    }
  }
  return { kind: chosen, ...(address !== undefined ? { address } : {}), name, target };
}

/**
 * Runs the flow. Returns the new profile's name, or undefined when cancelled or refused (the reason is shown).
 * `selectKernel` selects the profile's controller for the active QMP notebook, if there is one.
 */
export async function addConnection(
  sessions: SessionManager, given: Partial<NewConnection>, selectKernel: (profile: string) => Promise<void>,
): Promise<string | undefined> {
  const answer = await ask(sessions, given);
  if (!answer) return undefined;
  const nameProblem = checkProfileName(answer.name, sessions.profiles);
  const checked = checkAddress(answer.kind, answer.address);
  const problem = nameProblem ?? (checked.ok ? undefined : checked.message);
  if (problem !== undefined || !checked.ok) {
    void vscode.window.showErrorMessage(`The connection was not added: ${problem ?? ''}`);
    return undefined;
  }
  const name = answer.name.trim();
  const target = answer.target === 'user' || !vscode.workspace.workspaceFolders?.length
    ? vscode.ConfigurationTarget.Global : vscode.ConfigurationTarget.Workspace;
  const config = vscode.workspace.getConfiguration('qmp');
  const inspected = config.inspect<unknown[]>('connections');
  const current = (target === vscode.ConfigurationTarget.Global ? inspected?.globalValue : inspected?.workspaceValue) ?? [];
  const list = Array.isArray(current) ? current : [];
  await config.update('connections', [...list, { name, ...checked.entry }], target);
  // The session manager re-reads the setting on its change event; the new profile's controller exists then.
  if (!sessions.profile(name)) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { sub.dispose(); resolve(); }, 10_000);
      const sub = sessions.onDidChangeProfiles(() => {
        if (!sessions.profile(name)) return;
        clearTimeout(timer);
        sub.dispose();
        resolve();
      });
    });
  }
  if (!sessions.profile(name)) {
    void vscode.window.showErrorMessage(`"${name}" was saved in qmp.connections but did not appear as a profile; see the QMP log.`);
    return undefined;
  }
  await selectKernel(name);
  return name;
}
