// The cell outputs a QMP notebook shows, built in one place so that every reply, error and event looks the
// same, and so that the serializer can turn them back into `<-` lines: every output carries its wire text in
// its metadata under `qmp`.
import * as vscode from 'vscode';
import type { CommandReply, QmpEventRecord } from '../qmp';
import { eventTime } from '../session/sessionManager';
import { replyMime, type ReplyData } from '../render/model';
import { withoutId } from '../run/recordText';

/** What an output was, as kept in its metadata. */
/**
 * `note`: something the run says about itself (an expected-reply comparison, a wait behind a busy QEMU); it is
 * derived from the cell and the transcript, so it is not saved (`qmp-notebook test` would not produce it).
 * `text`: a line of the transcript that is not a message (events left out of a flood); saved as `//`.
 */
export type OutputKind = 'sent' | 'reply' | 'error' | 'event' | 'failure' | 'note' | 'text';

export interface OutputMeta {
  kind: OutputKind;
  /** The message as it went over the wire (replies, errors, events, sent commands); absent for failures. */
  wire?: string;
  /** The text of a failure. */
  text?: string;
  /** The events of an event group (eventGroupOutput), each as it went over the wire, in order. */
  wires?: string[];
}

export const jsonMime = 'application/json';
export const textMime = 'text/plain';

function output(items: vscode.NotebookCellOutputItem[], meta: OutputMeta): vscode.NotebookCellOutput {
  return new vscode.NotebookCellOutput(items, { qmp: meta });
}

/** The metadata an output was made with, or undefined for outputs that are not ours. */
export function outputMeta(o: vscode.NotebookCellOutput): OutputMeta | undefined {
  const m: unknown = o.metadata?.['qmp'];
  if (typeof m !== 'object' || m === null) return undefined;
  const kind = (m as { kind?: unknown }).kind;
  const wire = (m as { wire?: unknown }).wire;
  const text = (m as { text?: unknown }).text;
  const wires = (m as { wires?: unknown }).wires;
  if (kind !== 'sent' && kind !== 'reply' && kind !== 'error' && kind !== 'event' && kind !== 'failure' && kind !== 'note'
    && kind !== 'text') return undefined;
  return {
    kind, ...(typeof wire === 'string' ? { wire } : {}), ...(typeof text === 'string' ? { text } : {}),
    ...(Array.isArray(wires) && wires.every((w) => typeof w === 'string') ? { wires: wires as string[] } : {}),
  };
}

/** The message without the id the client made up (the one renderer's, src/run/recordText.ts). */
export { withoutId };

/** The JSON a qmp-shell or HMP line became, shown before its reply. `keepId`: the author wrote the id. */
export function sentOutput(sent: string, keepId = true): vscode.NotebookCellOutput {
  return output(wrapping(`-> ${sent}`, true), { kind: 'sent', wire: keepId ? sent : withoutId(sent) });
}

export const markdownMime = 'text/markdown';

/**
 * A line (or a few) that wraps in the output area: as Markdown (VS Code shows text/plain in a box that scrolls
 * sideways and cuts a long transaction or note off), with text/plain for copying and for renderers without
 * Markdown. `code`: each line as a code span (a `->` command), else as escaped text.
 */
/**
 * `-> {"execute":"x",…}` shown with a space after each `,` and `:` outside strings (as QEMU's documentation
 * writes it), so that a long command has places to wrap. A scan of the text, not a parse: numbers keep every
 * digit. Linear.
 */
