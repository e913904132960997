// `qmp-notebook shell`: an interactive QMP shell for a terminal, what QEMU's qmp-shell is, with the schema and
// the live values behind it. Every line goes through the same pieces as a notebook cell: the qmp-shell parser
// (src/format/shell.ts) or the JSON cell parser, the language service's diagnostics before anything
// is sent, the run engine (src/run) to send it, and the test renderer (src/testing/execute.ts) for what a
// recorded session saves. So a line typed here and the same line in a `.qmp` cell behave alike.
//
// Input, one command per line:
//   query-status                          qmp-shell syntax (key=value, dotted keys, --oob, --id=, wait-event)
//   transaction( … )                      a transaction, over several lines up to a line `)`
//   { "execute": "query-status" }         JSON; an object left open goes on over the next lines
//   ```qmp … ```                          a notebook's cell pasted with its fences: run as that cell (its `<-`
//                                         replies and events compared, its waits), as `run` runs it
//   !info status                          HMP (every line with -H, as qmp-shell's -H)
//   blockdev-add driver?                  a line ending in `?`: the hover text of the word before it
//
// Events print between prompts as they arrive, above the line being typed (which is redrawn). Tab completes
// from the live schema and the connected QEMU's names (node names, device ids…). With a terminal, history is
// kept in a file (0600, at most HISTORY_SIZE lines). Without one (a pipe), stdin is read as a script.
//
// With --json, standard output is the transcript of every input in `run --json`'s records (one engine: the
// connection's kernel), so a script compares what the shell did with what any other door did; events that come
// between commands are `late` event records of the command before them.
//
// Exit status: 0 at the end of input when every command succeeded (always 0 after an interactive session
// ended with Ctrl-D); 1 when reading a script and a command failed (an error reply, a problem found before
// sending, a timeout); 2 usage, connection problems, QEMU going away; 130 Ctrl-C while a command runs.
import { homedir } from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import * as readline from 'node:readline';
import { languageService, liveNeeds, type Diagnostic, type LanguageContext } from '../language/service';
import { LiveValues } from '../qmp/liveValues';
import type { Schema } from '../qmp/index';
import { jsonNesting } from '../qmp/wire';
import { serializeNotebook, tokenizeShellLine, type CellData, type CodeLanguage, type NotebookData } from '../format/index';
import { DEFAULT_EVENTS_PER_CELL, isSessionFailure, planCell, type TranscriptRecord } from '../run/index';
import { parseJsonTree, printJsonTree, type JsonNode } from '../testing/jsonTree';
import { stableOutputs, type OutputLike } from '../testing/savedOutput';
import { jobLine, renderRecord } from '../run/recordText';
import type { VolatileDir } from '../testing/masks';
import { DEFAULT_TIMEOUT_MS, EXIT_HELP, type ShellRequest } from './args';
import type { CliDeps, CliIo, CliSession, ResolvedConnection, ShellStreams } from './common';
export type { ShellStreams } from './common';
import { writeFileAtomicSync } from '../format/atomicWrite';
import { expectationNote, formatLine, hmpText, jsonLine } from './run';

export { hmpText };

