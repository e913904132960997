// One language service per cell language (`qmp`, `qmp-shell`, `hmp`): diagnostics, completion, hover, code
// actions and code-lens hints as plain functions of (text, offset, context). The VS Code adapter, the CLI's
// `check` and the language server all call these, so an editor, a terminal and another editor see the same
// problems in the same words at the same places.
//
// Nothing here does I/O. What needs I/O is passed in through the context: the schema (the caller loads it,
// e.g. through a `SchemaCacheStore`), the documentation (already loaded by a `DocsProvider`), and what the
// session negotiated. See providers.ts for the plain-Node providers.
//
// Offsets are UTF-16 offsets into the cell text, `end` exclusive.

import { type CodeAction, codeActions as qmpCodeActions } from './codeActions';
import { type CompletionResult, complete as qmpComplete } from './completion';
import { type Diagnostic, diagnose as qmpDiagnose } from './diagnostics';
import { hover as anyHover, type HoverResult } from './hover';
import { type OobHint, oobHints } from './oobHints';
import { liveCompletions, liveDiagnostics, liveHover } from './live';
import { completeShell } from './shellCompletion';
import { withNamed } from './namedReplies';
import { shellCodeActions, shellDiagnose, shellHints } from './shellDiagnostics';
import { cellText, parseStats, type CellSource } from './parsed';

export type { CodeAction, TextEdit } from './codeActions';
export type { CompletionItem, CompletionItemKind, CompletionResult } from './completion';
export type { CompatPolicy, CompatAction, Diagnostic, DiagnosticCode, DiagnosticData, DiagnosticSeverity } from './diagnostics';
export type { HoverResult } from './hover';
export type { OobHint } from './oobHints';
export type { QmpDocs } from './manpage';
export { completeNamed, hoverNamed, namedContextOf, namedDiagnostics, NamedScan, type NamedContext } from './namedReplies';
export { fetchLive, liveNeeds, namesCreatedBy, type CreatedNames, type LiveLookup } from './live';
export { parseCompatPolicy } from '../format/validate';
export { CellText, ParseCache, cellText, parseStats, type CellSource } from './parsed';
export { MAX_PROBLEMS, MAX_NESTING, MAX_TIMEOUT_MS } from '../format/validate';

/** The cell languages that have a service. */
export type ServiceLanguage = 'qmp' | 'qmp-shell' | 'hmp';

export type { LanguageContext } from './context';
import type { LanguageContext } from './context';

/**
 * The service of one cell language. All methods are pure and never throw; each is linear in the text. Each
 * takes the cell as its text or as the `CellText` of its version (see parsed.ts): given the same CellText,
 * the features share one parse of it, and code actions reuse the diagnostics already computed.
 */
export interface LanguageService {
  readonly language: ServiceLanguage;
  /**
   * Every problem of the cell, sorted by offset. Errors are exactly what makes the runner refuse the cell
   * (the cell parser uses the same validator), plus the schema's verdicts QEMU would give. At most
   * `MAX_PROBLEMS` are listed; a last `too-many-problems` diagnostic says how many more there are.
   */
  diagnose(text: CellSource, ctx?: LanguageContext): Diagnostic[];
  /** Completion at `offset`; items carry the offset range they replace. */
  complete(text: CellSource, offset: number, ctx?: LanguageContext): CompletionResult;
  /** Markdown about the word at `offset`, or undefined. */
  hover(text: CellSource, offset: number, ctx?: LanguageContext): HoverResult | undefined;
  /**
   * Quick fixes for the diagnostics that touch [start, end] and refactors at `start`. `diagnostics` defaults
   * to `diagnose(text, ctx)`; pass them when already computed.
   */
  codeActions(text: CellSource, start: number, end: number, ctx?: LanguageContext, diagnostics?: readonly Diagnostic[]): CodeAction[];
  /** Code-lens hints: commands that can run out-of-band, deprecated and unstable commands. */
  hints(text: CellSource, ctx?: LanguageContext): OobHint[];
}

/**
 * The schema's verdicts on a cell, once per cell version and (schema, -compat policy, OOB negotiated): what
 * else the context holds (live values) is checked apart, every time, since it changes without the text.
 */
function schemaDiagnostics(language: 'qmp' | 'qmp-shell', text: CellSource, ctx: LanguageContext): Diagnostic[] {
  const cell = cellText(text);
  const deps = [ctx.schema, ctx.compat?.deprecatedInput, ctx.compat?.unstableInput, ctx.oobNegotiated];
  return cell.memo(`diagnose:${language}`, deps, () => {
    parseStats.diagnose++;
    return language === 'qmp' ? qmpDiagnose(cell.text, ctx.schema, ctx, cell) : shellDiagnose(cell, ctx);
  });
}

