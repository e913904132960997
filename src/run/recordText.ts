// How transcript records read as text in a cell's outputs, in one place: the notebook controller shows
// these texts and saves them, and `qmp-notebook test` (src/testing/execute.ts) renders a run the same way to
// compare it with saved outputs. Pure (no vscode).
import type { FailureRecord } from './index';

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
