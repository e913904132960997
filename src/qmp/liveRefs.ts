// Which arguments name objects that live in the connected QEMU, and where their current values come from.
//
// The schema types every such argument as a plain `str`, so the meaning cannot be read from it: this table
// says it, as data. Each row names a command, a member path inside its arguments (`*` stands for any array
// element) and the kind of live object the value refers to, with a role: `ref` (an existing object: complete
// it, warn when the session does not know it) or `new` (the command creates it: warn when the name is taken).
// The tests check every row against the real schemas of QEMU 7.2 and 10.0, so no row names a member that
// does not exist; a row whose command a server lacks simply never matches.
//
// Adding a row is the whole job of supporting another argument: the sources below already know how to list
// each kind.

/** A kind of object QEMU holds at run time, each with one way to list it (see liveSources). */
export type LiveKind =
  | 'block-node' // query-named-block-nodes: node names
  | 'block-backend' // query-block: BlockBackend names (device=) and their qdev ids
  | 'qdev-id' // qom-list /machine/peripheral: the ids given with device_add
  | 'qom-path' // qom-list of the parent of the path typed so far
  | 'qom-property' // qom-list of the path in the sibling member
  | 'job' // query-jobs: job ids
  | 'block-job' // query-block-jobs: the `device` of block jobs (their job id)
  | 'chardev' // query-chardev: chardev labels
  | 'netdev' // no QMP query lists them: only names created earlier in the same notebook
  | 'dirty-bitmap' // the bitmaps of the node named in a sibling member (query-named-block-nodes)
  | 'block-export' // query-block-exports: export ids
  | 'cpu-model' // query-cpu-definitions: CPU model names
  | 'device-type' // qom-list-types implements=device abstract=false: device_add drivers
  | 'qom-type' // qom-list-types abstract=false: any instantiable type
  | 'object-id' // qom-list /objects: ids given with object-add
  | 'iothread' // query-iothreads: iothread object ids
  | 'device-property'; // device-list-properties of the driver being added: device_add's own members

export type LiveRole = 'ref' | 'new';

export interface LiveRef {
  readonly command: string;
  /** Member names from the arguments object down; `*` is any array element. */
  readonly path: readonly string[];
  /** What the value may name; several when QEMU accepts either (a `device` that is a backend or a node). */
  readonly kinds: readonly LiveKind[];
  readonly role: LiveRole;
  /**
   * For kinds listed per parent object (a node's bitmaps, an object's properties): the sibling member
   * whose value names the parent.
   */
  readonly scopeMember?: string;
}

const ref = (command: string, path: string, kinds: LiveKind | LiveKind[], scopeMember?: string): LiveRef => ({
  command,
  path: path.split('.'),
  kinds: Array.isArray(kinds) ? kinds : [kinds],
  role: 'ref',
  ...(scopeMember !== undefined ? { scopeMember } : {}),
});
const made = (command: string, path: string, kind: LiveKind, scopeMember?: string): LiveRef => ({
  ...ref(command, path, kind, scopeMember),
  role: 'new',
});

/** A block device argument accepts a BlockBackend name or a node name (QEMU looks up both). */
const dev: LiveKind[] = ['block-backend', 'block-node'];

