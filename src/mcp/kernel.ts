// What an agent can do with QEMU, as plain functions over the project's own kernel: the schema and the manual
// (src/language: the hover's text), the editor's diagnostics and quick fixes (src/language/service.ts), the run
// engine (src/run), the policy (policy.ts) and the audit notebook (record.ts). Two doors call it: the MCP server
// (`qmp-notebook mcp`, server.ts) and VS Code's language-model tools (src/agent/). Pure: no vscode, no SDK.
//
// Every tool returns a ToolResult: a small JSON object (the transcript's records, trimmed), an error that says
// what to do next, or an image. Results longer than MAX_RESULT_CHARS are cut and kept (the last
// KEPT_RESULTS of them) for `qmp_read_result` to page through.
//
// The rails, in order, for everything that sends: the workspace is trusted; the session's schema is known; the
// text has no error-severity diagnostic (the editor's own) and plans without problems; every command is in the
// schema; the policy allows it (or the person approved it). Only then the run engine sends it.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eventDataMatches, type SavedOutput } from '../format/index';
import { languageService, type CodeAction, type Diagnostic } from '../language/service';
import { commandMarkdown, eventMarkdown } from '../language/hover';
import type { DocsProvider } from '../language/providers';
import type { QmpDocs } from '../language/manpage';
import { QmpClient, type QmpEventRecord } from '../qmp/client';
import { EventTimeoutError, EventsDroppedError, QmpError } from '../qmp/errors';
import type { Schema } from '../qmp/schema';
import { planCell, RunEngine, StopRequest, type CellPlan, type CodeLanguage, type TranscriptRecord } from '../run/index';
import { jobLine, renderRecord } from '../run/recordText';
import { judge, type AgentPolicy } from './policy';
import { ImageFormatError, ppmToPng, pngSize } from './png';
import type { AuditRecorder, RecordedCell } from './record';

/** The longest text of a result; longer ones are cut and kept for paging. */
export const MAX_RESULT_CHARS = 12_000;
/** How many long results are kept for paging. */
export const KEPT_RESULTS = 20;
/** The most steps (commands and waits) one execute may hold: a small cell. */
export const MAX_STEPS = 20;
/** The longest text one execute or validate may hold. */
export const MAX_TEXT_CHARS = 64 * 1024;
/** Time limit of each command; the longest any one tool call may take. */
export const COMMAND_TIMEOUT_MS = 30_000;
export const CALL_TIMEOUT_MS = 120_000;
/** The longest event wait an agent may ask for. */
export const MAX_WAIT_MS = 120_000;
/** The largest screendump file read. */
const MAX_SCREENDUMP_BYTES = 128 * 1024 * 1024;

/** A live connection to one QEMU (or storage daemon, guest agent, libvirt domain). */
export interface AgentConnection {
  client: QmpClient;
  /** The schema of this connection; undefined when it could not be read (schemaError says why). */
  schema: Schema | undefined;
  schemaError?: string;
  /** A private directory of a process we started: volatile in recordings. */
  dir?: string;
  /** The QEMU runs on this host, so a screendump file it writes can be read here. */
  local: boolean;
}

/** A session the agent may use: a profile, its policy, and how to connect. */
export interface AgentTarget {
  readonly name: string;
  /** What it is, for a person (`unix socket /run/vm.sock`, `a sandbox QEMU`). */
  readonly description: string;
  readonly policy: AgentPolicy;
  readonly sandbox: boolean;
  /** State without connecting. */
  status(): { state: string; qemu?: string; oob?: boolean };
  /** Connects when needed (lazily: the sandbox starts on first use). */
  open(): Promise<AgentConnection>;
}

export type ConfirmAnswer = 'approved' | 'declined' | 'unavailable';

export interface KernelOptions {
  targets(): readonly AgentTarget[];
  docs?: DocsProvider;
  /** Asks the person to approve state-changing commands (MCP: elicitation; VS Code: its own confirmation). */
  confirm(request: { session: string; commands: string[]; text: string }): Promise<ConfirmAnswer>;
  /** The recording of a target's commands, when there is one (made on first use). */
  recorder?(target: AgentTarget): AuditRecorder | undefined;
  /** Why nothing may connect or run now (an untrusted workspace), or undefined. */
  untrusted?(): string | undefined;
}

