// Complexity rows of `npm run bench`: for each hostile input shape, the input is doubled (n → 2n → 4n) and the
// time ratio per doubling is printed next to the target "≤ ~2.5x per doubling" (a linear parser doubles; a
// quadratic one quadruples). Nothing here fails: the rows report. Shapes cover the file format parser and
// writer, the cell parsers, diagnostics and the CLI `check` on whole files (the built dist/cli.js).
//
// In-process rows time the CPU this process spends (user + system, GC included), not the wall clock: on a
// shared machine other processes' load would otherwise decide the ratios. CLI rows run a child process and
// take wall time. Each row keeps the minimum of a few interleaved rounds, and fast shapes are grown until
// their smallest size is measurable.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { diagnose } from '../../src/language/diagnostics';
import { parseCell } from '../../src/format/cell';
import { parseNotebook, serializeNotebook } from '../../src/format/notebook';
import { parseShellCell } from '../../src/format/shell';
import { languageService } from '../../src/language/service';
import { loadSchemaFile } from '../../src/lsp/config';
import { documentSymbols, foldingRanges, semanticTokens } from '../../src/lsp/features';
import { findRegions } from '../../src/lsp/regions';
import { MessageDecoder } from '../../src/qmp/framing';
import { maskMessage, parseMask } from '../../src/run/masks';
import { now } from './stats';

/** CPU milliseconds this process has used (user + system). */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** The target: time at most about 2.5x per doubling of the input. */
export const COMPLEXITY_LIMIT = 2.5;

export interface ComplexityRow {
  label: string;
  /** The three sizes measured (in the shape's own unit: cells, elements, bytes, levels). */
  sizes: [number, number, number];
  times: [number, number, number];
  /** time(2n)/time(n) and time(4n)/time(2n). */
  ratios: [number, number];
  met: boolean;
  /** Set when a run threw (a crash is reported, not hidden). */
  error?: string;
}

interface Shape {
  label: string;
  n: number;
  /** Builds the input of size n. */
  make: (n: number) => string;
  /** The work measured on one input. */
  run: (input: string) => void;
  /** How many repetitions per size (default 3); the minimum is kept. */
  reps?: number;
  /** Do not grow n to reach a measurable time (shapes whose size is already large, or slow per run). */
  fixed?: boolean;
  /** Time on the wall clock (a child process does the work) instead of this process's CPU time. */
  wall?: boolean;
}

/** The smallest size is grown (doubled) until one run takes at least this long, so timer noise stays small. */
const MIN_MS = 40;
/** ... but never beyond this factor of the shape's own n. */
const MAX_GROWTH = 64;

const repeat = (unit: string, n: number): string => unit.repeat(n);

/** Nested JSON `{"a": [{"a": [ … ]}]}` n levels deep (arrays and objects alternate). */
function deepJson(n: number): string {
  return '{"a": '.repeat(n) + '1' + '}'.repeat(n);
}

