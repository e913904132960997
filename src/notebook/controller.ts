// One NotebookController per connection profile, and the execution of cells.
//
// Ordering: the in-band cells of a notebook run one after another on a queue, like a Jupyter kernel, and a
// Run All stops at its first failing cell. Out-of-band cells (every command `exec-oob`) never join that
// queue: they go out at once, even while an in-band cell waits for QEMU, and finish when QEMU answers
// them. QEMU serializes in-band commands itself, so queueing them here loses nothing and keeps the outputs
// in cell order.
//
// A running cell stops at once when it is interrupted, when its session loses its connection, or when its
// execution is cancelled; the client drops a late reply because the command's AbortSignal fired.
import * as vscode from 'vscode';
import { CommandTimeoutError, EventTimeoutError, OobRefusedError } from '../qmp/errors';
import type { ClientLike, EventRecord } from '../session/ports';
import { describeProfile, type Profile } from '../session/profiles';
import { commandsOf, confirmStateChanges } from '../session/endpointPrompts';
import { errorText, type Session, type SessionManager } from '../session/sessionManager';
import { explainUntrusted, UntrustedWorkspaceError } from '../session/trust';
import { describeProblem, isCellLanguage, isOobPlan, planCell, type CellPlan, type RunStep } from './cellPlan';
import { eventOutput, failureOutput, replyOutput, sentOutput } from './outputs';
import { eventDataMatches } from './format/eventMatch';

export const notebookType = 'qmp-notebook';
export const cellLanguages = ['qmp', 'qmp-shell', 'hmp'];

/** The metadata key of a notebook that names its profile (written by the serializer as the file header). */
export const profileMetadataKey = 'profile';

/** How a cell run ended, kept for tests and for Run All. */
export type RunOutcome = 'succeeded' | 'failed' | 'interrupted' | 'skipped';

class StopCell extends Error {
  constructor(readonly title: string, message: string) {
    super(message);
  }
}

/** One cell's execution, from queued to ended. */
class CellRun {
  readonly abort = new AbortController();
  private outputs: Promise<void> = Promise.resolve();
  started = false;
  /** Set once the cell has a connection; only then does losing it stop the cell. */
  connected = false;
  ended = false;
  /** Why the run was stopped from outside (interrupt, lost connection). */
  stopReason: { title: string; message: string } | undefined;

  constructor(readonly cell: vscode.NotebookCell, readonly execution: vscode.NotebookCellExecution, readonly profile: string) {}

  /** Appends outputs strictly in the order they were produced. */
  append(output: vscode.NotebookCellOutput): void {
    if (this.ended) return;
    this.outputs = this.outputs.then(() => this.execution.appendOutput(output)).then(undefined, () => undefined);
  }

  stop(title: string, message: string): void {
    if (this.stopReason || this.ended) return;
    this.stopReason = { title, message };
    this.abort.abort(new StopCell(title, message));
  }

  async end(success: boolean | undefined): Promise<void> {
    if (this.ended) return;
    await this.outputs;
    this.ended = true;
    // A queued cell that never ran is still started first (without a time, so no clock shows): ending an
    // execution that never started is not something every VS Code version accepts.
    if (!this.started) this.execution.start();
    this.execution.end(success, this.started ? Date.now() : undefined);
  }
}

/** Everything that runs in one notebook. */
class NotebookRunner {
  inBandTail: Promise<unknown> = Promise.resolve();
  readonly runs = new Set<CellRun>();
  executionOrder = 0;
}

export interface CellRunRecord {
  cell: vscode.NotebookCell;
  outcome: RunOutcome;
}


export class QmpControllers implements vscode.Disposable {
  private readonly controllers = new Map<string, vscode.NotebookController>();
  private readonly selected = new Map<string, string>();
  private readonly runners = new WeakMap<vscode.NotebookDocument, NotebookRunner>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly profileEmitter = new vscode.EventEmitter<vscode.NotebookDocument>();
  private readonly runEmitter = new vscode.EventEmitter<CellRunRecord>();
  /** Fires when a notebook's profile changes (a controller was selected for it). */
  readonly onDidChangeNotebookProfile = this.profileEmitter.event;
  /** Fires when a cell run ends; for tests and for anything that reports on runs. */
  readonly onDidEndRun = this.runEmitter.event;