export interface ToolResult {
  ok: boolean;
  /** The structured result (JSON-able, small). */
  data: Record<string, unknown>;
  image?: { base64: string; mimeType: string };
  /** A page of a kept result: already bounded, never cut again. */
  page?: boolean;
}

type Language = 'qmp' | 'qmp-shell';

function fail(error: string, next: string, extra: Record<string, unknown> = {}): ToolResult {
  return { ok: false, data: { error, next, ...extra } };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `qmp` when the text starts like JSON, else `qmp-shell`. */
export function guessLanguage(text: string): Language {
  return /^\s*(\/\/[^\n]*\n\s*)*[{]/.test(text) ? 'qmp' : 'qmp-shell';
}

/** 1-based line and column of a UTF-16 offset. */
function position(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) { line++; start = i + 1; }
  return { line, column: Math.min(offset, text.length) - start + 1 };
}

function applyEdits(text: string, edits: readonly { start: number; end: number; newText: string }[]): string {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.newText + out.slice(e.end);
  return out;
}

/** The diagnostics and fixes as an agent reads them. */
function describeDiagnostics(text: string, diagnostics: readonly Diagnostic[], actions: readonly CodeAction[]): Record<string, unknown> {
  return {
    diagnostics: diagnostics.map((d) => {
      const s = position(text, d.start);
      const e = position(text, Math.max(d.start, d.end));
      return { severity: d.severity, message: d.message, code: d.code, line: s.line, column: s.column, endLine: e.line, endColumn: e.column, text: text.slice(d.start, Math.min(d.end, d.start + 200)) };
    }),
    fixes: actions.filter((a) => a.kind === 'quickfix').slice(0, 20).map((a) => ({
      title: a.title, ...(a.isPreferred ? { preferred: true } : {}), ...(a.diagnostic ? { fixes: a.diagnostic.message } : {}),
      edits: a.edits.map((e) => ({ start: e.start, end: e.end, newText: e.newText })),
      fixedText: applyEdits(text, a.edits).slice(0, 4000),
    })),
  };
}

/**
 * A transcript record as the agent sees it: what QEMU said, without the wire bookkeeping. A job the cell
 * followed is said once, when it ended (its progress is not: the agent polls query-jobs if it wants it),
 * with the line `run` prints for it.
 */
export function agentRecord(r: TranscriptRecord): Record<string, unknown> | undefined {
  switch (r.type) {
    case 'reply': return { type: 'reply', step: r.step, command: r.command, ok: r.ok, ...(r.ok ? { return: r.value } : { error: r.error }), ms: Math.round(r.ms) };
    case 'event': return { type: 'event', seq: r.event.seq, event: r.event.event, ...(r.event.data ? { data: r.event.data } : {}), timestamp: r.event.timestamp };
    case 'wait-satisfied': return { type: 'wait-satisfied', step: r.step, event: r.event, seq: r.seq, ms: Math.round(r.ms) };
    case 'wait-timed-out': return { type: 'wait-timed-out', step: r.step, event: r.event, timeoutMs: r.timeoutMs };
    case 'events-dropped': return { type: 'events-dropped', count: r.count, kept: r.kept };
    case 'expected-reply': return { type: 'expected-reply', step: r.step, match: r.match, differences: r.differences };
    case 'expected-event': return { type: 'expected-event', event: r.event, match: r.match, ...(r.message ? { message: r.message } : {}) };
    case 'blocked': return { type: 'blocked', behind: r.behind };
    case 'failure': return { type: 'failure', kind: r.kind, message: r.message, ...(r.command ? { command: r.command } : {}) };
    case 'job-finished': return {
      type: 'job-finished', job: r.job, kind: r.kind, ...(r.jobType !== undefined ? { jobType: r.jobType } : {}), status: r.status, outcome: r.outcome,
      ...(r.cancelled === true ? { cancelled: true } : {}), ...(r.percent !== undefined ? { percent: r.percent } : {}),
      ...(r.error !== undefined ? { error: r.error } : {}), ms: Math.round(r.ms), text: jobLine(r, false),
    };
    default: return undefined;
  }
}

/** What to do after a failure of a given kind. */
function nextAfter(kind: string): string {
  switch (kind) {
    case 'qemu-error': return 'QEMU refused the command: read the error, look the command up with qmp_lookup, fix the arguments, validate, then execute again.';
    case 'timeout': return 'No reply or event in time: check qmp_read_events and the VM state (query-status) before retrying; a wait may need a longer timeoutMs.';
    case 'connection-lost': case 'protocol': case 'not-connected': return 'The connection is gone: call qmp_list_sessions to see its state; the next call reconnects.';
    default: return 'Fix the cell and try again.';
  }
}

interface Live {
  conn: AgentConnection;
  engine: RunEngine;
  cell: number;
  /** Events after a recorded cell ended belong to it (as `qmp-notebook test` counts them). */
  after: { recorded: RecordedCell | undefined; outputs: SavedOutput[] } | undefined;
  running: boolean;
  /** Where a wait starts by default: the cursor before the last execute, moved past each event a wait used. */
  waitFrom: number;
  sub: { dispose(): void };
}

export class AgentKernel {
  private readonly live = new Map<string, Live>();
  private readonly kept: Array<{ id: string; text: string }> = [];
  private nextId = 1;
  /** One call at a time per session: the engine runs cells in order anyway, and the recording stays in order. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly options: KernelOptions) {}

  private target(name: string | undefined): AgentTarget | ToolResult {
    const all = this.options.targets();
    if (all.length === 0) return fail('no sessions are configured', 'Ask the person running this server to give a connection.');
    if (name === undefined || name === '') return all[0] as AgentTarget;
    const t = all.find((x) => x.name === name);
    return t ?? fail(`no session named '${name}'`, `Use one of: ${all.map((x) => x.name).join(', ')} (qmp_list_sessions).`);
  }

  private async connect(t: AgentTarget): Promise<Live | ToolResult> {
    const why = this.options.untrusted?.();
    if (why !== undefined) return fail(why, 'Nothing connects or runs in an untrusted workspace; ask the person to trust it.', { sent: false });
    let conn: AgentConnection;
    try {
      conn = await t.open();
    } catch (err) {
      return fail(`cannot connect to ${t.name} (${t.description}): ${message(err)}`, 'Check that the QEMU is running and its monitor socket exists; call qmp_list_sessions.', { sent: false });
    }
    const old = this.live.get(t.name);
    if (old && old.conn === conn) return old;
    if (old) { old.sub.dispose(); old.engine.dispose(); }
    const live: Live = {
      conn, engine: new RunEngine({ client: () => conn.client, commandTimeoutMs: COMMAND_TIMEOUT_MS }), cell: 0, after: undefined, running: false,
      waitFrom: conn.client.eventCursor(), sub: { dispose: () => undefined },
    };
    live.sub = conn.client.onEvent((e) => {
      if (live.running || !live.after) return;
      const out: SavedOutput = { kind: 'message', direction: '<-', json: e.raw.trim() };
      live.after.outputs.push(out);
      live.after.recorded?.append([out]);
    });
    this.live.set(t.name, live);
    const rec = this.options.recorder?.(t);
    if (rec && conn.dir) rec.dirs = [{ path: conn.dir, name: 'SANDBOX_DIR' }];
    return live;
  }

  private serial<T>(name: string, f: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(name) ?? Promise.resolve();
    const next = prev.then(f, f);
    this.queues.set(name, next.then(() => undefined, () => undefined));
    return next;
  }

  /** A result as text, cut to MAX_RESULT_CHARS with a note and a way to page. */
  finish(result: ToolResult): { text: string; data: Record<string, unknown>; ok: boolean; image?: ToolResult['image'] } {
    const text = JSON.stringify(result.data);
    if (text.length <= MAX_RESULT_CHARS || result.page === true) return { text, data: result.data, ok: result.ok, ...(result.image ? { image: result.image } : {}) };
    const id = `r${this.nextId++}`;
    this.kept.push({ id, text });
    while (this.kept.length > KEPT_RESULTS) this.kept.shift();
    const shown = text.slice(0, MAX_RESULT_CHARS);
    const data = {
      truncated: true, resultId: id, shownChars: MAX_RESULT_CHARS, totalChars: text.length,
      note: `The result is ${text.length} characters; the first ${MAX_RESULT_CHARS} are in "partial". Call qmp_read_result with {"id": "${id}", "offset": ${MAX_RESULT_CHARS}} for the rest.`,
      partial: shown,
    };
    return { text: JSON.stringify(data), data, ok: result.ok, ...(result.image ? { image: result.image } : {}) };
  }

  /** `qmp_read_result`: a page of a long result. */
  readResult(args: { id: string; offset?: number; length?: number }): ToolResult {
    const kept = this.kept.find((k) => k.id === args.id);
    if (!kept) return fail(`no kept result '${args.id}'`, `Only the last ${KEPT_RESULTS} long results are kept; run the call again.`);
    const offset = Math.max(0, Math.floor(args.offset ?? 0));
    // A page holds at most MAX_RESULT_CHARS characters of the kept text (its JSON escapes may make it longer).
    const length = Math.min(MAX_RESULT_CHARS, Math.max(1, Math.floor(args.length ?? MAX_RESULT_CHARS)));
    const text = kept.text.slice(offset, offset + length);
    const end = offset + text.length;
    return { ok: true, page: true, data: { id: kept.id, offset, totalChars: kept.text.length, text, ...(end < kept.text.length ? { nextOffset: end } : { done: true }) } };
  }

  /** `qmp_list_sessions`. */
  listSessions(): ToolResult {
    const why = this.options.untrusted?.();
    return {
      ok: true,
      data: {
        sessions: this.options.targets().map((t) => {
          const s = t.status();
          return { name: t.name, description: t.description, policy: t.policy, sandbox: t.sandbox, ...s };
        }),
        ...(why !== undefined ? { untrusted: why } : {}),
        note: 'policy read-only: only query-* and other read-only commands are sent; confirm: state-changing commands need the person\'s approval; allow: anything valid. A session connects on first use.',
      },
    };
  }

  private async schemaOf(session: string | undefined): Promise<{ t: AgentTarget; live: Live; schema: Schema } | ToolResult> {
    const t = this.target(session);
    if (!('name' in t)) return t;
    const live = await this.connect(t);
    if (!('conn' in live)) return live;
    if (live.conn.schema === undefined) {
      return fail(`the schema of ${t.name} could not be read${live.conn.schemaError ? `: ${live.conn.schemaError}` : ''}`, 'Without a schema nothing is validated or sent; check the connection (qmp_list_sessions).', { sent: false });
    }
    return { t, live, schema: live.conn.schema };
  }

  private async docs(): Promise<QmpDocs | undefined> {
    return this.options.docs === undefined ? undefined : this.options.docs.current() ?? await this.options.docs.load();
  }

  /** `qmp_lookup`: a command or event by name (arguments, returns, the manual's text), or a keyword search. */
  async lookup(args: { session?: string; name?: string; keyword?: string; oob?: boolean; offset?: number; limit?: number }): Promise<ToolResult> {
    const s = await this.schemaOf(args.session);
    if (!('schema' in s)) return s;
    const { schema } = s;
    const docs = await this.docs();
    const footer = '';
    if (args.name !== undefined && args.name !== '') {
      const c = schema.command(args.name);
      if (c) {
        const members = c.argType ? (c.argType.tag !== undefined ? schema.membersOf(c.argType) : c.argType.members) : [];
        return {
          ok: true,
          data: {
            kind: 'command', name: c.name, allowOob: c.allowOob, deprecated: c.deprecated, unstable: c.unstable,
            arguments: members.map((m) => ({ name: m.name, type: schema.describeType(m.type, { depth: 1, maxItems: 12 }), optional: m.optional, ...(m.deprecated ? { deprecated: true } : {}) })),
            returns: schema.describeType(c.retType, { depth: 1, maxItems: 8 }),
            manual: commandMarkdown(schema, c, docs, footer),
          },
        };
      }
      const e = schema.event(args.name);
      if (e) {
        return {
          ok: true,
          data: {
            kind: 'event', name: e.name,
            data: (e.argType?.members ?? []).map((m) => ({ name: m.name, type: schema.describeType(m.type, { depth: 1, maxItems: 12 }), optional: m.optional })),
            manual: eventMarkdown(schema, e, docs, footer),
          },
        };
      }
    }
    const word = (args.keyword ?? args.name ?? '').toLowerCase();
    const limit = Math.min(200, Math.max(1, Math.floor(args.limit ?? 50)));
    const offset = Math.max(0, Math.floor(args.offset ?? 0));
    const hits: Array<{ name: string; kind: 'command' | 'event'; allowOob?: boolean; summary?: string }> = [];
    const summary = (kind: 'command' | 'event', name: string): string | undefined => {
      const d = kind === 'command' ? docs?.command(name) : docs?.event(name);
      if (!d) return undefined;
      const body = d.markdown.split('\n\n').slice(1).find((p) => p.trim() !== '');
      return body?.replace(/\s+/g, ' ').slice(0, 160);
    };
    const matches = (kind: 'command' | 'event', name: string): boolean => {
      if (word === '') return true;
      if (name.toLowerCase().includes(word)) return true;
      const d = kind === 'command' ? docs?.command(name) : docs?.event(name);
      return d !== undefined && d.markdown.toLowerCase().includes(word);
    };
    for (const c of schema.commands()) {
      if (args.oob === true && !c.allowOob) continue;
      if (matches('command', c.name)) hits.push({ name: c.name, kind: 'command', ...(c.allowOob ? { allowOob: true } : {}) });
    }
    if (args.oob !== true) for (const e of schema.events()) if (matches('event', e.name)) hits.push({ name: e.name, kind: 'event' });
    hits.sort((a, b) => Number(!a.name.toLowerCase().includes(word)) - Number(!b.name.toLowerCase().includes(word)) || a.name.localeCompare(b.name));
    const page = hits.slice(offset, offset + limit).map((h) => {
      const sum = summary(h.kind, h.name);
      return sum !== undefined ? { ...h, summary: sum } : h;
    });
    return {
      ok: true,
      data: {
        ...(args.name ? { note: `'${args.name}' is neither a command nor an event of this QEMU; these match it as a keyword` } : {}),
        total: hits.length, offset, results: page,
        ...(offset + page.length < hits.length ? { nextOffset: offset + page.length } : {}),
        ...(docs === undefined ? { manual: 'not available (the qemu-qmp-ref man page was not found); names and types come from the schema' } : {}),
      },
    };
  }

  /** `qmp_validate`: the editor's diagnostics and quick fixes, nothing sent. */
  async validate(args: { session?: string; text: string; language?: Language }): Promise<ToolResult> {
    if (args.text.length > MAX_TEXT_CHARS) return fail(`the text is longer than ${MAX_TEXT_CHARS} characters`, 'Validate a smaller cell.');
    const s = await this.schemaOf(args.session);
    if (!('schema' in s)) return s;
    const language = args.language ?? guessLanguage(args.text);
    const { diagnostics, actions } = this.check(args.text, language, s.schema, s.live.conn.client.oobEnabled);
    const errors = diagnostics.filter((d) => d.severity === 'error').length;
    return { ok: true, data: { session: s.t.name, language, valid: errors === 0, errors, ...describeDiagnostics(args.text, diagnostics, actions), sent: false } };
  }

  private check(text: string, language: Language | 'hmp', schema: Schema, oob: boolean): { diagnostics: Diagnostic[]; actions: CodeAction[] } {
    const service = languageService(language);
    const ctx = { schema, oobNegotiated: oob };
    const diagnostics = service?.diagnose(text, ctx) ?? [];
    const actions = diagnostics.length === 0 ? [] : service?.codeActions(text, 0, text.length, ctx, diagnostics) ?? [];
    return { diagnostics, actions };
  }

  /**
   * What executing the text would need from the person: the state-changing commands when the policy is
   * `confirm`, else none. Undefined when the text would be refused anyway (validation, policy). VS Code asks
   * with this before invoking.
   */
  async preview(args: { session?: string; text: string; language?: Language | 'hmp' }): Promise<{ session: string; confirm: string[] } | undefined> {
    const t = this.target(args.session);
    if (!('name' in t)) return undefined;
    const language = args.language ?? guessLanguage(args.text);
    const plan = planCell(args.text, language, this.live.get(t.name)?.conn.schema);
    if (plan.problems.length) return undefined;
    const verdict = judge(t.policy, plan.steps);
    return { session: t.name, confirm: verdict.verdict === 'confirm' ? verdict.commands : [] };
  }

  /** `qmp_execute`: a command or a small cell, validated first, through the run engine; recorded. */
  execute(args: { session?: string; text: string; language?: Language }): Promise<ToolResult> {
    return this.run(args.session, args.text, args.language ?? guessLanguage(args.text), true);
  }

  /** `qmp_hmp`: one HMP command line through human-monitor-command. */
  async hmp(args: { session?: string; command: string }): Promise<ToolResult> {
    const line = args.command.trim();
    if (line === '' || line.includes('\n')) return fail('give one HMP command line', 'For example {"command": "info status"}.');
    const r = await this.run(args.session, line, 'hmp', true);
    const reply = (r.data['records'] as Array<Record<string, unknown>> | undefined)?.find((x) => x['type'] === 'reply' && x['ok'] === true);
    return reply && typeof reply['return'] === 'string' ? { ...r, data: { ...r.data, output: reply['return'] } } : r;
  }

  private run(session: string | undefined, text: string, language: CodeLanguage, record: boolean): Promise<ToolResult> {
    const t = this.target(session);
    if (!('name' in t)) return Promise.resolve(t);
    return this.serial(t.name, () => this.runNow(t, text, language, record));
  }

  private note(t: AgentTarget, markdown: string): void {
    this.options.recorder?.(t)?.note(markdown);
  }

  private async runNow(t: AgentTarget, text: string, language: CodeLanguage, record: boolean, policy: AgentPolicy = t.policy): Promise<ToolResult> {
    if (text.length > MAX_TEXT_CHARS) return fail(`the text is longer than ${MAX_TEXT_CHARS} characters`, 'Send a smaller cell.');
    const s = await this.schemaOf(t.name);
    if (!('schema' in s)) return s;
    const { live, schema } = s;
    const quoted = '```text\n' + text.replace(/```/g, '`\u200b``') + '\n```';
    // 1. The editor's diagnostics: an error refuses the whole cell.
    const { diagnostics, actions } = this.check(text, language, schema, live.conn.client.oobEnabled);
    const errors = diagnostics.filter((d) => d.severity === 'error');
    if (errors.length) {
      if (record) this.note(t, `The agent's cell was refused: it does not validate (${errors.map((e) => e.message).join('; ')}). Nothing was sent.\n\n${quoted}`);
      return { ok: false, data: { error: 'the cell does not validate; nothing was sent', next: 'Apply a fix below (fixedText) or correct the cell, validate it with qmp_validate, then execute again.', sent: false, ...describeDiagnostics(text, diagnostics, actions) } };
    }
    // 2. The plan (the same parser the runner uses) and the schema's command list.
    const plan: CellPlan = planCell(text, language, schema);
    const problems = [...plan.problems.map((p) => p.message)];
    for (const st of plan.steps) if (st.kind === 'command' && schema.command(st.name) === undefined) problems.push(`${st.name} is not a command of this QEMU's schema`);
    if (plan.steps.length === 0) problems.push('the cell has no command');
    if (plan.steps.length > MAX_STEPS) problems.push(`the cell has ${plan.steps.length} steps; at most ${MAX_STEPS} run in one call`);
    if (problems.length) {
      if (record) this.note(t, `The agent's cell was refused (${problems.join('; ')}). Nothing was sent.\n\n${quoted}`);
      return fail(`the cell was not sent: ${problems.join('; ')}`, 'Fix the cell (qmp_validate, qmp_lookup) and execute again.', { sent: false });
    }
    // 3. The policy a person set.
    const verdict = judge(policy, plan.steps);
    if (verdict.verdict === 'refuse') {
      if (record) this.note(t, `The agent's cell was refused by the ${t.policy} policy of ${t.name}: ${verdict.commands.join(', ')}. Nothing was sent.\n\n${quoted}`);
      return fail(verdict.message, 'Use read-only commands (query-*), or ask the person to change the policy of this session.', { sent: false, policy: t.policy, refused: verdict.commands });
    }
    if (verdict.verdict === 'confirm') {
      const answer = await this.options.confirm({ session: t.name, commands: verdict.commands, text });
      if (answer !== 'approved') {
        const why = answer === 'declined' ? 'the person declined' : 'this client cannot ask the person (no elicitation support)';
        if (record) this.note(t, `The agent's cell needed approval (${verdict.commands.join(', ')}) and was not sent: ${why}.\n\n${quoted}`);
        return fail(`not sent: ${verdict.commands.join(', ')} change${verdict.commands.length === 1 ? 's' : ''} the VM's state and the policy of ${t.name} is confirm; ${why}`,
          answer === 'declined' ? 'Do not retry; ask the person what to do instead.' : 'Ask the person to run it themselves, or to choose the allow policy for this session.',
          { sent: false, policy: t.policy, needsApproval: verdict.commands });
      }
    }
    // 4. Run it on the engine; record it.
    const cellNo = ++live.cell;
    const outputs: SavedOutput[] = [];
    const records: Array<Record<string, unknown>> = [];
    let failure: { kind: string; message: string } | undefined;
    live.waitFrom = live.conn.client.eventCursor();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new StopRequest('timeout', `the call did not finish within ${CALL_TIMEOUT_MS} ms`)), CALL_TIMEOUT_MS);
    live.after = undefined;
    try {
      await live.engine.run([{ cell: cellNo, plan, signal: controller.signal }], (r) => {
        if (r.type === 'cell-started') live.running = true;
        renderRecord(r, { language, plan }, outputs);
        const a = agentRecord(r);
        if (a) records.push(a);
        if (r.type === 'failure') failure = { kind: r.kind, message: r.message };
        if (r.type === 'cell-finished') live.running = false;
      });
    } finally {
      clearTimeout(timer);
      live.running = false;
    }
    const recorder = record ? this.options.recorder?.(t) : undefined;
    const recorded = recorder?.cell(language, text, outputs);
    live.after = { recorded, outputs };
    const base = { session: t.name, sent: true, records, ...(recorder ? { recording: recorder.path } : {}) };
    if (failure) return { ok: false, data: { ...base, error: failure.message, kind: failure.kind, next: nextAfter(failure.kind) } };
    return { ok: true, data: base };
  }

  /** `qmp_wait_event`: the first matching event since the last execute (or `since`), bounded. */
  async waitEvent(args: { session?: string; event: string; data?: Record<string, unknown>; timeoutMs?: number; since?: number }): Promise<ToolResult> {
    const t = this.target(args.session);
    if (!('name' in t)) return t;
    const live = await this.connect(t);
    if (!('conn' in live)) return live;
    const timeoutMs = Math.min(MAX_WAIT_MS, Math.max(0, Math.floor(args.timeoutMs ?? 10_000)));
    const schema = live.conn.schema;
    if (schema && schema.events().length > 0 && schema.event(args.event) === undefined) {
      return fail(`${args.event} is not an event of this QEMU`, 'Look events up with qmp_lookup {"keyword": …}.');
    }
    const from = args.since ?? live.waitFrom;
    const t0 = performance.now();
    try {
      const e = await live.conn.client.waitForEvent((x) => x.event === args.event && (args.data === undefined || eventDataMatches(args.data, x.data)), { after: from, timeoutMs });
      if (args.since === undefined) live.waitFrom = Math.max(live.waitFrom, e.seq);
      this.note(t, `The agent waited for ${args.event}: it came (event ${e.seq}, after ${Math.round(performance.now() - t0)} ms).`);
      return { ok: true, data: { session: t.name, ...eventView(e), waitedMs: Math.round(performance.now() - t0) } };
    } catch (err) {
      if (err instanceof EventTimeoutError) {
        this.note(t, `The agent waited for ${args.event} for ${timeoutMs} ms: it did not come.`);
        return fail(`no ${args.event} event within ${timeoutMs} ms (since event ${from})`, 'Check with qmp_read_events what came, and query-status what the VM does; wait again with a longer timeoutMs if it is slow.', { cursor: live.conn.client.eventCursor() });
      }
      if (err instanceof EventsDroppedError) return fail(message(err), 'Wait with a newer "since" (qmp_read_events gives the cursor).', { cursor: live.conn.client.eventCursor() });
      if (err instanceof QmpError) return fail(message(err), nextAfter('connection-lost'));
      throw err;
    }
  }

  /** `qmp_read_events`: recent events, newest last. */
  async readEvents(args: { session?: string; since?: number; names?: string[]; limit?: number }): Promise<ToolResult> {
    const t = this.target(args.session);
    if (!('name' in t)) return t;
    const live = await this.connect(t);
    if (!('conn' in live)) return live;
    const limit = Math.min(200, Math.max(1, Math.floor(args.limit ?? 50)));
    const since = args.since ?? 0;
    const names = args.names && args.names.length ? new Set(args.names) : undefined;
    const history = live.conn.client.eventHistory();
    const all = history.filter((e) => e.seq > since && (names === undefined || names.has(e.event)));
    const shown = all.slice(-limit);
    const oldest = history[0]?.seq;
    return {
      ok: true,
      data: {
        session: t.name, cursor: live.conn.client.eventCursor(), events: shown.map(eventView),
        ...(all.length > shown.length ? { omitted: all.length - shown.length, note: `${all.length - shown.length} older matching events are not shown; raise limit or pass a later since` } : {}),
        ...(oldest !== undefined && oldest > since + 1 ? { dropped: `events before ${oldest} are no longer kept` } : {}),
      },
    };
  }

  /** `qmp_screenshot`: the guest display as PNG (screendump), from a QEMU on this host. */
  screenshot(args: { session?: string; device?: string; head?: number }): Promise<ToolResult> {
    const t = this.target(args.session);
    if (!('name' in t)) return Promise.resolve(t);
    return this.serial(t.name, () => this.screenshotNow(t, args));
  }

  private async screenshotNow(t: AgentTarget, args: { device?: string; head?: number }): Promise<ToolResult> {
    const s = await this.schemaOf(t.name);
    if (!('schema' in s)) return s;
    const { live, schema } = s;
    if (!live.conn.local) return fail(`${t.name} is not a QEMU on this host: screendump writes its file where QEMU runs`, 'Take screenshots of a local QEMU (a unix socket or the sandbox).');
    const cmd = schema.command('screendump');
    if (!cmd) return fail(`${t.name} has no screendump command`, 'This endpoint has no display (a storage daemon or guest agent).');
    const members = cmd.argType?.members ?? [];
    const format = members.find((m) => m.name === 'format');
    const canPng = format !== undefined && schema.describeType(format.type).includes('png');
    const dir = mkdtempSync(path.join(live.conn.dir ?? os.tmpdir(), 'screendump-'));
    try {
      const shot = async (png: boolean): Promise<ToolResult | Buffer> => {
        const file = path.join(dir, png ? 'screen.png' : 'screen.ppm');
        const a: Record<string, unknown> = { filename: file, ...(args.device !== undefined ? { device: args.device } : {}), ...(args.head !== undefined ? { head: args.head } : {}), ...(png ? { format: 'png' } : {}) };
        // The kernel names the file, so screendump is a read here under every policy (docs/mcp.md).
        const r = await this.runNow(t, JSON.stringify({ execute: 'screendump', arguments: a }), 'qmp', false, 'allow');
        if (!r.ok) return r;
        const size = statSync(file).size;
        if (size > MAX_SCREENDUMP_BYTES) return fail(`the screendump is ${size} bytes`, 'The display is too large to return.');
        return readFileSync(file);
      };
      let got = await shot(canPng);
      // QEMU without libpng refuses format png: take a PPM and convert it here.
      if (!Buffer.isBuffer(got) && canPng && String(got.data['error']).toLowerCase().includes('png')) got = await shot(false);
      if (!Buffer.isBuffer(got)) {
        const err = String(got.data['error'] ?? '');
        this.note(t, `The agent asked for a screenshot of ${t.name}; QEMU said: ${err}`);
        return /console|display/i.test(err) ? { ...got, data: { ...got.data, next: 'This QEMU has no display to capture (-machine none, -display none with no graphics device); add a VGA device to take screenshots.' } } : got;
      }
      const png = pngSize(got) ? got : ppmToPng(got);
      const size = pngSize(png);
      this.note(t, `The agent took a screenshot of ${t.name} (${size?.width}×${size?.height} PNG, screendump${canPng ? ' format png' : ', converted from PPM'}).`);
      return { ok: true, data: { session: t.name, width: size?.width, height: size?.height, bytes: png.length, source: pngSize(got) ? 'png' : 'ppm converted to png' }, image: { base64: png.toString('base64'), mimeType: 'image/png' } };
    } catch (err) {
      if (err instanceof ImageFormatError) return fail(`the screendump could not be read: ${err.message}`, 'Report this; try again.');
      throw err;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Drops engines and listeners (the connections belong to the targets). */
  dispose(): void {
    for (const l of this.live.values()) { l.sub.dispose(); l.engine.dispose(); }
    this.live.clear();
  }
}

function eventView(e: QmpEventRecord): Record<string, unknown> {
  return { seq: e.seq, event: e.event, ...(e.data ? { data: e.data } : {}), timestamp: e.timestamp };
}