function spacedJson(line: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    out += c;
    if (inString) {
      if (c === '\\') out += line[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if ((c === ',' || c === ':') && line[i + 1] !== ' ' && line[i + 1] !== undefined) {
      out += ' ';
    }
  }
  return out;
}

function wrapping(text: string, code: boolean): vscode.NotebookCellOutputItem[] {
  const lines = text.split('\n').map((line) => {
    if (code) {
      line = spacedJson(line);
      const longest = Math.max(0, ...(line.match(/`+/g) ?? []).map((r) => r.length));
      const fence = '`'.repeat(longest + 1);
      return `${fence} ${line} ${fence}`;
    }
    // Leading spaces (an indented difference) kept as non-breaking ones; Markdown's specials escaped.
    return line.replace(/^ +/, (sp) => '\u00a0'.repeat(sp.length)).replace(/[\\`*_{}[\]()#+\-.!|<>~]/g, (c) => `\\${c}`);
  });
  // VS Code picks the item by its display order (Markdown before plain text), not by this order.
  return [vscode.NotebookCellOutputItem.text(text, textMime), vscode.NotebookCellOutputItem.text(lines.join('  \n'), markdownMime)];
}

/** An error output without a stack: the notebook shows `name: message`, which is all that matters here. */
function errorItem(name: string, message: string): vscode.NotebookCellOutputItem {
  return vscode.NotebookCellOutputItem.error({ name, message });
}

/**
 * A reply: success as JSON (and readable text), a QEMU error as an error output (name: QEMU's error class)
 * naming the command. `keepId`: the author wrote the command's id, so the saved reply keeps it. `command`:
 * the command's label (default: the text sent). `named`: query-named-block-nodes' reply, for a block graph's
 * details (the renderer's item only; never saved).
 */
export function replyOutput(reply: CommandReply, keepId = true, command?: string, named?: unknown): vscode.NotebookCellOutput {
  const wire = keepId ? reply.raw : withoutId(reply.raw);
  if (reply.ok) {
    const value = reply.value;
    // HMP answers with a string that is meant to be read as text, newlines and all.
    const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
    // NotebookCellOutputItem.json would indent with tabs, which the notebook draws eight columns wide: the
    // JSON item carries the same two-space text as the plain one. It comes first because VS Code shows the
    // first mime of its display order (application/json before text/plain), with JSON colouring and folding.
    const items = typeof value === 'string'
      ? [vscode.NotebookCellOutputItem.text(text, textMime)]
      : [vscode.NotebookCellOutputItem.text(text, jsonMime), vscode.NotebookCellOutputItem.text(text, textMime),
        // `{}` (most commands' answer) and `[]` have nothing to draw.
        ...(text === '{}' || text === '[]' ? [] : [richReplyItem(reply.sent, value, named)])];
    return output(items, { kind: 'reply', wire });
  }
  return output([errorItem(reply.error.class, `${reply.error.desc}\ncommand: ${command ?? reply.sent}`)], { kind: 'error', wire });
}

/**
 * The item of the reply renderer (src/render/webview, mime application/vnd.qmp.reply+json): `{ command, return }`,
 * drawn as a tree, a table or a block graph. Last among the items, but VS Code's display order puts a mime it
 * does not know before the built-in ones, so the renderer is what shows; the JSON and plain text stay one click
 * away ("Change Presentation", and the renderer's own Text tab). Never saved: the serializer writes the
 * metadata's wire text only.
 */
function richReplyItem(sent: string, value: unknown, named?: unknown): vscode.NotebookCellOutputItem {
  const command = /"(?:execute|exec-oob)"\s*:\s*"([^"\\]{1,200})"/.exec(sent)?.[1];
  const data: ReplyData = { ...(command ? { command } : {}), return: value, ...(named !== undefined ? { named } : {}) };
  return vscode.NotebookCellOutputItem.json(data, replyMime);
}

/**
 * An event that arrived while the cell ran, with QEMU's timestamp (`timed` false: a saved event whose timestamp
 * was masked as volatile, which has no time to show).
 */
export function eventOutput(e: QmpEventRecord, profile?: string, timed = true): vscode.NotebookCellOutput {
  return output([vscode.NotebookCellOutputItem.text(eventLine(e, profile, timed), textMime)], { kind: 'event', wire: e.raw });
}

/** The line an event is shown as: `event <time> [profile] NAME data`. */
export function eventLine(e: QmpEventRecord, profile?: string, timed = true): string {
  const data = e.data === undefined ? '' : ` ${JSON.stringify(e.data)}`;
  const where = profile ? ` [${profile}]` : '';
  const when = timed ? ` ${eventTime(e)}` : '';
  return `event${when}${where} ${e.event}${data}`;
}

/** How many event lines an event group shows from its start and from its end; the rest is one "N more" line. */
export const EVENT_GROUP_HEAD = 10;
export const EVENT_GROUP_TAIL = 10;

/**
 * Events that arrived one after another in a cell, with no other output between them: shown as ONE output
 * (updated in place while more come) so that a flood of events cannot push a cell past VS Code's 500 outputs.
 * It shows the first EVENT_GROUP_HEAD and the last EVENT_GROUP_TAIL events and "… N more events …" between,
 * which stays below the notebook's default 30-line text limit; every event's wire text is kept for saving
 * (the engine bounds how many a cell is given, as `eventsPerCell`).
 */
export class EventGroup {
  private readonly head: Array<{ seq: number; line: string }> = [];
  private tail: Array<{ seq: number; line: string }> = [];
  private wires: string[] = [];
  count = 0;
  /** Bumped by every event; compared with what was last shown to know whether the output is stale. */
  version = 0;

  /** `timed` false: a saved event whose timestamp was masked (shown without a time, as eventOutput does). */
  add(e: QmpEventRecord, timed = true): void {
    const entry = { seq: e.seq, line: eventLine(e, undefined, timed) };
    this.count++;
    this.version++;
    this.wires.push(e.raw);
    if (this.head.length < EVENT_GROUP_HEAD) this.head.push(entry);
    else {
      this.tail.push(entry);
      // Trimmed in halves so that keeping the last lines costs O(1) per event, amortised.
      if (this.tail.length >= 2 * EVENT_GROUP_TAIL) this.tail = this.tail.slice(-EVENT_GROUP_TAIL);
    }
  }

  /** Whether the event with this sequence number is among the first lines, which stay shown whatever follows. */
  showsForGood(seq: number): boolean {
    return this.head.some((h) => h.seq === seq);
  }

  /** The text shown. */
  text(): string {
    const tail = this.tail.slice(-EVENT_GROUP_TAIL);
    const hidden = this.count - this.head.length - tail.length;
    const lines = this.head.map((h) => h.line);
    if (hidden > 0) lines.push(`… ${hidden} more event${hidden === 1 ? '' : 's'} …`);
    lines.push(...tail.map((t) => t.line));
    return lines.join('\n');
  }

  items(): vscode.NotebookCellOutputItem[] {
    return [vscode.NotebookCellOutputItem.text(this.text(), textMime)];
  }

  /** The output as it stands now (a new object: its metadata carries every event's wire text for saving). */
  output(): vscode.NotebookCellOutput {
    return output(this.items(), { kind: 'event', wires: [...this.wires] });
  }

  /** Lets go of the lines and wire texts once the cell's outputs are final. */
  release(): void {
    this.tail = [];
    this.wires = [];
  }
}

/** A failure of the cell itself (parse errors, timeouts, lost connection): nothing QEMU said. */
export function failureOutput(name: string, message: string): vscode.NotebookCellOutput {
  return output([errorItem(name, message)], { kind: 'failure', text: `${name}: ${message}` });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The event a saved `<-` message is (parsed JSON `msg`, its text `json`), or undefined when it is not one.
 * `timed` is false when its timestamp was masked as volatile (`"SECS"`): it is not a time, shown as none, not 1970.
 */
function eventOf(msg: unknown, json: string): { record: QmpEventRecord; timed: boolean } | undefined {
  if (!isRecord(msg) || typeof msg['event'] !== 'string') return undefined;
  const ts = isRecord(msg['timestamp']) ? msg['timestamp'] : {};
  const record: QmpEventRecord = {
    seq: 0,
    event: msg['event'],
    ...(isRecord(msg['data']) ? { data: msg['data'] } : {}),
    timestamp: {
      seconds: typeof ts['seconds'] === 'number' ? ts['seconds'] : 0,
      microseconds: typeof ts['microseconds'] === 'number' ? ts['microseconds'] : 0,
    },
    raw: json,
  };
  return { record, timed: typeof ts['seconds'] === 'number' };
}

/** The event a saved `<-` line is, or undefined when it is not an event (a reply, an error, not JSON). */
export function savedEvent(json: string): { record: QmpEventRecord; timed: boolean } | undefined {
  // Only a line that names an event is parsed here (the serializer asks for every saved `<-` line).
  if (!json.includes('"event"')) return undefined;
  try {
    return eventOf(JSON.parse(json), json);
  } catch {
    return undefined;
  }
}

/**
 * Rebuilds the output of a message saved in a file (`<-` reply, error or event, `->` command). Anything that
 * is not a QMP message is shown as text, so a hand-edited output block still opens.
 */
export function outputFromWire(direction: '<-' | '->', json: string): vscode.NotebookCellOutput {
  if (direction === '->') return sentOutput(json);
  let msg: unknown;
  try {
    msg = JSON.parse(json);
  } catch {
    msg = undefined;
  }
  if (isRecord(msg) && 'return' in msg) {
    return replyOutput({ idText: '', ok: true, value: msg['return'], raw: json, sent: '' });
  }
  if (isRecord(msg) && isRecord(msg['error'])) {
    const e = msg['error'];
    const cls = typeof e['class'] === 'string' ? e['class'] : 'Error';
    const desc = typeof e['desc'] === 'string' ? e['desc'] : JSON.stringify(e);
    return output([errorItem(cls, desc)], { kind: 'error', wire: json });
  }
  const saved = eventOf(msg, json);
  if (saved) return eventOutput(saved.record, undefined, saved.timed);
  return output([vscode.NotebookCellOutputItem.text(`<- ${json}`, textMime)], { kind: 'reply', wire: json });
}

/** A line the run says about itself; saved as a text line. */
export function noteOutput(text: string): vscode.NotebookCellOutput {
  return output(wrapping(text, false), { kind: 'note', text });
}

/** A line of the transcript that is not a message (how many events a flood left out): saved with the outputs. */
export function transcriptTextOutput(text: string): vscode.NotebookCellOutput {
  return output([vscode.NotebookCellOutputItem.text(text, textMime)], { kind: 'text', text });
}

/** A pasted `<-` reply beside what QEMU said: matching, or differing with the differences. */
export function expectedReplyOutput(match: boolean, expected: string, actual: string, differences: readonly string[]): vscode.NotebookCellOutput {
  const text = match
    ? `✓ The reply matches the expected ${expected.trim()}`
    : [`✗ The reply differs from the expected reply:`, ...differences.map((d) => `  ${d}`),
      `expected: ${expected.trim()}`, `QEMU:     ${withoutClientId(actual.trim())}`].join('\n');
  return noteOutput(text);
}

/** QEMU's reply text without the id the client made up (`"#3"`), which changes every run and means nothing to a reader. */
function withoutClientId(reply: string): string {
  return reply.replace(/,\s*"id"\s*:\s*"#\d+"/g, '').replace(/"id"\s*:\s*"#\d+"\s*,\s*/g, '');
}

/** A saved text line (a failure, a timeout) shown again as text. */
export function textOutput(text: string): vscode.NotebookCellOutput {
  return output([vscode.NotebookCellOutputItem.text(text, textMime)], { kind: 'failure', text });
}