  /**
   * `extensionId`: this extension's id (publisher.name), which VS Code puts in front of a controller's id to
   * name the kernel when one is selected by command.
   */
  constructor(private readonly sessions: SessionManager, private readonly log: vscode.LogOutputChannel,
    private readonly extensionId = 'qmp-notebook.qmp-notebook') {
    this.disposables.push(this.profileEmitter, this.runEmitter);
    this.syncControllers();
    this.disposables.push(
      sessions.onDidChangeProfiles(() => this.syncControllers()),
      sessions.onDidChangeState((s) => this.onSessionState(s)),
      vscode.workspace.onDidOpenNotebookDocument((nb) => this.applyAffinity(nb)),
      vscode.workspace.onDidCloseNotebookDocument((nb) => this.selected.delete(nb.uri.toString())),
      vscode.window.onDidChangeActiveNotebookEditor((editor) => this.preselect(editor)),
    );
    this.preselect(vscode.window.activeNotebookEditor);
  }

  /** The controller id of a profile: stable, so VS Code remembers the choice per notebook. */
  static controllerId(profile: string): string {
    return `qmp-notebook.profile.${encodeURIComponent(profile)}`;
  }

  controllerFor(profile: string): vscode.NotebookController | undefined {
    return this.controllers.get(profile);
  }

  /** The profile a notebook runs on: the controller selected for it, else the one its file names. */
  profileOf(notebook: vscode.NotebookDocument): string | undefined {
    const chosen = this.selected.get(notebook.uri.toString());
    if (chosen) return chosen;
    const named: unknown = notebook.metadata?.[profileMetadataKey];
    return typeof named === 'string' && named !== '' ? named : undefined;
  }

  private syncControllers(): void {
    const profiles = this.sessions.profiles;
    for (const [name, controller] of this.controllers) {
      if (!profiles.some((p) => p.name === name)) {
        controller.dispose();
        this.controllers.delete(name);
      }
    }
    for (const profile of profiles) {
      let controller = this.controllers.get(profile.name);
      if (!controller) {
        controller = this.createController(profile);
        this.controllers.set(profile.name, controller);
      }
      controller.description = describeProfile(profile);
      const s = this.sessions.session(profile.name);
      if (s) this.describeState(controller, s);
    }
    for (const nb of vscode.workspace.notebookDocuments) this.applyAffinity(nb);
  }

  private createController(profile: Profile): vscode.NotebookController {
    const name = profile.name;
    const controller = vscode.notebooks.createNotebookController(
      QmpControllers.controllerId(name), notebookType, `QMP: ${name}`,
      (cells, notebook) => this.execute(name, controller, cells, notebook),
    );
    controller.supportedLanguages = cellLanguages;
    controller.supportsExecutionOrder = true;
    controller.interruptHandler = (notebook) => this.interrupt(name, notebook);
    controller.onDidChangeSelectedNotebooks(({ notebook, selected }) => {
      if (selected) void this.select(notebook, name);
      else if (this.selected.get(notebook.uri.toString()) === name) this.selected.delete(notebook.uri.toString());
    }, undefined, this.disposables);
    return controller;
  }

  private describeState(controller: vscode.NotebookController, s: Session): void {
    controller.detail = s.describeState();
  }

  /** Remembers the choice, and writes it into the notebook so that the file names its profile. */
  private async select(notebook: vscode.NotebookDocument, name: string): Promise<void> {
    this.selected.set(notebook.uri.toString(), name);
    this.profileEmitter.fire(notebook);
    const named: unknown = notebook.metadata?.[profileMetadataKey];
    if (named === name) return;
    // A notebook that names no profile runs on the sandbox already; opening it must not make it dirty.
    if ((named === undefined || named === '') && name === this.sessions.sandboxProfileName()) return;
    const edit = new vscode.WorkspaceEdit();
    edit.set(notebook.uri, [vscode.NotebookEdit.updateNotebookMetadata({ ...notebook.metadata, [profileMetadataKey]: name })]);
    await vscode.workspace.applyEdit(edit);
  }

