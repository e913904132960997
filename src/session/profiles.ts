// Connection profiles: the `qmp.connections` setting plus the built-in "sandbox" profile.
//
// Reading and validating is a pure function of the setting's value so that it can be tested without an
// editor; `readProfiles` is the one place that looks at the configuration.
import * as vscode from 'vscode';
import type { EndpointKind } from '../endpoints/kinds';
import { parseAddress } from '../qmp/transport';
import type { QmpAddress } from '../qmp';

/** The profile that exists without any configuration. */
export const defaultSandboxName = 'sandbox';

export type Profile = (
  | { name: string; kind: 'unix'; socket: string }
  | { name: string; kind: 'tcp'; host: string; port: number }
  | { name: string; kind: 'sandbox' }
  /** A private qemu-storage-daemon the extension starts (src/endpoints/storageDaemon.ts). */
  | { name: string; kind: 'storage-daemon' }
  /** A guest agent socket (src/endpoints/guestAgent.ts). */
  | { name: string; kind: 'guest-agent'; address: QmpAddress }
  /** A libvirt domain through virsh (src/endpoints/libvirt.ts); `uri` passes to virsh unchanged. */
  | { name: string; kind: 'libvirt'; domain: string; uri?: string }
) & {
  /** QEMU's `-compat` option value this monitor's QEMU runs with (`deprecated-input=reject,…`), as written. */
  compat?: string;
};

export interface ProfileList {
  profiles: Profile[];
  /** One sentence per entry that was skipped, for the log. */
  problems: string[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Turns the raw setting into profiles. Entries that do not fit any of the forms are skipped with a
 * problem, the first of two entries with the same name wins, and a "sandbox" profile is added unless the
 * user defined one.
 */
export function parseProfiles(raw: unknown): ProfileList {
  const profiles: Profile[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  const entries = Array.isArray(raw) ? raw : [];
  if (raw !== undefined && !Array.isArray(raw)) problems.push('qmp.connections is not an array; it is ignored.');
  entries.forEach((entry, i) => {
    if (!isRecord(entry) || typeof entry['name'] !== 'string' || entry['name'].trim() === '') {
      problems.push(`qmp.connections[${i}] has no "name"; it is ignored.`);
      return;
    }
    const name = entry['name'].trim();
    if (seen.has(name)) {
      problems.push(`qmp.connections[${i}]: a profile named "${name}" already exists; this one is ignored.`);
      return;
    }
    let profile: Profile | undefined;
    if (typeof entry['socket'] === 'string' && entry['socket'] !== '') {
      profile = { name, kind: 'unix', socket: entry['socket'] };
    } else if (typeof entry['host'] === 'string' && entry['host'] !== '' && typeof entry['port'] === 'number'
      && Number.isInteger(entry['port']) && entry['port'] > 0 && entry['port'] < 65536) {
      profile = { name, kind: 'tcp', host: entry['host'], port: entry['port'] };
    } else if (entry['sandbox'] === true) {
      profile = { name, kind: 'sandbox' };
    } else if (entry['storageDaemon'] === true) {
      profile = { name, kind: 'storage-daemon' };
    } else if (typeof entry['guestAgent'] === 'string' && entry['guestAgent'].trim() !== '') {
      try {
        const text = entry['guestAgent'].trim();
        profile = { name, kind: 'guest-agent', address: text.includes('/') ? { kind: 'unix', path: text } : parseAddress(text) };
      } catch {
        problems.push(`qmp.connections[${i}] ("${name}"): "guestAgent" is neither a socket path nor HOST:PORT; it is ignored.`);
        return;
      }
    } else if (isRecord(entry['libvirt']) && typeof entry['libvirt']['domain'] === 'string' && entry['libvirt']['domain'].trim() !== '') {
      const lv = entry['libvirt'];
      const uri = typeof lv['uri'] === 'string' && lv['uri'].trim() !== '' ? lv['uri'].trim() : undefined;
      profile = { name, kind: 'libvirt', domain: (lv['domain'] as string).trim(), ...(uri !== undefined ? { uri } : {}) };
    }
    if (!profile) {
      problems.push(`qmp.connections[${i}] ("${name}") needs "socket", "host" and "port", "sandbox": true, "storageDaemon": true, "guestAgent" or "libvirt"; it is ignored.`);
      return;
    }
    const compat = entry['compat'];
    if (typeof compat === 'string' && compat.trim() !== '') profile.compat = compat.trim();
    else if (compat !== undefined) problems.push(`qmp.connections[${i}] ("${name}"): "compat" must be a -compat value such as "deprecated-input=reject"; it is ignored.`);
    seen.add(name);
    profiles.push(profile);
  });
  if (!seen.has(defaultSandboxName)) profiles.unshift({ name: defaultSandboxName, kind: 'sandbox' });
  return { profiles, problems };
}

export function readProfiles(): ProfileList {
  return parseProfiles(vscode.workspace.getConfiguration('qmp').get<unknown>('connections'));
}

/** The address of a profile that names one; a sandbox's address is only known once it runs. */
export function profileAddress(p: Profile): QmpAddress | undefined {
  switch (p.kind) {
    case 'unix': return { kind: 'unix', path: p.socket };
    case 'tcp': return { kind: 'tcp', host: p.host, port: p.port };
    case 'sandbox': return undefined;
    case 'storage-daemon': return undefined;
    case 'guest-agent': return p.address;
    case 'libvirt': return undefined;
  }
}

/** A short description of where a profile connects, for pickers and tooltips. */
export function describeProfile(p: Profile): string {
  switch (p.kind) {
    case 'unix': return p.socket;
    case 'tcp': return `${p.host}:${p.port}`;
    case 'sandbox': return 'sandbox QEMU started by the extension';
    case 'storage-daemon': return 'qemu-storage-daemon started by the extension';
    case 'guest-agent': return `guest agent ${p.address.kind === 'unix' ? p.address.path : `${p.address.host}:${p.address.port}`}`;
    case 'libvirt': return `libvirt domain ${p.domain}${p.uri ? ` (${p.uri})` : ''}`;
  }
}

/** Whether the extension starts the process behind this profile itself (and so stops it with the session). */
export function isLaunchedProfile(p: Profile): p is Extract<Profile, { kind: 'sandbox' | 'storage-daemon' }> {
  return p.kind === 'sandbox' || p.kind === 'storage-daemon';
}

/** What is at the other end of a profile's connection, before it connects (a socket may turn out a QSD). */
export function profileEndpoint(p: Profile): EndpointKind {
  switch (p.kind) {
    case 'storage-daemon': return 'storage-daemon';
    case 'guest-agent': return 'guest-agent';
    case 'libvirt': return 'libvirt';
    default: return 'qemu';
  }
}

export function sameProfile(a: Profile, b: Profile): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
