// Live values in the editor: completion of the names the connected QEMU holds (block nodes, device ids, jobs,
// chardevs…), warnings for names it does not know, and hovers that say what a name is. Pure functions of the
// cell text and a synchronous view of the session's cached values (LiveLookup); the caller fetches what
// `liveNeeds` names before it calls them (fetchLive, at the end: the one bounded fetch, for the editor and the
// language server alike), so nothing else here waits or does I/O.
//
// Which argument names which kind of object is the table in src/qmp/liveRefs.ts; docs/live-values.md has the
// rules. Warnings are never errors (the object may be made by a cell that has not run yet) and are given only
// for values the session listed freshly.

import { cellText, type CellSource, type CellText } from './parsed';
import type { LiveKind, LiveRef } from '../qmp/liveRefs';
import { REMOVING_COMMANDS, alsoCreated, createdBy, liveRefAt, liveRefsOf } from '../qmp/liveRefs';
import type { LiveSnapshot, LiveValues } from '../qmp/liveValues';
import { qomParent } from '../qmp/liveValues';
import { didYouMean } from '../format/validate';
import type { CompletionItem } from './completion';
import type { Diagnostic } from './diagnostics';
import type { HoverResult } from './hover';
import { type JsonNode, type JsonObject, type OffsetRange, locate, pathOf, propertyOf, stringValueOf } from './jsonCursor';
import { shellLineWords } from './shellCompletion';

/** The session's cached live values, read synchronously. */
export interface LiveLookup {
  /** The cached values of `kind` within `scope`; undefined when never fetched. */
  peek(kind: LiveKind, scope?: string): LiveSnapshot | undefined;
}

/** Names made by earlier cells of the same notebook, by kind (they may not exist yet when this cell is checked). */
export type CreatedNames = ReadonlyMap<LiveKind, ReadonlySet<string>>;

/** A value position that names a live object, under the cursor or in a cell. */
export interface LiveSpot {
  command: string;
  ref: LiveRef;
  /** The value of the ref's scope member (the node of a bitmap, the path of a QOM property), if given. */
  scope?: string;
  /** The value as typed so far (up to the cursor, for completion; whole, for checks and hover). */
  value: string;
  /** What a completion replaces: the whole value token, quotes included when `quoted`. */
  range: OffsetRange;
  quoted: boolean;
  /** Which command of the cell the value belongs to (0-based, in text order). */
  at?: number;
  /** Reads another argument of the same command (what a created object implies may depend on it). */
  member?: (name: string) => unknown;
}

/** The scope a kind is listed in for a spot: the sibling member, or for QOM paths the path typed so far. */
export function scopeOf(spot: LiveSpot, kind: LiveKind): string | undefined {
  if (kind === 'qom-path') return spot.value;
  return spot.ref.scopeMember !== undefined ? spot.scope : undefined;
}

// ---- qmp cells ----

function commandOf(root: JsonObject): string | undefined {
  return stringValueOf(root, 'execute') ?? stringValueOf(root, 'exec-oob');
}

/** The member path below `arguments` for a property's value, or undefined outside `arguments`. */
function argumentPath(path: readonly (string | number)[]): string[] | undefined {
  if (path[0] !== 'arguments') return undefined;
  return path.slice(1).map(String);
}

function scopeValue(args: JsonObject | undefined, ref: LiveRef): string | undefined {
  return ref.scopeMember !== undefined ? stringValueOf(args, ref.scopeMember) : undefined;
}