  /** Prefers the controller of the profile a notebook names (the sandbox for a notebook that names none). */
  private applyAffinity(notebook: vscode.NotebookDocument): void {
    if (notebook.notebookType !== notebookType) return;
    const wanted = this.profileOf(notebook) ?? this.sessions.sandboxProfileName();
    for (const [name, controller] of this.controllers) {
      controller.updateNotebookAffinity(notebook,
        name === wanted ? vscode.NotebookControllerAffinity.Preferred : vscode.NotebookControllerAffinity.Default);
    }
  }

  /**
   * Selects the kernel of the profile a notebook names when its editor becomes active and none is selected.
   * VS Code's kernel picker ignores affinity: with two or more profiles it shows "Select Kernel" and asks on the
   * first run, although the file says which profile it runs on. With one profile VS Code picks it by itself.
   */
  private preselect(editor: vscode.NotebookEditor | undefined): void {
    if (editor === undefined || editor.notebook.notebookType !== notebookType || this.controllers.size < 2) return;
    if (this.selected.has(editor.notebook.uri.toString())) return;
    const wanted = this.profileOf(editor.notebook) ?? this.sessions.sandboxProfileName();
    // A notebook naming a profile that is not configured leaves the choice to the user.
    if (wanted === undefined || !this.controllers.has(wanted)) return;
    // The command acts on the active notebook editor, and skips a notebook that has a kernel already (one the
    // user picked, or that VS Code remembered).
    vscode.commands.executeCommand('notebook.selectKernel',
      { id: QmpControllers.controllerId(wanted), extension: this.extensionId, skipIfAlreadySelected: true })
      .then(undefined, (err: unknown) => this.log.warn(`could not select the kernel of "${wanted}": ${errorText(err)}`));
  }

  private runner(notebook: vscode.NotebookDocument): NotebookRunner {
    let r = this.runners.get(notebook);
    if (!r) {
      r = new NotebookRunner();
      this.runners.set(notebook, r);
    }
    return r;
  }

  private interrupt(profile: string, notebook: vscode.NotebookDocument): void {
    for (const run of this.runner(notebook).runs) {
      if (run.profile === profile) run.stop('Interrupted', 'The cell was interrupted; a late reply from QEMU is dropped.');
    }
  }

  /** Stops every cell of a session whose connection went away, at once. */
  private onSessionState(s: Session): void {
    const controller = this.controllers.get(s.name);
    if (controller) this.describeState(controller, s);
    if (s.state === 'connected' || s.state === 'connecting') return;
    for (const nb of vscode.workspace.notebookDocuments) {
      for (const run of this.runners.get(nb)?.runs ?? []) {
        if (run.profile === s.name && run.connected) {
          run.stop('Disconnected', `The connection to "${s.name}" ended while the cell ran${s.lastError ? `: ${s.lastError}` : '.'}`);
        }
      }
    }
  }

  private async execute(profile: string, controller: vscode.NotebookController, cells: vscode.NotebookCell[],
    notebook: vscode.NotebookDocument): Promise<void> {
    const runner = this.runner(notebook);
    if (this.selected.get(notebook.uri.toString()) !== profile) void this.select(notebook, profile);
    const runs: CellRun[] = [];
    for (const cell of cells) {
      if (cell.kind !== vscode.NotebookCellKind.Code) continue;
      let execution: vscode.NotebookCellExecution;
      try {
        execution = controller.createNotebookCellExecution(cell);
      } catch (err) {
        // The cell is already running (run twice), or this controller is not the notebook's: nothing to run.
        this.log.warn(`cell ${cell.index + 1} was not run: ${errorText(err)}`);
        continue;
      }
      const run = new CellRun(cell, execution, profile);
      execution.token.onCancellationRequested(() => run.stop('Cancelled', 'The cell execution was cancelled.'));
      runner.runs.add(run);
      runs.push(run);
    }
    if (!vscode.workspace.isTrusted) {
      for (const run of runs) await this.refuseUntrusted(runner, run);
      void explainUntrusted(new UntrustedWorkspaceError('Running QMP cells'));
      return;
    }
    // A batch (Run All, Run Above...) stops at its first failing in-band cell; OOB cells never wait.
    let batchFailed = false;
    const done: Promise<unknown>[] = [];
    for (const run of runs) {
      const plan = this.plan(run);
      if (isOobPlan(plan)) {
        done.push(this.runCell(runner, run, plan));
        continue;
      }
      const previous = runner.inBandTail;
      const mine = previous.then(async () => {
        if (batchFailed) {
          await this.skip(runner, run);
          return;
        }
        const outcome = await this.runCell(runner, run);
        if (outcome !== 'succeeded') batchFailed = true;
      });
      runner.inBandTail = mine.then(undefined, () => undefined);
      done.push(mine);
    }
    await Promise.allSettled(done);
  }

