// What a wait clause (`{"wait-event": NAME, "data": {...}}`) accepts: the format defines it, and the notebook
// controller and the CLI runner both ask here, so a notebook waits for the same event in either.

/** Whether `actual` contains everything in `expected`: objects member by member, everything else equal. */
export function eventDataMatches(expected: unknown, actual: unknown): boolean {
  if (expected === null || typeof expected !== 'object') return Object.is(expected, actual);
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => eventDataMatches(e, actual[i]));
  }
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
  const a = actual as Record<string, unknown>;
  return Object.entries(expected as Record<string, unknown>)
    .every(([k, v]) => Object.prototype.hasOwnProperty.call(a, k) && eventDataMatches(v, a[k]));
}
