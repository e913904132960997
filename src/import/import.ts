// Imports QMP sessions other tools recorded into a notebook: libvirtd's debug log with monitor logging on,
// qmp-shell's log (`-l FILE`) and history, QEMU's iotests `.out` files, and any text in QEMU's `->`/`<-`
// notation. Pure: lines in, a notebook and a report out (src/import/cli.ts reads and writes the files).
//
// Every format is read line by line in one pass: a message that spans lines (a pretty-printed qmp-shell log,
// a `->` example in QEMU's documentation) is scanned incrementally, each character once, up to a bound on its
// size. What is not a QMP message is reported by line number, grouped into ranges, never dropped silently.
//
// Each command becomes a `qmp` cell; the replies and events that came after it, up to the next command, are
// its saved outputs in the stable form `qmp-notebook test` reads (src/testing/savedOutput.ts): timestamps
// masked, the recording client's own ids (`libvirt-12`, `#3`) elided from commands and replies.
import { parseJsonTree, printJsonTree, type JsonMember, type JsonNode } from '../testing/jsonTree';
import { stableOutputs, validMasks } from '../testing/savedOutput';
import { parseCell, type CellData, type NotebookData, type SavedOutput } from '../format';
import { pythonLiteralToJson } from '../format/pyliteral';

/** The lines of a recording, read once: an array, or a file read as a stream (bounded memory). */
export type Lines = Iterable<string>;

export type ImportFormat = 'libvirt' | 'qmp-shell-log' | 'qmp-shell-history' | 'iotests' | 'arrows';
export const IMPORT_FORMATS: readonly ImportFormat[] = ['libvirt', 'qmp-shell-log', 'qmp-shell-history', 'iotests', 'arrows'];

/** A message longer than this (in characters) is reported instead of being kept. */
export const MAX_MESSAGE_CHARS = 16 * 1024 * 1024;
/** At most this many problem lines and skipped ranges are listed one by one; the rest are counted. */
const MAX_LISTED = 50;

/** One QMP message read from a recording, with the (1-based) line it starts on. */
export interface Recorded {
  kind: 'command' | 'reply' | 'event';
  /** The message as JSON text (for qmp-shell history: the qmp-shell line). */
  text: string;
  line: number;
  /** For libvirt logs: the monitor (`mon=0x…`) the message belongs to. */
  monitor?: string | undefined;
}

export interface ImportProblem {
  line: number;
  message: string;
}

export interface ImportReport {
  format: ImportFormat;
  /** Lines that look like QMP but could not be read, with why. */
  problems: ImportProblem[];
  /** Line ranges that are not QMP messages (log noise, prose), as `[first, last]`. */
  skipped: [number, number][];
  /** Notes on what was changed or left out (the handshake, replies with no command, …). */
  notes: string[];
  /**
   * For libvirt logs: the monitors found, with their number of commands, and the domain's short name when the
   * log shows it (the charmonitor path in libvirt's start-up `query-chardev` reply: `…/domain-ID-NAME/monitor.sock`).
   */
  monitors: { monitor: string; commands: number; firstLine: number; domain?: string }[];
  /**
   * Where every line went (qmp-shell logs, iotests, arrows): blank, skipped (listed in `skipped`), read (part
   * of a message or a header, whatever became of it), or reported on its own (a problem line that is no
   * message). They add up to the lines of the input: no line goes unaccounted for.
   */
  lines?: { blank: number; skipped: number; read: number; reported: number };
}

export interface ImportResult {
  notebook: NotebookData;
  report: ImportReport;
  cells: number;
}

/** Values QEMU's iotests filters write in place of volatile ones (tests/qemu-iotests/common.filter, iotests.py). */
export const IOTESTS_PLACEHOLDERS: readonly string[] = [
  'TIMESTAMP', 'NODE_NAME', 'TEST_DIR', 'SOCK_DIR', 'IMGFMT', 'IMGPROTO', 'PID', 'SECS', 'USECS', 'QEMU_PROG', 'CACHEMODE', 'DEVICE', 'XXX',
];
const PLACEHOLDER_IN_STRING = new RegExp(`\\b(${IOTESTS_PLACEHOLDERS.join('|')})\\b`);

/**
 * Scans a JSON object (or array) that may span several lines, one character at a time, across calls: knows
 * when the value is closed without re-reading what it has seen. Linear in the text fed.
 */
class ObjectScanner {
  private depth = 0;
  private inString = false;
  private quote = '"';
  private escape = false;
  private started = false;
  readonly parts: string[] = [];
  size = 0;

