// Helpers for the cursor-marker tests of the language features: load a fixture schema, split a `|`
// marker out of a text, apply a completion item and expand its snippet the way the editor would.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Schema, type SchemaVersion } from '../../src/qmp/schema';
import type { SchemaInfo } from '../../src/qmp/introspect';
import { complete, type CompletionContext, type CompletionItem } from '../../src/language/completion';
import { completeShell } from '../../src/language/shellCompletion';

export const VERSIONS = ['7.2', '10.0'] as const;
export type FixtureVersion = (typeof VERSIONS)[number];

const fixtures = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures');
const cache = new Map<string, Schema>();

/** The schema captured from real QEMU of that version (shared between tests: it is immutable). */
export function fixtureSchema(version: FixtureVersion): Schema {
  let s = cache.get(version);
  if (s === undefined) {
    const dir = path.join(fixtures, `qemu-${version}`);
    const infos = JSON.parse(readFileSync(path.join(dir, 'query-qmp-schema.json'), 'utf8')) as SchemaInfo[];
    const v = (JSON.parse(readFileSync(path.join(dir, 'query-version.json'), 'utf8')) as { qemu: SchemaVersion }).qemu;
    s = Schema.fromIntrospection(infos, v);
    cache.set(version, s);
  }
  return s;
}

/** Splits `text|more` into the text without the marker and the marker's offset. */
export function cursor(marked: string): { text: string; offset: number } {
  const offset = marked.indexOf('|');
  if (offset < 0 || marked.indexOf('|', offset + 1) >= 0) throw new Error(`need exactly one | in ${marked}`);
  return { text: marked.slice(0, offset) + marked.slice(offset + 1), offset };
}

/** Expands a snippet to the text the editor shows first: placeholders' defaults, a choice's first option. */
export function expandSnippet(snippet: string): string {
  return snippet
    .replace(/\$\{\d+\|([^,|]*)[^|]*\|\}/g, '$1')
    .replace(/\$\{\d+:([^}]*)\}/g, '$1')
    .replace(/\$\d+/g, '')
    .replace(/\\([$}\\])/g, '$1');
}

/** Applies a completion item to the text, as the editor would. */
export function applyItem(text: string, item: CompletionItem): string {
  const insert = item.isSnippet === true ? expandSnippet(item.insertText) : item.insertText;
  return text.slice(0, item.range.start) + insert + text.slice(item.range.end);
}

/** Completes at the marker and returns the items. */
export function itemsAt(marked: string, schema: Schema | undefined, ctx?: CompletionContext): CompletionItem[] {
  const { text, offset } = cursor(marked);
  return complete(text, offset, schema, ctx).items;
}

/** Completes at the marker, picks the item with `label`, applies it and returns the whole new text. */
export function applyLabel(marked: string, label: string, schema: Schema | undefined, ctx?: CompletionContext): string {
  const { text, offset } = cursor(marked);
  const items = complete(text, offset, schema, ctx).items;
  const item = items.find((i) => i.label === label);
  if (item === undefined) throw new Error(`no item ${label} at ${marked}; got ${items.slice(0, 20).map((i) => i.label).join(', ')}`);
  // The editor shows an item only if its filter text matches what was typed in its range.
  const typed = text.slice(item.range.start, offset);
  const filter = item.filterText ?? item.label;
  if (!fuzzyMatches(typed, filter)) throw new Error(`item ${label} would be filtered out: typed ${JSON.stringify(typed)} vs ${filter}`);
  return applyItem(text, item);
}

/** VS Code's filter in short: the typed characters appear in order in the filter text. */
export function fuzzyMatches(typed: string, filter: string): boolean {
  let j = 0;
  for (const ch of typed.replace(/\s+/g, '')) {
    j = filter.toLowerCase().indexOf(ch.toLowerCase(), j);
    if (j < 0) return false;
    j++;
  }
  return true;
}

export function labels(items: CompletionItem[]): string[] {
  return items.map((i) => i.label);
}

/** The same as applyLabel, for `qmp-shell` cells. */
export function applyShellLabel(marked: string, label: string, schema: Schema | undefined): string {
  const { text, offset } = cursor(marked);
  const items = completeShell(text, offset, schema).items;
  const item = items.find((i) => i.label === label);
  if (item === undefined) throw new Error(`no item ${label} at ${marked}; got ${items.slice(0, 20).map((i) => i.label).join(', ')}`);
  const typed = text.slice(item.range.start, offset);
  if (!fuzzyMatches(typed, item.filterText ?? item.label)) throw new Error(`item ${label} would be filtered out: typed ${JSON.stringify(typed)}`);
  return applyItem(text, item);
}

export function shellItemsAt(marked: string, schema: Schema | undefined): CompletionItem[] {
  const { text, offset } = cursor(marked);
  return completeShell(text, offset, schema).items;
}
