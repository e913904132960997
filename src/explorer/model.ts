// The pure part of the QEMU explorer (the side bar's tree of what a session's QEMU holds; the vscode glue is
// src/explorer/view.ts): which queries list each branch, how their replies become tree items (block nodes and
// their children, the QOM composition tree one level at a time as QEMU's scripts/qmp/qom-tree walks it,
// chardevs, objects, jobs), which events and commands make a branch stale, and which commands a new cell on an
// item is pre-filled with. Runs under plain Node; every function is linear in the reply it reads, and the items
// one expansion gives are bounded (MAX_ITEMS, then one "more" item).
import { invalidatingEvents, kindsChangedBy, type LiveKind } from '../qmp/liveRefs';
import { graphFromDebug, graphFromNamed, isDebugGraph, type BlockGraph, type GraphNode } from '../render/blockGraph';
import { humanSize } from '../render/bytes';

/** The branches under each session, in the order shown. */
export const BRANCHES = ['block', 'devices', 'chardevs', 'objects', 'jobs'] as const;
export type BranchId = (typeof BRANCHES)[number];

export const BRANCH_LABELS: Readonly<Record<BranchId, string>> = {
  block: 'Block nodes',
  devices: 'Devices (QOM /machine)',
  chardevs: 'Chardevs',
  objects: 'Objects',
  jobs: 'Jobs',
};

/** The QOM path the devices branch starts at (qom-tree's default). */
export const DEVICES_ROOT = '/machine';
/** The QOM path whose children are the objects made with object-add / -object. */
export const OBJECTS_ROOT = '/objects';

/** The most items one expansion shows; the rest is one item saying how many more there are. */
export const MAX_ITEMS = 1000;

export type ItemKind = 'block-node' | 'qom' | 'object' | 'chardev' | 'job' | 'more';

/** One row of the tree below a branch. */
export interface ExplorerItem {
  readonly kind: ItemKind;
  /** Unique among the items of its session's tree, stable across refreshes (keeps a row's expanded state). */
  readonly id: string;
  readonly label: string;
  readonly description?: string;
  /** Plain lines: the item's main fields. */
  readonly tooltip: string;
  /** What "copy the name" and "insert at the cursor" give: a node name, a QOM path, an id. */
  readonly name: string;
  readonly expandable: boolean;
  /** A QOM item's path (its children are listed with qom-list of it). */
  readonly path?: string;
}

/** One query a branch (or a QOM item) is listed by. */
export interface Query {
  readonly command: string;
  readonly args?: Record<string, unknown>;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const rows = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter(isObj) : []);

/**
 * The queries that list a branch, given which commands the server has. The block branch: the node details from
 * query-named-block-nodes (`flat`, so that a long backing chain is not repeated inside every node), and the
 * parent-child edges from x-debug-query-block-graph where the server has it (QEMU 7.2 and 10.0 report no
 * `children` in query-named-block-nodes; where it does, that is used without the debug graph). Undefined: the
 * server cannot list the branch (a guest agent has none of these).
 */
export function branchQueries(branch: BranchId, has: (command: string) => boolean): Query[] | undefined {
  switch (branch) {
    case 'block':
      if (!has('query-named-block-nodes')) return undefined;
      return [{ command: 'query-named-block-nodes', args: { flat: true } }, ...(has('x-debug-query-block-graph') ? [{ command: 'x-debug-query-block-graph' }] : [])];
    case 'devices':
      return has('qom-list') ? [qomQuery(DEVICES_ROOT)] : undefined;
    case 'objects':
      return has('qom-list') ? [qomQuery(OBJECTS_ROOT)] : undefined;
    case 'chardevs':
      return has('query-chardev') ? [{ command: 'query-chardev' }] : undefined;
    case 'jobs':
      return has('query-jobs') ? [{ command: 'query-jobs' }] : undefined;
  }
}

export function qomQuery(path: string): Query {
  return { command: 'qom-list', args: { path } };
}

/** `/machine` + `peripheral` → `/machine/peripheral`; `/` + `machine` → `/machine`. */
export function qomJoin(parent: string, child: string): string {
  return parent.endsWith('/') ? `${parent}${child}` : `${parent}/${child}`;
}

/** `child<virtio-blk-pci>` → `virtio-blk-pci`; undefined for any other property type (links, values). */
export function childType(type: unknown): string | undefined {
  const t = str(type);
  const m = t === undefined ? null : /^child<(.*)>$/.exec(t);
  return m ? m[1] : undefined;
}

function bounded(items: ExplorerItem[], idPrefix: string): ExplorerItem[] {
  if (items.length <= MAX_ITEMS) return items;
  const more = items.length - MAX_ITEMS;
  return [...items.slice(0, MAX_ITEMS), { kind: 'more', id: `${idPrefix}more`, label: `… ${more} more`, tooltip: `${more} more items are not shown (at most ${MAX_ITEMS} per level).`, name: '', expandable: false }];
}

