// What kind of program is at the other end of a session, and what that means for the rest of the product:
// which man page documents its commands, what the status bar calls it, where its command list comes from,
// and whether out-of-band execution can ever work. One table, read by the session manager, the status bar,
// the docs provider and the CLI, so that they say the same thing about each kind.

export type EndpointKind = 'qemu' | 'storage-daemon' | 'guest-agent' | 'libvirt';

export interface EndpointTraits {
  /** What the user reads: "QEMU", "storage daemon", "guest agent", "libvirt domain". */
  label: string;
  /** The man page that documents this endpoint's commands (section 7). */
  manPage: 'qemu-qmp-ref' | 'qemu-storage-daemon-qmp-ref' | 'qemu-ga-ref';
  /** Where completion's command list comes from. */
  commandSource: 'query-qmp-schema' | 'guest-info';
  /** Whether the endpoint greets and negotiates capabilities (QMP) or answers at once (the guest agent). */
  greeting: boolean;
  /**
   * Why an `exec-oob` cell can never run on this kind, or undefined when it depends on the negotiation and
   * the command's schema (QEMU; the storage daemon's schema has no command that allows OOB).
   */
  oobNever: string | undefined;
  /** Whether events arrive. */
  events: boolean;
}

export const ENDPOINTS: Readonly<Record<EndpointKind, EndpointTraits>> = {
  'qemu': {
    label: 'QEMU', manPage: 'qemu-qmp-ref', commandSource: 'query-qmp-schema', greeting: true, oobNever: undefined, events: true,
  },
  'storage-daemon': {
    label: 'storage daemon', manPage: 'qemu-storage-daemon-qmp-ref', commandSource: 'query-qmp-schema', greeting: true,
    oobNever: undefined, events: true,
  },
  'guest-agent': {
    label: 'guest agent', manPage: 'qemu-ga-ref', commandSource: 'guest-info', greeting: false,
    oobNever: 'the guest agent has no out-of-band execution', events: false,
  },
  'libvirt': {
    label: 'libvirt domain', manPage: 'qemu-qmp-ref', commandSource: 'query-qmp-schema', greeting: false,
    oobNever: 'libvirt never enables out-of-band execution on the monitors it owns', events: true,
  },
};

/**
 * The endpoint kind a QMP greeting reveals: a storage daemon's greeting is QEMU's, so the kind comes from
 * the profile, or, for a plain socket, from the schema (no `query-status`, but `block-export-add`).
 */
export function kindFromCommands(commands: Iterable<string>): 'qemu' | 'storage-daemon' {
  let status = false;
  let exportAdd = false;
  for (const c of commands) {
    if (c === 'query-status') status = true;
    else if (c === 'block-export-add') exportAdd = true;
  }
  return !status && exportAdd ? 'storage-daemon' : 'qemu';
}