  /** Feeds text; returns the index just past the closing brace when the value ends in it, else -1. */
  feed(text: string, allowSingleQuotes: boolean): number {
    for (let i = 0; i < text.length; i++) {
      const c = text[i] as string;
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === '\\') this.escape = true;
        else if (c === this.quote) this.inString = false;
        continue;
      }
      if (c === '"' || (allowSingleQuotes && c === '\'')) { this.inString = true; this.quote = c; continue; }
      if (c === '{' || c === '[') { this.depth++; this.started = true; }
      else if (c === '}' || c === ']') {
        this.depth--;
        if (this.started && this.depth <= 0) {
          this.parts.push(text.slice(0, i + 1));
          this.size += i + 1;
          return i + 1;
        }
      }
    }
    this.parts.push(text);
    this.size += text.length + 1;
    return -1;
  }

  text(): string {
    return this.parts.join('\n');
  }
}

/** The kind of a parsed message: a command (execute / exec-oob), a reply (return / error), or an event. */
function kindOf(node: JsonNode): Recorded['kind'] | 'shell-log' | undefined {
  if (node.type !== 'object') return undefined;
  const keys = new Set(node.members.map((m) => m.key));
  const command = keys.has('execute') || keys.has('exec-oob');
  const reply = keys.has('return') || keys.has('error');
  if (command && reply) return 'shell-log';
  if (command) return 'command';
  if (reply) return 'reply';
  if (keys.has('event')) return 'event';
  return undefined;
}

/** A message read from a recording, with the bare words an iotests filter left in value places. */
interface ParsedMessage {
  node: JsonNode;
  /** Bare words read as strings (`TIMESTAMP`, `LEN`, `HASH`, `(filtered)`): their paths become masks. */
  placeholders: ReadonlySet<string>;
}

const NO_PLACEHOLDERS: ReadonlySet<string> = new Set();

/**
 * Reads a message's text as JSON; the bare words iotests' filters write in place of values
 * (`"seconds":  TIMESTAMP`, `"len": LEN`, `"sha256": HASH`, `"offset": (filtered)`) become strings, and bash
 * iotests' single-quoted commands (`{ 'execute': 'stop' }`) are read as qmp-shell reads Python literals.
 */
function parseMessage(text: string): ParsedMessage | undefined {
  const direct = parseJsonTree(text);
  if (direct !== undefined) return { node: direct, placeholders: NO_PLACEHOLDERS };
  const quoted = quoteBareWords(text);
  if (quoted.words.size > 0) {
    const second = parseJsonTree(quoted.text);
    if (second !== undefined) return { node: second, placeholders: quoted.words };
  }
  const py = pythonLiteralToJson(quoted.words.size > 0 ? quoted.text : text);
  const node = 'json' in py ? parseJsonTree(py.json) : undefined;
  return node === undefined ? undefined : { node, placeholders: quoted.words };
}

/** Literals that are values as they stand (JSON's, and Python's for single-quoted bash iotests). */
const LITERAL_WORDS = new Set(['true', 'false', 'null', 'True', 'False', 'None']);

/**
 * Bare words outside strings (an identifier not part of a number, or a parenthesised `(filtered)`) written
 * as strings, and the set of them. One pass; strings in either quote are copied as they are.
 */
function quoteBareWords(text: string): { text: string; words: Set<string> } {
  const words = new Set<string>();
  let out = '';
  let quote = '';
  let escape = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote !== '') {
      out += c;
      if (escape) escape = false;
      else if (c === '\\') escape = true;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === '\'') { quote = c; out += c; continue; }
    const prev = i > 0 ? text[i - 1] as string : '';
    if (/[A-Za-z_]/.test(c) && !/[\w.+-]/.test(prev)) {
      let j = i;
      while (j < text.length && /\w/.test(text[j] as string)) j++;
      const word = text.slice(i, j);
      if (LITERAL_WORDS.has(word)) out += word;
      else { words.add(word); out += JSON.stringify(word); }
      i = j - 1;
      continue;
    }
    if (c === '(') {
      const m = /^\([A-Za-z][A-Za-z ]{0,30}\)/.exec(text.slice(i, i + 34));
      if (m) { words.add(m[0]); out += JSON.stringify(m[0]); i += m[0].length - 1; continue; }
    }
    out += c;
  }
  return { text: out, words };
}