  /** Parses with the schema the session has now (live or cached). */
  private plan(run: CellRun): CellPlan {
    const language = run.cell.document.languageId;
    if (!isCellLanguage(language)) {
      return { steps: [], problems: [{ message: `Cells in ${language} cannot run on QEMU; use qmp, qmp-shell or hmp.` }] };
    }
    const schema = this.sessions.session(run.profile)?.schema?.schema;
    return planCell(run.cell.document.getText(), language, schema);
  }

  private async refuseUntrusted(runner: NotebookRunner, run: CellRun): Promise<void> {
    run.execution.start(Date.now());
    run.started = true;
    await run.execution.clearOutput();
    run.append(failureOutput('Untrusted workspace',
      'Cells do not run in an untrusted workspace. Use "Manage Workspace Trust" to trust it.'));
    await this.finish(runner, run, 'failed');
  }

  private async skip(runner: NotebookRunner, run: CellRun): Promise<void> {
    await this.finish(runner, run, 'skipped');
  }

  private async finish(runner: NotebookRunner, run: CellRun, outcome: RunOutcome): Promise<RunOutcome> {
    runner.runs.delete(run);
    try {
      await run.end(outcome === 'succeeded' ? true : outcome === 'skipped' ? undefined : false);
    } catch (err) {
      this.log.debug(`ending cell ${run.cell.index + 1}: ${errorText(err)}`);
    }
    this.runEmitter.fire({ cell: run.cell, outcome });
    return outcome;
  }

  /** Runs one cell to its end; never throws. */
  private async runCell(runner: NotebookRunner, run: CellRun, givenPlan?: CellPlan): Promise<RunOutcome> {
    if (run.stopReason) return this.finish(runner, run, 'skipped');
    run.execution.executionOrder = ++runner.executionOrder;
    run.execution.start(Date.now());
    run.started = true;
    await run.execution.clearOutput();
    let eventSubscription: vscode.Disposable | undefined;
    try {
      const session = await this.connected(run);
      run.connected = true;
      // Parse after connecting, so the live schema (not the cached one) checks the cell.
      const plan = givenPlan && !session.schema?.cached ? givenPlan : this.plan(run);
      if (plan.problems.length > 0) {
        run.append(failureOutput('Cell not sent', plan.problems.map(describeProblem).join('\n')));
        return await this.finish(runner, run, 'failed');
      }
      if (plan.steps.length === 0) {
        return await this.finish(runner, run, 'succeeded');
      }
      eventSubscription = this.sessions.onEvent(({ session: from, event }) => {
        if (from.name === run.profile) run.append(eventOutput(event));
      });
      const client = session.liveClient;
      if (!client) throw new StopCell('Disconnected', `"${run.profile}" is not connected.`);
      // A VM the extension does not own: ask before commands that change its state (qmp.confirmStateChanges).
      if (!(await confirmStateChanges(session, commandsOf(plan.steps)))) {
        throw new StopCell('Not confirmed', 'The cell changes the state of the VM and was not confirmed; nothing was sent.');
      }
      const ok = await this.runSteps(run, client, plan.steps, session.generation);
      return await this.finish(runner, run, ok ? 'succeeded' : 'failed');
    } catch (err) {
      const stop = run.stopReason ?? (err instanceof StopCell ? { title: err.title, message: err.message } : undefined);
      if (stop) {
        run.append(failureOutput(stop.title, stop.message));
        return await this.finish(runner, run, stop.title === 'Interrupted' ? 'interrupted' : 'failed');
      }
      if (err instanceof UntrustedWorkspaceError) {
        run.append(failureOutput('Untrusted workspace', err.message));
        void explainUntrusted(err);
        return await this.finish(runner, run, 'failed');
      }
      const name = err instanceof Error ? err.name : 'Error';
      run.append(failureOutput(name, errorText(err)));
      return await this.finish(runner, run, 'failed');
    } finally {
      eventSubscription?.dispose();
    }
  }

