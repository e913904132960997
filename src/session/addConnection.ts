// "QMP: Add Connection…": asks for any kind of connection (a QEMU unix socket or TCP address, a sandbox, a
// storage daemon the extension starts or one already listening on a socket, a guest agent socket, a libvirt
// domain), validates what the user types, appends the profile to `qmp.connections` (workspace or user
// settings) and selects its kernel for the active QMP notebook. The checks of the text are pure functions,
// so that they are tested without an editor; what can only be known from the machine (the path is a socket,
// the libvirt URI answers and lists domains) is checked while typing, bounded, and said as a warning.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { listDomains } from '../endpoints/index';
import { parseAddress } from '../qmp';
import type { Profile } from './profiles';
import type { SessionManager } from './sessionManager';

/**
 * `socket`/`tcp`: a QEMU monitor; `storage-daemon`: a private qemu-storage-daemon the extension starts;
 * `storage-daemon-socket`: one already listening (a socket profile: what answers is found from its schema);
 * `guest-agent`: a qemu-ga socket (path or host:port); `libvirt`: a domain reached through virsh.
 */
export type NewConnectionKind = 'socket' | 'tcp' | 'sandbox' | 'storage-daemon' | 'storage-daemon-socket' | 'guest-agent' | 'libvirt';

/** The bound of `virsh list` while the user picks a libvirt URI. */
const LIST_DOMAINS_MS = 10_000;