function jsonSpotAt(cell: CellText, offset: number): LiveSpot | undefined {
  const text = cell.text;
  const { location, object } = locate(text, offset, cell.objects);
  if (location.kind !== 'value' || object?.root === undefined) return undefined;
  const command = commandOf(object.root);
  if (command === undefined) return undefined;
  const holder = location.holder;
  if (holder.type !== 'property') return undefined;
  const path = argumentPath([...pathOf(holder.parent), holder.key]);
  if (path === undefined) return undefined;
  const ref = liveRefAt(command, path);
  if (ref === undefined) return undefined;
  const args = propertyOf(object.root, 'arguments')?.value;
  const node = location.node;
  const typedEnd = Math.max(location.range.start, Math.min(offset, location.range.end));
  const value = text.slice(location.range.start, typedEnd).replace(/^"/, '');
  const scope = scopeValue(args?.type === 'object' ? args : undefined, ref);
  return {
    command, ref, value, range: location.range, quoted: location.quoted || node?.type === 'string',
    ...(scope !== undefined ? { scope } : {}),
  };
}

/** Every string value in a qmp cell that a table row covers, with its range. */
function jsonSpots(cell: CellText): LiveSpot[] {
  const out: LiveSpot[] = [];
  let at = -1;
  for (const parsed of cell.objects) {
    at++;
    if (parsed.segment.kind !== 'send' || parsed.root === undefined) continue;
    const command = commandOf(parsed.root);
    if (command === undefined) continue;
    const argsNode = propertyOf(parsed.root, 'arguments')?.value;
    if (argsNode?.type !== 'object') continue;
    for (const ref of liveRefsOf(command)) {
      for (const node of nodesAt(argsNode, ref.path)) {
        if (node.type !== 'string') continue;
        const scope = scopeValue(argsNode, ref);
        out.push({
          command, ref, value: String(node.value), range: { start: node.start, end: node.end }, quoted: true, at,
          member: (name) => stringValueOf(argsNode, name), ...(scope !== undefined ? { scope } : {}),
        });
      }
    }
  }
  return out;
}

/** The nodes at a table path (`*` = every element) below an object; iterative, bounded by the path length. */
function nodesAt(root: JsonObject, path: readonly string[]): JsonNode[] {
  let frontier: JsonNode[] = [root];
  for (const seg of path) {
    const next: JsonNode[] = [];
    for (const n of frontier) {
      if (seg === '*') {
        if (n.type === 'array') next.push(...n.items);
      } else if (n.type === 'object') {
        const v = propertyOf(n, seg)?.value;
        if (v !== undefined) next.push(v);
      }
    }
    frontier = next;
  }
  return frontier;
}

// ---- qmp-shell cells ----

function shellSpots(cell: CellText, offset?: number): LiveSpot[] {
  const out: LiveSpot[] = [];
  let at = -1;
  for (const line of shellLineWords(cell)) {
    at++;
    const first = line.words[0];
    if (first === undefined || line.inTransaction || first.text === 'wait-event') continue;
    const command = first.text;
    const values = new Map<string, string>();
    for (const w of line.words.slice(1)) {
      const eq = w.text.indexOf('=');
      if (eq > 0) values.set(w.text.slice(0, eq), unquote(w.text.slice(eq + 1)));
    }
    for (const w of line.words.slice(1)) {
      const eq = w.text.indexOf('=');
      if (eq <= 0) continue;
      const ref = liveRefAt(command, w.text.slice(0, eq).split('.'));
      if (ref === undefined) continue;
      const start = w.start + eq + 1;
      if (offset !== undefined && (offset < start || offset > w.end)) continue;
      const raw = w.text.slice(eq + 1, offset !== undefined ? offset - w.start : undefined);
      const scope = ref.scopeMember !== undefined ? values.get(ref.scopeMember) : undefined;
      out.push({
        command, ref, value: unquote(raw), range: { start, end: w.end }, quoted: /^["']/.test(raw), at,
        member: (name) => values.get(name), ...(scope !== undefined ? { scope } : {}),
      });
    }
  }
  return out;
}

function unquote(s: string): string {
  return s.replace(/^(["'])(.*?)\1?$/s, '$2');
}

// ---- the features ----

/** The live-value position under the cursor, if any. */
export function liveSpotAt(language: string, source: CellSource, offset: number): LiveSpot | undefined {
  if (language === 'qmp') return jsonSpotAt(cellText(source), offset);
  if (language === 'qmp-shell') return shellSpots(cellText(source), offset)[0];
  return undefined;
}

/** Every live-value position of a cell (for checks, and for fetching what they need first). */
export function liveSpots(language: string, source: CellSource): LiveSpot[] {
  if (language === 'qmp') return jsonSpots(cellText(source));
  if (language === 'qmp-shell') return shellSpots(cellText(source));
  return [];
}

/** What to fetch before completing at `offset` (or, without an offset, before checking the whole cell). */
export function liveNeeds(language: string, source: CellSource, offset?: number): Array<{ kind: LiveKind; scope?: string }> {
  const cell = cellText(source);
  if (offset !== undefined) {
    const prop = devicePropertySpotAt(language, cell, offset);
    if (prop !== undefined) return [{ kind: 'device-property', scope: prop.driver }];
  }
  const spots = offset !== undefined ? [liveSpotAt(language, cell, offset)].filter((s): s is LiveSpot => s !== undefined) : liveSpots(language, cell);
  const out = new Map<string, { kind: LiveKind; scope?: string }>();
  for (const spot of spots) {
    for (const kind of spot.ref.kinds) {
      const scope = offset !== undefined ? scopeOf(spot, kind) : kind === 'qom-path' ? qomParent(spot.value) + '/' : scopeOf(spot, kind);
      if (kind === 'dirty-bitmap' && scope === undefined) continue;
      out.set(`${kind}\0${scope ?? ''}`, { kind, ...(scope !== undefined ? { scope } : {}) });
    }
  }
  return [...out.values()];
}

const KIND_NAMES: Record<LiveKind, string> = {
  'block-node': 'block node', 'block-backend': 'block backend', 'qdev-id': 'device', 'qom-path': 'QOM path',
  'qom-property': 'QOM property', job: 'job', 'block-job': 'block job', chardev: 'chardev', netdev: 'netdev',
  'dirty-bitmap': 'dirty bitmap', 'block-export': 'block export', 'cpu-model': 'CPU model', 'device-type': 'device type',
  'qom-type': 'QOM type', 'object-id': 'object', iothread: 'iothread', 'device-property': 'property',
};

/**
 * device_add accepts every property of its driver as a member, and the schema lists only `driver`, `bus`
 * and `id`: at a member name in device_add's arguments (a `qmp` key, or a `qmp-shell` word without `=`),
 * the driver named beside it, whose properties `device-list-properties` lists.
 */
export function devicePropertySpotAt(language: string, source: CellSource, offset: number): { driver: string; range: OffsetRange; present: Set<string>; quoted: boolean } | undefined {
  const cell = cellText(source);
  const text = cell.text;
  if (language === 'qmp') {
    const { location, object } = locate(text, offset, cell.objects);
    if (location.kind !== 'key' || object?.root === undefined || commandOf(object.root) !== 'device_add') return undefined;
    const path = pathOf(location.object);
    if (path.length !== 1 || path[0] !== 'arguments') return undefined;
    const driver = stringValueOf(location.object, 'driver');
    if (driver === undefined || driver === '') return undefined;
    return { driver, range: location.range, present: new Set(location.object.properties.map((p) => p.key)), quoted: location.quoted };
  }
  if (language === 'qmp-shell') {
    const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
    const nl = text.indexOf('\n', offset);
    const lineEnd = nl < 0 ? text.length : nl;
    const line = shellLineWords(cell).find((l) => l.words[0] !== undefined && l.words[0].start >= lineStart && l.words[0].start <= lineEnd);
    if (line?.words[0]?.text !== 'device_add' || line.inTransaction || offset <= line.words[0].end) return undefined;
    const word = line.words.find((w) => offset >= w.start && offset <= w.end);
    if (word !== undefined && word.text.includes('=')) return undefined;
    const keys = new Map(line.words.slice(1).map((w) => [w.text.split('=')[0] ?? '', w.text.slice(w.text.indexOf('=') + 1)]));
    const driver = keys.get('driver');
    if (driver === undefined || driver === '') return undefined;
    return { driver: unquote(driver), range: word ? { start: word.start, end: word.end } : { start: offset, end: offset }, present: new Set(keys.keys()), quoted: false };
  }
  return undefined;
}

/** Completion items for the value under the cursor: the live values of the kinds its row names. */
export function liveCompletions(language: string, source: CellSource, offset: number, live: LiveLookup | undefined): CompletionItem[] | undefined {
  const cell = cellText(source);
  const prop = devicePropertySpotAt(language, cell, offset);
  if (prop !== undefined) {
    const snap = live?.peek('device-property', prop.driver);
    return (snap?.items ?? []).filter((it) => !prop.present.has(it.value)).map((it) => ({
      label: it.value, kind: 'property' as const, detail: `${prop.driver} property${it.detail ? ` · ${it.detail}` : ''}`,
      insertText: language === 'qmp' ? `"${it.value}": ` : `${it.value}=`, range: prop.range,
      filterText: language === 'qmp' && prop.quoted ? `"${it.value}` : it.value, sortText: `0${it.value}`, retrigger: true,
    }));
  }
  const spot = liveSpotAt(language, cell, offset);
  if (spot === undefined) return undefined;
  // A name the command creates: the schema has nothing to offer and neither does the session.
  if (spot.ref.role === 'new' || live === undefined) return [];
  const items: CompletionItem[] = [];
  const seen = new Set<string>();
  for (const kind of spot.ref.kinds) {
    const snap = live.peek(kind, scopeOf(spot, kind));
    for (const it of snap?.items ?? []) {
      if (seen.has(it.value)) continue;
      seen.add(it.value);
      const insert = language === 'qmp' ? JSON.stringify(it.value) : /[\s"'=]/.test(it.value) ? JSON.stringify(it.value) : it.value;
      items.push({
        label: it.value, kind: 'value',
        detail: `${KIND_NAMES[kind]}${it.detail ? ` · ${it.detail}` : ''}${snap?.stale ? ' (may be stale)' : ''}`,
        insertText: insert, range: spot.range, filterText: language === 'qmp' && spot.quoted ? `"${it.value}` : it.value,
        sortText: `0${it.value}`,
      });
    }
  }
  return items;
}

/** Kinds whose names are the scope of another kind (a node's bitmaps, an object's properties). */
const SCOPE_KINDS: readonly LiveKind[] = ['block-node', 'block-backend', 'qom-path', 'object-id', 'qdev-id'];

/**
 * Warnings for values of a cell that name objects the session does not know (`ref` rows), or names that are
 * taken already (`new` rows). Only against fresh, listable snapshots; names made by earlier cells, and by
 * earlier commands of the same cell, are known, with what they imply (the QOM path `/objects/ID` of an
 * object-add, a device's path and backend); a name removed earlier in the cell may be made again.
 */
export function liveDiagnostics(language: string, source: CellSource, live: LiveLookup | undefined, created?: CreatedNames): Diagnostic[] {
  if (live === undefined) return [];
  const cell = cellText(source);
  const out: Diagnostic[] = [];
  const here = new Map<LiveKind, Set<string>>();
  const removed = new Map<LiveKind, Set<string>>();
  const add = (map: Map<LiveKind, Set<string>>, kind: LiveKind, value: string): void => {
    let set = map.get(kind);
    if (!set) map.set(kind, (set = new Set()));
    set.add(value);
  };
  const made = (kind: LiveKind, value: string): boolean => {
    const sets = [created?.get(kind), here.get(kind)];
    if (sets.some((set) => set?.has(value))) return true;
    // Below a path made earlier (an object's own children) nothing can be listed yet.
    if (kind === 'qom-path') for (const set of sets) for (const p of set ?? []) if (value.startsWith(`${p}/`)) return true;
    return false;
  };
  // What a command makes or removes counts from the next command on (a command cannot use its own name).
  let current: number | undefined;
  let pending: Array<() => void> = [];
  for (const spot of liveSpots(language, cell)) {
    if (spot.at !== current) {
      for (const f of pending) f();
      pending = [];
      current = spot.at;
    }
    if (spot.value === '') continue;
    const value = spot.value;
    if (spot.ref.role === 'new') {
      const member = spot.member ?? ((): unknown => undefined);
      for (const kind of spot.ref.kinds) {
        pending.push(() => add(here, kind, value));
        for (const also of alsoCreated(spot.command, kind, value, member)) pending.push(() => add(here, also.kind, also.value));
      }
    } else if (REMOVING_COMMANDS.has(spot.command)) {
      for (const kind of spot.ref.kinds) pending.push(() => add(removed, kind, value));
    }
    // The parent (node, object, path) was made by the notebook: what it holds cannot be listed yet.
    const scope = spot.scope;
    if (spot.ref.scopeMember !== undefined && scope !== undefined && SCOPE_KINDS.some((k) => made(k, scope))) continue;
    const snaps = spot.ref.kinds.map((kind) => ({ kind, snap: live.peek(kind, kind === 'qom-path' ? qomParent(spot.value) + '/' : scopeOf(spot, kind)) }));
    if (snaps.some((s) => s.snap === undefined || s.snap.stale || !s.snap.listable)) continue;
    const known = new Set<string>();
    for (const s of snaps) for (const it of s.snap?.items ?? []) known.add(it.value);
    const names = spot.ref.kinds.map((k) => KIND_NAMES[k]).join(' or ');
    if (spot.ref.role === 'ref') {
      if (known.has(value) || spot.ref.kinds.some((k) => made(k, value))) continue;
      const madeEarlier = spot.ref.kinds.flatMap((k) => [...(created?.get(k) ?? []), ...(here.get(k) ?? [])]);
      const suggestion = didYouMean(value, [...known, ...madeEarlier]);
      out.push({
        start: spot.range.start, end: spot.range.end, severity: 'warning', code: 'unknown-live-value',
        message: `the connected QEMU has no ${names} '${value}'${suggestion !== undefined ? ` (did you mean '${suggestion}'?)` : ''}`,
        ...(suggestion !== undefined ? { data: { suggestion: language === 'qmp' ? JSON.stringify(suggestion) : suggestion } } : {}),
      });
    } else if (known.has(value) && !spot.ref.kinds.some((k) => removed.get(k)?.has(value))) {
      out.push({
        start: spot.range.start, end: spot.range.end, severity: 'warning', code: 'live-name-taken',
        message: `the connected QEMU already has a ${names} '${value}'; ${spot.command} will refuse a second one`,
      });
    }
  }
  return out;
}

/** What a live value is, for hover: its kind and what the session listed about it. */
export function liveHover(language: string, source: CellSource, offset: number, live: LiveLookup | undefined): HoverResult | undefined {
  if (live === undefined) return undefined;
  const cell = cellText(source);
  const spot = liveSpots(language, cell).find((s) => offset >= s.range.start && offset < s.range.end);
  if (spot === undefined || spot.value === '') return undefined;
  for (const kind of spot.ref.kinds) {
    const snap = live.peek(kind, kind === 'qom-path' ? qomParent(spot.value) + '/' : scopeOf(spot, kind));
    const it = snap?.items.find((i) => i.value === spot.value);
    if (it === undefined) continue;
    const lines = [`**${spot.value}**: ${KIND_NAMES[kind]} in the connected QEMU`];
    if (it.detail) lines.push('', it.detail);
    if (snap?.stale) lines.push('', `_${snap.reason ?? 'may be stale'}_`);
    return { contents: lines.join('\n'), range: spot.range };
  }
  return undefined;
}

/** The names earlier cells make, by kind: from each command with its arguments, in notebook order. */
export function namesCreatedBy(commands: Iterable<{ command: string; args: unknown }>): Map<LiveKind, Set<string>> {
  const out = new Map<LiveKind, Set<string>>();
  for (const c of commands) {
    for (const made of createdBy(c.command, c.args)) {
      let set = out.get(made.kind);
      if (!set) out.set(made.kind, (set = new Set()));
      set.add(made.value);
    }
  }
  return out;
}

/** How long completion waits for live values it has to fetch first; then it offers what it has. */
export const LIVE_WAIT_MS = 1500;

/** Fetches the live values a position (or, without an offset, a whole cell) needs; bounded, never rejects. */
export async function fetchLive(live: LiveValues | undefined, language: string, text: CellSource, offset?: number): Promise<boolean> {
  if (live === undefined) return false;
  const needs = liveNeeds(language, text, offset).filter((n) => live.peek(n.kind, n.scope) === undefined || offset !== undefined);
  if (needs.length === 0) return false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(needs.map((n) => live.get(n.kind, n.scope))),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, LIVE_WAIT_MS); }),
  ]);
  if (timer !== undefined) clearTimeout(timer);
  return true;
}
