// Volatile values: what changes from run to run although nothing meaningful changed, and the stable form it
// is saved and compared in (saved outputs in src/testing, expected events written in cells in the engine).
// The classes follow QEMU's own iotests filters (tests/qemu-iotests/iotests.py: filter_qmp_event,
// filter_qmp, filter_testfiles): event timestamps, the ids the client made up, host thread ids, and paths
// under the run's own temporary directory. A notebook adds its own masks in its front matter
// (`masks: ["return.uptime", "/pid [0-9]+/"]`). See docs/notebook-format.md ("Volatile values").
//
// Masking works on a syntax tree that keeps literals exactly, so everything that is not masked is compared
// and saved byte for byte. It is idempotent: masking a masked message changes nothing.
//
// A notebook is shared text, so a mask must not be able to hang whoever runs or opens it: patterns run on
// RE2's linear-time engine (re2js, pure JavaScript, so the .vsix works on every platform), never on the
// backtracking RegExp, and a path is matched with a set of positions per node (an NFA over the path), so
// `**.**.**.x` costs the size of the tree times the length of the path, not a product of depths.
import { RE2JS, RE2JSException, type Matcher } from 're2js';
import { parseJsonTree, printJsonTree, str, type JsonMember, type JsonNode } from './jsonTree';

/** What a masked value becomes (like iotests' `SECS`, `USECS`, `TEST_DIR`). */
export const MASKED = 'MASKED';

/** A mask a notebook declares: a JSON path into every message, or a pattern over string values and text. */
export type Mask =
  | { kind: 'path'; text: string; segments: string[] }
  | { kind: 'pattern'; text: string; re: RE2JS };

/** A directory whose paths are volatile (a sandbox's private directory), written as `name` when saved. */
export interface VolatileDir {
  path: string;
  name: string;
}

export interface MaskOptions {
  masks?: readonly Mask[];
  dirs?: readonly VolatileDir[];
}

/** `/body/flags`: a pattern. Any mask that starts with `/` is read as one (a path never does). */
const PATTERN = /^\/(.*)\/([^/]*)$/s;
const FLAGS: Record<string, number> = { i: RE2JS.CASE_INSENSITIVE, m: RE2JS.MULTILINE, s: RE2JS.DOTALL, u: 0 };

/** Why the linear-time engine refuses a pattern, in the user's words, when the reason is a known class. */
function unsupported(body: string): string | undefined {
  const plain = body.replace(/\\\\/g, '');
  if (/\\[1-9]|\\k</.test(plain)) return 'backreferences (\\1, \\k<name>) are not supported';
  if (/\(\?<?[=!]/.test(plain)) return 'lookahead and lookbehind ((?=…), (?!…), (?<=…), (?<!…)) are not supported';
  return undefined;
}

/**
 * Parses one mask of the front matter: `/regex/flags` (flags from `imsu`) is a pattern over string values
 * and `//` text lines; anything else is a path of member names separated by dots, where `*` is any one
 * member or array element and `**` any number of levels (`return.uptime`, `data.offset`, `**.thread-id`).
 * Patterns use RE2 syntax (JavaScript's, less backreferences and lookaround), matched in linear time.
 */
export function parseMask(text: string): Mask | { error: string } {
  if (text.startsWith('/')) {
    const p = PATTERN.exec(text);
    if (!p) return { error: `bad pattern ${text}: expected /PATTERN/ with optional flags i, m, s, u after the closing /` };
    const body = p[1] as string;
    const flagText = p[2] as string;
    if (body === '') return { error: `empty pattern '${text}'` };
    let flags = 0;
    for (const f of flagText) {
      if (!(f in FLAGS)) {
        const why = f === 'g' ? ' (a mask already replaces every match)' : f === 'y' ? ' (a mask matches anywhere)' : '';
        return { error: `bad pattern ${text}: flag '${f}' is not supported${why}; the flags are i, m, s and u` };
      }
      if (flagText.indexOf(f) !== flagText.lastIndexOf(f)) return { error: `bad pattern ${text}: flag '${f}' is given twice` };
      flags |= FLAGS[f] as number;
    }
    const why = unsupported(body);
    if (why) return { error: `bad pattern ${text}: ${why} (masks use a linear-time engine, RE2 syntax)` };
    try {
      return { kind: 'pattern', text, re: RE2JS.compile(RE2JS.translateRegExp(body), flags) };
    } catch (err) {
      if (!(err instanceof RE2JSException)) throw err;
      return { error: `bad pattern ${text}: ${err.message} (masks use RE2 syntax: no backreferences or lookaround)` };
    }
  }
  const segments = text.split('.');
  if (text.trim() === '' || segments.some((s) => s === '')) return { error: `bad mask '${text}': expected a path like return.uptime or a /pattern/` };
  if (segments.every((s) => s === '**')) return { error: `mask '${text}' would hide every message` };
  return { kind: 'path', text, segments };
}

const CLIENT_ID = /^#/;
const THREAD_ID = ['**', 'thread-id'];

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
    if (m.kind === 'pattern') out = replaceAll(m.re.matcher(out), out);
  }
  return out;
}

