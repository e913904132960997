// Which commands change what a VM does (or what libvirt believes about it), so that the editor asks before
// running them on a VM it did not start (`qmp.confirmStateChanges`). One documented list
// (docs/connections.md); the sandbox, the storage daemon the extension starts, and the CLI never ask.

/**
 * QMP commands that stop, start, reset, reconfigure or move a VM, or delete what it uses. Commands that only
 * read the VM into a host file (dump-guest-memory, memsave, screendump) are not on it.
 */
export const STATE_CHANGING_QMP: ReadonlySet<string> = new Set([
  'stop', 'cont', 'quit', 'system_reset', 'system_powerdown', 'system_wakeup', 'inject-nmi',
  'device_add', 'device_del', 'blockdev-add', 'blockdev-del', 'blockdev-reopen', 'block_resize',
  'blockdev-change-medium', 'eject', 'blockdev-open-tray', 'blockdev-close-tray',
  'blockdev-mirror', 'blockdev-backup', 'drive-mirror', 'drive-backup', 'block-commit', 'block-stream',
  'block-job-cancel', 'block-job-complete', 'block-job-finalize', 'job-cancel', 'job-complete', 'job-finalize',
  'transaction', 'blockdev-snapshot', 'blockdev-snapshot-sync', 'snapshot-save', 'snapshot-load', 'snapshot-delete',
  'migrate', 'migrate-incoming', 'migrate_cancel', 'migrate-continue', 'migrate-pause', 'migrate-recover',
  'netdev_add', 'netdev_del', 'set_link', 'object-add', 'object-del', 'chardev-add', 'chardev-change', 'chardev-remove',
  'balloon', 'set-cpu-topology', 'cpu-add', 'qom-set', 'nbd-server-start', 'nbd-server-stop', 'block-export-add', 'block-export-del',
  'send-key', 'input-send-event', 'watchdog-set-action',
  'set-action', 'x-exit-preconfig', 'loadvm', 'savevm',
]);

/** HMP commands (the first word of a `human-monitor-command`) with the same effect. */
export const STATE_CHANGING_HMP: ReadonlySet<string> = new Set([
  'stop', 's', 'cont', 'c', 'quit', 'q', 'system_reset', 'system_powerdown', 'system_wakeup', 'nmi',
  'device_add', 'device_del', 'drive_add', 'drive_del', 'drive_mirror', 'drive_backup', 'block_resize', 'eject', 'change',
  'migrate', 'migrate_incoming', 'migrate_cancel', 'savevm', 'loadvm', 'delvm', 'netdev_add', 'netdev_del', 'set_link',
  'object_add', 'object_del', 'chardev-add', 'chardev-remove', 'balloon', 'qom-set', 'sendkey', 'commit', 'snapshot_blkdev',
]);

/** Guest-agent commands that change the guest (its power state, files, users, time, processes). */
export const STATE_CHANGING_GUEST_AGENT: ReadonlySet<string> = new Set([
  'guest-shutdown', 'guest-suspend-disk', 'guest-suspend-ram', 'guest-suspend-hybrid', 'guest-set-time',
  'guest-exec', 'guest-file-open', 'guest-file-write', 'guest-file-seek', 'guest-file-flush', 'guest-file-close',
  'guest-fsfreeze-freeze', 'guest-fsfreeze-freeze-list', 'guest-fsfreeze-thaw', 'guest-fstrim', 'guest-set-vcpus',
  'guest-set-memory-blocks', 'guest-set-user-password', 'guest-ssh-add-authorized-keys', 'guest-ssh-remove-authorized-keys',
]);

export interface CommandToCheck {
  /** The command name (`execute` or `exec-oob`). */
  name: string;
  /** Its arguments, for `human-monitor-command`'s command line. */
  arguments?: object;
}

/**
 * The commands of a cell that change state, as the user reads them (`stop`, `hmp: quit`), in order and
 * without repeats. Empty when the cell only reads.
 */
export function stateChangingCommands(commands: readonly CommandToCheck[]): string[] {
  const out: string[] = [];
  for (const c of commands) {
    let shown: string | undefined;
    if (c.name === 'human-monitor-command') {
      const line = (c.arguments as { 'command-line'?: unknown } | undefined)?.['command-line'];
      const word = typeof line === 'string' ? line.trim().split(/\s+/)[0] ?? '' : '';
      if (STATE_CHANGING_HMP.has(word)) shown = `hmp: ${word}`;
    } else if (STATE_CHANGING_QMP.has(c.name) || STATE_CHANGING_GUEST_AGENT.has(c.name)) {
      shown = c.name;
    }
    if (shown && !out.includes(shown)) out.push(shown);
  }
  return out;
}

/** The commands of a cell's steps (the notebook's plan), in the form stateChangingCommands reads. */
export function commandsOf(steps: readonly { kind: string; input?: { execute?: string; 'exec-oob'?: string; arguments?: object; argumentsText?: string } }[]): CommandToCheck[] {
  const out: CommandToCheck[] = [];
  for (const s of steps) {
    if (s.kind !== 'command' || !s.input) continue;
    const name = s.input.execute ?? s.input['exec-oob'];
    if (!name) continue;
    let args = s.input.arguments;
    if (args === undefined && s.input.argumentsText !== undefined) {
      try { args = JSON.parse(s.input.argumentsText) as object; } catch { /* not needed to decide */ }
    }
    out.push({ name, ...(args !== undefined ? { arguments: args } : {}) });
  }
  return out;
}