/** The table. Ordered by area; within an area by command. */
export const liveRefs: readonly LiveRef[] = [
  // Block nodes and devices.
  made('blockdev-add', 'node-name', 'block-node'),
  ref('blockdev-add', 'file', 'block-node'),
  ref('blockdev-add', 'backing', 'block-node'),
  ref('blockdev-del', 'node-name', 'block-node'),
  ref('blockdev-insert-medium', 'node-name', 'block-node'),
  ref('blockdev-insert-medium', 'id', 'qdev-id'),
  ref('blockdev-remove-medium', 'id', 'qdev-id'),
  ref('blockdev-open-tray', 'device', 'block-backend'),
  ref('blockdev-open-tray', 'id', 'qdev-id'),
  ref('blockdev-close-tray', 'device', 'block-backend'),
  ref('blockdev-close-tray', 'id', 'qdev-id'),
  ref('blockdev-change-medium', 'device', 'block-backend'),
  ref('blockdev-change-medium', 'id', 'qdev-id'),
  ref('block_resize', 'device', 'block-backend'),
  ref('block_resize', 'node-name', 'block-node'),
  ref('block_set_io_throttle', 'device', 'block-backend'),
  ref('block_set_io_throttle', 'id', 'qdev-id'),
  ref('block-set-write-threshold', 'node-name', 'block-node'),
  ref('blockdev-snapshot', 'node', 'block-node'),
  ref('blockdev-snapshot', 'overlay', 'block-node'),
  ref('blockdev-snapshot-sync', 'device', 'block-backend'),
  ref('blockdev-snapshot-sync', 'node-name', 'block-node'),
  made('blockdev-snapshot-sync', 'snapshot-node-name', 'block-node'),
  ref('blockdev-snapshot-internal-sync', 'device', dev),
  ref('blockdev-snapshot-delete-internal-sync', 'device', dev),
  ref('x-blockdev-set-iothread', 'node-name', 'block-node'),
  ref('x-blockdev-set-iothread', 'iothread', 'iothread'),
  // Block jobs: the source names an existing device or node, the job id is new.
  made('block-commit', 'job-id', 'job'),
  ref('block-commit', 'device', dev),
  ref('block-commit', 'base-node', 'block-node'),
  ref('block-commit', 'top-node', 'block-node'),
  made('block-stream', 'job-id', 'job'),
  ref('block-stream', 'device', dev),
  ref('block-stream', 'base-node', 'block-node'),
  ref('block-stream', 'bottom', 'block-node'),
  made('blockdev-mirror', 'job-id', 'job'),
  ref('blockdev-mirror', 'device', dev),
  ref('blockdev-mirror', 'target', 'block-node'),
  ref('blockdev-mirror', 'replaces', 'block-node'),
  made('blockdev-backup', 'job-id', 'job'),
  ref('blockdev-backup', 'device', dev),
  ref('blockdev-backup', 'target', 'block-node'),
  ref('blockdev-backup', 'bitmap', 'dirty-bitmap', 'device'),
  made('drive-mirror', 'job-id', 'job'),
  ref('drive-mirror', 'device', dev),
  made('drive-backup', 'job-id', 'job'),
  ref('drive-backup', 'device', dev),
  made('blockdev-create', 'job-id', 'job'),
  made('x-blockdev-amend', 'job-id', 'job'),
  ref('x-blockdev-amend', 'node-name', 'block-node'),
  ref('block-job-set-speed', 'device', 'block-job'),
  ref('block-job-cancel', 'device', 'block-job'),
  ref('block-job-pause', 'device', 'block-job'),
  ref('block-job-resume', 'device', 'block-job'),
  ref('block-job-complete', 'device', 'block-job'),
  ref('block-job-dismiss', 'id', 'job'),
  ref('block-job-finalize', 'id', 'job'),
  ref('job-pause', 'id', 'job'),
  ref('job-resume', 'id', 'job'),
  ref('job-cancel', 'id', 'job'),
  ref('job-complete', 'id', 'job'),
  ref('job-dismiss', 'id', 'job'),
  ref('job-finalize', 'id', 'job'),
  // Dirty bitmaps live on a node.
  ref('block-dirty-bitmap-add', 'node', 'block-node'),
  made('block-dirty-bitmap-add', 'name', 'dirty-bitmap', 'node'),
  ref('block-dirty-bitmap-remove', 'node', 'block-node'),
  ref('block-dirty-bitmap-remove', 'name', 'dirty-bitmap', 'node'),
  ref('block-dirty-bitmap-clear', 'node', 'block-node'),
  ref('block-dirty-bitmap-clear', 'name', 'dirty-bitmap', 'node'),
  ref('block-dirty-bitmap-enable', 'node', 'block-node'),
  ref('block-dirty-bitmap-enable', 'name', 'dirty-bitmap', 'node'),
  ref('block-dirty-bitmap-disable', 'node', 'block-node'),
  ref('block-dirty-bitmap-disable', 'name', 'dirty-bitmap', 'node'),
  ref('block-dirty-bitmap-merge', 'node', 'block-node'),
  ref('block-dirty-bitmap-merge', 'target', 'dirty-bitmap', 'node'),
  // Exports.
  made('block-export-add', 'id', 'block-export'),
  ref('block-export-add', 'node-name', 'block-node'),
  ref('block-export-add', 'iothread', 'iothread'),
  ref('block-export-del', 'id', 'block-export'),
  ref('nbd-server-add', 'device', dev),
  // Devices and QOM.
  ref('device_add', 'driver', 'device-type'),
  made('device_add', 'id', 'qdev-id'),
  ref('device_del', 'id', ['qdev-id', 'qom-path']),
  ref('device-list-properties', 'typename', 'device-type'),
  ref('qom-list-properties', 'typename', 'qom-type'),
  ref('qom-list', 'path', 'qom-path'),
  ref('qom-get', 'path', 'qom-path'),
  ref('qom-get', 'property', 'qom-property', 'path'),
  ref('qom-set', 'path', 'qom-path'),
  ref('qom-set', 'property', 'qom-property', 'path'),
  made('object-add', 'id', 'object-id'),
  ref('object-del', 'id', 'object-id'),
  // Character and network backends.
  made('chardev-add', 'id', 'chardev'),
  ref('chardev-change', 'id', 'chardev'),
  ref('chardev-remove', 'id', 'chardev'),
  ref('chardev-send-break', 'id', 'chardev'),
  ref('ringbuf-write', 'device', 'chardev'),
  ref('ringbuf-read', 'device', 'chardev'),
  made('netdev_add', 'id', 'netdev'),
  ref('netdev_del', 'id', 'netdev'),
  // CPU models.
  ref('query-cpu-model-expansion', 'model.name', 'cpu-model'),
];

