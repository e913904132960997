// Named replies, the engine's part (docs/notebook-format.md, "Named replies"): the replies saved under a cell's
// `@name`, resolving `{{NAME.path}}` against them, and substituting into a command just before it is sent. The
// engine calls substituteStep() for each command that holds a reference and save() when a named cell ends,
// so every door (editor, run, test, the shell, the language server's runCell, MCP) substitutes the same way.
// The notation itself (scanning strings, the name line) is src/format/references.ts.
//
// Exactness: a reply is kept as its raw text and read with jsonTree (every literal as written), and a whole-
// string reference puts the referenced literal into the command's arguments text as it was written, so an
// integer beyond 2^53 (a node's size, a bitmap granularity) reaches QEMU exactly.
import { formatPath, mayHoldReference, scanString, type Reference } from '../format/index';
import { parseJsonTree, type JsonNode } from './jsonTree';

/** What a name holds: the last reply of the cell that has it, or why there is none. */
export type NamedEntry =
  | { ok: true; raw: string; cell: number }
  | { ok: false; reason: string; cell: number };

/** The replies saved under names, for one notebook (the editor) or one run (the CLI). */
export class NamedReplies {
  private readonly entries = new Map<string, NamedEntry & { tree?: JsonNode | null }>();
  private readonly listeners = new Set<(name: string) => void>();

  /** Saves what a named cell produced (replacing what the name held). */
  save(name: string, entry: NamedEntry): void {
    this.entries.set(name, { ...entry });
    for (const l of this.listeners) {
      try { l(name); } catch { /* a listener's failure is its own */ }
    }
  }

  get(name: string): NamedEntry | undefined {
    const e = this.entries.get(name);
    if (e === undefined) return undefined;
    return e.ok ? { ok: true, raw: e.raw, cell: e.cell } : { ok: false, reason: e.reason, cell: e.cell };
  }

  /** The reply of a name as a syntax tree (parsed once); undefined when the name holds no usable reply. */
  tree(name: string): JsonNode | undefined {
    const e = this.entries.get(name);
    if (e === undefined || !e.ok) return undefined;
    if (e.tree === undefined) e.tree = parseJsonTree(e.raw) ?? null;
    return e.tree ?? undefined;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Called with the name each time a name is saved; returns the unsubscribe. */
  onSaved(listener: (name: string) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => { this.listeners.delete(listener); } };
  }

  clear(): void {
    this.entries.clear();
  }
}

/** What a JSON node is, for messages. */
function kindOf(node: JsonNode): string {
  if (node.type === 'object') return 'an object';
  if (node.type === 'array') return 'an array';
  if (node.type === 'string') return 'a string';
  return node.raw === 'null' ? 'null' : node.raw === 'true' || node.raw === 'false' ? 'a boolean' : 'a number';
}

const MAX_LISTED = 8;

/** Resolves a reference against the saved replies: the node it names, or why it cannot be used. */
export function resolveReference(ref: Reference, names: NamedReplies): { node: JsonNode } | { error: string } {
  const entry = names.get(ref.name);
  const shown = `{{${ref.text}}}`;
  if (entry === undefined) return { error: `${shown}: no reply is named '${ref.name}' yet: run the cell marked @name ${ref.name} first` };
  if (!entry.ok) return { error: `${shown}: the cell named '${ref.name}' ${entry.reason}, so its reply cannot be used` };
  let node = names.tree(ref.name);
  if (node === undefined) return { error: `${shown}: the reply named '${ref.name}' is not JSON this client can read` };
  for (let k = 0; k < ref.path.length; k++) {
    const step = ref.path[k] as Reference['path'][number];
    // Spelt out only for a message: building it for every step would cost the square of a long path.
    const at = (): string => `${ref.name}${formatPath(ref.path.slice(0, k))}`;
    if ('index' in step) {
      if (node.type !== 'array') return { error: `${shown}: ${at()} is ${kindOf(node)}, not an array` };
      const item: JsonNode | undefined = node.items[step.index];
      if (item === undefined) return { error: `${shown}: ${at()} has no element [${step.index}] (it has ${node.items.length})` };
      node = item;
    } else {
      if (node.type !== 'object') return { error: `${shown}: ${at()} is ${kindOf(node)}, not an object` };
      const found: JsonNode | undefined = node.members.find((m) => m.key === step.key)?.value;
      if (found === undefined) {
        const keys = node.members.map((m) => m.key);
        const list = keys.length === 0 ? 'it has no members' : `its members: ${keys.slice(0, MAX_LISTED).join(', ')}${keys.length > MAX_LISTED ? ', …' : ''}`;
        return { error: `${shown}: ${at()} has no member '${step.key}' (${list})` };
      }
      node = found;
    }
  }
  return { node };
}

