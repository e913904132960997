// One status bar item per active session; the session's state is rendered here and nowhere else.
import * as vscode from 'vscode';
import { ENDPOINTS } from '../endpoints/kinds';
import { formatVersion } from './ports';
import { describeProfile } from './profiles';
import type { Session, SessionManager } from './sessionManager';

/** What an item shows for a session: a pure function of the session, so every change renders the same way. */
export interface StatusView {
  text: string;
  /** What a screen reader says: the visible state in words, without icon ids or Markdown. */
  accessibilityLabel: string;
  tooltip: vscode.MarkdownString;
  backgroundColor: vscode.ThemeColor | undefined;
}

function commandLink(title: string, command: string, args: unknown[]): string {
  return `[${title}](command:${command}?${encodeURIComponent(JSON.stringify(args))})`;
}

const linkedCommands = ['qmp.connect', 'qmp.reconnect', 'qmp.disconnect', 'qmp.dismiss', 'qmp.showLog', 'qmp.showEvents', 'qmp.reloadSchema'];

export function renderSession(s: Session): StatusView {
  const oob = s.oobEnabled === undefined ? '' : s.oobEnabled ? ' · OOB' : ' · no OOB';
  const version = s.version ? ` ${formatVersion(s.version)}` : '';
  let icon: string;
  let stateText: string;
  let background: vscode.ThemeColor | undefined;
  switch (s.state) {
    case 'connecting':
      icon = '$(loading~spin)';
      stateText = 'connecting';
      break;
    case 'connected':
      icon = '$(vm-active)';
      stateText = 'connected';
      break;
    case 'reconnecting':
      icon = '$(sync~spin)';
      stateText = 'reconnecting';
      background = new vscode.ThemeColor('statusBarItem.warningBackground');
      break;
    case 'error':
      icon = '$(error)';
      stateText = 'error';
      background = new vscode.ThemeColor('statusBarItem.errorBackground');
      break;
    case 'disconnected':
      icon = '$(vm-outline)';
      stateText = 'disconnected';
      break;
  }
  // "QEMU 7.2.22", "storage daemon 7.2.22", "guest agent", "libvirt domain": what is at the other end.
  const endpoint = ENDPOINTS[s.endpoint];
  // A wedged in-band queue: QEMU has not answered the commands on the wire, later ones wait unsent.
  const wedged = s.state === 'connected' ? s.wedged : undefined;
  if (wedged) {
    icon = '$(watch)';
    stateText = `QEMU busy: ${wedged.onWire} unanswered, ${wedged.queued} waiting`;
    background = new vscode.ThemeColor('statusBarItem.warningBackground');
  }
  // QEMU working on an in-band command for a second or more (blocked, slow, or owing the reply of an interrupted
  // cell): how long and on what, re-rendered once a second while it lasts.
  const busy = s.state === 'connected' && !wedged ? s.busy : undefined;
  if (busy) {
    icon = '$(watch)';
    stateText = `QEMU busy ${busyFor(busy.since)}${busy.command ? `: ${busy.command}` : ''}`;
  }
  const text = wedged || busy
    ? `${icon} ${s.name} · ${stateText}`
    : s.state === 'connected'
      ? `${icon} ${s.name} · ${endpoint.label}${version}${oob}`
      : `${icon} ${s.name} · ${stateText}`;
  const accessibilityLabel = accessibleState(s);

  const md = new vscode.MarkdownString(undefined, true);
  md.isTrusted = { enabledCommands: linkedCommands };
  md.appendMarkdown(`**QMP: ${escapeMd(s.name)}** — ${stateText}\n\n`);
  md.appendMarkdown(s.profile.kind === 'sandbox'
    ? `- Monitor: ${escapeMd(describeProfile(s.profile))}\n`
    : `- Monitor: ${codeSpan(describeProfile(s.profile))}\n`);
  if (s.address?.kind === 'unix' && s.profile.kind === 'sandbox') md.appendMarkdown(`- Socket: ${codeSpan(s.address.path)}\n`);
  if (s.sandbox?.pid !== undefined) md.appendMarkdown(`- Sandbox pid: ${s.sandbox.pid}\n`);
  if (s.endpoint !== 'qemu') md.appendMarkdown(`- Kind: ${endpoint.label}${endpoint.oobNever ? ` (${escapeMd(endpoint.oobNever)})` : ''}\n`);
  if (s.version) md.appendMarkdown(`- QEMU: ${formatVersion(s.version)}${s.version.package ? ` (${escapeMd(s.version.package.trim())})` : ''}\n`);
  if (s.oobEnabled !== undefined) md.appendMarkdown(`- Out-of-band execution: ${s.oobEnabled ? 'on' : 'off'}\n`);
  if (s.schema) md.appendMarkdown(`- Schema: ${s.schema.cached ? 'cached from an earlier connection' : 'loaded from this QEMU'}\n`);
  if (s.lastError) md.appendMarkdown(`- Last error: ${escapeMd(s.lastError)}\n`);
  if (wedged) {
    const since = wedged.oldestSentAt !== undefined ? ` (the oldest for ${Math.round((Date.now() - wedged.oldestSentAt) / 1000)} s)` : '';
    md.appendMarkdown(`- QEMU has not answered ${wedged.onWire} in-band commands${since}; ${wedged.queued} more wait here, unsent. `
      + 'Out-of-band commands still go through. Reconnecting drops the waiting ones.\n');
  }
  if (busy) {
    const more = busy.onWire > 1 ? ` (and ${busy.onWire - 1} more after it)` : '';
    md.appendMarkdown(`- QEMU has not answered ${busy.command ? codeSpan(busy.command) : 'an in-band command'} for ${busyFor(busy.since)}${more}. `
      + 'It answers in-band commands in order, so the next ones wait (an interrupted cell\'s command still runs in QEMU). '
      + 'Out-of-band commands (`exec-oob`) still go through.\n');
  }
  md.appendMarkdown('\n');
  const links: string[] = [];
  if (wedged || busy) links.push(commandLink('$(debug-restart) Reconnect', 'qmp.reconnect', [s.name]));
  if (s.state === 'connected' || s.state === 'connecting' || s.state === 'reconnecting') {
    links.push(commandLink('$(debug-disconnect) Disconnect', 'qmp.disconnect', [s.name]));
  } else if (s.state === 'error') {
    links.push(commandLink('$(refresh) Retry', 'qmp.connect', [s.name]));
    links.push(commandLink('$(close) Dismiss', 'qmp.dismiss', [s.name]));
  } else {
    links.push(commandLink('$(plug) Connect', 'qmp.connect', [s.name]));
  }
  if (s.state === 'connected') links.push(commandLink('$(refresh) Reload schema', 'qmp.reloadSchema', [s.name]));
  links.push(commandLink('$(output) Show log', 'qmp.showLog', []));
  links.push(commandLink('$(bell) Show events', 'qmp.showEvents', []));
  md.appendMarkdown(links.join(' · '));
  return { text, accessibilityLabel, tooltip: md, backgroundColor: background };
}

