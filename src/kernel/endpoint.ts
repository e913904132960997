// What a kernel connects to: one description for every kind of endpoint the product reaches (a QEMU's unix or
// TCP QMP socket, a private sandbox QEMU, a private qemu-storage-daemon, a guest agent, a libvirt domain
// through virsh), the words that name it, and one reader of the connection options every CLI subcommand
// accepts. The CLI, the test runner and the language server describe their connection with it; what each
// kind means for the product (man page, OOB, events) is src/endpoints/kinds.ts.
import { ENDPOINTS, type EndpointKind, type EndpointTraits } from '../endpoints/kinds';
import { parseHostPort as parseCoreHostPort } from '../qmp/transport';

export type SocketTarget = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export type Endpoint =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number }
  /** A private qemu-system-x86_64 -machine none -S, started for the kernel and stopped with it. */
  | { kind: 'sandbox' }
  /** A private qemu-storage-daemon, started for the kernel and stopped with it. */
  | { kind: 'storage-daemon' }
  | { kind: 'guest-agent'; target: SocketTarget }
  | { kind: 'libvirt'; domain: string; uri?: string };

/** Every kind of endpoint, in the order the CLI's help lists them. */
export const ENDPOINT_KINDS: ReadonlyArray<Endpoint['kind']> = ['unix', 'tcp', 'sandbox', 'storage-daemon', 'guest-agent', 'libvirt'];

/** What program is at the other end, as far as the description says (a plain socket may be a storage daemon: see kindFromCommands). */
export function endpointKind(e: Endpoint): EndpointKind {
  return e.kind === 'storage-daemon' ? 'storage-daemon' : e.kind === 'guest-agent' ? 'guest-agent' : e.kind === 'libvirt' ? 'libvirt' : 'qemu';
}

export function endpointTraits(e: Endpoint): EndpointTraits {
  return ENDPOINTS[endpointKind(e)];
}

/** Whether opening the endpoint starts a process that lives exactly as long as the kernel. */
export function isPrivateEndpoint(e: Endpoint): boolean {
  return e.kind === 'sandbox' || e.kind === 'storage-daemon';
}

/** How messages name the endpoint: "/run/qemu.sock", "the libvirt domain vm1 (qemu:///system)". */
export function describeEndpoint(e: Endpoint): string {
  switch (e.kind) {
    case 'unix': return e.path;
    case 'tcp': return `${e.host}:${e.port}`;
    case 'sandbox': return 'a sandbox QEMU';
    case 'storage-daemon': return 'a qemu-storage-daemon';
    case 'guest-agent': return `the guest agent at ${e.target.kind === 'unix' ? e.target.path : `${e.target.host}:${e.target.port}`}`;
    case 'libvirt': return `the libvirt domain ${e.domain}${e.uri ? ` (${e.uri})` : ''}`;
  }
}

/** Parses `HOST:PORT`, `[IPv6]:PORT` with a host given; the port must be 1-65535. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const hp = parseCoreHostPort(text);
  return hp !== undefined && hp.host !== '' ? hp : undefined;
}

/** The connection options as a command line gives them (values already tokenized). */
export interface EndpointOptions {
  socket?: string;
  tcp?: string;
  sandbox?: boolean;
  'storage-daemon'?: boolean;
  'guest-agent'?: string;
  libvirt?: string;
  connect?: string;
  qemu?: string;
}

/** The option names that choose an endpoint (one at most). */
export const ENDPOINT_OPTIONS = ['socket', 'tcp', 'sandbox', 'storage-daemon', 'guest-agent', 'libvirt'] as const;

/**
 * Reads the connection options of any subcommand: an endpoint, undefined when none was given (the
 * subcommand picks), or a usage message. One reader, so that every subcommand accepts every kind.
 */
export function endpointFromOptions(v: EndpointOptions): { ok: true; endpoint: Endpoint | undefined } | { ok: false; message: string } {
  const given = ENDPOINT_OPTIONS.filter((n) => v[n] !== undefined && v[n] !== false);
  if (given.length > 1) return { ok: false, message: `give only one of ${given.map((n) => `--${n}`).join(', ')}` };
  let endpoint: Endpoint | undefined;
  if (v.socket !== undefined) {
    if (v.socket === '') return { ok: false, message: '--socket needs a value' };
    endpoint = { kind: 'unix', path: v.socket };
  } else if (v.tcp !== undefined) {
    const hp = parseHostPort(v.tcp);
    if (!hp) return { ok: false, message: `--tcp expects HOST:PORT with a port from 1 to 65535, got '${v.tcp}'` };
    endpoint = { kind: 'tcp', ...hp };
  } else if (v.sandbox) endpoint = { kind: 'sandbox' };
  else if (v['storage-daemon']) endpoint = { kind: 'storage-daemon' };
  else if (v['guest-agent'] !== undefined) {
    const text = v['guest-agent'];
    if (text === '') return { ok: false, message: '--guest-agent needs a value' };
    const hp = text.includes('/') ? undefined : parseHostPort(text);
    endpoint = { kind: 'guest-agent', target: hp ? { kind: 'tcp', ...hp } : { kind: 'unix', path: text } };
  } else if (v.libvirt !== undefined) {
    if (v.libvirt === '') return { ok: false, message: '--libvirt needs a value' };
    endpoint = { kind: 'libvirt', domain: v.libvirt, ...(v.connect !== undefined ? { uri: v.connect } : {}) };
  }
  if (v.connect !== undefined && endpoint?.kind !== 'libvirt') return { ok: false, message: '--connect only applies to --libvirt' };
  if (v.qemu !== undefined && endpoint !== undefined && endpoint.kind !== 'sandbox') return { ok: false, message: '--qemu only applies to --sandbox' };
  return { ok: true, endpoint };
}