export const SHELL_USAGE = `Usage:
  qmp-notebook shell [CONNECTION] [-p] [-H] [--json] [--record FILE.qmp] [--history FILE] [--timeout MS]

An interactive QMP shell. Type commands in qmp-shell's syntax (query-block, device_del id=kbd0,
blockdev-add driver=null-co node-name=n1 cache.direct=true, query-yank --oob, transaction( … ),
wait-event NAME key=value), as JSON ({"execute": …}; an open object continues on the next line), HMP
after '!' (!info status), or paste a notebook's cell with its fences (\`\`\`qmp … \`\`\`: its <- replies
are compared, as 'qmp-notebook run' compares them). Tab completes commands, argument keys at any depth,
enum values and the names the QEMU holds (node names, device ids…). A line ending in '?' shows the
documentation of the word before it. Problems are shown before anything is sent. Events are printed as
they arrive. Without a terminal, standard input is read as a script (one command per line).

Connection, one of (default --sandbox):
  --socket PATH | --tcp HOST:PORT | --sandbox [--qemu BINARY] | --storage-daemon | --guest-agent SOCK
  | --libvirt DOMAIN [--connect URI]          (see 'qmp-notebook --help')

Options:
  -p, --pretty       pretty-print replies and events
  -H, --hmp          every line is an HMP command (as qmp-shell -H)
  --json             standard output is the transcript of every input, one JSON object per record as
                     'qmp-notebook run --json' prints them
  --record FILE.qmp  write the session as a notebook: each command a cell, its replies and events the saved
                     outputs (volatile values masked), rewritten after each command; re-run it with
                     'qmp-notebook test FILE.qmp'
  --history FILE     the line history (default ~/.qmp-notebook_history; private, at most ${'${HISTORY_SIZE}'} lines)
  --timeout MS       the time limit of each command (default ${DEFAULT_TIMEOUT_MS})
  --deadline MS      the session ends then (exit 1)
  -h, --help         this help

An interactive session ends with status 0 (Ctrl-D); reading a script, with 1 when a command failed (an
error reply, a problem found before sending, a timeout) after the rest of the script ran.

${EXIT_HELP}`.replace("${'${HISTORY_SIZE}'}", '1000');

/** Lines of history kept (in memory and in the file). */
export const HISTORY_SIZE = 1000;
/** The longest line of history kept; longer lines (a pasted schema) are not saved. */
const HISTORY_LINE_MAX = 4096;
/** Completion candidates shown at most. */
const MAX_CANDIDATES = 500;
/** Lines of one pending multi-line input at most (an unclosed `{` does not grow forever). */
const MAX_PENDING_LINES = 10_000;

/**
 * The one place the shell opens its connection: the CLI's own opener (callers may rewire it). The kernel's one
 * engine runs every input, with the shell's time limit per command.
 */
export async function openShellSession(deps: CliDeps, connection: ResolvedConnection, qemuBinary: string | undefined,
  timeoutMs: number = DEFAULT_TIMEOUT_MS): Promise<CliSession> {
  return deps.connect(connection, { ...(qemuBinary !== undefined ? { qemuBinary } : {}), engine: { commandTimeoutMs: timeoutMs } });
}

/** A line that opens a notebook's code cell pasted into the shell (as the format writes it). */
const FENCE_OPEN = /^`{3,}[ \t]*(qmp|qmp-shell|hmp)[ \t]*$/;
/** A line that closes it. */
const FENCE_CLOSE = /^`{3,}[ \t]*$/;

/** One complete input: a cell's worth of text in a cell language, or a hover request. */
export type ShellInput =
  | { kind: 'cell'; language: CodeLanguage; source: string }
  | { kind: 'hover'; language: CodeLanguage; source: string; offset: number };


/**
 * Gathers typed lines into inputs: most lines are one input; an open JSON object or a `transaction(` goes on
 * until it closes. Pure (the tests feed it lines).
 */
export class InputGatherer {
  private pending: string[] = [];
  private pendingKind: 'json' | 'transaction' | CodeLanguage | undefined;

  constructor(private readonly hmp: boolean) {}

  /** True while a multi-line input is open (the prompt says `...`). */
  get open(): boolean {
    return this.pendingKind !== undefined;
  }

  /** The text gathered so far plus `line`, and its language: what completion and hover look at. */
  context(line: string): { language: CodeLanguage | undefined; text: string } {
    const fenced = this.fenced;
    if (fenced !== undefined) return { language: fenced, text: [...this.pending, line].join('\n') };
    const text = [...this.pending, line].join('\n');
    return { language: this.languageOf(this.pending[0] ?? line), text: this.stripHmp(text) };
  }

  private stripHmp(text: string): string {
    return !this.hmp && text.startsWith('!') ? text.slice(1) : text;
  }

  private languageOf(first: string): CodeLanguage | undefined {
    const t = first.trimStart();
    if (this.hmp || t.startsWith('!')) return 'hmp';
    if (t.startsWith('{')) return 'qmp';
    return 'qmp-shell';
  }