/** The session's state as a sentence, from the same facts the item shows. */
export function accessibleState(s: Session): string {
  const head = `QMP ${s.name}`;
  switch (s.state) {
    case 'connected': {
      if (s.wedged) {
        return `${head}: QEMU has not answered ${s.wedged.onWire} in-band commands; ${s.wedged.queued} more wait unsent. Reconnect from the item.`;
      }
      if (s.busy) {
        return `${head}: QEMU busy for ${busyFor(s.busy.since)}${s.busy.command ? ` with ${s.busy.command}` : ''}; later in-band commands wait.`;
      }
      const oob = s.oobEnabled === undefined ? '' : s.oobEnabled ? ', out-of-band execution on' : ', out-of-band execution off';
      return `${head}: connected to QEMU ${s.version ? formatVersion(s.version) : '(version unknown)'}${oob}`;
    }
    case 'error':
      return `${head}: error${s.lastError ? `: ${s.lastError}` : ''}. Activate to retry or dismiss.`;
    default:
      return `${head}: ${s.describeState()}`;
  }
}

/** How long since `since` (Date.now() ms), in whole seconds, or minutes and seconds. */
export function busyFor(since: number, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - since) / 1000));
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** A code span: Markdown escapes do not work inside one, so the fence is made longer than any backtick run. */
function codeSpan(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  return `${fence} ${text} ${fence}`;
}

function escapeMd(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, (c) => `\\${c}`);
}

export class SessionStatusBar implements vscode.Disposable {
  private readonly items = new Map<string, vscode.StatusBarItem>();
  private readonly subscription: vscode.Disposable;

  constructor(private readonly sessions: SessionManager) {
    this.subscription = vscode.Disposable.from(
      sessions.onDidChangeState((s) => this.update(s)),
      sessions.onDidChangeSchema((s) => this.update(s)),
      sessions.onDidChangeWedged((s) => this.update(s)),
    );
    for (const s of sessions.allSessions()) this.update(s);
  }

  /** The text an item shows now, for tests; undefined when the session has no item. */
  textOf(name: string): string | undefined {
    return this.items.get(name)?.text;
  }

  /** The item's accessibility label and click command now, for tests. */
  itemOf(name: string): { label: string | undefined; command: vscode.Command | undefined } | undefined {
    const item = this.items.get(name);
    if (!item) return undefined;
    const command = typeof item.command === 'string' ? { title: item.command, command: item.command } : item.command;
    return { label: item.accessibilityInformation?.label, command };
  }

  private update(s: Session): void {
    let item = this.items.get(s.name);
    if (s.state === 'disconnected') {
      item?.dispose();
      this.items.delete(s.name);
      return;
    }
    if (!item) {
      item = vscode.window.createStatusBarItem(`qmp.session.${s.name}`, vscode.StatusBarAlignment.Left, 10);
      item.name = `QMP ${s.name}`;
      this.items.set(s.name, item);
    }
    const view = renderSession(s);
    item.text = view.text;
    // Set on every change, so a screen reader never reads an earlier state.
    item.accessibilityInformation = { label: view.accessibilityLabel };
    item.tooltip = view.tooltip;
    item.backgroundColor = view.backgroundColor;
    item.command = s.state === 'error' || (s.state === 'connected' && (s.wedged || s.busy))
      ? { title: s.state === 'connected' ? 'Reconnect or wait' : 'Retry or dismiss', command: 'qmp.sessionActions', arguments: [s.name] }
      : { title: 'Show log', command: 'qmp.showLog' };
    item.show();
  }

  dispose(): void {
    this.subscription.dispose();
    for (const item of this.items.values()) item.dispose();
    this.items.clear();
  }
}
