// How transcript records read as text in a cell's outputs, in one place: the notebook controller shows
// these texts and saves them, and `qmp-notebook test` (src/testing/execute.ts) renders a run the same way to
// compare it with saved outputs. Pure (no vscode).
import type { FailureRecord } from './index';
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

/** A job's name as the progress line says it: `m0 (mirror)`, `migration`. */
function jobName(v: Pick<JobView, 'job' | 'jobType'>): string {
  return v.jobType !== undefined && v.jobType !== v.job ? `${v.job} (${v.jobType})` : v.job;
}

/**
 * Bytes as a speed reads them: `950 B`, `16.0 MiB`, `1.5 GiB` (one decimal from KiB up, so that a speed that
 * moves shows it moving).
 */
export function bytesText(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${Math.round(bytes)} B` : `${v.toFixed(1)} ${units[u]}`;
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
    if (v.current !== undefined) parts.push(`${bytesText(v.current)} in ${(end.ms / 1000).toFixed(1)} s`);
  } else {
    if (v.bytesPerSecond !== undefined) parts.push(`${bytesText(v.bytesPerSecond)}/s`);
    if (v.etaMs !== undefined) parts.push(`${durationText(v.etaMs)} left`);
  }
  if (v.error !== undefined) parts.push(`error: ${v.error}`);
  return parts.join(', ');
}
