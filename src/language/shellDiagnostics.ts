// The `qmp-shell` side of the language service. A shell line is checked as the very JSON it sends: the
// shell parser (format/shell.ts) writes each command out as JSON with the place of each key, value
// and object in the shell text, the `qmp` diagnostics check that JSON against the schema, and each
// diagnostic is moved back to the column of the shell text it is about. So a shell cell gets the same checks
// as a `qmp` cell (unknown command or member with "did you mean", missing members, enums, union tags, OOB,
// deprecated/unstable and the -compat policy), in the same words, and quick fixes that edit shell syntax.

import { parseShellCell, shellRangeToCell, type ShellJson } from '../format/shell';
import { shellTokenAt } from '../format/shellTokens';
import { cellText, parseStats, type CellSource, type CellText } from './parsed';
import { capProblems } from '../format/validate';
import type { CodeAction, TextEdit } from './codeActions';
import { type Diagnostic, diagnose } from './diagnostics';
import type { OobHint } from './oobHints';
import type { LanguageContext } from './context';

/** The shell parser's verdict and the JSON it checks, once per cell version and schema. */
function shellDocuments(cell: CellText, ctx: LanguageContext): { errors: Diagnostic[]; documents: ShellJson[] } {
  return cell.memo('shell-documents', [ctx.schema], () => {
    parseStats.shell++;
    const documents: ShellJson[] = [];
    const parsed = parseShellCell(cell.text, ctx.schema, documents, cell.shellLines);
    const errors = parsed.errors.map((e): Diagnostic => ({
      start: e.start, end: e.end, severity: 'error', code: e.code === 'too-many-problems' ? 'too-many-problems' : 'shell-syntax', message: e.message,
    }));
    return { errors, documents };
  });
}

/** Every problem of a `qmp-shell` cell: what the shell parser refuses, then the schema's verdicts. */
export function shellDiagnose(source: CellSource, ctx: LanguageContext): Diagnostic[] {
  const { errors, documents } = shellDocuments(cellText(source), ctx);
  const out = errors.filter((d) => d.code !== 'too-many-problems');
  let total = errors.length;
  for (const doc of documents) {
    for (const d of diagnose(doc.text, ctx.schema, ctx)) {
      total++;
      if (d.code === 'too-many-problems') continue;
      const r = shellRangeToCell(doc, d.start, d.end);
      const data = d.data !== undefined ? { ...d.data } : undefined;
      // Object places in the JSON mean nothing in the shell text.
      if (data !== undefined) {
        delete data.objectStart;
        delete data.objectEnd;
      }
      out.push({ ...d, start: r.start, end: Math.max(r.end, r.start), ...(data !== undefined ? { data } : {}) });
    }
  }
  return capProblems(out, total, (message, at): Diagnostic => ({ start: at, end: at, severity: 'error', code: 'too-many-problems', message }));
}

/** The shell word (the tokenizer's) that holds [start, end) of `text`. */
function wordAround(cell: CellText, start: number, end: number): { start: number; end: number } {
  const line = cell.shellLines.find((l) => l.start <= start && start <= l.end);
  const word = line !== undefined ? shellTokenAt(line.tokens, start) : undefined;
  return word !== undefined ? { start: word.start, end: Math.max(word.end, end) } : { start, end };
}

/** Removes a word and the whitespace before it. */
function removeWord(text: string, word: { start: number; end: number }): TextEdit {
  let s = word.start;
  while (s > 0 && (text[s - 1] === ' ' || text[s - 1] === '\t')) s--;
  return { start: s, end: word.end, newText: '' };
}

/** The end of the line holding `offset` (before any `)` or `;` that closes a transaction action). */
function lineEnd(text: string, offset: number): number {
  let e = text.indexOf('\n', offset);
  if (e < 0) e = text.length;
  while (e > offset && /\s/.test(text[e - 1] ?? '')) e--;
  return e;
}