  /** The language of an open fenced cell. */
  private get fenced(): CodeLanguage | undefined {
    const k = this.pendingKind;
    return k === undefined || k === 'json' || k === 'transaction' ? undefined : k;
  }

  /** Takes one line; returns the input it completes, or undefined (blank, or more lines needed). */
  feed(line: string): ShellInput | undefined {
    const fenced = this.fenced;
    if (fenced !== undefined) {
      // A pasted cell: every line up to the closing fence is the cell's, as a notebook reads it.
      if (!FENCE_CLOSE.test(line.trim()) && this.pending.length < MAX_PENDING_LINES) {
        this.pending.push(line);
        return undefined;
      }
      const source = this.pending.join('\n');
      this.pending = [];
      this.pendingKind = undefined;
      return source.trim() === '' ? undefined : this.named({ kind: 'cell', language: fenced, source });
    }
    if (this.pendingKind !== undefined) {
      this.pending.push(line);
      const done = this.pendingKind === 'json' ? jsonNesting(this.pending.join('\n')).open <= 0 : line.trim() === ')';
      if (!done && this.pending.length < MAX_PENDING_LINES) return undefined;
      const source = this.pending.join('\n');
      const kind = this.pendingKind;
      this.pending = [];
      this.pendingKind = undefined;
      return this.named({ kind: 'cell', language: kind === 'json' ? 'qmp' : 'qmp-shell', source });
    }
    const t = line.trim();
    const fence = FENCE_OPEN.exec(t);
    if (fence !== null && !this.hmp) {
      this.pendingKind = fence[1] as CodeLanguage;
      return undefined;
    }
    // `# @name NAME` names the reply of the next input (docs/notebook-format.md, "Named replies").
    const naming = /^(#|\/\/)\s*@name\s+(\S+)$/.exec(t);
    if (naming) { this.nextName = naming[2]; return undefined; }
    if (t === '' || t.startsWith('#')) return undefined;
    const language = this.languageOf(t) as CodeLanguage;
    const source = language === 'hmp' ? this.stripHmp(t).trim() : t;
    if (language !== 'hmp' && source.endsWith('?') && !source.startsWith('{')) {
      const body = source.slice(0, -1).trimEnd();
      return { kind: 'hover', language, source: body, offset: Math.max(0, body.length) };
    }
    if (language === 'qmp' && jsonNesting(source).open > 0) {
      this.pending = [line];
      this.pendingKind = 'json';
      return undefined;
    }
    if (language === 'qmp-shell' && /^transaction\s*\(\s*$/.test(source)) {
      this.pending = [source];
      this.pendingKind = 'transaction';
      return undefined;
    }
    return this.named({ kind: 'cell', language, source });
  }

  /** The name of the next input's reply, set by a `# @name NAME` line. */
  private nextName: string | undefined;

  /** An input with the pending `@name` line in front of it, as a cell of its language writes it. */
  private named(input: ShellInput & { kind: 'cell' }): ShellInput {
    const name = this.nextName;
    if (name === undefined) return input;
    this.nextName = undefined;
    return { ...input, source: `${input.language === 'qmp' ? '//' : '#'} @name ${name}\n${input.source}` };
  }

  /** Drops an open multi-line input (Ctrl-C). */
  reset(): void {
    this.pending = [];
    this.pendingKind = undefined;
    this.nextName = undefined;
  }
}

/** A completion item's text without snippet syntax: `${1:x}` → x, `${1|a,b|}` → a, `$1` → nothing. */
function plainInsert(text: string, snippet: boolean | undefined): string {
  if (!snippet) return text;
  return text.replace(/\$\{\d+\|([^,|}]*)[^}]*\}/g, '$1').replace(/\$\{\d+:([^}]*)\}/g, '$1').replace(/\$\d+/g, '').replace(/\\([$}\\])/g, '$1');
}