/**
 * The children of a QOM object from its qom-list reply: its `child<…>` properties (the composition tree, as
 * qom-tree walks it), in QEMU's order. `kind` 'object' for the children of /objects (each an object-add'ed
 * object: not expanded further unless it has children), 'qom' otherwise.
 */
export function qomItems(parent: string, reply: unknown, kind: 'qom' | 'object' = parent === OBJECTS_ROOT ? 'object' : 'qom'): ExplorerItem[] {
  const out: ExplorerItem[] = [];
  for (const p of rows(reply)) {
    const name = str(p['name']);
    const type = childType(p['type']);
    if (name === undefined || type === undefined) continue;
    const path = qomJoin(parent, name);
    out.push({
      kind, id: `qom:${path}`, label: name, description: type, path,
      tooltip: [kind === 'object' ? `object ${name}` : path, `type: ${type}`, ...(kind === 'object' ? [`QOM path: ${path}`] : [])].join('\n'),
      name: kind === 'object' ? name : path, expandable: true,
    });
  }
  return bounded(out, `qom:${parent}\0`);
}

/** The block tree: its model and the named records that fill the tooltips. */
export interface BlockTree {
  readonly graph: BlockGraph;
  /** The graph's nodes by id. */
  readonly byId: ReadonlyMap<string, GraphNode>;
  /** query-named-block-nodes' record of each node name. */
  readonly records: ReadonlyMap<string, Record<string, unknown>>;
  /** Backends (query-block device names, or qdev paths) attached to each driver node's id. */
  readonly backends: ReadonlyMap<string, string[]>;
  /** Children of each graph node id: [role, child node id]. */
  readonly children: ReadonlyMap<string, Array<[string, string]>>;
  /** Driver nodes that are no other driver node's child, in the order QEMU lists them. */
  readonly roots: readonly string[];
}

/**
 * The block tree from query-named-block-nodes and, when the server has it, x-debug-query-block-graph (the
 * graph the notebook's block graph draws: src/render/blockGraph.ts).
 */
export function blockTree(named: unknown, debug?: unknown): BlockTree {
  const graph = debug !== undefined && isDebugGraph(debug) ? graphFromDebug(debug, named) : graphFromNamed(Array.isArray(named) ? named : []);
  const records = new Map<string, Record<string, unknown>>();
  for (const n of rows(named)) {
    const name = str(n['node-name']);
    if (name !== undefined) records.set(name, n);
  }
  const byId = new Map(graph.nodes.map((n) => [n.id, n] as const));
  const children = new Map<string, Array<[string, string]>>();
  const backends = new Map<string, string[]>();
  const hasDriverParent = new Set<string>();
  for (const e of graph.edges) {
    const parent = byId.get(e.parent);
    const child = byId.get(e.child);
    if (!parent || !child || child.kind !== 'driver') continue;
    if (parent.kind === 'driver') {
      hasDriverParent.add(child.id);
      let list = children.get(parent.id);
      if (!list) children.set(parent.id, (list = []));
      list.push([e.role, child.id]);
    } else if (parent.kind === 'backend') {
      let list = backends.get(child.id);
      if (!list) backends.set(child.id, (list = []));
      list.push(parent.name || `#${parent.id}`);
    }
  }
  const roots = graph.nodes.filter((n) => n.kind === 'driver' && !hasDriverParent.has(n.id)).map((n) => n.id);
  return { graph, byId, records, backends, children, roots };
}

function nodeItem(tree: BlockTree, n: GraphNode, role: string | undefined, parentKey: string): ExplorerItem {
  const rec = tree.records.get(n.name);
  const image = rec && isObj(rec['image']) ? rec['image'] : undefined;
  const backends = tree.backends.get(n.id) ?? [];
  const kids = tree.children.get(n.id) ?? [];
  const label = n.name || `#${n.id}`;
  const size = n.size !== undefined ? humanSize(n.size) : undefined;
  const lines = [
    `node ${label}`,
    ...(role ? [`role: ${role}`] : []),
    ...(n.driver ? [`driver: ${n.driver}`] : []),
    ...(n.file ? [`file: ${n.file}`] : []),
    ...(n.size !== undefined ? [`virtual size: ${size} (${n.size} bytes)`] : []),
    ...(image && typeof image['actual-size'] === 'number' ? [`actual size: ${humanSize(image['actual-size'])}`] : []),
    ...(rec && typeof rec['ro'] === 'boolean' ? [`read-only: ${rec['ro'] ? 'yes' : 'no'}`] : []),
    ...(rec && str(rec['backing_file']) ? [`backing file: ${str(rec['backing_file'])}`] : []),
    ...(rec && Array.isArray(rec['dirty-bitmaps']) && rec['dirty-bitmaps'].length ? [`dirty bitmaps: ${rec['dirty-bitmaps'].length}`] : []),
    ...(backends.length ? [`attached to: ${backends.join(', ')}`] : []),
    ...(kids.length ? [`children: ${kids.map(([r, c]) => `${r} ${tree.byId.get(c)?.name ?? c}`).join(', ')}`] : []),
  ];
  const description = [role, n.driver, size].filter((s) => s).join(' · ');
  return {
    kind: 'block-node', id: `${parentKey}/${role ?? ''}:${n.id}`, label, ...(description ? { description } : {}),
    tooltip: lines.join('\n'), name: n.name, expandable: kids.length > 0, path: n.id,
  };
}