/** The events after which a kind's cached values are stale. */
export const invalidatingEvents: Readonly<Record<string, readonly LiveKind[]>> = {
  DEVICE_DELETED: ['qdev-id', 'qom-path', 'qom-property', 'block-backend', 'block-node'],
  JOB_STATUS_CHANGE: ['job', 'block-job', 'block-node'],
  BLOCK_JOB_COMPLETED: ['job', 'block-job', 'block-node', 'block-backend'],
  BLOCK_JOB_CANCELLED: ['job', 'block-job', 'block-node'],
  BLOCK_JOB_READY: ['block-job'],
  BLOCK_JOB_ERROR: ['block-job'],
  BLOCK_JOB_PENDING: ['job', 'block-job'],
  BLOCK_EXPORT_DELETED: ['block-export'],
  DEVICE_TRAY_MOVED: ['block-backend'],
  NIC_RX_FILTER_CHANGED: [],
};

/** Whether `seg` (a member name, or an array index as a string) matches the pattern segment `pat`. */
function segmentMatches(pat: string, seg: string): boolean {
  return pat === '*' ? /^\d+$/.test(seg) : pat === seg;
}

const byCommand = new Map<string, LiveRef[]>();
for (const r of liveRefs) {
  const list = byCommand.get(r.command) ?? [];
  list.push(r);
  byCommand.set(r.command, list);
}

/** The row for the value at `path` inside the arguments of `command`, if it names a live object. */
export function liveRefAt(command: string, path: readonly string[]): LiveRef | undefined {
  for (const r of byCommand.get(command) ?? []) {
    if (r.path.length === path.length && r.path.every((p, i) => segmentMatches(p, path[i] as string))) return r;
  }
  return undefined;
}

/** Every row of `command`, for walking a whole argument object (diagnostics). */
export function liveRefsOf(command: string): readonly LiveRef[] {
  return byCommand.get(command) ?? [];
}