/** Quick fixes in shell syntax for the diagnostics that touch [start, end]. */
export function shellCodeActions(source: CellSource, start: number, end: number, _ctx: LanguageContext, diagnostics: readonly Diagnostic[]): CodeAction[] {
  const cell = cellText(source);
  const text = cell.text;
  const out: CodeAction[] = [];
  for (const d of diagnostics) {
    if (d.end < start || d.start > end) continue;
    const fix = (title: string, edits: TextEdit[], isPreferred = false): void => {
      out.push({ title, kind: 'quickfix', edits, diagnostic: d, ...(isPreferred ? { isPreferred } : {}) });
    };
    const suggestion = d.data?.suggestion;
    // In the shell text a name is a bare word, unless it was written inside a JSON value (then quoted).
    const spelled = (name: string): string => (text[d.start] === '"' ? JSON.stringify(name) : name);
    switch (d.code) {
      case 'unknown-command':
      case 'unknown-event':
      case 'bad-enum':
      case 'bad-tag':
        if (suggestion !== undefined) fix(`Change to '${suggestion}'`, [{ start: d.start, end: d.end, newText: spelled(suggestion) }], true);
        break;
      case 'unknown-member': {
        if (suggestion !== undefined) fix(`Change to '${suggestion}'`, [{ start: d.start, end: d.end, newText: spelled(suggestion) }], true);
        const word = wordAround(cell, d.start, d.end);
        const written = text.slice(word.start, word.end);
        // A key=value word whose key (or dotted key) is the unknown member: remove the whole pair.
        if (text[d.start] !== '"' && written.includes('=') && word.start <= d.start && d.end <= word.start + written.indexOf('=')) {
          fix(`Remove '${written.slice(0, written.indexOf('='))}'`, [removeWord(text, word)]);
        }
        break;
      }
      case 'unknown-live-value':
        if (suggestion !== undefined) fix(`Change to '${suggestion}'`, [{ start: d.start, end: d.end, newText: spelled(suggestion) }], true);
        break;
      case 'oob-not-allowed':
        if (text.slice(d.start, d.end) === '--oob') fix('Run in-band (remove --oob)', [removeWord(text, { start: d.start, end: d.end })], true);
        break;
      case 'missing-member':
      case 'missing-tag': {
        const missing = d.data?.missing ?? [];
        const path = d.data?.path ?? [];
        if (missing.length === 0 || path.some((p) => typeof p === 'number') || d.data?.command === 'transaction') break;
        const prefix = path.length > 0 ? `${path.join('.')}.` : '';
        const at = lineEnd(text, d.start);
        const added = missing.map((m) => ` ${prefix}${m}=`).join('');
        fix(`Add ${missing.map((m) => `'${prefix}${m}'`).join(', ')}`, [{ start: at, end: at, newText: added }], true);
        break;
      }
      default:
        break;
    }
  }
  return out;
}

/** Code-lens hints for shell commands the schema marks deprecated or unstable. */
export function shellHints(source: CellSource, ctx: LanguageContext): OobHint[] {
  const schema = ctx.schema;
  if (schema === undefined) return [];
  const cell = cellText(source);
  const { documents } = shellDocuments(cell, ctx);
  const out: OobHint[] = [];
  for (const doc of documents) {
    if (doc.kind !== 'send') continue;
    const name = /^\{"(?:execute|exec-oob)":("(?:[^"\\]|\\.)*")/.exec(doc.text)?.[1];
    const def = name !== undefined ? schema.command(JSON.parse(name) as string) : undefined;
    if (def === undefined) continue;
    const head = wordAround(cell, doc.start, doc.start);
    const base = { start: doc.start, end: head.end > doc.start ? head.end : doc.start + def.name.length, command: def.name, objectStart: doc.start };
    if (def.deprecated) out.push({ ...base, kind: 'deprecated', message: `${def.name} is deprecated` });
    if (def.unstable) out.push({ ...base, kind: 'unstable', message: `${def.name} is unstable (experimental)` });
  }
  return out;
}
