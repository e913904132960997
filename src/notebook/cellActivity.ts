// What a queued or running cell is doing now, on the cell's own status line: "Queued behind cell 3",
// "Running blockdev-add · 12 s", "Waiting for BLOCK_JOB_COMPLETED · 4 s", "Waiting: QEMU is still busy with
// query-name (interrupted earlier)". VS Code shows only a pending icon or a clock for an execution; this says on
// what and for how long. The controller reports each change (from the engine's transcript records); the line
// is re-rendered at most once a second while a cell on screen has one, and removed when the cell ends; the window is
// told only of changes to cells it shows (ShownLines, shownLines.ts).
import * as vscode from 'vscode';
import { ShownLines } from './shownLines';

/** What a cell is doing, as the controller tells it. */
export type Activity =
  | { kind: 'queued' }
  | { kind: 'connecting'; profile: string }
  | { kind: 'command'; command: string }
  | { kind: 'wait'; event: string }
  | { kind: 'blocked'; behind: string[] };

interface Entry {
  activity: Activity;
  /** When the activity began (Date.now() ms). */
  since: number;
}

/** The whole seconds since `since`. */
function seconds(since: number, now: number): number {
  return Math.max(0, Math.floor((now - since) / 1000));
}

/**
 * The status line text and tooltip of an activity. `ahead`: for a queued cell, what the cell it waits for is
 * doing (its index and activity), when there is one.
 */
export function activityText(entry: Entry, now: number, ahead?: { index: number; text: string }): { text: string; tooltip: string } {
  const t = `${seconds(entry.since, now)} s`;
  const a = entry.activity;
  switch (a.kind) {
    case 'queued':
      return ahead
        ? { text: `$(clock) Queued behind cell ${ahead.index + 1} · ${t}`, tooltip: `Not sent yet: cells run in order, and cell ${ahead.index + 1} is ${ahead.text}.` }
        : { text: `$(clock) Queued · ${t}`, tooltip: 'Not sent yet: cells run in order, one at a time for in-band commands.' };
    case 'connecting':
      return { text: `$(loading~spin) Connecting to ${a.profile} · ${t}`, tooltip: `Connecting to "${a.profile}" before the first command.` };
    case 'command':
      return { text: `$(watch) Running ${a.command} · ${t}`, tooltip: `QEMU has not answered ${a.command} yet (${t}). Interrupt stops the cell; QEMU still finishes the command.` };
    case 'wait':
      return { text: `$(bell) Waiting for ${a.event} · ${t}`, tooltip: `The cell waits for the event ${a.event} (its wait clause), ${t} so far.` };
    case 'blocked':
      return {
        text: `$(watch) Waiting: QEMU busy with ${a.behind.join(', ')} · ${t}`,
        tooltip: `QEMU is still working on ${a.behind.join(', ')} (interrupted or timed out earlier) and answers in-band commands in order: this cell's command is sent and waits its turn.`,
      };
  }
}

/** The verb phrase of an activity for a cell queued behind it ("running blockdev-add"). */
function aheadText(entry: Entry): string {
  const a = entry.activity;
  switch (a.kind) {
    case 'queued': return 'queued too';
    case 'connecting': return `connecting to ${a.profile}`;
    case 'command': return `running ${a.command}`;
    case 'wait': return `waiting for ${a.event}`;
    case 'blocked': return `waiting for QEMU to finish ${a.behind.join(', ')}`;
  }
}

/**
 * How long changes are gathered before the window is told (one event for all of them). Each event makes the
 * window ask again for the line of every cell it shows, one message per cell: told per change, a Run All of
 * 5,000 cells (three changes a cell) sent it 15,000 times.
 */
const CHANGE_COALESCE_MS = 100;

export class CellActivity implements vscode.NotebookCellStatusBarItemProvider, vscode.Disposable {
  private readonly entries = new Map<vscode.NotebookCell, Entry>();
  /** The cells whose activity is not 'queued' (a few: the ones running), which a queued cell's line names. */
  private readonly active = new Set<vscode.NotebookCell>();
  private readonly changed = new vscode.EventEmitter<void>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private pending: ReturnType<typeof setTimeout> | undefined;
  private readonly registration: vscode.Disposable;
  /** The cells whose lines the window may show (it asked for them since it was last told): only their changes tell it. */
  private readonly shown = new ShownLines<vscode.NotebookCell>();
  readonly onDidChangeCellStatusBarItems = this.changed.event;

  constructor(notebookType: string) {
    this.registration = vscode.notebooks.registerNotebookCellStatusBarItemProvider(notebookType, this);
  }

  /** Sets what a cell does now; the time restarts only when the activity itself changes. */
  set(cell: vscode.NotebookCell, activity: Activity): void {
    const old = this.entries.get(cell);
    if (old && JSON.stringify(old.activity) === JSON.stringify(activity)) return;
    this.entries.set(cell, { activity, since: Date.now() });
    if (activity.kind === 'queued') this.active.delete(cell);
    else this.active.add(cell);
    if (this.shown.changed(cell)) this.fireSoon();
    if (this.timer === undefined) {
      // One re-render a second while a cell the window shows has a line: the seconds go on counting (bounded rate).
      this.timer = setInterval(() => { if (this.shown.showsAny(this.entries.keys())) this.tell(); }, 1000);
      this.timer.unref?.();
    }
  }

  clear(cell: vscode.NotebookCell): void {
    if (!this.entries.delete(cell)) return;
    this.active.delete(cell);
    if (this.shown.changed(cell)) this.fireSoon();
    if (this.entries.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Tells the window once for every change within CHANGE_COALESCE_MS (a bounded rate, whatever the run's pace). */
  private fireSoon(): void {
    if (this.pending !== undefined) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      if (this.shown.isDue) this.tell();
    }, CHANGE_COALESCE_MS);
    this.pending.unref?.();
  }

  /** Tells the window that lines changed: it asks again for each cell it shows (remembered afresh). */
  private tell(): void {
    this.shown.told();
    this.changed.fire();
  }

  /** The line a cell shows now (text and tooltip), undefined when it has none; for the provider and for tests. */
  describe(cell: vscode.NotebookCell, now = Date.now()): { text: string; tooltip: string } | undefined {
    const entry = this.entries.get(cell);
    if (!entry) return undefined;
    let ahead: { index: number; text: string } | undefined;
    if (entry.activity.kind === 'queued') {
      // The nearest cell above it in the same notebook that is doing something other than waiting in the queue
      // (among the few that are: not a walk over every queued cell, which made each line cost O(cells)).
      for (const other of this.active) {
        const e = this.entries.get(other);
        if (e === undefined || other.notebook !== cell.notebook || other.index >= cell.index) continue;
        if (!ahead || other.index < ahead.index) ahead = { index: other.index, text: aheadText(e) };
      }
    }
    return activityText(entry, now, ahead);
  }

  provideCellStatusBarItems(cell: vscode.NotebookCell): vscode.NotebookCellStatusBarItem[] {
    this.shown.noteAsked(cell);
    const line = this.describe(cell);
    if (!line) return [];
    const item = new vscode.NotebookCellStatusBarItem(line.text, vscode.NotebookCellStatusBarAlignment.Left);
    item.tooltip = line.tooltip;
    item.accessibilityInformation = { label: line.text.replace(/\$\([^)]*\)\s*/g, '') };
    return [item];
  }

  dispose(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.pending !== undefined) clearTimeout(this.pending);
    this.pending = undefined;
    this.entries.clear();
    this.active.clear();
    this.registration.dispose();
    this.changed.dispose();
  }
}