/**
 * How long one pattern may work on one value: PATTERN_BUDGET_MS plus PATTERN_BUDGET_MS_PER_CHAR for each
 * character. RE2 finds each match in linear time, but a pattern whose every match must first read ahead to the
 * end and fail (`/a+b|a/` on a long run of `a`) costs the number of matches times the length: on a value of 16k
 * characters that is seconds. Past the budget the rest of the value is masked whole (one MASKED), so a shared
 * notebook's mask can never hang whoever runs or opens it. Ordinary patterns stay far below it (`/[0-9]+/` on
 * 800k characters with 100k matches: about 0.15 µs a character), so their results never depend on timing.
 * docs/notebook-format.md ("Volatile values").
 */
export const PATTERN_BUDGET_MS = 250;
export const PATTERN_BUDGET_MS_PER_CHAR = 0.002;

/** Every match of a pattern replaced by MASKED (an empty match too, as String.replace with /g does), within the budget. */
function replaceAll(m: Matcher, text: string): string {
  if (!m.find()) return text;
  const budgetMs = PATTERN_BUDGET_MS + text.length * PATTERN_BUDGET_MS_PER_CHAR;
  const started = performance.now();
  let out = '';
  let at = 0;
  do {
    out += text.slice(at, m.start()) + MASKED;
    at = m.end();
    if (performance.now() - started > budgetMs) return out + MASKED;
  } while (m.find());
  return out + text.slice(at);
}

/**
 * The positions of a path a node is at, closed over `**` (which may match no level): a set of segment
 * indexes, sorted; `segments.length` means the path is complete here.
 */
function closure(states: readonly number[], segments: readonly string[]): number[] {
  const out = new Set<number>();
  for (const s of states) {
    let k = s;
    out.add(k);
    while (k < segments.length && segments[k] === '**') out.add(++k);
  }
  return [...out].sort((x, y) => x - y);
}

/** The positions a child named `key` is at, from its parent's (closed) positions. */
function step(states: readonly number[], segments: readonly string[], key: string): number[] {
  const next: number[] = [];
  for (const s of states) {
    if (s >= segments.length) continue;
    const seg = segments[s] as string;
    if (seg === '**') next.push(s);
    else if (seg === '*' || seg === key) next.push(s + 1);
  }
  return next.length ? closure(next, segments) : next;
}

/**
 * Replaces every value the path reaches with MASKED, walking the tree once with the set of path positions
 * each node is at: linear in the size of the tree times the length of the path, whatever the `**`s.
 */
function maskPath(node: JsonNode, segments: readonly string[], states: readonly number[] = closure([0], segments)): JsonNode {
  if (states.includes(segments.length)) return str(MASKED);
  return mapChildren(node, (key) => {
    const next = step(states, segments, key);
    return next.length ? next : undefined;
  }, (child, next) => maskPath(child, segments, next));
}

function mapChildren<P>(node: JsonNode, pick: (key: string) => P | undefined, f: (child: JsonNode, picked: P) => JsonNode): JsonNode {
  if (node.type === 'object') {
    let changed = false;
    const members: JsonMember[] = node.members.map((m) => {
      const picked = pick(m.key);
      if (picked === undefined) return m;
      const value = f(m.value, picked);
      if (value !== m.value) changed = true;
      return { key: m.key, value };
    });
    return changed ? { type: 'object', members } : node;
  }
  if (node.type === 'array') {
    let changed = false;
    const items = node.items.map((item, i) => {
      const picked = pick(String(i));
      if (picked === undefined) return item;
      const value = f(item, picked);
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
      members.push({ key: m.key, value: maskPath(m.value, THREAD_ID) });
      continue;
    }
    members.push(m);
  }
  return { type: 'object', members };
}

/** A parsed message with every mask applied. */
export function maskTree(root: JsonNode, opts: MaskOptions = {}): JsonNode {
  let node = builtIn(root);
  for (const m of opts.masks ?? []) if (m.kind === 'path') node = maskPath(node, m.segments);
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
