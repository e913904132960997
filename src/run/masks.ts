// Volatile values: what changes from run to run although nothing meaningful changed, and the stable form it
// is saved and compared in (saved outputs in src/testing, expected events written in cells in the engine).
// The classes follow QEMU's own iotests filters (tests/qemu-iotests/iotests.py: filter_qmp_event,
// filter_qmp, filter_testfiles): event timestamps, the ids the client made up, host thread ids, and paths
// under the run's own temporary directory. A notebook adds its own masks in its front matter
// (`masks: ["return.uptime", "/pid [0-9]+/"]`). See docs/notebook-format.md ("Volatile values").
//
// Masking works on a syntax tree that keeps literals exactly, so everything that is not masked is compared
// and saved byte for byte. It is idempotent: masking a masked message changes nothing.
import { parseJsonTree, printJsonTree, str, type JsonMember, type JsonNode } from './jsonTree';

/** What a masked value becomes (like iotests' `SECS`, `USECS`, `TEST_DIR`). */
export const MASKED = 'MASKED';

/** A mask a notebook declares: a JSON path into every message, or a pattern over string values and text. */
export type Mask =
  | { kind: 'path'; text: string; segments: string[] }
  | { kind: 'pattern'; text: string; re: RegExp };

/** A directory whose paths are volatile (a sandbox's private directory), written as `name` when saved. */
export interface VolatileDir {
  path: string;
  name: string;
}

export interface MaskOptions {
  masks?: readonly Mask[];
  dirs?: readonly VolatileDir[];
}

const PATTERN = /^\/(.*)\/([imsu]*)$/s;

/**
 * Parses one mask of the front matter: `/regex/flags` (flags from `imsu`) is a pattern over string values
 * and `//` text lines; anything else is a path of member names separated by dots, where `*` is any one
 * member or array element and `**` any number of levels (`return.uptime`, `data.offset`, `**.thread-id`).
 */
export function parseMask(text: string): Mask | { error: string } {
  const p = PATTERN.exec(text);
  if (p) {
    if (p[1] === '') return { error: `empty pattern '${text}'` };
    try {
      return { kind: 'pattern', text, re: new RegExp(p[1] as string, `${p[2] ?? ''}g`) };
    } catch (err) {
      return { error: `bad pattern ${text}: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  const segments = text.split('.');
  if (text.trim() === '' || segments.some((s) => s === '')) return { error: `bad mask '${text}': expected a path like return.uptime or a /pattern/` };
  if (segments.every((s) => s === '**')) return { error: `mask '${text}' would hide every message` };
  return { kind: 'path', text, segments };
}

const CLIENT_ID = /^#/;

function maskStrings(node: JsonNode, opts: MaskOptions): JsonNode {
  switch (node.type) {
    case 'object':
      return { type: 'object', members: node.members.map((m) => ({ key: m.key, value: maskStrings(m.value, opts) })) };
    case 'array':
      return { type: 'array', items: node.items.map((i) => maskStrings(i, opts)) };
    case 'string': {
      const masked = maskText(node.value, opts);
      return masked === node.value ? node : str(masked);
    }
    default:
      return node;
  }
}

/** Volatile directories and pattern masks applied to a piece of text. */
export function maskText(text: string, opts: MaskOptions): string {
  let out = text;
  for (const d of opts.dirs ?? []) {
    if (d.path !== '' && out.includes(d.path)) out = out.split(d.path).join(d.name);
  }
  for (const m of opts.masks ?? []) {
    if (m.kind === 'pattern') {
      m.re.lastIndex = 0;
      out = out.replace(m.re, MASKED);
    }
  }
  return out;
}

/** Replaces every value the path reaches with MASKED. Linear in the size of the tree per `**`. */
function maskPath(node: JsonNode, segments: readonly string[], at: number): JsonNode {
  if (at === segments.length) return str(MASKED);
  const seg = segments[at] as string;
  if (seg === '**') {
    // Zero levels here, or one level down keeping `**`.
    const here = maskPath(node, segments, at + 1);
    return mapChildren(here, () => true, (child) => maskPath(child, segments, at));
  }
  return mapChildren(node, (key) => seg === '*' || seg === key, (child) => maskPath(child, segments, at + 1));
}

function mapChildren(node: JsonNode, pick: (key: string) => boolean, f: (child: JsonNode) => JsonNode): JsonNode {
  if (node.type === 'object') {
    let changed = false;
    const members: JsonMember[] = node.members.map((m) => {
      if (!pick(m.key)) return m;
      const value = f(m.value);
      if (value !== m.value) changed = true;
      return { key: m.key, value };
    });
    return changed ? { type: 'object', members } : node;
  }
  if (node.type === 'array') {
    let changed = false;
    const items = node.items.map((item, i) => {
      if (!pick(String(i))) return item;
      const value = f(item);
      if (value !== item) changed = true;
      return value;
    });
    return changed ? { type: 'array', items } : node;
  }
  return node;
}

/** The built-in masks on a whole message (see the header). */
function builtIn(root: JsonNode): JsonNode {
  if (root.type !== 'object') return root;
  const isEvent = root.members.some((m) => m.key === 'event' && m.value.type === 'string');
  const members: JsonMember[] = [];
  for (const m of root.members) {
    // The client's own ids ("#N") change with every run; ids the author wrote are kept.
    if (m.key === 'id' && m.value.type === 'string' && CLIENT_ID.test(m.value.value)) continue;
    if (isEvent && m.key === 'timestamp' && m.value.type === 'object') {
      members.push({ key: m.key, value: { type: 'object', members: [{ key: 'seconds', value: str('SECS') }, { key: 'microseconds', value: str('USECS') }] } });
      continue;
    }
    // Host thread ids (query-cpus-fast, query-iothreads) are new in every QEMU process.
    if (m.key === 'return') {
      members.push({ key: m.key, value: maskPath(m.value, ['**', 'thread-id'], 0) });
      continue;
    }
    members.push(m);
  }
  return { type: 'object', members };
}

/** A parsed message with every mask applied. */
export function maskTree(root: JsonNode, opts: MaskOptions = {}): JsonNode {
  let node = builtIn(root);
  for (const m of opts.masks ?? []) if (m.kind === 'path') node = maskPath(node, m.segments, 0);
  return maskStrings(node, opts);
}

/**
 * A message (reply, event or sent command) in its stable form, on one line in QEMU's wire style. Text that
 * is not JSON is returned with only the text masks applied, so nothing is lost.
 */
export function maskMessage(json: string, opts: MaskOptions = {}): string {
  const tree = parseJsonTree(json);
  if (tree === undefined) return maskText(json, opts);
  return printJsonTree(maskTree(tree, opts));
}