/** Markdown as terminal text: emphasis and code marks dropped, links as their text. */
export function markdownToText(md: string): string {
  return md
    .replace(/```[a-z-]*\n?/g, '')
    .replace(/\*\*([^*]+)\*\*/g, '$1')
    .replace(/`([^`]+)`/g, '$1')
    .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
    .replace(/^---$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** JSON text indented two spaces per level, literals exactly as QEMU wrote them. */
export function prettyJson(node: JsonNode, indent = ''): string {
  const inner = `${indent}  `;
  if (node.type === 'object') {
    if (node.members.length === 0) return '{}';
    return `{\n${node.members.map((m) => `${inner}${JSON.stringify(m.key)}: ${prettyJson(m.value, inner)}`).join(',\n')}\n${indent}}`;
  }
  if (node.type === 'array') {
    if (node.items.length === 0) return '[]';
    return `[\n${node.items.map((v) => `${inner}${prettyJson(v, inner)}`).join(',\n')}\n${indent}]`;
  }
  return node.raw;
}

/** A reply or event for the terminal: the client's own id left out, pretty when asked; not JSON as it came. */
export function showMessage(raw: string, pretty: boolean): string {
  const tree = parseJsonTree(raw.trim());
  if (tree === undefined) return raw.trim();
  const shown: JsonNode = tree.type === 'object'
    ? { type: 'object', members: tree.members.filter((m) => !(m.key === 'id' && m.value.type === 'string' && m.value.value.startsWith('#'))) }
    : tree;
  return pretty ? prettyJson(shown) : printJsonTree(shown);
}

/** Where problems and messages go. `event` is for text that arrives between prompts (see TerminalPrinter). */
export interface ShellOutput {
  out(text: string): void;
  err(text: string): void;
  event(text: string): void;
}

export interface ShellCoreOptions {
  pretty: boolean;
  /**
   * The transcript records of every input on `out`, as `run --json` prints them (the first line is the
   * format line; `out` gets nothing else); problems and notes still go to `err`.
   */
  json?: boolean;
  /** Paths under these directories are saved as their names (a sandbox's private directory). */
  dirs?: VolatileDir[];
}

/** A problem before sending, with a caret under the place for a one-line input. */
export function describeDiagnostic(source: string, d: Diagnostic): string[] {
  const lines = source.split('\n');
  let line = 0;
  let col = d.start;
  while (line < lines.length - 1 && col > (lines[line] as string).length) { col -= (lines[line] as string).length + 1; line++; }
  const text = lines[line] ?? '';
  const width = Math.max(1, Math.min(text.length - col, Math.max(0, d.end - d.start)));
  const where = lines.length > 1 ? ` (line ${line + 1}, column ${col + 1})` : '';
  return [`  ${text}`, `  ${' '.repeat(col)}${'^'.repeat(width)}`, `${d.severity}${where}: ${d.message}`];
}

/**
 * The shell without a terminal: runs inputs, completes, shows hovers, keeps what --record saves. The
 * terminal loop (shellMain) and the tests drive it.
 */
export class ShellCore {
  private readonly live: LiveValues;
  private busy = false;
  private cellNumber = 0;
  /** The recorded cells: the commands that were sent, with what they showed. */
  readonly cells: Array<{ language: CodeLanguage; source: string; outputs: OutputLike[]; idleEvents: number }> = [];
  /** True once a command failed (an error reply, refused before sending, a timeout). */
  failed = false;
  /** Set when the connection was lost. */
  lost: string | undefined;
  private readonly subscriptions: Array<{ dispose(): void }> = [];
  /** The engine's clock at its last record, and when that was here: the time of an event between commands. */
  private clock = { at: 0, wall: performance.now() };
  /** The last input that was sent (not refused before sending): the cell of the events that come after it. */
  private lastSent = 0;

  constructor(private readonly session: CliSession, private readonly schema: Schema | undefined, private readonly output: ShellOutput,
    private readonly options: ShellCoreOptions) {
    const client = session.client;
    if (options.json) output.out(formatLine());
    this.live = new LiveValues({
      execute: (command, args, timeoutMs) => client.execute(command, args, { timeoutMs }),
      inBandBusy: () => this.busy,
      ...(schema ? { hasCommand: (name: string) => schema.command(name) !== undefined } : {}),
    });
    // Events between commands: printed at once and saved with the command before them (as `test` counts them).
    this.subscriptions.push(client.onEvent((e) => {
      this.live.noteEvent(e.event);
      if (this.busy) return;
      if (options.json) {
        // The command before it is the cell it is saved with: a late event record of that cell, as the test rules make them.
        const at = Math.round((this.clock.at + performance.now() - this.clock.wall) * 1000) / 1000;
        this.output.event(jsonLine({ type: 'event', cell: this.lastSent, at, late: true, event: e }));
      } else {
        this.output.event(showMessage(e.raw, options.pretty));
      }
      // A flood of events while idle is printed, but a recorded cell keeps at most as many as the engine would.
      const last = this.cells[this.cells.length - 1];
      if (last !== undefined && last.idleEvents++ < DEFAULT_EVENTS_PER_CELL) last.outputs.push({ kind: 'message', direction: '<-', json: e.raw.trim() });
    }));
    const onDisconnect = (client as { onDisconnect?: (l: (err?: Error) => void) => { dispose(): void } }).onDisconnect;
    if (typeof onDisconnect === 'function') {
      this.subscriptions.push(onDisconnect.call(client, (err?: Error) => {
        this.lost ??= err?.message ?? 'the connection closed';
      }));
    }
  }

  /**
   * What the language service gets besides the text: the schema, the live values, and the named replies the
   * connection's engine holds (`# @name st` before an input): `{{` completes the names saved so far and the
   * members of their replies, a name not saved yet is warned before sending, hover shows a reference's value.
   */
  private context(): LanguageContext {
    const names = this.session.engine.names;
    const above = new Map<string, { cell: number }>();
    // The service counts cells from 0 (the editor's indices); the shell's inputs are numbered from 1.
    for (const n of names.names()) above.set(n, { cell: (names.get(n)?.cell ?? 1) - 1 });
    const reply = (n: string): string | undefined => {
      const e = names.get(n);
      return e?.ok === true ? e.raw : undefined;
    };
    return { schema: this.schema, live: this.live, named: { above, reply } };
  }

  /** Fetches the live values a text names (bounded by the live values' own time limit). */
  private async fetchLive(language: CodeLanguage, text: string, offset?: number): Promise<void> {
    if (this.busy || this.lost !== undefined) return;
    for (const n of liveNeeds(language, text, offset)) await this.live.get(n.kind, n.scope);
  }

  /** Completion candidates for the text before the cursor: readline's [candidates, the text they replace]. */
  async complete(language: CodeLanguage | undefined, text: string): Promise<[string[], string]> {
    const service = language !== undefined ? languageService(language) : undefined;
    if (service === undefined) return [[], ''];
    const offset = text.length;
    await this.fetchLive(language as CodeLanguage, text, offset);
    const result = service.complete(text, offset, this.context());
    if (result.items.length === 0) return [[], ''];
    // Items replace different ranges; the shortest typed prefix is what readline replaces for all of them.
    const typedStart = result.items.reduce((s, i) => Math.max(s, Math.min(i.range.start, offset)), 0);
    const typed = text.slice(typedStart, offset);
    const seen = new Set<string>();
    const out: string[] = [];
    for (const item of result.items) {
      const start = Math.min(item.range.start, offset);
      const insert = text.slice(start, typedStart) + plainInsert(item.insertText, item.isSnippet);
      if (!insert.startsWith(typed) || seen.has(insert)) continue;
      seen.add(insert);
      out.push(insert);
      if (out.length >= MAX_CANDIDATES) break;
    }
    return [out, typed];
  }

  /** The hover text at `offset`, as terminal text; a line saying there is none otherwise. */
  async hover(language: CodeLanguage, source: string, offset: number): Promise<string> {
    const service = languageService(language);
    await this.fetchLive(language, source);
    // The word just before the `?`: hover looks inside it.
    const h = service?.hover(source, Math.max(0, Math.min(offset, source.length) - 1), this.context());
    if (h !== undefined) return markdownToText(h.contents);
    const upTo = source.slice(0, offset);
    const word = language === 'qmp-shell'
      ? tokenizeShellLine(upTo.slice(upTo.lastIndexOf('\n') + 1)).tokens.at(-1)?.text
      : upTo.split(/\s/).pop();
    return `nothing known about '${word ?? ''}'`;
  }

  /**
   * Checks, sends and prints one input. Resolves when it has finished; true when it succeeded. The
   * diagnostics are shown first (what `check` says); the input then runs on the connection's one engine as
   * `run` runs a cell: refused before sending only where `run` refuses it. With --json, a refused input is the
   * engine's record of a cell not sent, with its problems.
   */
  async run(language: CodeLanguage, source: string): Promise<boolean> {
    if (this.lost !== undefined) {
      this.output.err(`error: QEMU went away: ${this.lost}`);
      return false;
    }
    const service = languageService(language);
    await this.fetchLive(language, source);
    const problems = service?.diagnose(source, this.context()) ?? [];
    for (const d of problems) for (const l of describeDiagnostic(source, d)) this.output.err(l);
    // One verdict with every other door: what the engine refuses (a malformed input, an out-of-band command the
    // schema does not allow) is refused before sending; the rest is sent as `run` sends it, whatever the
    // diagnostics above said (QEMU answers an unknown command or a missing argument itself).
    const plan = planCell(source, language, this.schema);
    if (plan.problems.length) {
      const said = new Set(problems.map((d) => d.message));
      for (const p of plan.problems) if (!said.has(p.message)) this.output.err(`error: ${p.message}`);
      this.output.err('not sent');
      this.failed = true;
      if (!this.options.json) return false;
    }
    let refused = plan.problems.length > 0;
    const outputs: OutputLike[] = [];
    const hmp = language === 'hmp';
    let ok = true;
    this.busy = true;
    const cell = ++this.cellNumber;
    const json = this.options.json === true;
    try {
      await this.session.run([{ cell, plan }], (r: TranscriptRecord) => {
        this.clock = { at: r.at, wall: performance.now() };
        renderRecord(r, { language, plan }, outputs);
        if (json) this.output.out(jsonLine(r));
        switch (r.type) {
          case 'reply': {
            const text = hmp && r.ok ? hmpText(r.raw) : undefined;
            if (json) { /* the record is the output */ } else if (text !== undefined) { if (text !== '') this.output.out(text); } else this.output.out(showMessage(r.raw, this.options.pretty));
            if (!r.ok) ok = false;
            this.live.noteCommand(r.command);
            break;
          }
          case 'event':
            if (!json) this.output.out(showMessage(r.event.raw, this.options.pretty));
            break;
          case 'expected-reply':
          case 'expected-event':
            // A pasted cell's written `<-` reply or event: matched or not, as `run` says it.
            this.output.err(expectationNote(r));
            break;
          case 'job-finished':
            // A job the cell followed ended: its final line, as `run` prints it.
            this.output.err(`// job ${jobLine(r, false)}`);
            break;
          case 'wait-satisfied':
            this.output.err(`// ${r.event} arrived (waited ${r.ms} ms)`);
            break;
          case 'events-dropped':
            this.output.err(`// ${r.count} more events not shown`);
            break;
          case 'failure':
            ok = false;
            // A cell refused before sending said its problems above.
            if (r.kind !== 'qemu-error' && !refused) this.output.err(`error: ${r.message}`);
            // Refused by the engine (an out-of-band command without allow-oob, an unknown name): not recorded.
            if (r.kind === 'not-sent-because-invalid') refused = true;
            if (isSessionFailure(r.kind)) this.lost ??= r.message;
            break;
          case 'cell-finished':
            // From here on, events belong between prompts (and to this cell's record).
            this.busy = false;
            if (!refused) {
              this.cells.push({ language, source, outputs, idleEvents: 0 });
              this.lastSent = cell;
            }
            break;
          default:
            break;
        }
      });
    } finally {
      this.busy = false;
    }
    if (!ok) this.failed = true;
    return ok;
  }

  /** The session as a notebook: each command a cell, its outputs in the saved (masked) form. */
  notebook(): NotebookData {
    const cells: CellData[] = [{ kind: 'markdown', language: 'markdown', source: 'A session recorded with `qmp-notebook shell --record`; re-run it with `qmp-notebook test`.' }];
    for (const c of this.cells) {
      const outputs = stableOutputs(c.outputs, this.options.dirs ? { dirs: this.options.dirs } : {});
      cells.push({ kind: 'code', language: c.language, source: c.source, ...(outputs.length ? { outputs } : {}) });
    }
    return { cells };
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
  }
}

/** Reads the history file (newest first, as readline keeps it); none when missing or unreadable. */
export function readHistory(file: string): string[] {
  try {
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '' && l.length <= HISTORY_LINE_MAX);
    return lines.slice(-HISTORY_SIZE).reverse();
  } catch {
    return [];
  }
}

/** Writes the history file (oldest first), private and bounded; a failure is reported once by the caller. */
export function writeHistory(file: string, newestFirst: readonly string[]): void {
  const lines = newestFirst.filter((l) => l.length <= HISTORY_LINE_MAX).slice(0, HISTORY_SIZE).reverse();
  writeFileAtomicSync(file, lines.length ? `${lines.join('\n')}\n` : '');
}


/**
 * Prints text that arrives between prompts above the line being typed: clears the prompt line (all its
 * rows), writes the text, and draws the prompt and the typed text again with the cursor where it was.
 */
class TerminalPrinter {
  constructor(private readonly rl: readline.Interface, private readonly output: NodeJS.WritableStream, public prompting = false) {}

  print(text: string): void {
    if (!this.prompting) { this.output.write(`${text}\n`); return; }
    const rows = this.rl.getCursorPos().rows;
    if (rows > 0) readline.moveCursor(this.output, 0, -rows);
    readline.cursorTo(this.output, 0);
    readline.clearScreenDown(this.output);
    this.output.write(`${text}\n`);
    // readline moves up by the rows of its last drawing before it draws again; the text is above it now.
    (this.rl as unknown as { prevRows?: number }).prevRows = 0;
    this.rl.prompt(true);
  }
}

/** `qmp-notebook shell`: returns the exit status. */
export async function shellMain(req: ShellRequest, deps: CliDeps, io: CliIo, streams: ShellStreams,
  connect: (c: ResolvedConnection) => Promise<CliSession>, fetchSchema: (s: CliSession) => Promise<Schema>): Promise<number> {
  const connection: ResolvedConnection = req.connection.kind === 'default' ? { kind: 'sandbox' } : req.connection;
  const session = await connect(connection);
  let core: ShellCore | undefined;
  let rl: readline.Interface | undefined;
  try {
    let schema: Schema | undefined;
    try {
      schema = await fetchSchema(session);
      session.client.setSchema(schema);
    } catch (err) {
      io.err(`qmp-notebook: warning: no schema (${err instanceof Error ? err.message : String(err)}): no completion, no checks before sending`);
    }
    const dir = (session as { dir?: unknown }).dir;
    const dirs: VolatileDir[] = typeof dir === 'string' && dir !== '' ? [{ path: dir, name: 'SANDBOX_DIR' }] : [];
    const historyFile = req.history ?? path.join(homedir(), '.qmp-notebook_history');
    const gatherer = new InputGatherer(req.hmp);
    let running = false;
    let printer: TerminalPrinter | undefined;
    const output: ShellOutput = {
      out: (t) => (printer ? printer.print(t) : io.out(t)),
      err: (t) => (printer ? printer.print(t) : io.err(t)),
      event: (t) => (printer ? printer.print(t) : io.out(t)),
    };
    core = new ShellCore(session, schema, output, { pretty: req.pretty, ...(req.json === true ? { json: true } : {}), dirs });
    const shell = core;
    const saveRecord = (): void => {
      if (req.record === undefined) return;
      try {
        writeFileAtomicSync(req.record, serializeNotebook(shell.notebook()));
      } catch (err) {
        io.err(`qmp-notebook: cannot write ${req.record}: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    saveRecord();
    rl = readline.createInterface({
      input: streams.input, output: streams.terminal ? streams.output : undefined, terminal: streams.terminal,
      ...(streams.terminal ? {
        history: readHistory(historyFile), historySize: HISTORY_SIZE, removeHistoryDuplicates: true,
        completer: (line: string, callback: (err: Error | null, result: [string[], string]) => void) => {
          const { language, text } = gatherer.context(line);
          shell.complete(language, text).then((r) => callback(null, r), () => callback(null, [[], line]));
        },
      } : {}),
    });
    const lines = rl;
    if (streams.terminal) {
      printer = new TerminalPrinter(lines, streams.output);
      let historyError = false;
      lines.on('history', (h: string[]) => {
        try {
          writeHistory(historyFile, h);
        } catch (err) {
          if (!historyError) io.err(`qmp-notebook: cannot write the history ${historyFile}: ${err instanceof Error ? err.message : String(err)}`);
          historyError = true;
        }
      });
      lines.on('SIGINT', () => {
        // Ctrl-C while a command runs stops the shell as it stops every subcommand (exit 130, a sandbox stopped).
        if (running) { process.kill(process.pid, 'SIGINT'); return; }
        // Ctrl-C at the prompt drops the line being typed (and an open multi-line input), as a shell does.
        gatherer.reset();
        streams.output.write('^C\n');
        (lines as unknown as { line: string }).line = '';
        lines.setPrompt(req.hmp ? '(HMP) ' : '(QEMU) ');
        lines.prompt();
      });
      streams.output.write(`Connected to ${describeSession(connection)}${schema ? `, ${schema.commands().length} commands` : ''}. Tab completes, a line ending in '?' explains, Ctrl-D quits.\n`);
    }
    const prompt = (): void => {
      if (!streams.terminal || !printer) return;
      lines.setPrompt(gatherer.open ? '... ' : req.hmp ? '(HMP) ' : '(QEMU) ');
      printer.prompting = true;
      lines.prompt();
    };
    // --deadline: the session ends then (after the command that runs, if one does), exit 1.
    let pastDeadline = false;
    const deadlineTimer = req.deadlineMs === undefined ? undefined : setTimeout(() => {
      pastDeadline = true;
      io.err(`qmp-notebook: the session did not finish within ${req.deadlineMs} ms (--deadline)`);
      lines.close();
    }, req.deadlineMs);
    prompt();
    try {
      for await (const line of lines) {
        if (printer) printer.prompting = false;
        const input = gatherer.feed(line);
        if (input?.kind === 'hover') {
          // With --json, standard output holds records only: the explanation is for the person, on standard error.
          const text = await shell.hover(input.language, input.source, input.offset);
          if (req.json === true) output.err(text); else output.out(text);
        }
        else if (input?.kind === 'cell') {
          running = true;
          try {
            await shell.run(input.language, input.source);
          } finally {
            running = false;
          }
          saveRecord();
          if (shell.lost !== undefined) {
            const died = await session.describeLoss?.();
            io.err(`qmp-notebook: QEMU went away${died ? `: ${died}` : ''}`);
            return 2;
          }
        }
        prompt();
      }
    } finally {
      clearTimeout(deadlineTimer);
    }
    if (streams.terminal) streams.output.write('\n');
    saveRecord();
    return pastDeadline || (!streams.terminal && shell.failed) ? 1 : 0;
  } finally {
    rl?.close();
    core?.dispose();
    await session.close();
  }
}

function describeSession(c: ResolvedConnection): string {
  return c.kind === 'unix' ? c.path : c.kind === 'tcp' ? `${c.host}:${c.port}` : c.kind === 'sandbox' ? 'a sandbox QEMU'
    : c.kind === 'storage-daemon' ? 'a qemu-storage-daemon' : c.kind === 'libvirt' ? `the libvirt domain ${c.domain}` : 'the guest agent';
}