/** What the command may be given instead of asking (the walkthrough and the tests pass it). */
export interface NewConnection {
  kind: NewConnectionKind;
  /**
   * The socket path (`socket`, `storage-daemon-socket`), `host:port` (`tcp`), a path or `host:port`
   * (`guest-agent`), the connection URI (`libvirt`, empty for virsh's default); unused otherwise.
   */
  address?: string;
  /** The domain (`libvirt`). */
  domain?: string;
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

/** A socket path as typed (`unix:` and QEMU's `,server=on` options allowed), or why it is not one. */
function socketPath(t: string, what: string): { path: string } | { message: string } {
  const p = t.startsWith('unix:') ? t.slice(5).split(',')[0] ?? '' : t;
  if (p === '') return { message: `Type the path of the ${what}, e.g. /run/qemu/vm1.qmp.` };
  if (!path.isAbsolute(p)) return { message: 'Use an absolute path: the extension does not run in your shell\'s folder.' };
  return { path: p };
}

/**
 * Checks the address the user typed for a kind of connection (the text only; `checkOnMachine` looks at the
 * machine). For `libvirt`, `text` is the URI and `domain` the domain.
 */
export function checkAddress(kind: NewConnectionKind, text: string | undefined, domain?: string): CheckedEntry {
  const t = (text ?? '').trim();
  if (kind === 'sandbox') return { ok: true, entry: { sandbox: true } };
  if (kind === 'storage-daemon') return { ok: true, entry: { storageDaemon: true } };
  if (kind === 'libvirt') {
    const d = (domain ?? '').trim();
    if (d === '') return { ok: false, message: 'Pick a domain of the libvirt URI.' };
    if (/\s/.test(t)) return { ok: false, message: `"${t}" is not a libvirt URI (it has spaces), e.g. qemu:///system.` };
    return { ok: true, entry: { libvirt: { ...(t !== '' ? { uri: t } : {}), domain: d } } };
  }
  if (kind === 'socket' || kind === 'storage-daemon-socket') {
    const p = socketPath(t, kind === 'socket' ? 'QMP socket' : 'storage daemon\'s QMP socket');
    return 'path' in p ? { ok: true, entry: { socket: p.path } } : { ok: false, message: p.message };
  }
  if (kind === 'guest-agent') {
    // A path (what -chardev socket,path=… makes), or host:port for an agent reached over TCP.
    if (t.includes('/') || t.startsWith('unix:')) {
      const p = socketPath(t, 'guest agent socket');
      return 'path' in p ? { ok: true, entry: { guestAgent: p.path } } : { ok: false, message: p.message };
    }
    if (t === '') return { ok: false, message: 'Type the path of the guest agent socket (e.g. /run/qemu/vm1-qga.sock) or host:port.' };
    const tcp = checkAddress('tcp', t);
    return tcp.ok ? { ok: true, entry: { guestAgent: `${String(tcp.entry['host']).includes(':') ? `[${String(tcp.entry['host'])}]` : String(tcp.entry['host'])}:${String(tcp.entry['port'])}` } } : tcp;
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

/**
 * What the machine says about a socket path, while the user types: undefined when a socket is there, a
 * warning when nothing is there yet (QEMU may not be started: the profile can still be saved), an error
 * when something else is there. Bounded: one stat.
 */
export async function checkSocketOnMachine(p: string): Promise<{ message: string; severity: 'warning' | 'error' } | undefined> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { severity: 'warning', message: `Nothing is at ${p} yet: start QEMU first, or save the profile and connect later.` };
    if (code === 'EACCES') return { severity: 'error', message: `${p} cannot be reached: permission denied.` };
    return { severity: 'warning', message: `${p}: ${(err as Error).message}` };
  }
  if (!st.isSocket()) return { severity: 'error', message: `${p} is ${st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a FIFO' : 'a file'}, not a socket.` };
  return undefined;
}

/**
 * A profile name to offer: the one the active notebook names when no profile has it (so the notebook runs
 * as it is), else one from what was typed (the socket's file name, the domain, the kind), made unique.
 */
export function suggestName(kind: NewConnectionKind, address: string | undefined, domain: string | undefined,
  existing: readonly Pick<Profile, 'name'>[], notebookProfile?: string): string {
  const taken = new Set(existing.map((p) => p.name));
  if (notebookProfile !== undefined && notebookProfile.trim() !== '' && !taken.has(notebookProfile)) return notebookProfile;
  const t = (address ?? '').trim();
  let base: string;
  switch (kind) {
    case 'sandbox': base = 'sandbox-2'; break;
    case 'storage-daemon': base = 'storage-daemon'; break;
    case 'libvirt': base = (domain ?? '').trim() || 'libvirt'; break;
    case 'tcp': base = t.replace(/^tcp:/, '').replace(/[[\]]/g, '').replace(/:(\d+)$/, '-$1') || 'my-vm'; break;
    default: {
      const file = path.basename((t.startsWith('unix:') ? t.slice(5).split(',')[0] ?? '' : t));
      base = file.replace(/\.(qmp|sock|socket|monitor)$/i, '').replace(/[-_.](qmp|sock|socket|monitor)$/i, '') || (kind === 'guest-agent' ? 'guest-agent' : 'my-vm');
      if (kind === 'guest-agent' && !/ga|agent/i.test(base)) base = `${base}-ga`;
    }
  }
  base = base.slice(0, 60);
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  return name;
}

/** Asks for what `given` does not say; undefined when the user cancels. */
async function ask(sessions: SessionManager, given: Partial<NewConnection>, notebookProfile: string | undefined): Promise<NewConnection | undefined> {
  let kind = given.kind;
  if (kind === undefined) {
    const picked = await vscode.window.showQuickPick([
      { label: '$(plug) Unix socket', detail: 'QEMU started with -qmp unix:/path/qmp.sock,server=on,wait=off', connection: 'socket' as const },
      { label: '$(globe) TCP', detail: 'QEMU started with -qmp tcp:127.0.0.1:4444,server=on,wait=off', connection: 'tcp' as const },
      { label: '$(vm) Sandbox', detail: 'a private QEMU that the extension starts, with no guest', connection: 'sandbox' as const },
      { label: '$(database) Storage daemon', detail: 'a private qemu-storage-daemon that the extension starts', connection: 'storage-daemon' as const },
      { label: '$(database) Storage daemon socket', detail: 'a qemu-storage-daemon started with --chardev socket,path=… --monitor', connection: 'storage-daemon-socket' as const },
      { label: '$(person) Guest agent', detail: 'the socket of a guest\'s qemu-ga (-chardev socket,path=…,server=on,wait=off,id=qga0)', connection: 'guest-agent' as const },
      { label: '$(server) libvirt domain', detail: 'a domain of a libvirt URI, through virsh qemu-monitor-command', connection: 'libvirt' as const },
    ], { title: 'Add QMP Connection (1/3)', placeHolder: 'How does QMP reach QEMU?' });
    if (!picked) return undefined;
    kind = picked.connection;
  }
  const chosen: NewConnectionKind = kind;
  let address = given.address;
  let domain = given.domain;
  if (chosen === 'libvirt') {
    const picked = address !== undefined && domain !== undefined ? { uri: address, domain } : await askLibvirtDomain(address);
    if (!picked) return undefined;
    address = picked.uri;
    domain = picked.domain;
  } else if (address === undefined && chosen !== 'sandbox' && chosen !== 'storage-daemon') {
    const prompts: Record<string, { prompt: string; placeHolder: string }> = {
      socket: { prompt: 'Path of the QMP unix socket', placeHolder: '/run/qemu/vm1.qmp' },
      tcp: { prompt: 'host:port of the QMP TCP monitor', placeHolder: '127.0.0.1:4444' },
      'storage-daemon-socket': { prompt: 'Path of the storage daemon\'s QMP socket', placeHolder: '/run/qsd/qmp.sock' },
      'guest-agent': { prompt: 'Path of the guest agent socket (or host:port)', placeHolder: '/run/qemu/vm1-qga.sock' },
    };
    const { prompt, placeHolder } = prompts[chosen] ?? { prompt: '', placeHolder: '' };
    address = await vscode.window.showInputBox({
      title: 'Add QMP Connection (2/3)', prompt, placeHolder,
      validateInput: async (v) => {
        const r = checkAddress(chosen, v);
        if (!r.ok) return r.message;
        const socket = typeof r.entry['socket'] === 'string' ? r.entry['socket']
          : typeof r.entry['guestAgent'] === 'string' && r.entry['guestAgent'].startsWith('/') ? r.entry['guestAgent'] : undefined;
        if (socket === undefined) return undefined;
        const found = await checkSocketOnMachine(socket);
        return found && { message: found.message, severity: found.severity === 'error' ? vscode.InputBoxValidationSeverity.Error : vscode.InputBoxValidationSeverity.Warning };
      },
    });
    if (address === undefined) return undefined;
  }
  let name = given.name;
  if (name === undefined) {
    name = await vscode.window.showInputBox({
      title: 'Add QMP Connection (3/3)', prompt: 'A name for the kernel picker and the status bar',
      value: suggestName(chosen, address, domain, sessions.profiles, notebookProfile),
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
  return { kind: chosen, ...(address !== undefined ? { address } : {}), ...(domain !== undefined ? { domain } : {}), name, target };
}

/**
 * Runs the flow. Returns the new profile's name, or undefined when cancelled or refused (the reason is shown).
 * `selectKernel` selects the profile's controller for the active QMP notebook, if there is one.
 */
export async function addConnection(
  sessions: SessionManager, given: Partial<NewConnection>, selectKernel: (profile: string) => Promise<void>,
): Promise<string | undefined> {
  const named: unknown = vscode.window.activeNotebookEditor?.notebook.metadata?.['profile'];
  const answer = await ask(sessions, given, typeof named === 'string' ? named : undefined);
  if (!answer) return undefined;
  if ((answer.kind === 'libvirt' || answer.kind === 'guest-agent') && !vscode.workspace.isTrusted) {
    void vscode.window.showErrorMessage('The connection was not added: libvirt and guest agent connections need a trusted workspace.');
    return undefined;
  }
  const nameProblem = checkProfileName(answer.name, sessions.profiles);
  const checked = checkAddress(answer.kind, answer.address, answer.domain);
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

/**
 * Asks for a libvirt URI, lists its domains with `virsh list` (bounded; the list is the check that the URI
 * answers) and asks for one. `uri`: skip the first question. Undefined when cancelled or when the URI gave no
 * domain (the reason is shown). Used by Add Connection and by "QMP: Connect to libvirt Domain…".
 */
export async function askLibvirtDomain(uri?: string, log?: (message: string) => void): Promise<{ uri: string; domain: string } | undefined> {
  let chosen = uri;
  if (chosen === undefined) {
    const other = 'Other URI…';
    const pick = await vscode.window.showQuickPick([
      { label: 'qemu:///system', description: 'the system libvirt daemon' },
      { label: 'qemu:///session', description: "this user's libvirt" },
      { label: other, description: 'e.g. qemu+ssh://user@host/system' },
    ], { title: 'Add QMP Connection: libvirt', placeHolder: 'Which libvirt?' });
    if (!pick) return undefined;
    chosen = pick.label === other
      ? (await vscode.window.showInputBox({ prompt: 'libvirt connection URI (passed to virsh unchanged)', value: 'qemu+ssh://',
        validateInput: (v) => (/\s/.test(v.trim()) || v.trim() === '' ? 'Type a URI without spaces, e.g. qemu+ssh://user@host/system.' : undefined) }))?.trim()
      : pick.label;
    if (!chosen) return undefined;
  }
  const target = chosen;
  let domains: string[];
  try {
    domains = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Listing the domains of ${target}…` },
      () => listDomains(target === '' ? {} : { uri: target }, LIST_DOMAINS_MS));
  } catch (err) {
    log?.(`virsh list on ${target}: ${err instanceof Error ? err.message : String(err)}`);
    void vscode.window.showErrorMessage(`Could not list the domains of ${target}: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
  if (domains.length === 0) {
    void vscode.window.showInformationMessage(`${target} has no domains.`);
    return undefined;
  }
  const domain = await vscode.window.showQuickPick(domains, { title: 'Add QMP Connection: libvirt', placeHolder: `A domain of ${target}` });
  return domain === undefined ? undefined : { uri: target, domain };
}