/** Commands after which a kind's cached values are stale because the command creates or removes one. */
export function kindsChangedBy(command: string): LiveKind[] {
  const out = new Set<LiveKind>();
  for (const r of byCommand.get(command) ?? []) if (r.role === 'new') r.kinds.forEach((k) => out.add(k));
  const removes: Record<string, LiveKind[]> = {
    'blockdev-del': ['block-node'],
    device_del: ['qdev-id', 'qom-path'],
    'object-del': ['object-id', 'qom-path', 'iothread'],
    'object-add': ['qom-path', 'iothread'],
    device_add: ['qom-path', 'block-backend'],
    'chardev-remove': ['chardev'],
    netdev_del: ['netdev'],
    'block-dirty-bitmap-remove': ['dirty-bitmap'],
    'block-dirty-bitmap-add': ['block-node'],
    'block-export-del': ['block-export'],
    'job-dismiss': ['job'],
    'block-job-dismiss': ['job'],
    'blockdev-insert-medium': ['block-backend'],
    'blockdev-remove-medium': ['block-backend'],
  };
  for (const k of removes[command] ?? []) out.add(k);
  return [...out];
}

/** Values of a member at `path` (with `*` elements) inside `args`: [value, concrete path] pairs. */
export function valuesAtPath(args: unknown, path: readonly string[]): Array<{ value: unknown; path: string[] }> {
  let frontier: Array<{ value: unknown; path: string[] }> = [{ value: args, path: [] }];
  for (const seg of path) {
    const next: Array<{ value: unknown; path: string[] }> = [];
    for (const f of frontier) {
      if (seg === '*') {
        if (Array.isArray(f.value)) f.value.forEach((v, i) => next.push({ value: v, path: [...f.path, String(i)] }));
      } else if (f.value !== null && typeof f.value === 'object' && !Array.isArray(f.value)) {
        const v = (f.value as Record<string, unknown>)[seg];
        if (v !== undefined) next.push({ value: v, path: [...f.path, seg] });
      }
    }
    frontier = next;
  }
  return frontier;
}

/**
 * What else exists once a command made an object of `kind` named `value`: the names the same object goes by
 * in other kinds (the QOM path of an object or a device, a device's block backend, an iothread object, the
 * block job of a block job's id). `member` reads a sibling argument (`qom-type` of object-add).
 */
export function alsoCreated(command: string, kind: LiveKind, value: string, member: (name: string) => unknown): Array<{ kind: LiveKind; value: string }> {
  switch (kind) {
    case 'object-id':
      return [{ kind: 'qom-path', value: `/objects/${value}` }, ...(member('qom-type') === 'iothread' ? [{ kind: 'iothread' as const, value }] : [])];
    case 'qdev-id':
      return [{ kind: 'qom-path', value: `/machine/peripheral/${value}` }, { kind: 'block-backend', value }];
    case 'job':
      return command === 'blockdev-create' || command === 'x-blockdev-amend' ? [] : [{ kind: 'block-job', value }];
    default:
      return [];
  }
}

/** Commands that remove the object a `ref` row of theirs names (a later `new` of the same name is no clash). */
export const REMOVING_COMMANDS: ReadonlySet<string> = new Set([
  'blockdev-del', 'device_del', 'object-del', 'chardev-remove', 'netdev_del', 'block-export-del', 'block-dirty-bitmap-remove',
  'job-dismiss', 'block-job-dismiss',
]);

/** The live objects a command with these arguments creates (role `new` rows with a string value), and what they imply. */
export function createdBy(command: string, args: unknown): Array<{ kind: LiveKind; value: string; scope?: string }> {
  const out: Array<{ kind: LiveKind; value: string; scope?: string }> = [];
  const member = (name: string): unknown => (args !== null && typeof args === 'object' ? (args as Record<string, unknown>)[name] : undefined);
  for (const r of byCommand.get(command) ?? []) {
    if (r.role !== 'new') continue;
    for (const hit of valuesAtPath(args, r.path)) {
      if (typeof hit.value !== 'string') continue;
      const scopeValue = r.scopeMember !== undefined ? member(r.scopeMember) : undefined;
      for (const kind of r.kinds) {
        out.push({ kind, value: hit.value, ...(typeof scopeValue === 'string' ? { scope: scopeValue } : {}) });
        out.push(...alsoCreated(command, kind, hit.value, member));
      }
    }
  }
  return out;
}