/** The top level of the block branch: the nodes no other node holds as a child. */
export function blockRootItems(tree: BlockTree): ExplorerItem[] {
  const byId = tree.byId;
  const out: ExplorerItem[] = [];
  for (const id of tree.roots) {
    const n = byId.get(id);
    if (n) out.push(nodeItem(tree, n, undefined, 'block'));
  }
  return bounded(out, 'block\0');
}

/**
 * A short stable digest of a row's id (two 32-bit FNV-1a hashes): a child's id names its parent row by it, so
 * that ids keep one length however deep a backing chain goes (a node held by two parents still gets two ids).
 */
export function idDigest(id: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ id.length;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return a.toString(36) + b.toString(36);
}

/** The children of a block node (its item's `path`, the graph id), each labelled with its role (file, backing…). */
export function blockChildItems(tree: BlockTree, parent: ExplorerItem): ExplorerItem[] {
  const byId = tree.byId;
  const out: ExplorerItem[] = [];
  const key = `block:${idDigest(parent.id)}`;
  for (const [role, id] of tree.children.get(parent.path ?? '') ?? []) {
    const n = byId.get(id);
    if (n) out.push(nodeItem(tree, n, role, key));
  }
  return bounded(out, `${key}\0`);
}

/** query-chardev's reply as items. */
export function chardevItems(reply: unknown): ExplorerItem[] {
  const out: ExplorerItem[] = [];
  for (const c of rows(reply)) {
    const label = str(c['label']);
    if (label === undefined) continue;
    const file = str(c['filename']) ?? '';
    const open = typeof c['frontend-open'] === 'boolean' ? c['frontend-open'] : undefined;
    out.push({
      kind: 'chardev', id: `chardev:${label}`, label, ...(file ? { description: file } : {}),
      tooltip: [`chardev ${label}`, `filename: ${file}`, ...(open !== undefined ? [`front end open: ${open ? 'yes' : 'no'}`] : [])].join('\n'),
      name: label, expandable: false,
    });
  }
  return bounded(out, 'chardev\0');
}

/** query-jobs' reply as items: id, type, status and progress. */
export function jobItems(reply: unknown): ExplorerItem[] {
  const out: ExplorerItem[] = [];
  for (const j of rows(reply)) {
    const id = str(j['id']);
    if (id === undefined) continue;
    const type = str(j['type']) ?? '';
    const status = str(j['status']) ?? '';
    const cur = j['current-progress'];
    const total = j['total-progress'];
    const progress = typeof cur === 'number' && typeof total === 'number' && total > 0 ? `${Math.floor((100 * cur) / total)}%` : undefined;
    const error = str(j['error']);
    out.push({
      kind: 'job', id: `job:${id}`, label: id, description: [type, status, progress].filter((s) => s).join(' · '),
      tooltip: [`job ${id}`, `type: ${type}`, `status: ${status}`,
        ...(typeof cur === 'number' && typeof total === 'number' ? [`progress: ${cur} / ${total}${progress ? ` (${progress})` : ''}`] : []),
        ...(error ? [`error: ${error}`] : [])].join('\n'),
      name: id, expandable: false,
    });
  }
  return bounded(out, 'job\0');
}

/** Which branch shows the values of each live kind (docs/live-values.md); undefined: none. */
const kindBranches: Readonly<Record<LiveKind, BranchId[]>> = {
  'block-node': ['block'],
  'block-backend': ['block'],
  'dirty-bitmap': ['block'],
  'qdev-id': ['devices'],
  'qom-path': ['devices', 'objects'],
  'qom-property': [],
  job: ['jobs'],
  'block-job': ['jobs'],
  chardev: ['chardevs'],
  'object-id': ['objects'],
  iothread: ['objects'],
  netdev: [],
  'block-export': [],
  'cpu-model': [],
  'device-type': [],
  'qom-type': [],
  'device-property': [],
};

