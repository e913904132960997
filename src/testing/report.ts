// Reports of a `qmp-notebook test` run: JUnit XML (one testcase per cell, for CI systems), one JSON record
// per cell, the `FILE:LINE:COL: error: …` line a CI problem matcher picks up, and the closing line.
//
// Test names (JUnit's testcase name, the JSON record's `name`) stay the same when the notebook is edited
// elsewhere: the cell's first command and a short hash of the cell's text (`query-status [3fa9c2d1]`; a
// second cell of the same text gets ` #2`), never its line or position. Editing the cell itself makes it a
// new test, which it is.
import { createHash } from 'node:crypto';
import { clipLine, clipText } from './diff';

export type CellStatus = 'passed' | 'failed' | 'error';

/** Why a cell did not pass: JUnit's `type` attribute. */
export type FailureType = 'mismatch' | 'malformed-cell' | 'connection-lost' | 'not-run' | 'notebook-error';

export interface CellResult {
  file: string;
  /** 1-based position of the cell in the notebook (markdown cells count too). */
  cell: number;
  /** 1-based line of the cell's first source line in the file. */
  line?: number;
  status: CellStatus;
  problems: string[];
  diff: string;
  ms: number;
  /** The stable test name (see the file comment); cellName when absent. */
  name?: string;
  /** Why it did not pass. */
  type?: FailureType;
  /** Where in the file the first problem is (1-based). */
  at?: { line: number; col: number };
}

/** The stable name of a cell's test: its first command and a hash of its text; `repeat` > 1 for the n-th cell of the same text. */
export function testName(source: string, firstCommand: string | undefined, repeat = 1): string {
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 8);
  return `${firstCommand ?? 'cell'} [${hash}]${repeat > 1 ? ` #${repeat}` : ''}`;
}

/** `FILE:LINE:COL: error: cell 3 (query-status): …` for the first problem, as compilers print it; undefined when passed. */
export function locationLine(r: CellResult): string | undefined {
  if (r.status === 'passed') return undefined;
  const line = r.at?.line ?? r.line ?? 1;
  const col = r.at?.col ?? 1;
  const what = r.cell === 0 ? '' : `${cellName({ cell: r.cell })}${r.name !== undefined ? ` (${r.name})` : ''}: `;
  return `${r.file}:${line}:${col}: error: ${what}${r.problems[0] ?? r.status}${r.problems.length > 1 ? ` (and ${r.problems.length - 1} more)` : ''}`;
}

/** JUnit's `message`: one short line; the detail is in the element's text. */
function shortMessage(r: CellResult): string {
  const first = (r.problems[0] ?? r.status).split('\n')[0] as string;
  const text = first.length > 200 ? `${first.slice(0, 199)}…` : first;
  return r.problems.length > 1 ? `${text} (and ${r.problems.length - 1} more)` : text;
}

/** The name of a cell in reports: `cell 3 (line 12)`. */
export function cellName(r: Pick<CellResult, 'cell' | 'line'>): string {
  if (r.cell === 0) return 'notebook';
  return `cell ${r.cell}${r.line !== undefined ? ` (line ${r.line})` : ''}`;
}

/** Characters XML 1.0 cannot hold at all (control characters, lone surrogates) become U+FFFD. */
const NOT_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

export function xmlEscape(text: string, attribute = false): string {
  const s = text.replace(NOT_XML, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return attribute ? s.replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;') : s;
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

/**
 * JUnit XML: one `<testsuite>` per notebook, one `<testcase>` per code cell; a mismatch is a `<failure>` whose
 * text is the diff, a cell that could not run (QEMU went away) an `<error>`. `notes` per file: problems that
 * are not a cell's (the notebook could not be read), reported as an error testcase named after the file.
 */
export function junitXml(results: readonly CellResult[], files: readonly string[]): string {
  return [...junitChunks(results, files)].join('');
}

/**
 * The same JUnit XML as a sequence of pieces (a line or a testcase each), for writing without building the
 * whole document as one string; problems and diffs are cut to MAX_REPORT_LINE per line (diff.ts).
 */
export function* junitChunks(results: readonly CellResult[], files: readonly string[]): Generator<string> {
  const out = {
    push(...lines: string[]): void { pending.push(...lines); },
  };
  const pending: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const flush = function* (): Generator<string> {
    if (pending.length) yield pending.join('\n') + '\n';
    pending.length = 0;
  };
  const count = (rs: readonly CellResult[], s: CellStatus): number => rs.filter((r) => r.status === s).length;
  const total = results.reduce((t, r) => t + r.ms, 0);
  out.push(`<testsuites name="qmp-notebook test" tests="${results.length}" failures="${count(results, 'failed')}" errors="${count(results, 'error')}" time="${seconds(total)}">`);
  for (const file of files) {
    const rs = results.filter((r) => r.file === file);
    const ms = rs.reduce((t, r) => t + r.ms, 0);
    out.push(`  <testsuite name="${xmlEscape(file, true)}" tests="${rs.length}" failures="${count(rs, 'failed')}" errors="${count(rs, 'error')}" skipped="0" time="${seconds(ms)}">`);
    for (const r of rs) {
      const open = `    <testcase classname="${xmlEscape(file, true)}" name="${xmlEscape(r.name ?? cellName(r), true)}" time="${seconds(r.ms)}"`;
      if (r.status === 'passed') { out.push(`${open}/>`); continue; }
      const tag = r.status === 'failed' ? 'failure' : 'error';
      const type = r.type ?? (r.status === 'failed' ? 'mismatch' : 'notebook-error');
      const body = clipText([[locationLine(r) ?? '', ...r.problems.slice(1).map((p) => `  ${p}`)].join('\n'), r.diff].filter((s) => s !== '').join('\n\n'));
      out.push(`${open}>`, `      <${tag} message="${xmlEscape(clipLine(shortMessage(r)), true)}" type="${type}">${xmlEscape(body)}</${tag}>`, '    </testcase>');
      yield* flush();
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  yield* flush();
}

/** One JSON object per cell (`--json`). */
export function jsonRecord(r: CellResult): string {
  return JSON.stringify({
    file: r.file, cell: r.cell, ...(r.line !== undefined ? { line: r.line } : {}), ...(r.name !== undefined ? { name: r.name } : {}), status: r.status,
    ...(r.type !== undefined && r.status !== 'passed' ? { type: r.type } : {}), ...(r.at !== undefined && r.status !== 'passed' ? { at: r.at } : {}),
    problems: r.problems.map((p) => clipText(p)), diff: clipText(r.diff), ms: Math.round(r.ms * 1000) / 1000,
  });
}

/** The closing line. */
export function summaryLine(results: readonly CellResult[]): string {
  const passed = results.filter((r) => r.status === 'passed').length;
  return `${passed} passed, ${results.length - passed} failed`;
}