function formatShapes(): Shape[] {
  const roundTrip = (text: string): void => { serializeNotebook(parseNotebook(text)); };
  return [
    { label: 'format: plain notebook (control)', n: 4000, make: (n) => repeat('Some text.\n\n```qmp\n{ "execute": "query-status" }\n```\n\n', n), run: roundTrip },
    { label: 'format: code cells + unclosed ```qmp-output', n: 2000, make: (n) => repeat('```qmp\n{}\n```\n```qmp-output\n', n), run: roundTrip },
    { label: 'format: code cells + unclosed ````qmp-output', n: 2000, make: (n) => repeat('```qmp\n{}\n```\n````qmp-output\n', n), run: roundTrip },
    { label: 'format: LF structure, CRLF in paragraphs', n: 5000, make: (n) => repeat('a\r\nb\r\n\n```qmp\n{}\n```\n\n', n), run: roundTrip },
    { label: 'format: unclosed code fences', n: 4000, make: (n) => repeat('```qmp\n{}\n', n), run: roundTrip },
    { label: 'format: output blocks, unterminated <- {', n: 2000, make: (n) => repeat('```qmp\n{}\n```\n```qmp-output\n<- {"a": 1\n', n) + '```\n', run: roundTrip },
    { label: 'format: outputs not canonical (hand-edited)', n: 2000, make: (n) => repeat('```qmp\n{}\n```\n\n```qmp-output\n<- {"return":{}}\n```\n\n', n), run: roundTrip },
    { label: 'format: unclosed <!-- markdown-cell -->', n: 4000, make: (n) => repeat('<!-- markdown-cell -->\ntext\n\n', n), run: roundTrip },
    { label: 'format: numbered raw markers', n: 2000, make: (n) => Array.from({ length: n }, (_, i) => `<!-- markdown-cell ${i} -->\n<!-- /markdown-cell ${i + 1} -->\n`).join(''), run: roundTrip },
    { label: 'format: front matter lookalikes', n: 4000, make: (n) => repeat('---\nprofile: x\n', n), run: roundTrip },
    { label: 'format: saved output nested n deep', n: 160000, make: (n) => `\`\`\`qmp\n{}\n\`\`\`\n\n\`\`\`qmp-output\n<- ${deepJson(n)}\n\`\`\`\n`, run: roundTrip },
    { label: 'format: one 1 MB line (×n)', n: 1, make: (n) => 'x'.repeat(1_000_000 * n), run: roundTrip },
    // Unclosed output fences of 4 to 503 backticks: the input grows linearly with n.
    { label: 'format: unclosed fences of growing lengths', n: 500, make: (n) => Array.from({ length: n }, (_, i) => `\`\`\`qmp\n{}\n\`\`\`\n${'`'.repeat(4 + (i % 500))}qmp-output\n<- {}\n`).join(''), run: roundTrip },
    { label: 'format: JSON-only file (split to cells)', n: 4000, make: (n) => repeat('{ "execute": "stop" }\n\n', n), run: roundTrip },
  ];
}

/** Masks and framing on hostile input: patterns on RE2 (linear), `**` paths, bytes before/inside a sentinel. */
function maskShapes(): Shape[] {
  const masked = (mask: string) => {
    const m = parseMask(mask);
    if ('error' in m) throw new Error(m.error);
    return (text: string): void => { maskMessage(text, { masks: [m] }); };
  };
  // The bytes of each input are made once, outside the timed work: converting a multi-megabyte string to a
  // Buffer (allocation, page faults) is not the framing's cost and made the last doubling look 5x.
  const bytes = new Map<string, Buffer>();
  const decode = (guestAgent: boolean) => (text: string): void => {
    let b = bytes.get(text);
    if (!b) {
      if (bytes.size > 8) bytes.clear();
      b = Buffer.from(text, 'latin1');
      bytes.set(text, b);
    }
    const d = new MessageDecoder({ guestAgent, maxMessageBytes: 1 << 30 });
    d.push(b, () => undefined);
  };
  return [
    { label: 'masks: /(a+)+$/ on a…a!', n: 20000, make: (n) => `{"return": {"s": "${'a'.repeat(n)}!"}}`, run: masked('/(a+)+$/') },
    { label: 'masks: /(x+x+)+y/ on x…x', n: 20000, make: (n) => `{"return": {"s": "${'x'.repeat(n)}"}}`, run: masked('/(x+x+)+y/') },
    { label: 'masks: **.**.**.**.**.**.x, nesting n deep', n: 250, fixed: true, reps: 5, make: (n) => `{"return": ${'{"a": '.repeat(n)}{"x": 1}${'}'.repeat(n)}}`, run: masked('**.**.**.**.**.**.x') },
    { label: 'framing: QMP replies with 0xFF inside strings', n: 2000, make: (n) => repeat('{"return": {"s": "a\xffb\xfe"}}\r\n', n), run: decode(false) },
    { label: 'framing: guest agent, stale bytes before 0xFF', n: 20000, make: (n) => `${'s": 1}]'.repeat(n)}\xff{"return": 1}\n`, run: decode(true) },
  ];
}

function cellShapes(): Shape[] {
  const json = (text: string): void => { parseCell(text, 'qmp'); };
  const shell = (text: string): void => { parseShellCell(text); };
  const diag = (text: string): void => { diagnose(text, undefined); };
  const missingCommas = (n: number): string => `{ "execute": "x", "arguments": { "a": [${repeat('1 ', n)}] } }`;
  const unterminated = (n: number): string => `{ "execute": "x", "arguments": { "a": "${'y'.repeat(n)}"`;
  const crlfMix = (n: number): string => repeat('{ "execute": "stop" }\r\n{ "execute": "cont" }\n\r', n);
  const manyObjects = (n: number): string => repeat('{ "execute": "query-status" }\n', n);
  const deep = (n: number): string => `{ "execute": "x", "arguments": { "a": ${'['.repeat(n)}${']'.repeat(n)} } }`;
  const unclosedDeep = (n: number): string => `{ "execute": "x", "arguments": ${'{"a": '.repeat(n)}`;
  return [
    { label: 'cell parser: many commands (control)', n: 2000, make: manyObjects, run: json },
    { label: 'cell parser: array with missing commas', n: 4000, make: missingCommas, run: json },
    { label: 'cell parser: 80 KB cell of objects (×n)', n: 1, make: (n) => manyObjects(2700 * n), run: json },
    { label: 'cell parser: unterminated object (bytes)', n: 2_500_000, make: unterminated, run: json, reps: 1, fixed: true },
    { label: 'cell parser: CRLF / LF / CR mix', n: 2000, make: crlfMix, run: json },
    { label: 'cell parser: nesting n deep', n: 2000, make: deep, run: json },
    { label: 'cell parser: unclosed nesting n deep', n: 2000, make: unclosedDeep, run: json },
    { label: 'shell parser: many commands', n: 2000, make: (n) => repeat('blockdev-add driver=null-co node-name=n1 size=1048576\n', n), run: shell },
    { label: 'shell parser: long JSON value', n: 4000, make: (n) => `x a=[${repeat('1, ', n)}1]\n`, run: shell },
    { label: 'shell parser: unclosed transaction(', n: 2000, make: (n) => 'transaction(\n' + repeat('a b=c\n', n), run: shell },
    { label: 'diagnostics: array with missing commas', n: 4000, make: missingCommas, run: diag },
    { label: 'diagnostics: unterminated object (bytes)', n: 2_500_000, make: unterminated, run: diag, reps: 1, fixed: true },
    { label: 'diagnostics: nesting n deep', n: 2000, make: deep, run: diag },
    { label: 'diagnostics: unclosed nesting n deep', n: 2000, make: unclosedDeep, run: diag },
    { label: 'diagnostics: CRLF / LF / CR mix', n: 2000, make: crlfMix, run: diag },
  ];
}

/**
 * The language server's features on one notebook (src/lsp/features.ts, and completion at the end of the cell
 * as the server asks the language service): a long qmp-shell word (11.6 s at 160k characters when the token
 * scanner was quadratic), a long JSON string, many cells.
 */
function lspShapes(root: string): Shape[] {
  const schema = loadSchemaFile(path.join(root, 'test', 'fixtures', 'qemu-10.0', 'query-qmp-schema.json'));
  const ctx = { schema, cached: false, oobNegotiated: undefined, docs: undefined };
  const notebook = (language: string, cell: string): string => `# N\n\n\`\`\`${language}\n${cell}\n\`\`\`\n`;
  const word = (n: number): string => notebook('qmp-shell', `device_add ${'x'.repeat(n)}`);
  const str = (n: number): string => notebook('qmp', `{"execute": "${'q'.repeat(n)}`);
  const cells = (n: number): string => repeat(notebook('qmp', '{"execute": "query-status"}'), n);
  const tokens = (t: string): void => { semanticTokens(findRegions(t, true)); };
  const symbols = (t: string): void => { documentSymbols(findRegions(t, true), schema); };
  const folding = (t: string): void => { foldingRanges(findRegions(t, true), schema); };
  const completeAtEnd = (t: string): void => {
    const r = findRegions(t, true)[0];
    if (r !== undefined) languageService(r.language)?.complete(r.text, r.text.length, ctx);
  };
  return [
    { label: 'lsp tokens: one long qmp-shell word', n: 20000, make: word, run: tokens },
    { label: 'lsp symbols: one long qmp-shell word', n: 20000, make: word, run: symbols },
    { label: 'lsp folding: one long qmp-shell word', n: 20000, make: word, run: folding },
    { label: 'lsp completion at the end: long qmp-shell word', n: 20000, make: word, run: completeAtEnd },
    { label: 'lsp tokens: one long JSON string', n: 20000, make: str, run: tokens },
    { label: 'lsp completion at the end: long JSON string', n: 20000, make: str, run: completeAtEnd },
    { label: 'lsp tokens: many cells', n: 2000, make: cells, run: tokens },
    { label: 'lsp symbols: many cells', n: 2000, make: cells, run: symbols },
    { label: 'lsp folding: many cells', n: 2000, make: cells, run: folding },
  ];
}

/**
 * CLI `check` on files: the whole pipeline (start, read, decode, parse the notebook, parse and check every
 * cell against the QEMU 7.2 schema file). Process start and schema loading are a constant that flatters the
 * ratios of the small sizes, so the sizes are chosen large.
 */
function cliShapes(cli: string, dir: string, schema: string): Shape[] {
  let counter = 0;
  const check = (text: string): void => {
    const file = path.join(dir, `c${counter++}.qmp`);
    writeFileSync(file, text, { mode: 0o600 });
    // Exit codes 0 (clean) and 1 (problems found) are both normal; anything else is reported.
    const r = spawnSync(process.execPath, [cli, 'check', file, '--schema', schema], { encoding: 'utf8', maxBuffer: 1 << 30 });
    if (r.status !== 0 && r.status !== 1) throw new Error(`check exited ${String(r.status)}: ${(r.stderr || '').slice(0, 200)}`);
  };
  const cell = (body: string): string => '```qmp\n' + body + '\n```\n';
  return [
    { label: 'cli check: plain notebook (control)', n: 20000, make: (n) => repeat('Text.\n\n```qmp\n{ "execute": "query-status" }\n```\n\n', n), run: check },
    { label: 'cli check: unclosed ````qmp-output', n: 10000, make: (n) => repeat('```qmp\n{}\n```\n````qmp-output\n', n), run: check },
    { label: 'cli check: LF structure, CRLF in paragraphs', n: 20000, make: (n) => repeat('a\r\nb\r\n\n```qmp\n{ "execute": "stop" }\n```\n\n', n), run: check },
    { label: 'cli check: array with missing commas', n: 4000, make: (n) => cell(`{ "execute": "x", "arguments": { "a": [${repeat('1 ', n)}] } }`), run: check },
    { label: 'cli check: unterminated object (bytes)', n: 2_500_000, make: (n) => cell(`{ "execute": "x", "arguments": { "a": "${'y'.repeat(n)}"`), run: check, reps: 1 },
    { label: 'cli check: nesting n deep', n: 2000, make: (n) => cell(`{ "execute": "x", "arguments": { "a": ${'['.repeat(n)}${']'.repeat(n)} } }`), run: check },
    { label: 'cli check: saved outputs nested n deep', n: 200000, make: (n) => `\`\`\`qmp\n{}\n\`\`\`\n\n\`\`\`qmp-output\n<- ${deepJson(n)}\n\`\`\`\n`, run: check },
  ];
}

function timeOnce(shape: Shape, n: number): number {
  const input = shape.make(n);
  const clock = shape.wall === true ? now : cpuNow;
  const t = clock();
  shape.run(input);
  return clock() - t;
}

function measure(shape: Shape): ComplexityRow {
  let n = shape.n;
  let sizes: [number, number, number] = [n, n * 2, n * 4];
  try {
    // Warm up (JIT), then grow a fast shape until its smallest size is measurable.
    timeOnce(shape, n);
    let t = Math.min(timeOnce(shape, n), timeOnce(shape, n));
    while (!shape.fixed && t < MIN_MS && n < shape.n * MAX_GROWTH) {
      n *= 2;
      t = Math.min(timeOnce(shape, n), timeOnce(shape, n));
    }
    sizes = [n, n * 2, n * 4];
    const inputs = sizes.map((size) => shape.make(size));
    const best = [Infinity, Infinity, Infinity];
    // Rounds interleave the sizes, so a burst of load from other processes lands on all of them alike.
    // A shape that is slow already at n (a quadratic one takes 16x that at 4n) is measured once per size.
    const reps = t > 300 ? 1 : (shape.reps ?? 5);
    for (let r = 0; r < reps; r++) {
      const clock = shape.wall === true ? now : cpuNow;
      inputs.forEach((input, k) => {
        const t0 = clock();
        shape.run(input);
        best[k] = Math.min(best[k] ?? Infinity, clock() - t0);
      });
    }
    const [a, b, c] = best as [number, number, number];
    const r1 = b / Math.max(a, 0.05);
    const r2 = c / Math.max(b, 0.05);
    // Judged on the two doublings together (4n against n, at most 2.5² ≈ 6.25x): a quadratic shape takes 16x,
    // while one noisy doubling on a shared machine does not turn a linear shape into a miss.
    const met = c / Math.max(a, 0.05) <= COMPLEXITY_LIMIT * COMPLEXITY_LIMIT || c < 2;
    return { label: shape.label, sizes, times: [a, b, c], ratios: [r1, r2], met };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { label: shape.label, sizes, times: [NaN, NaN, NaN], ratios: [NaN, NaN], met: false, error: message.split('\n')[0] ?? '' };
  }
}

/** Runs the complexity rows. `cli` is the built CLI (dist/cli.js); its rows are skipped when it is missing. */
export function benchComplexity(root: string, filter?: (label: string) => boolean): ComplexityRow[] {
  const shapes = [...formatShapes(), ...cellShapes(), ...lspShapes(root), ...maskShapes()];
  const cli = path.join(root, 'dist', 'cli.js');
  const dir = mkdtempSync(path.join(tmpdir(), 'qmp-complexity-'));
  chmodSync(dir, 0o700);
  const rows: ComplexityRow[] = [];
  try {
    const schema = path.join(root, 'test', 'fixtures', 'qemu-7.2', 'query-qmp-schema.json');
    if (existsSync(cli)) shapes.push(...cliShapes(cli, dir, schema).map((s) => ({ ...s, reps: s.reps ?? 2, fixed: true, wall: true })));
    else rows.push({ label: 'cli check: dist/cli.js not built (npm run build)', sizes: [0, 0, 0], times: [NaN, NaN, NaN], ratios: [NaN, NaN], met: false, error: 'not built' });
    for (const shape of shapes) if (!filter || filter(shape.label)) rows.push(measure(shape));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

function fmtMs(ms: number): string {
  return Number.isFinite(ms) ? (ms < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(0)} ms`) : 'n/a';
}

function fmtSize(n: number): string {
  return n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n);
}

export function renderComplexity(rows: readonly ComplexityRow[]): string {
  const cells = rows.map((r) => [
    r.label,
    r.sizes.map(fmtSize).join('→'),
    r.times.map(fmtMs).join(' / '),
    Number.isFinite(r.ratios[0]) ? `${r.ratios[0].toFixed(2)}x ${r.ratios[1].toFixed(2)}x` : '',
    r.error !== undefined ? `CRASHED: ${r.error}` : `(target ≤ ~${COMPLEXITY_LIMIT}x per doubling, judged on 4n/n)  ${r.met ? 'ok' : 'MISSED'}`,
  ]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...cells.map((c) => (c[i] as string).length)));
  const lines = cells.map((c) => c.map((s, i) => (i < 4 ? s.padEnd(widths[i] as number) : s)).join('  ').trimEnd());
  return ['Complexity (input doubled twice; time per doubling: CPU time in process, wall time for cli rows):', ...lines].join('\n');
}

// Standalone, when bundled on its own as out/bench/complexity.js: `node out/bench/complexity.js [substring]`
// runs only the rows whose label holds the substring (`npm run bench -- complexity` runs them all).
if (path.basename(process.argv[1] ?? '') === 'complexity.js') {
  const sub = process.argv[2];
  const root = path.resolve(__dirname, '..', '..');
  console.log(renderComplexity(benchComplexity(root, sub === undefined ? undefined : (l) => l.includes(sub))));
}
