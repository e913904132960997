// A scripted stand-in for the client the engine talks to (src/run's EngineClient): answers each command after
// a delay and emits the events scripted for it; honours signal and timeoutMs. Shared by the engine's unit tests.
import type { CommandInput, CommandOptions, CommandReply, QmpEventRecord } from '../../src/qmp/client';
import { CommandCancelledError, CommandTimeoutError, DisconnectedError, EventTimeoutError, OobRefusedError } from '../../src/qmp/errors';
import { RunEngine, type CellJob, type EngineClient, type EngineOptions, type TranscriptRecord } from '../../src/run/index';

/** Runs jobs on a fresh engine over `client` and disposes of it: the records it emitted and each cell's outcome. */
export async function runEngine(client: EngineClient, jobs: CellJob[], options: Omit<EngineOptions, 'client'> = {}):
  Promise<{ records: TranscriptRecord[]; outcomes: string[] }> {
  const engine = new RunEngine({ client: () => client, ...options });
  const records: TranscriptRecord[] = [];
  const result = await engine.run(jobs, (r) => records.push(r));
  engine.dispose();
  return { records, outcomes: result.outcomes };
}

export interface Script {
  delayMs?: number;
  /** Events emitted before the reply. */
  before?: string[];
  /** Events emitted just after the reply. */
  after?: string[];
  /** Emit this many events before the reply (a flood). */
  flood?: number;
  error?: string;
  /** Reject with DisconnectedError after writing. */
  disconnect?: boolean;
  /** Never written: times out in the client's queue. */
  queued?: boolean;
  /** Refused before sending. */
  refuse?: boolean;
  /** Never answered (until the signal or timeout). */
  hang?: boolean;
}

/** Answers each command after `delayMs` and emits the events scripted for it; honours signal and timeoutMs. */
export class ScriptedClient implements EngineClient {
  private seq = 0;
  private readonly history: QmpEventRecord[] = [];
  private readonly listeners = new Set<(e: QmpEventRecord) => void>();
  private ids = 0;
  /** Command names in the order they were handed over, with the time. */
  readonly sent: string[] = [];

  constructor(private readonly script: Record<string, Script> = {}) {}

  emit(name: string, data?: object): void {
    const raw = `{"event": "${name}"${data ? `, "data": ${JSON.stringify(data)}` : ''}, "timestamp": {"seconds": 1, "microseconds": 2}}`;
    const e: QmpEventRecord = { seq: ++this.seq, event: name, ...(data ? { data } : {}), timestamp: { seconds: 1, microseconds: 2 }, raw };
    this.history.push(e);
    if (this.history.length > 2000) this.history.shift();
    for (const l of this.listeners) l(e);
  }

  send(command: CommandInput, options: CommandOptions = {}): Promise<CommandReply> {
    return new Promise((resolve, reject) => this.issue(command, options, resolve, reject));
  }

  /**
   * As QmpClient.sendThen: the reply's callback in the call that delivers it, every error a microtask later,
   * each command settled once (the engine prefers this, as it does on the real client).
   */
  sendThen(command: CommandInput, options: CommandOptions, onReply: (reply: CommandReply) => void, onError: (err: unknown) => void): void {
    let settled = false;
    this.issue(command, options, (reply) => {
      if (settled) return;
      settled = true;
      onReply(reply);
    }, (err) => {
      if (settled) return;
      settled = true;
      queueMicrotask(() => onError(err));
    });
  }

  private issue(command: CommandInput, options: CommandOptions, resolve: (reply: CommandReply) => void, reject: (err: Error) => void): void {
    const name = (command.execute ?? command['exec-oob']) as string;
    const s = this.script[name] ?? {};
    if (s.refuse) {
      reject(new OobRefusedError(name, 'its schema does not have allow-oob'));
      return;
    }
    this.sent.push(name);
    const idText = command.idText ?? `"#${++this.ids}"`;
    const sent = `{"${command['exec-oob'] ? 'exec-oob' : 'execute'}":"${name}","id":${idText}}`;
    const timers: Array<ReturnType<typeof setTimeout>> = [];
    const onAbort = (): void => { timers.forEach(clearTimeout); reject(new CommandCancelledError(`${name}: cancelled`, { sent })); };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      timers.push(setTimeout(() => { options.signal?.removeEventListener('abort', onAbort); reject(new CommandTimeoutError(name, options.timeoutMs as number, { sent })); }, options.timeoutMs));
    }
    if (s.queued) return;
    options.onWritten?.({ sent, idText });
    if (s.hang) return;
    timers.push(setTimeout(() => {
      options.signal?.removeEventListener('abort', onAbort);
      for (let i = 0; i < (s.flood ?? 0); i++) this.emit('FLOOD', { i, pad: 'x'.repeat(1000) });
      for (const e of s.before ?? []) this.emit(e);
      if (s.disconnect) { reject(new DisconnectedError(`${name}: QEMU closed the connection`, { sent })); return; }
      const raw = s.error
        ? `{"id": ${idText}, "error": {"class": "GenericError", "desc": "${s.error}"}}`
        : `{"return": {}, "id": ${idText}}`;
      resolve(s.error
        ? { idText, ok: false, error: { class: 'GenericError', desc: s.error }, raw, sent }
        : { idText, ok: true, value: {}, raw, sent });
      setTimeout(() => { for (const e of s.after ?? []) this.emit(e); }, 1);
    }, s.delayMs ?? 0));
  }

  onEvent(listener: (e: QmpEventRecord) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  eventCursor(): number {
    return this.seq;
  }

  waitForEvent(predicate: (e: QmpEventRecord) => boolean, options: { after?: number; timeoutMs: number; signal?: AbortSignal }): Promise<QmpEventRecord> {
    const found = this.history.find((e) => e.seq > (options.after ?? this.seq) && predicate(e));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const done = (): void => { clearTimeout(timer); sub.dispose(); options.signal?.removeEventListener('abort', onAbort); };
      const onAbort = (): void => { done(); reject(new CommandCancelledError('Waiting for an event was cancelled')); };
      const timer = setTimeout(() => { done(); reject(new EventTimeoutError(options.timeoutMs)); }, options.timeoutMs);
      const sub = this.onEvent((e) => { if (predicate(e)) { done(); resolve(e); } });
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