/** An id that a recording client made up (libvirt's `libvirt-12`, ours `#3`): not the author's, so elided. */
const RECORDER_ID = /^(libvirt-\d+|#.*)$/;

function withoutRecorderId(node: JsonNode): JsonNode {
  if (node.type !== 'object') return node;
  const members = node.members.filter((m) => !(m.key === 'id' && m.value.type === 'string' && RECORDER_ID.test(m.value.value)));
  return members.length === node.members.length ? node : { type: 'object', members };
}

/** The paths (array indexes as `*`) where an iotests placeholder stands for a value, for front matter masks. */
function placeholderPaths(node: JsonNode, prefix: string[], out: Set<string>, words: ReadonlySet<string> = NO_PLACEHOLDERS): void {
  const stack: { node: JsonNode; path: string[] }[] = [{ node, path: prefix }];
  while (stack.length > 0) {
    const { node: n, path } = stack.pop() as { node: JsonNode; path: string[] };
    if (n.type === 'object') for (const m of n.members) stack.push({ node: m.value, path: [...path, m.key] });
    else if (n.type === 'array') for (const item of n.items) stack.push({ node: item, path: [...path, '*'] });
    else if (n.type === 'string' && (words.has(n.value) || PLACEHOLDER_IN_STRING.test(n.value)) && path.length > 0 && path.every((p) => !/[.\s"]/.test(p))) {
      // Event timestamps are masked by the built-in rule already.
      if (!(path[0] === 'timestamp')) out.add(path.join('.'));
    }
  }
}

/** Splits a shell-log record `{execute…, arguments…, return…}` into the command and the reply. */
function splitShellLog(node: JsonNode & { type: 'object' }): { command: JsonNode; reply: JsonNode } {
  const cmd: JsonMember[] = [];
  const rep: JsonMember[] = [];
  for (const m of node.members) (m.key === 'return' || m.key === 'error' ? rep : m.key === 'id' ? rep : cmd).push(m);
  return { command: { type: 'object', members: cmd }, reply: { type: 'object', members: rep } };
}

/** Collects the report's skipped ranges and problems, bounded. */
class Collector {
  readonly report: ImportReport;
  private skippedCount = 0;
  private problemCount = 0;
  /** Cells per monitor ('' outside libvirt logs), built as the messages come: nothing is kept twice. */
  readonly builders = new Map<string, CellBuilder>();
  /** Paths of iotests placeholders in replies and events, for masks. */
  readonly maskPaths = new Set<string>();

  constructor(format: ImportFormat, private readonly only?: string) {
    this.report = { format, problems: [], skipped: [], notes: [], monitors: [] };
  }

  /** QEMU greetings read (`{"QMP": …}`, iotests' `{ QMP_VERSION }`): left out, the runner reads its own. */
  greetings = 0;
  /** JSON values that are no QMP message (iotests: qemu-img's JSON output), skipped. */
  otherJson = 0;

  accepts(monitor = ''): boolean {
    return this.only === undefined || monitor === this.only;
  }

  private builder(monitor: string): CellBuilder {
    let b = this.builders.get(monitor);
    if (!b) { b = new CellBuilder(); this.builders.set(monitor, b); }
    return b;
  }

  add(kind: Recorded['kind'], node: JsonNode, monitor = '', placeholders?: ReadonlySet<string>, probe = false): void {
    if (!this.accepts(monitor)) return;
    if (kind !== 'command') placeholderPaths(node, [], this.maskPaths, placeholders);
    this.builder(monitor).add(kind, node, probe);
  }

  addShellLine(text: string): void {
    this.builder('').cells.push({ kind: 'code', language: 'qmp-shell', source: text });
  }

  addMarkdown(text: string): void {
    this.builder('').cells.push({ kind: 'markdown', language: 'markdown', source: `### ${text}` });
  }

  skipRange(first: number, last: number): void {
    for (let line = first; line <= last; line++) this.skip(line);
  }

  /** Lines by where they went (see ImportReport.lines). */
  readonly counts = { blank: 0, skipped: 0, read: 0, reported: 0 };

  skip(line: number): void {
    this.counts.skipped++;
    const last = this.report.skipped[this.report.skipped.length - 1];
    if (last && last[1] === line - 1) { last[1] = line; return; }
    this.skippedCount++;
    if (this.report.skipped.length < MAX_LISTED) this.report.skipped.push([line, line]);
  }

  problem(line: number, message: string): void {
    this.problemCount++;
    if (this.report.problems.length < MAX_LISTED) this.report.problems.push({ line, message });
  }

  finish(): void {
    // A header is skipped when the next one comes, after the prose under it: ranges in line order, merged.
    const ranges = [...this.report.skipped].sort((a, b) => a[0] - b[0]);
    const listed = ranges.length;
    this.report.skipped = [];
    for (const r of ranges) {
      const last = this.report.skipped[this.report.skipped.length - 1];
      if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
      else this.report.skipped.push([r[0], r[1]]);
    }
    if (this.greetings > 0) this.report.notes.push(`left out ${this.greetings} QMP greeting${this.greetings === 1 ? '' : 's'} (the runner reads its own)`);
    if (this.otherJson > 0) this.report.notes.push(`skipped ${this.otherJson === 1 ? 'a JSON value that is' : `${this.otherJson} JSON values that are`} no QMP message (tool output)`);
    if (this.skippedCount > listed) this.report.notes.push(`${this.skippedCount - listed} more ranges of lines that are not QMP messages were skipped`);
    if (this.problemCount > this.report.problems.length) this.report.notes.push(`${this.problemCount - this.report.problems.length} more lines could not be read`);
  }
}

/** Adds one message (already parsed) to the records, splitting a qmp-shell log record in two. */
function addMessage(c: Collector, node: JsonNode, line: number, monitor?: string, expected?: Recorded['kind'], placeholders?: ReadonlySet<string>, probe = false): void {
  const kind = kindOf(node);
  if (kind === undefined && isGreeting(node)) { if (c.accepts(monitor)) c.greetings++; return; }
  if (kind === undefined) { c.problem(line, 'a JSON value that is not a QMP command, reply or event'); return; }
  if (kind === 'shell-log' && node.type === 'object') {
    const { command, reply } = splitShellLog(node);
    c.add('command', command, monitor);
    c.add('reply', reply, monitor, placeholders);
    return;
  }
  const k = kind === 'shell-log' ? 'command' : kind;
  if (expected !== undefined && expected !== k && !(expected === 'reply' && k === 'event')) {
    c.problem(line, `a ${k} where the log says ${expected}`);
    return;
  }
  c.add(k, node, monitor, placeholders, probe);
}

// --- libvirt ------------------------------------------------------------------------------------------

const LIBVIRT_LINE = /QEMU_MONITOR_(SEND_MSG|IO_WRITE|RECV_REPLY|RECV_EVENT): mon=(0x[0-9a-fA-F]+|\(nil\)) (msg|buf|reply|event)=/;
/** The rest of a libvirt message line that held the `\r\n` QEMU framing: ` fd=-1`, ` len=47 ret=47 errno=0`. */
const LIBVIRT_TAIL = /^ (fd=-?\d+|len=\d+ ret=-?\d+( errno=\d+)?)\s*$/;

/** `QEMU_MONITOR_NEW: mon=0x…`: libvirt opened a monitor (a domain started, or libvirtd reconnected to it). */
const LIBVIRT_NEW = /QEMU_MONITOR_NEW: mon=(0x[0-9a-fA-F]+)/;
/** `qemuMonitorGetBlockInfo:1924 : mon:0x… vm:0x… fd:32`: the libvirt call that sends the next commands (debug level). */
const LIBVIRT_CALLER = / (qemuMonitor[A-Za-z0-9]+):\d+ : mon:(0x[0-9a-fA-F]+) vm:/;
/** The caller of a `virsh qemu-monitor-command`: what a client asked for, never a probe. */
const CLIENT_CALLER = 'qemuMonitorArbitraryCommand';
/** The charmonitor's socket in libvirt's start-up `query-chardev` reply: `…/domain-ID-SHORTNAME/monitor.sock`. */
const MONITOR_PATH = /\/domain-\d+-([^/]+)\/monitor\.sock/;

/**
 * Whether libvirt sends a command to probe or set up a monitor it just opened (qemuConnectMonitor and the
 * rest of qemuProcessLaunch): reads (`query-*`, `qom-list`, `qom-get`, `qom-list-types`, `qom-list-properties`,
 * `device-list-properties`) and its connect-time set-up (`qmp_capabilities`, `migrate-set-capabilities`,
 * `migrate-set-parameters`, `balloon`). Starting one domain sends about 410 of them (QMP-FACTS.md).
 */
export function isProbeCommand(name: string): boolean {
  return name.startsWith('query-') || PROBE_COMMANDS.has(name);
}
const PROBE_COMMANDS = new Set(['qom-list', 'qom-get', 'qom-list-types', 'qom-list-properties', 'device-list-properties',
  'qmp_capabilities', 'migrate-set-capabilities', 'migrate-set-parameters', 'balloon']);

function commandName(node: JsonNode): string | undefined {
  if (node.type !== 'object') return undefined;
  const v = node.members.find((m) => m.key === 'execute' || m.key === 'exec-oob')?.value;
  return v?.type === 'string' ? v.value : undefined;
}

function readLibvirt(lines: Lines, c: Collector, keepProbes: boolean): void {
  let n = 0;
  // The last SEND_MSG per monitor, so its IO_WRITE (the same bytes on the wire) is not read twice.
  const lastSent = new Map<string, string>();
  const monitors = new Map<string, { commands: number; firstLine: number; domain?: string }>();
  // The connect-time burst: from a monitor's QEMU_MONITOR_NEW line, the commands libvirt sends itself that are
  // probes (isProbeCommand), up to the first command a client asked for (qemu-monitor-command) or that is not a
  // probe. A monitor whose opening is not in the log (logging turned on later) has no burst in it.
  const inBurst = new Set<string>();
  const caller = new Map<string, string>();
  // Whether the last command of a monitor was a probe (its replies are left out with it).
  const probing = new Set<string>();
  let afterMessage = false;
  for (const raw of lines) {
    n++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (afterMessage && LIBVIRT_TAIL.test(line)) { afterMessage = false; continue; }
    afterMessage = false;
    const m = LIBVIRT_LINE.exec(line);
    if (!m) {
      const opened = line.includes('QEMU_MONITOR_NEW') ? LIBVIRT_NEW.exec(line) : null;
      if (opened) { inBurst.add(opened[1] as string); caller.delete(opened[1] as string); }
      const by = line.includes(' mon:0x') ? LIBVIRT_CALLER.exec(line) : null;
      if (by) caller.set(by[2] as string, by[1] as string);
      if (line.trim() !== '') c.skip(n);
      continue;
    }
    afterMessage = true;
    const what = m[1] as string;
    const mon = m[2] as string;
    const payload = line.slice(m.index + m[0].length);
    const scanner = new ObjectScanner();
    const end = scanner.feed(payload, false);
    const text = end < 0 ? payload : payload.slice(0, end);
    if (text.length > MAX_MESSAGE_CHARS) { c.problem(n, `a message longer than ${MAX_MESSAGE_CHARS} characters`); continue; }
    if (what === 'IO_WRITE' && lastSent.get(mon) === text) { lastSent.delete(mon); continue; }
    const node = end < 0 ? undefined : parseJsonTree(text);
    if (node === undefined) { c.problem(n, `QEMU_MONITOR_${what}: the message is not complete JSON`); continue; }
    if (what === 'SEND_MSG') lastSent.set(mon, text);
    const expected: Recorded['kind'] = what === 'RECV_REPLY' ? 'reply' : what === 'RECV_EVENT' ? 'event' : 'command';
    if (!monitors.has(mon)) monitors.set(mon, { commands: 0, firstLine: n });
    const info = monitors.get(mon) as { commands: number; domain?: string };
    if (expected === 'command') {
      info.commands++;
      const name = commandName(node);
      if (inBurst.has(mon) && (caller.get(mon) === CLIENT_CALLER || name === undefined || !isProbeCommand(name))) inBurst.delete(mon);
      if (inBurst.has(mon)) probing.add(mon);
      else probing.delete(mon);
    } else if (expected === 'reply' && info.domain === undefined && text.includes('"charmonitor"')) {
      const domain = monitorDomain(node);
      if (domain !== undefined) info.domain = domain;
    }
    addMessage(c, node, n, mon, expected, undefined, !keepProbes && probing.has(mon));
  }
  c.report.monitors = [...monitors].map(([monitor, v]) => ({ monitor, ...v }));
}

/** The domain's short name in a `query-chardev` reply's charmonitor entry, when it is there. */
function monitorDomain(reply: JsonNode): string | undefined {
  const ret = reply.type === 'object' ? reply.members.find((m) => m.key === 'return')?.value : undefined;
  if (ret?.type !== 'array') return undefined;
  for (const item of ret.items) {
    if (item.type !== 'object') continue;
    const label = item.members.find((m) => m.key === 'label')?.value;
    const file = item.members.find((m) => m.key === 'filename')?.value;
    if (label?.type === 'string' && label.value === 'charmonitor' && file?.type === 'string') return MONITOR_PATH.exec(file.value)?.[1];
  }
  return undefined;
}

/**
 * libvirt's short name of a domain (virDomainDefGetShortName): the name cut to its first 20 characters. The
 * monitor path holds this, so a longer name is known by its first 20 characters only.
 */
const SHORT_NAME_MAX = 20;

/** The monitors of a domain: those whose charmonitor path names it. */
function monitorsOfDomain(mons: ImportReport['monitors'], domain: string): ImportReport['monitors'] {
  const short = [...domain].slice(0, SHORT_NAME_MAX).join('');
  return mons.filter((m) => m.domain !== undefined && m.domain === short);
}

// --- JSON objects over lines: qmp-shell logs, iotests .out, `->`/`<-` text ------------------------------

/** An iotests section header (`=== Adding a node ===`, `== x ==`, `--- x ---`, `### x`): the text. */
const SECTION_HEADER = /^(?:={2,}|-{2,}|#{3})\s*(\S.*?)\s*(?:={2,}|-{2,}|#{3})?\s*$/;

/**
 * Reads JSON objects that start a line (after an optional `->`/`<-` arrow) and may continue over the
 * following lines. `arrows`: only lines with an arrow start a message (prose in between is skipped).
 * `iotests`: a line starting with `[` starts a value too, a JSON value that is no QMP message (qemu-img's
 * `--output=json`) is skipped as the tool output it is, and a section header that some message follows
 * becomes a markdown cell.
 */
function readObjects(lines: Lines, c: Collector, mode: 'arrows' | 'iotests' | 'shell-log'): void {
  const arrows = mode === 'arrows';
  const iotests = mode === 'iotests';
  let n = 0;
  let open: { scanner: ObjectScanner; line: number; arrow?: string | undefined } | undefined;
  let header: { text: string; line: number } | undefined;
  const close = (text: string, line: number, last: number, arrow?: string): void => {
    c.counts.read += last - line + 1;
    if (text.length > MAX_MESSAGE_CHARS) { c.problem(line, `a message longer than ${MAX_MESSAGE_CHARS} characters`); return; }
    if (/^\{\s*QMP_VERSION\s*\}$/.test(text)) { c.greetings++; return; }
    const parsed = parseMessage(text);
    if (parsed === undefined) { c.problem(line, 'not valid JSON'); return; }
    const kind = kindOf(parsed.node);
    if (arrow === '->' && kind !== 'command') { c.problem(line, '`->` before something that is not a command'); return; }
    if (arrow === '<-' && kind !== 'reply' && kind !== 'event') { c.problem(line, '`<-` before something that is not a reply or an event'); return; }
    // Python iotests log a list of events (`vm.get_qmp_events()`) as one array: each is read in turn.
    const items = iotests && parsed.node.type === 'array' && parsed.node.items.length > 0 && parsed.node.items.every((i) => kindOf(i) !== undefined)
      ? parsed.node.items : [parsed.node];
    if (iotests && kindOf(items[0] as JsonNode) === undefined && !isGreeting(parsed.node)) {
      c.otherJson++;
      c.counts.read -= last - line + 1;
      c.skipRange(line, last);
      return;
    }
    if (header && !isGreeting(parsed.node)) { c.addMarkdown(header.text); c.counts.read++; header = undefined; }
    for (const item of items) addMessage(c, item, line, undefined, undefined, parsed.placeholders);
  };
  for (const raw of lines) {
    n++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (open) {
      const end = open.scanner.feed(line, true);
      if (end >= 0) {
        const rest = line.slice(end).trim();
        close(open.scanner.text(), open.line, n, open.arrow);
        if (rest !== '' && rest !== ',') c.problem(n, `text after the message: ${rest.slice(0, 40)}`);
        open = undefined;
      } else if (open.scanner.size > MAX_MESSAGE_CHARS) {
        c.problem(open.line, `a message longer than ${MAX_MESSAGE_CHARS} characters`);
        c.counts.read += n - open.line + 1;
        open = undefined;
      }
      continue;
    }
    if (line.trim() === '') { c.counts.blank++; continue; }
    // Python iotests' unittest progress (`.`, `s`, `E`, `F`, `x` per test) lands before the next logged line.
    const trimmed = iotests ? line.trimStart().replace(/^[.sEFx]+(?=[{[=])/, '') : line.trimStart();
    const arrow = /^(->|<-)\s*(?=[{[])/.exec(trimmed);
    const body = arrow ? trimmed.slice(arrow[0].length) : trimmed;
    if (!(body.startsWith('{') || (iotests && body.startsWith('['))) || (arrows && !arrow)) {
      if (trimmed !== '') {
        const h = iotests ? SECTION_HEADER.exec(trimmed) : null;
        if (h) {
          // Kept until a message follows it (a header of prose only is skipped like the prose).
          if (header) c.skip(header.line);
          header = { text: h[1] as string, line: n };
        } else if (/^(->|<-)/.test(trimmed)) { c.problem(n, 'an arrow not followed by a JSON object'); c.counts.reported++; }
        else c.skip(n);
      }
      continue;
    }
    const scanner = new ObjectScanner();
    const end = scanner.feed(body, true);
    if (end >= 0) {
      const rest = body.slice(end).trim();
      // `[0]: auto` (qemu-img info's human output) is prose that starts with a bracket.
      if (iotests && body.startsWith('[') && rest !== '' && rest !== ',') { c.skip(n); continue; }
      close(body.slice(0, end), n, n, arrow?.[1]);
      if (rest !== '' && rest !== ',') c.problem(n, `text after the message: ${rest.slice(0, 40)}`);
    } else {
      open = { scanner, line: n, arrow: arrow?.[1] };
    }
  }
  if (header) c.skip(header.line);
  if (open) { c.problem(open.line, 'a message that is not closed before the end of the file'); c.counts.read += n - open.line + 1; }
  c.report.lines = c.counts;
}

/** QEMU's greeting (`{"QMP": {"version": …, "capabilities": […]}}`): the runner reads its own. */
function isGreeting(node: JsonNode): boolean {
  return node.type === 'object' && node.members.length === 1 && node.members[0]?.key === 'QMP';
}

function readHistory(lines: Lines, c: Collector): void {
  let n = 0;
  for (const raw of lines) {
    n++;
    const line = (raw.endsWith('\r') ? raw.slice(0, -1) : raw).trim();
    // readline's own history file header (`_HiStOrY_V2_`, libedit) is not a command.
    if (line === '' || line === '_HiStOrY_V2_') continue;
    // Kept as a cell all the same (nothing is lost); the report says which lines will not run.
    const problem = parseCell(line, 'qmp-shell').errors[0];
    if (problem) c.problem(n, `qmp-shell cannot read this line: ${problem.message}`);
    c.addShellLine(line);
  }
}

/** Guesses the format from the first lines of a file; undefined when nothing fits. */
export function detectFormat(head: readonly string[], fileName = ''): ImportFormat | undefined {
  let arrows = 0;
  let shellLog = 0;
  let objects = 0;
  for (const line of head) {
    if (LIBVIRT_LINE.test(line)) return 'libvirt';
    const t = line.trimStart();
    if (/^(->|<-)\s*[{[]/.test(t)) arrows++;
    if (t.startsWith('{')) {
      objects++;
      if (/["']execute["']/.test(t) && /["'](return|error)["']/.test(t)) shellLog++;
    }
  }
  if (arrows > 0) return 'arrows';
  if (shellLog > 0) return 'qmp-shell-log';
  if (objects > 0) return 'iotests';
  if (/history/i.test(fileName)) return 'qmp-shell-history';
  return undefined;
}

export interface ImportOptions {
  format: ImportFormat;
  /** For libvirt logs with several monitors: the one to import. */
  monitor?: string | undefined;
  /** For libvirt logs: the domain to import (its monitor is found in the log; see monitorsOfDomain). */
  domain?: string | undefined;
  /** For libvirt logs: keep the probes libvirt sends when it opens a monitor (left out by default). */
  all?: boolean | undefined;
}

/** Commands that the runner sends itself: importing them would send them twice. */
const HANDSHAKE = new Set(['qmp_capabilities']);

/** Commands and what followed them, as cells: one cell per command, its replies and events as outputs. */
class CellBuilder {
  readonly cells: CellData[] = [];
  private current: SavedOutput[] | undefined;
  before = 0;
  orphanReplies = 0;
  handshakes = 0;
  private skippingHandshake = false;
  /** Whether the last command has had its reply. */
  private replied = false;

  probes = 0;
  probeReplies = 0;

  add(kind: Recorded['kind'], raw: JsonNode, probe = false): void {
    if (probe) {
      // libvirt's connect-time probes and whatever answered them while they ran (importLines says how many).
      if (kind === 'command') { this.probes++; this.current = undefined; this.skippingHandshake = false; } else this.probeReplies++;
      return;
    }
    const node = withoutRecorderId(raw);
    if (kind === 'command') {
      this.skippingHandshake = false;
      this.replied = false;
      this.current = undefined;
      const name = node.type === 'object' ? node.members.find((m) => m.key === 'execute' || m.key === 'exec-oob')?.value : undefined;
      if (name?.type === 'string' && HANDSHAKE.has(name.value)) { this.handshakes++; this.skippingHandshake = true; return; }
      const outputs: SavedOutput[] = [];
      this.cells.push({ kind: 'code', language: 'qmp', source: printJsonTree(node), outputs });
      this.current = outputs;
      return;
    }
    if (this.skippingHandshake && kind === 'reply') { this.skippingHandshake = false; this.replied = true; return; }
    // A command has one reply: a second one answers a command the recording did not log (iotests' qemu-io
    // lines, `write -P0x5d 0 64k`, are logged as text before their `{"return": ""}`), so it is not this cell's.
    if (kind === 'reply' && this.replied) { this.orphanReplies++; return; }
    if (!this.current) {
      if (kind === 'event') this.before++;
      else this.orphanReplies++;
      return;
    }
    if (kind === 'reply') this.replied = true;
    this.current.push({ kind: 'message', direction: '<-', json: printJsonTree(node) });
  }
}

/** Reads a recording (lines, read once, in one pass) into a notebook of cells with saved outputs. */
export function importLines(lines: Lines, options: ImportOptions): ImportResult {
  const c = new Collector(options.format, options.format === 'libvirt' ? options.monitor : undefined);
  if (options.format === 'libvirt') readLibvirt(lines, c, options.all === true);
  else if (options.format === 'qmp-shell-history') readHistory(lines, c);
  else readObjects(lines, c, options.format === 'arrows' ? 'arrows' : options.format === 'iotests' ? 'iotests' : 'shell-log');
  c.finish();
  const report = c.report;

  let key = '';
  if (options.format === 'libvirt') {
    const mons = report.monitors;
    const listing = (): string => mons.map((m) => `  ${m.monitor}  ${m.commands} commands, from line ${m.firstLine}${m.domain !== undefined ? `, domain ${m.domain}` : ''}`).join('\n');
    if (options.monitor !== undefined && options.domain !== undefined) throw new ImportError('give --mon or --domain, not both');
    if (options.monitor !== undefined) {
      if (!mons.some((m) => m.monitor === options.monitor)) throw new ImportError(`no monitor ${options.monitor} in the log; it has ${mons.map((m) => m.monitor).join(', ') || 'none'}`);
      key = options.monitor;
    } else if (options.domain !== undefined) {
      const found = monitorsOfDomain(mons, options.domain);
      if (found.length === 0) {
        throw new ImportError(`the log does not say which monitor is domain ${options.domain}: libvirt names a domain's monitor only in the ` +
          'reply to the query-chardev it sends when it starts the domain (the charmonitor\'s path …/domain-ID-NAME/monitor.sock), and ' +
          `no monitor of this log has one for that name (was monitor logging turned on after the domain started?). Pick one with --mon:\n${listing()}`);
      }
      if (found.length > 1) {
        throw new ImportError(`domain ${options.domain} had ${found.length} monitors in this log (it was started ${found.length} times, or another domain ` +
          `shares its first ${SHORT_NAME_MAX} characters); pick one with --mon:\n${found.map((m) => `  ${m.monitor}  ${m.commands} commands, from line ${m.firstLine}`).join('\n')}`);
      }
      key = (found[0] as { monitor: string }).monitor;
    } else if (mons.length > 1) {
      throw new ImportError(`the log holds ${mons.length} monitors (domains); pick one with --domain or --mon:\n${listing()}`);
    } else key = mons[0]?.monitor ?? '';
  }
  const b = c.builders.get(key) ?? new CellBuilder();

  // iotests placeholders become masks; every output is written in its stable form.
  const masks = [...c.maskPaths].sort();
  const maskOpts = { masks: validMasks(masks) };
  for (const cell of b.cells) {
    if (cell.outputs === undefined) continue;
    if (cell.outputs.length === 0) delete cell.outputs;
    else cell.outputs = stableOutputs(cell.outputs, maskOpts);
  }
  if (b.probes > 0) {
    report.notes.push(`left out ${b.probes} commands libvirt sent to probe the monitor when it opened it` +
      `${b.probeReplies > 0 ? ` (and the ${b.probeReplies} replies and events while they ran)` : ''}; --all keeps them`);
  }
  if (b.handshakes > 0) report.notes.push(`left out ${b.handshakes} qmp_capabilities (the runner negotiates itself)`);
  if (b.before > 0) report.notes.push(`left out ${b.before} events that came before the first command`);
  if (b.orphanReplies > 0) report.notes.push(`left out ${b.orphanReplies} replies that follow no command`);
  if (masks.length > 0) report.notes.push(`masked iotests placeholders at ${masks.join(', ')}`);
  if (options.format === 'qmp-shell-log' && b.cells.length > 0) {
    report.notes.push('qmp-shell logs hold no events: `qmp-notebook test` reports the events a command causes as unexpected until they are saved (`test --update`) or declared (`ignoreEvents`)');
  }

  const notebook: NotebookData = { saveOutputs: true, cells: b.cells, ...(masks.length > 0 ? { masks } : {}) };
  return { notebook, report, cells: b.cells.length };
}

/** A recording that cannot be imported as asked (which monitor, …): the message says what to do. */
export class ImportError extends Error {}

