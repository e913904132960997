// Where a `qmp` cell deserves a code lens: commands that could run out-of-band but are sent in-band,
// and commands the schema marks deprecated or unstable. Pure; the adapter turns hints into lenses.

import { cellText, type CellSource } from './parsed';
import type { Schema } from '../qmp/schema';
import { propertyOf } from './jsonCursor';
import { roleOf } from './schemaPath';

export interface OobHint {
  kind: 'can-run-oob' | 'deprecated' | 'unstable';
  /** The command name's string in the text (quotes included). */
  start: number;
  end: number;
  command: string;
  /** Where the object starts; `switchToExecOob(text, objectStart)` makes the edit. */
  objectStart: number;
  /** One line for the lens title. */
  message: string;
}

export interface OobHintContext {
  /** False when the session did not negotiate OOB: the switch would be refused, so it is not offered. */
  oobNegotiated?: boolean;
}

/** Hints for every command object of a `qmp` cell, in text order. */
export function oobHints(source: CellSource, schema: Schema | undefined, ctx: OobHintContext = {}): OobHint[] {
  if (schema === undefined) return [];
  const out: OobHint[] = [];
  for (const parsed of cellText(source).objects) {
    const root = parsed.root;
    if (root === undefined || parsed.segment.kind === 'expect') continue;
    const role = roleOf(root, schema);
    if (role.role !== 'command' || role.def === undefined || role.name === undefined) continue;
    const value = propertyOf(root, role.spelling === 'exec-oob' ? 'exec-oob' : 'execute')?.value;
    if (value === undefined) continue;
    const base = { start: value.start, end: value.end, command: role.name, objectStart: parsed.segment.start };
    if (role.def.allowOob && role.spelling === 'execute' && ctx.oobNegotiated !== false) {
      out.push({ ...base, kind: 'can-run-oob', message: 'can run out-of-band' });
    }
    if (role.def.deprecated) out.push({ ...base, kind: 'deprecated', message: `${role.name} is deprecated` });
    if (role.def.unstable) out.push({ ...base, kind: 'unstable', message: `${role.name} is unstable (experimental)` });
  }
  return out;
}
