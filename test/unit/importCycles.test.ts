// No two files under src/ import each other: shared types live in vocabulary files (src/cli/common.ts,
// src/language/context.ts, src/qmp/messages.ts, src/run/expectations.ts), so each pair has one direction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const src = path.join(__dirname, '..', '..', '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function resolve(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [`${base}.ts`, path.join(base, 'index.ts')]) {
    try {
      if (statSync(c).isFile()) return c;
    } catch {
      // not this one
    }
  }
  return undefined;
}

test('no two source files import each other', () => {
  const all = files(src);
  assert.ok(all.length > 50, `found ${all.length} files under ${src}`);
  const imports = new Map<string, Set<string>>();
  const re = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/g;
  for (const f of all) {
    const set = new Set<string>();
    for (const m of readFileSync(f, 'utf8').matchAll(re)) {
      const to = resolve(f, m[1] as string);
      if (to !== undefined) set.add(to);
    }
    imports.set(f, set);
  }
  const pairs: string[] = [];
  for (const [a, tos] of imports) {
    for (const b of tos) if (a < b && imports.get(b)?.has(a)) pairs.push(`${path.relative(src, a)} ⇄ ${path.relative(src, b)}`);
  }
  assert.deepEqual(pairs, []);
});
