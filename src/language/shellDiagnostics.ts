// The `qmp-shell` side of the language service: diagnostics, quick fixes and code-lens hints for qmp-shell
// cells.

import { parseShellCell } from '../notebook/format/shell';
import type { CodeAction } from './codeActions';
import type { Diagnostic } from './diagnostics';
import type { OobHint } from './oobHints';
import type { LanguageContext } from './service';

/** Every problem of a `qmp-shell` cell: what the shell parser refuses. */
export function shellDiagnose(text: string, ctx: LanguageContext): Diagnostic[] {
  const parsed = parseShellCell(text, ctx.schema);
  return parsed.errors.map((e) => ({ start: e.start, end: e.end, severity: 'error', code: 'shell-syntax', message: e.message }));
}

export function shellCodeActions(_text: string, _start: number, _end: number, _ctx: LanguageContext, _diagnostics: readonly Diagnostic[]): CodeAction[] {
  return [];
}

export function shellHints(_text: string, _ctx: LanguageContext): OobHint[] {
  return [];
}
