// Compares a pasted `<-` reply with what QEMU said. The rule: the two are equal as JSON values (object
// member order ignored) after leaving out `id` unless the author's expected reply names one. Iterative
// (an explicit stack), so replies nested however deep cannot overflow the call stack; at most
// MAX_DIFFERENCES differences are listed.

import { canonicalJson, member, parseJsonTree, printJsonTree, type JsonNode } from './jsonTree';
import { maskTree, type MaskOptions } from './masks';

export const MAX_DIFFERENCES = 5;

export interface Comparison {
  match: boolean;
  differences: string[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

export function compareReply(expected: unknown, actual: unknown): Comparison {
  const differences: string[] = [];
  let count = 0;
  const note = (path: string, e: unknown, a: unknown): void => {
    count++;
    if (differences.length < MAX_DIFFERENCES) differences.push(`${path || '(reply)'}: expected ${show(e)}, QEMU said ${show(a)}`);
  };
  const exp = expected;
  let act = actual;
  if (isObject(exp) && isObject(act) && !('id' in exp) && 'id' in act) {
    const rest = { ...act };
    delete rest['id'];
    act = rest;
  }
  const stack: Array<[string, unknown, unknown]> = [['', exp, act]];
  while (stack.length > 0) {
    const [path, e, a] = stack.pop() as [string, unknown, unknown];
    if (isObject(e) && isObject(a)) {
      const keys = new Set([...Object.keys(e), ...Object.keys(a)]);
      const inner: Array<[string, unknown, unknown]> = [];
      for (const k of keys) inner.push([path ? `${path}.${k}` : k, e[k], a[k]]);
      for (let i = inner.length - 1; i >= 0; i--) stack.push(inner[i] as [string, unknown, unknown]);
    } else if (Array.isArray(e) && Array.isArray(a)) {
      if (e.length !== a.length) note(`${path}.length`, e.length, a.length);
      const n = Math.min(e.length, a.length);
      for (let i = n - 1; i >= 0; i--) stack.push([`${path}[${i}]`, e[i], a[i]]);
    } else if (kindOf(e) !== kindOf(a) || (typeof e !== 'object' && !Object.is(e, a))) {
      note(path, e, a);
    }
  }
  if (count > differences.length) differences.push(`... and ${count - differences.length} more difference${count - differences.length === 1 ? '' : 's'}`);
  return { match: count === 0, differences };
}

/**
 * THE comparison of a `<-` reply written in a cell with the reply QEMU sent, for every door (the engine's
 * `expected-reply` record, hence `run`, the editor and `runCell`, and the test runner): both as written text
 * (integers beyond 2^53 compared exactly, as written), volatile values masked as saved outputs are (the
 * built-in masks such as `thread-id`, plus the notebook's and the cell's), member order ignored, and `id` left
 * out unless the written reply names one. Iterative; at most MAX_DIFFERENCES differences are listed. Text
 * that is not one JSON value is compared by its parsed value (compareReply).
 */
export function compareReplyText(expectedText: string, actualRaw: string, opts: MaskOptions = {}): Comparison {
  const exp = parseJsonTree(expectedText.replace(/^\s*<-\s*/, ''));
  const got = parseJsonTree(actualRaw);
  if (exp === undefined || got === undefined) {
    let e: unknown;
    let a: unknown;
    try {
      e = JSON.parse(expectedText.replace(/^\s*<-\s*/, ''));
      a = JSON.parse(actualRaw);
    } catch {
      return { match: false, differences: ['(reply): not comparable as JSON'] };
    }
    return compareReply(e, a);
  }
  const want = maskTree(exp, opts);
  const have = maskTree(stripIdUnlessWritten(got, exp), opts);
  const differences: string[] = [];
  let count = 0;
  const showNode = (n: JsonNode | undefined): string => {
    if (n === undefined) return 'nothing';
    const s = printJsonTree(n);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  };
  const note = (path: string, e: JsonNode | undefined, a: JsonNode | undefined): void => {
    count++;
    if (differences.length < MAX_DIFFERENCES) differences.push(`${path || '(reply)'}: expected ${showNode(e)}, QEMU said ${showNode(a)}`);
  };
  const stack: Array<[string, JsonNode | undefined, JsonNode | undefined]> = [['', want, have]];
  while (stack.length > 0) {
    const [path, e, a] = stack.pop() as [string, JsonNode | undefined, JsonNode | undefined];
    if (e?.type === 'object' && a?.type === 'object') {
      const byKey = new Map<string, [JsonNode | undefined, JsonNode | undefined]>();
      for (const m of e.members) if (!byKey.has(m.key)) byKey.set(m.key, [m.value, undefined]);
      for (const m of a.members) {
        const slot = byKey.get(m.key);
        if (slot === undefined) byKey.set(m.key, [undefined, m.value]);
        else if (slot[1] === undefined) slot[1] = m.value;
      }
      const inner = [...byKey].map(([k, [x, y]]) => [path ? `${path}.${k}` : k, x, y] as [string, JsonNode | undefined, JsonNode | undefined]);
      for (let i = inner.length - 1; i >= 0; i--) stack.push(inner[i] as [string, JsonNode | undefined, JsonNode | undefined]);
    } else if (e?.type === 'array' && a?.type === 'array') {
      if (e.items.length !== a.items.length) note(`${path}.length`, { type: 'literal', raw: String(e.items.length) }, { type: 'literal', raw: String(a.items.length) });
      const n = Math.min(e.items.length, a.items.length);
      for (let i = n - 1; i >= 0; i--) stack.push([`${path}[${i}]`, e.items[i], a.items[i]]);
    } else if (e === undefined || a === undefined || e.type !== a.type || (e.type !== 'object' && e.type !== 'array' && canonicalJson(e) !== canonicalJson(a))) {
      note(path, e, a);
    }
  }
  if (count > differences.length) differences.push(`... and ${count - differences.length} more difference${count - differences.length === 1 ? '' : 's'}`);
  return { match: count === 0, differences };
}

/** A written reply without an id matches whatever id the client used. */
export function stripIdUnlessWritten(got: JsonNode, written: JsonNode): JsonNode {
  if (got.type !== 'object' || member(written, 'id') !== undefined) return got;
  return { type: 'object', members: got.members.filter((m) => m.key !== 'id') };
}
