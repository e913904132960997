// How transcript records become a cell's outputs, in one place: `renderRecord` is the one renderer from a
// transcript to the outputs a notebook shows and saves. The notebook controller maps its result to VS Code's
// outputs (adding what is never saved: notes, the reply renderer's item), `qmp-notebook test` and the
// editor's Run as Test (src/kernel/testRun.ts) compare it with saved outputs, the shell's `--record` and the
// agent's audit notebook save it. Pure (no vscode).
import { applyEdits, modify } from 'jsonc-parser';
import { humanSize } from '../render/bytes';
import type { CellPlan, FailureRecord, TranscriptRecord } from './index';
import type { JobEnd, JobView } from './progress';

const FAILURE_TITLES: Record<string, string> = {
  'protocol': 'Protocol error',
  'connection-lost': 'Disconnected',
  'not-connected': 'Not connected',
  'timeout': 'Timeout',
  'interrupted': 'Interrupted',
  'not-sent-because-invalid': 'Cell not sent',
  'queued-behind-wedged-window': 'Not sent: QEMU is busy',
};

/** The name of a failure output (a QEMU error reply is shown as the reply itself, not with this). */
export function failureTitle(r: Pick<FailureRecord, 'kind' | 'code'>): string {
  return r.code === 'oob-refused' ? 'Out-of-band refused' : FAILURE_TITLES[r.kind] ?? 'Error';
}

/** The text of a failure output: where in the cell, the message, and the command when the message lacks it. */
export function failureText(message: string, step: { line: number } | undefined, label: string | undefined): string {
  const where = step ? `line ${step.line + 1}: ` : '';
  return `${where}${message}${label !== undefined && !message.includes(label) ? `\ncommand: ${label}` : ''}`;
}

/** The note for events beyond a cell's cap. */
export function eventsDroppedText(count: number, kept: number): string {
  return `${count} more event${count === 1 ? '' : 's'} not shown (a cell shows the first ${kept}).`;
}

/**
 * The message without its top-level `id`, everything else byte for byte. The ids the client makes up change
 * on every run, so saving them would turn each run into a change of the file.
 */
export function withoutId(json: string): string {
  try {
    return applyEdits(json, modify(json, ['id'], undefined, {}));
  } catch {
    return json;
  }
}

/**
 * A failure's text as shown under its title, without saying the title twice ("Interrupted: line 1: Interrupted
 * while …" reads "Interrupted: line 1, while …"), and true about where the command was: one written behind
 * commands QEMU still owed replies to was never run by QEMU (`behind`), and a cell stopped in the queue
 * never started.
 */
export function stopWording(title: string, text: string, behind: readonly string[] | undefined): string {
  const m = /^(line \d+: )?(.*)$/s.exec(text);
  const where = m?.[1]?.replace(/: $/, '') ?? '';
  let message = m?.[2] ?? text;
  if (!message.startsWith(title)) return text;
  message = message.slice(title.length).replace(/^[.:]?\s*/, '');
  if (behind !== undefined && behind.length > 0) {
    const name = /^while (\S+) was running/.exec(message)?.[1];
    const rest = message.split('\n').slice(1).join('\n');
    message = `${name ?? 'the command'} was sent but still queued in QEMU behind ${behind.join(', ')}: QEMU runs it when they end, and its reply will be dropped.`
      + (rest ? `\n${rest}` : '');
  }
  if (message === '') return where ? `${where}: the cell was stopped.` : 'The cell was stopped while queued; nothing of it was sent.';
  return where ? `${where}, ${message}` : message.charAt(0).toUpperCase() + message.slice(1);
}

/** One output as a notebook saves it (`src/format`'s SavedOutput, structurally). */
export type RenderedOutput =
  | { kind: 'message'; direction: '<-' | '->'; json: string }
  | { kind: 'text'; text: string };

/** What the renderer remembers between the records of one cell: the step that waits behind commands QEMU owes. */
export interface RenderState {
  blocked?: { step: number; behind: string[] };
}

/** The cell a record belongs to, as the renderer needs it. */
export interface RenderedCell {
  language: string;
  plan: CellPlan;
}

