// A job's progress in its cell (issue 22): one output per job the cell follows (the engine's `job-progress` and
// `job-finished` records, src/run/progress.ts), redrawn in place as the job moves: `m0 (mirror): running, 45%
// [█████·····] 16.0 MiB/s, 2 s left`, ending with how it ended (`concluded, 100%, 64.0 MiB in 4.1 s`, or aborted
// with QEMU's error). Text, so the percent is read out by a screen reader as it is shown. A note: derived from
// the run, not saved in the file (`qmp-notebook test` would not make it).
import type * as vscode from 'vscode';
import type { JobFinishedRecord, JobProgressRecord } from '../run/index';
import { jobLine } from '../run/recordText';
import { noteOutput } from './outputs';

/** The key of a job in its cell's outputs. */
export function jobKey(r: Pick<JobProgressRecord, 'kind' | 'job'>): string {
  return `${r.kind}:${r.job}`;
}

/** One job's output; `version` moves on each change (the controller redraws a shown output when it moved). */
export class JobProgressView {
  version = 0;
  /** An update of this view waits in the cell's batch already. */
  queued = false;
  private text: string;

  constructor(r: JobProgressRecord | JobFinishedRecord) {
    this.text = jobLine(r);
  }

  /** The job ended (a `job-finished` came): a later record of the same id is a new job. */
  get ended(): boolean {
    return this.done;
  }

  private done = false;

  update(r: JobProgressRecord | JobFinishedRecord): void {
    const text = jobLine(r);
    if (r.type === 'job-finished') this.done = true;
    if (text === this.text) return;
    this.text = text;
    this.version++;
  }

  /** The text shown now. */
  get line(): string {
    return this.text;
  }

  output(): vscode.NotebookCellOutput {
    return noteOutput(this.text);
  }

  items(): vscode.NotebookCellOutputItem[] {
    return this.output().items;
  }
}