  /** The session of the run, connecting first when needed; a failure says what to do. */
  private async connected(run: CellRun): Promise<Session> {
    const existing = this.sessions.session(run.profile);
    if (!existing) {
      throw new StopCell('No such profile', `The notebook runs on "${run.profile}", which is not in the qmp.connections setting.`);
    }
    if (existing.state === 'connected') return existing;
    try {
      return await this.sessions.connect(run.profile);
    } catch (err) {
      if (err instanceof UntrustedWorkspaceError) throw err;
      if (run.stopReason) throw err;
      const hint = existing.profile.kind === 'sandbox'
        ? 'Check that QEMU is installed (setting qmp.sandbox.qemuPath) and see the QMP log.'
        : `Start QEMU with its QMP monitor at ${describeProfile(existing.profile)}, or pick another kernel.`;
      throw new StopCell('Not connected', `Could not connect to "${run.profile}": ${errorText(err)}\n${hint}`);
    }
  }

  /** Sends the commands one by one; returns false at the first QEMU error. */
  private async runSteps(run: CellRun, client: ClientLike, steps: RunStep[], generation: number): Promise<boolean> {
    const language = run.cell.document.languageId;
    const showSent = language !== 'qmp';
    const timeoutSetting = vscode.workspace.getConfiguration('qmp').get<number>('commandTimeoutMs') ?? 0;
    const signal = run.abort.signal;
    // Taken before the first command: an event a command causes can arrive before its reply, or even before a
    // later command of the same cell is sent, and must still satisfy the cell's wait.
    let cursor = client.eventCursor();
    for (const step of steps) {
      if (signal.aborted) throw signal.reason;
      const s = this.sessions.session(run.profile);
      if (!s || s.generation !== generation || s.liveClient !== client) {
        throw new StopCell('Disconnected', `The connection to "${run.profile}" changed while the cell ran.`);
      }
      if (step.kind === 'command') {
        let reply;
        try {
          reply = await client.send(step.input, { signal, ...(timeoutSetting > 0 ? { timeoutMs: timeoutSetting } : {}) });
        } catch (err) {
          if (signal.aborted) throw signal.reason;
          if (err instanceof OobRefusedError) {
            throw new StopCell('Out-of-band refused', `line ${step.line + 1}: ${err.message}. Nothing was sent.`);
          }
          if (err instanceof CommandTimeoutError) {
            throw new StopCell('Timeout', `line ${step.line + 1}: ${err.message} (setting qmp.commandTimeoutMs).`);
          }
          throw err;
        }
        const ownId = step.input.idText !== undefined;
        if (showSent) run.append(sentOutput(reply.sent, ownId));
        run.append(replyOutput(reply, ownId));
        if (!reply.ok) return false;
      } else {
        const wanted = step.data;
        try {
          const seen = await client.waitForEvent((e: EventRecord) => e.event === step.event && (wanted === undefined || eventDataMatches(wanted, e.data ?? {})),
            { after: cursor, timeoutMs: step.timeoutMs, signal });
          // A second wait for the same event needs a later one.
          cursor = seen.seq;
        } catch (err) {
          if (signal.aborted) throw signal.reason;
          if (err instanceof EventTimeoutError) {
            const what = wanted === undefined ? step.event : `${step.event} with ${JSON.stringify(wanted)}`;
            throw new StopCell('Event timeout', `line ${step.line + 1}: no ${what} within ${step.timeoutMs} ms.`);
          }
          throw err;
        }
      }
    }
    return true;
  }

  dispose(): void {
    for (const c of this.controllers.values()) c.dispose();
    this.controllers.clear();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