/**
 * The outputs one transcript record adds to its cell, as the notebook shows and saves them (pushed to `out`):
 * a `->` label above each reply when the cell has several commands or is not JSON (qmp-shell, hmp), each
 * reply and event as QEMU sent it (without the id the client made up; an id the author wrote is kept), the
 * events a flood left out as a text line, a failure as `Title: text` (a QEMU error reply is the reply
 * itself). Records that are never saved (notes: expected replies, waits, blocked commands) add nothing.
 * `state`: one per cell, for a failure that names the commands its command waited behind.
 */
export function renderRecord(r: TranscriptRecord, cell: RenderedCell, out: RenderedOutput[], state: RenderState = {}): void {
  const step = r.type !== 'cell-started' && r.type !== 'cell-finished' && 'step' in r && r.step !== undefined ? cell.plan.steps[r.step] : undefined;
  const command = step?.kind === 'command' ? step : undefined;
  switch (r.type) {
    case 'sent': {
      // A command that used named replies is labelled too: the label is what was sent (substituted).
      const commands = cell.plan.steps.filter((s) => s.kind === 'command').length;
      if (cell.language !== 'qmp' || commands > 1 || command?.refs === true) out.push({ kind: 'message', direction: '->', json: r.label });
      break;
    }
    case 'reply':
      out.push({ kind: 'message', direction: '<-', json: (command?.input.idText !== undefined ? r.raw : withoutId(r.raw)).trim() });
      break;
    case 'event':
      out.push({ kind: 'message', direction: '<-', json: r.event.raw.trim() });
      break;
    case 'events-dropped':
      out.push({ kind: 'text', text: eventsDroppedText(r.count, r.kept) });
      break;
    case 'blocked':
      state.blocked = { step: r.step, behind: r.behind.map((b) => b.command) };
      break;
    case 'failure': {
      if (r.kind === 'qemu-error') break;
      const title = failureTitle(r);
      const behind = r.kind === 'interrupted' && r.step !== undefined && state.blocked?.step === r.step ? state.blocked.behind : undefined;
      out.push({ kind: 'text', text: `${title}: ${stopWording(title, failureText(r.message, step, command?.label), behind)}` });
      break;
    }
    default:
      break;
  }
}

/** A job's name as the progress line says it: `m0 (mirror)`, `migration`. */
function jobName(v: Pick<JobView, 'job' | 'jobType'>): string {
  return v.jobType !== undefined && v.jobType !== v.job ? `${v.job} (${v.jobType})` : v.job;
}

/** A duration left: `45 s`, `3 min 20 s`, `2 h 5 min`. */
export function durationText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min${s % 60 ? ` ${s % 60} s` : ''}`;
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
}

/** A bar of `width` cells for a percent: `[██████······]` (text, so a screen reader reads the percent beside it). */
export function progressBar(percent: number, width = 20): string {
  const full = Math.max(0, Math.min(width, Math.round((percent / 100) * width)));
  return `[${'█'.repeat(full)}${'·'.repeat(width - full)}]`;
}

/**
 * One line for a live job: `m0 (mirror): running, 45% [█████…] 16.0 MiB/s, 2 s left` (percent, speed and time
 * left as far as they are known), or for its end: `m0 (mirror): concluded, 100%, 64.0 MiB in 4.1 s`.
 */
export function jobLine(v: JobView | JobEnd, bar = true): string {
  const parts: string[] = [];
  const end = 'outcome' in v ? v : undefined;
  let head = `${jobName(v)}: ${end ? (end.outcome === 'running' ? `still ${v.status} when the cell ended` : end.cancelled ? `${end.outcome} (cancelled)` : end.outcome) : v.status}`;
  if (v.percent !== undefined) head += `, ${v.percent}%${bar && !end ? ` ${progressBar(v.percent)}` : ''}`;
  parts.push(head);
  if (end && end.outcome !== 'running') {
    if (v.current !== undefined) parts.push(`${humanSize(v.current, { steady: true })} in ${(end.ms / 1000).toFixed(1)} s`);
  } else {
    if (v.bytesPerSecond !== undefined) parts.push(`${humanSize(v.bytesPerSecond, { steady: true })}/s`);
    if (v.etaMs !== undefined) parts.push(`${durationText(v.etaMs)} left`);
  }
  if (v.error !== undefined) parts.push(`error: ${v.error}`);
  return parts.join(', ');
}