/** Compact JSON of a node, literals as written: what the cell's `->` label and the wire text use. */
export function compactJson(node: JsonNode): string {
  switch (node.type) {
    case 'object':
      return '{' + node.members.map((m) => `${JSON.stringify(m.key)}:${compactJson(m.value)}`).join(',') + '}';
    case 'array':
      return '[' + node.items.map(compactJson).join(',') + ']';
    default:
      return node.raw;
  }
}

/** The text a value takes inside a longer string: a string's own text, anything else as compact JSON. */
export function interpolatedText(node: JsonNode): string {
  return node.type === 'string' ? node.value : compactJson(node);
}

/**
 * Substitutes every reference in the strings of a value (members' values and elements; never member names).
 * A string that is exactly one reference takes the referenced value with its type; a reference inside a
 * longer string is replaced by its text (interpolatedText). `\{{` is a literal `{{`. The first problem found
 * is returned instead (nothing is half-substituted).
 */
export function substituteTree(node: JsonNode, names: NamedReplies): { node: JsonNode; changed: boolean } | { error: string } {
  switch (node.type) {
    case 'object': {
      let changed = false;
      const members = [];
      for (const m of node.members) {
        const r = substituteTree(m.value, names);
        if ('error' in r) return r;
        changed ||= r.changed;
        members.push(r.changed ? { key: m.key, value: r.node } : m);
      }
      return changed ? { node: { type: 'object', members }, changed } : { node, changed };
    }
    case 'array': {
      let changed = false;
      const items = [];
      for (const it of node.items) {
        const r = substituteTree(it, names);
        if ('error' in r) return r;
        changed ||= r.changed;
        items.push(r.node);
      }
      return changed ? { node: { type: 'array', items }, changed } : { node, changed };
    }
    case 'string': {
      // `{{` is the only thing that can change a string (a `\{{` escape included).
      if (!mayHoldReference(node.value)) return { node, changed: false };
      const scanned = scanString(node.value);
      const bad = scanned.errors[0];
      if (bad !== undefined) return { error: bad.message };
      const only = scanned.pieces.length === 1 ? scanned.pieces[0] : undefined;
      if (only !== undefined && 'ref' in only) {
        const r = resolveReference(only.ref, names);
        return 'error' in r ? r : { node: r.node, changed: true };
      }
      let text = '';
      for (const p of scanned.pieces) {
        if ('text' in p) { text += p.text; continue; }
        const r = resolveReference(p.ref, names);
        if ('error' in r) return r;
        text += interpolatedText(r.node);
      }
      return { node: { type: 'string', raw: JSON.stringify(text), value: text }, changed: true };
    }
    default:
      return { node, changed: false };
  }
}

/** The references in a command's arguments (for the plan: which steps substitute, and syntax problems). */
export function argumentReferences(argumentsText: string | undefined): { refs: Reference[]; errors: string[] } {
  const refs: Reference[] = [];
  const errors: string[] = [];
  if (argumentsText === undefined || !mayHoldReference(argumentsText)) return { refs, errors };
  const tree = parseJsonTree(argumentsText);
  if (tree === undefined) return { refs, errors };
  const visit = (node: JsonNode): void => {
    if (node.type === 'object') for (const m of node.members) visit(m.value);
    else if (node.type === 'array') for (const it of node.items) visit(it);
    else if (node.type === 'string' && mayHoldReference(node.value)) {
      const s = scanString(node.value);
      refs.push(...s.refs);
      errors.push(...s.errors.map((e) => e.message));
    }
  };
  visit(tree);
  return { refs, errors };
}

/** The parts of a command step substitution changes. */
export interface Substitutable {
  input: { argumentsText?: string; arguments?: object };
  label: string;
}

/**
 * The step with its references substituted: the arguments text that is sent (and the arguments object) and
 * the `->` label, so the transcript shows what was really sent. Or why it cannot be sent.
 */
export function substituteStep<T extends Substitutable>(step: T, names: NamedReplies): { step: T } | { error: string } {
  const argsText = step.input.argumentsText ?? (step.input.arguments !== undefined ? JSON.stringify(step.input.arguments) : undefined);
  if (argsText === undefined) return { step };
  const tree = parseJsonTree(argsText);
  if (tree === undefined) return { step };
  const r = substituteTree(tree, names);
  if ('error' in r) return r;
  if (!r.changed) return { step };
  const argumentsText = compactJson(r.node);
  let label = step.label;
  const labelTree = parseJsonTree(step.label);
  if (labelTree?.type === 'object') {
    label = compactJson({ type: 'object', members: labelTree.members.map((m) => (m.key === 'arguments' ? { key: m.key, value: r.node } : m)) });
  }
  return { step: { ...step, input: { ...step.input, argumentsText, arguments: JSON.parse(argumentsText) as object }, label } };
}