const qmp: LanguageService = {
  language: 'qmp',
  diagnose: (text, ctx = {}) => schemaDiagnostics('qmp', text, ctx),
  complete: (text, offset, ctx = {}) => qmpComplete(text, offset, ctx.schema, {
    ...(ctx.oobNegotiated !== undefined ? { oobNegotiated: ctx.oobNegotiated } : {}),
    ...(ctx.docs !== undefined ? { docs: ctx.docs } : {}),
    ...(ctx.deviceTypes !== undefined ? { deviceTypes: ctx.deviceTypes } : {}),
  }),
  hover: (text, offset, ctx = {}) => anyHover(text, offset, ctx.schema, ctx.docs, { cached: ctx.cached === true, schemaLabel: ctx.schemaLabel, language: 'qmp' }),
  codeActions: (text, start, end, ctx = {}, diagnostics) =>
    qmpCodeActions(text, start, end, diagnostics ?? schemaDiagnostics('qmp', text, ctx), ctx.schema),
  hints: (text, ctx = {}) => oobHints(text, ctx.schema, ctx.oobNegotiated !== undefined ? { oobNegotiated: ctx.oobNegotiated } : {}),
};

const shell: LanguageService = {
  language: 'qmp-shell',
  diagnose: (text, ctx = {}) => schemaDiagnostics('qmp-shell', text, ctx),
  complete: (text, offset, ctx = {}) => completeShell(text, offset, ctx.schema, ctx.docs),
  hover: (text, offset, ctx = {}) => anyHover(text, offset, ctx.schema, ctx.docs, { cached: ctx.cached === true, schemaLabel: ctx.schemaLabel, language: 'qmp-shell' }),
  codeActions: (text, start, end, ctx = {}, diagnostics) => shellCodeActions(text, start, end, ctx, diagnostics ?? schemaDiagnostics('qmp-shell', text, ctx)),
  hints: (text, ctx = {}) => shellHints(text, ctx),
};

// An HMP line is free text for QEMU's human monitor; QMP has no schema for it, so there is nothing to check.
const hmp: LanguageService = {
  language: 'hmp',
  diagnose: () => [],
  complete: () => ({ items: [] }),
  hover: () => undefined,
  codeActions: () => [],
  hints: () => [],
};

/** Adds the session's live values to a service: completion items, warnings and hovers (src/language/live.ts). */
function withLive(base: LanguageService): LanguageService {
  const lang = base.language;
  const wrapped: LanguageService = {
    ...base,
    diagnose(source, ctx = {}) {
      const text = cellText(source);
      const found = base.diagnose(text, ctx);
      if (ctx.live === undefined) return found;
      const live = liveDiagnostics(lang, text, ctx.live, ctx.created);
      return live.length === 0 ? found : [...found, ...live].sort((a, b) => a.start - b.start);
    },
    complete(source, offset, ctx = {}) {
      const text = cellText(source);
      const result = base.complete(text, offset, ctx);
      const live = liveCompletions(lang, text, offset, ctx.live);
      if (live === undefined || live.length === 0) return result;
      const seen = new Set(live.map((i) => i.label));
      return { ...result, items: [...live, ...result.items.filter((i) => !seen.has(i.label))] };
    },
    hover(source, offset, ctx = {}) {
      const text = cellText(source);
      const schemaHover = base.hover(text, offset, ctx);
      const live = liveHover(lang, text, offset, ctx.live);
      if (live === undefined) return schemaHover;
      return schemaHover === undefined ? live : { contents: `${live.contents}\n\n---\n\n${schemaHover.contents}`, range: live.range };
    },
    // The fixes see the live warnings too (a near-miss name gets "Change to …" like a schema warning).
    codeActions(source, start, end, ctx = {}, diagnostics) {
      const text = cellText(source);
      return base.codeActions(text, start, end, ctx, diagnostics ?? wrapped.diagnose(text, ctx));
    },
  };
  return wrapped;
}

const SERVICES: Readonly<Record<ServiceLanguage, LanguageService>> = { qmp: withNamed(withLive(qmp)), 'qmp-shell': withNamed(withLive(shell)), hmp: withNamed(hmp) };

/** The service of a cell language; undefined for any other language id (markdown, plain text). */
export function languageService(language: string): LanguageService | undefined {
  return language === 'qmp' || language === 'qmp-shell' || language === 'hmp' ? SERVICES[language] : undefined;
}
