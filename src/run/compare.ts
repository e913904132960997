// Compares a pasted `<-` reply with what QEMU said. The rule: the two are equal as JSON values (object
// member order ignored) after leaving out `id` unless the author's expected reply names one. Iterative
// (an explicit stack), so replies nested however deep cannot overflow the call stack; at most
// MAX_DIFFERENCES differences are listed.

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