function branchesOfKinds(kinds: Iterable<LiveKind>): BranchId[] {
  const out = new Set<BranchId>();
  for (const k of kinds) for (const b of kindBranches[k] ?? []) out.add(b);
  return BRANCHES.filter((b) => out.has(b));
}

/**
 * The branches an event makes stale: the live values' table (src/qmp/liveRefs.ts invalidatingEvents), and the
 * job branch on every job event (a job's status shows in its row).
 */
export function branchesForEvent(event: string): BranchId[] {
  const out = new Set(branchesOfKinds(invalidatingEvents[event] ?? []));
  if (event === 'JOB_STATUS_CHANGE' || event.startsWith('BLOCK_JOB_')) out.add('jobs');
  return BRANCHES.filter((b) => out.has(b));
}

/**
 * The branches a command (sent by a cell, successful or not) makes stale: the live values' rule
 * (kindsChangedBy), and the job commands that change a job's row.
 */
export function branchesForCommand(command: string): BranchId[] {
  const out = new Set(branchesOfKinds(kindsChangedBy(command)));
  if (/^(?:block-)?job-/.test(command) || /^block-job-/.test(command)) out.add('jobs');
  if (command === 'chardev-add' || command === 'chardev-change') out.add('chardevs');
  return BRANCHES.filter((b) => out.has(b));
}

/** A command a new cell on an item may be pre-filled with. */
export interface CellCommand {
  /** The command's name (what the quick pick shows). */
  readonly command: string;
  /** What it does to the item, for the quick pick. */
  readonly detail: string;
  /** The cell's text. */
  readonly text: string;
}

/** One command as a qmp cell writes it: `{ "execute": "qom-list", "arguments": { "path": "/machine" } }`. */
export function commandText(command: string, args?: Record<string, unknown>): string {
  const a = args && Object.keys(args).length
    ? `, "arguments": { ${Object.entries(args).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')} }` : '';
  return `{ "execute": ${JSON.stringify(command)}${a} }`;
}

function cmd(command: string, detail: string, args?: Record<string, unknown>): CellCommand {
  return { command, detail, text: commandText(command, args) };
}

/** The id a QOM path gives to device_del: its last part for /machine/peripheral/ID, else the path itself. */
function deviceId(path: string): string {
  const m = /^\/machine\/peripheral\/([^/]+)$/.exec(path);
  return m?.[1] ?? path;
}

/**
 * The commands a new cell on an item may run, the first the default: queries first, then what removes the
 * item. Undefined for an item that names nothing ("more").
 */
export function cellCommands(item: ExplorerItem): CellCommand[] | undefined {
  switch (item.kind) {
    case 'block-node':
      return [
        cmd('query-named-block-nodes', 'every node, with its driver, file and image', { flat: true }),
        cmd('query-block', 'the block backends and the nodes inserted in them'),
        cmd('x-debug-query-block-graph', 'the block graph'),
        cmd('blockdev-del', `delete node ${item.name}`, { 'node-name': item.name }),
      ];
    case 'qom': {
      const path = item.path ?? item.name;
      const device = /^\/machine\/peripheral(?:-anon)?\//.test(path);
      return [
        cmd('qom-list', `the properties of ${path}`, { path }),
        cmd('qom-get', `the type of ${path}`, { path, property: 'type' }),
        ...(device ? [cmd('device_del', `unplug the device ${deviceId(path)}`, { id: deviceId(path) })] : []),
      ];
    }
    case 'object': {
      const path = item.path ?? qomJoin(OBJECTS_ROOT, item.name);
      return [
        cmd('qom-list', `the properties of ${path}`, { path }),
        cmd('qom-get', `the type of ${path}`, { path, property: 'type' }),
        cmd('object-del', `delete the object ${item.name}`, { id: item.name }),
      ];
    }
    case 'chardev':
      return [
        cmd('query-chardev', 'every chardev, with its file name'),
        cmd('chardev-remove', `remove the chardev ${item.name}`, { id: item.name }),
      ];
    case 'job':
      return [
        cmd('query-jobs', 'every job, with its status and progress'),
        cmd('job-cancel', `cancel the job ${item.name}`, { id: item.name }),
        cmd('job-dismiss', `dismiss the concluded job ${item.name}`, { id: item.name }),
      ];
    case 'more':
      return undefined;
  }
}

/** The text of the QMP command name in a wire message (`{"execute": "blockdev-del", …}`), read from its start. */
export function commandOfWire(text: string): string | undefined {
  const m = /"(?:execute|exec-oob)"\s*:\s*"([^"\\]+)"/.exec(text.length > 200 ? text.slice(0, 200) : text);
  return m?.[1];
}
