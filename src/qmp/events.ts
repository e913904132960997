// Events of a session: a bounded history with sequence numbers (cursors), listeners and waits. The history
// is capped by count AND by bytes of raw text, so an event flood keeps memory bounded; a wait from a
// cursor whose events were partly dropped is told so (EventsDroppedError) instead of silently missing one.
import { CommandCancelledError, DisconnectedError, EventsDroppedError, EventTimeoutError } from './errors';
import { isObject } from './wire';

export interface QmpEventRecord {
  /** 1, 2, 3… for the lifetime of the client (across reconnects). */
  seq: number;
  event: string;
  data?: object;
  timestamp: { seconds: number; microseconds: number };
  raw: string;
}

export interface WaitForEventOptions {
  /** Only events with a seq greater than this cursor count; default: the current cursor (future events). */
  after?: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface EventLogOptions {
  /** Most events kept. Default 1000. */
  maxEvents?: number;
  /** Most bytes of raw event text kept. Default 4 MiB. */
  maxBytes?: number;
}

interface Waiter {
  predicate: (e: QmpEventRecord) => boolean;
  resolve: (e: QmpEventRecord) => void;
  reject: (err: Error) => void;
  cleanup: () => void;
}

/** Largest timer delay Node honours; longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class EventLog {
  readonly maxEvents: number;
  readonly maxBytes: number;
  private seq = 0;
  /** A ring: `items[head..]` are kept, oldest first; compacted when the dead prefix grows. */
  private items: QmpEventRecord[] = [];
  private head = 0;
  private bytes = 0;
  /** The seq of the newest event dropped from the history (0: none). */
  private droppedThrough = 0;
  private readonly listeners = new Set<(e: QmpEventRecord) => void>();
  private readonly waiters = new Set<Waiter>();

  constructor(options: EventLogOptions = {}, private readonly onListenerError: (err: unknown) => void = () => undefined) {
    this.maxEvents = Math.max(0, options.maxEvents ?? 1000);
    this.maxBytes = Math.max(0, options.maxBytes ?? 4 * 1024 * 1024);
  }

  /** The seq of the last event seen (0 before any). */
  cursor(): number {
    return this.seq;
  }

  /** The events kept, oldest first. */
  history(): QmpEventRecord[] {
    return this.items.slice(this.head);
  }

  /** How many events and bytes the history holds now. */
  size(): { events: number; bytes: number } {
    return { events: this.items.length - this.head, bytes: this.bytes };
  }

  onEvent(listener: (e: QmpEventRecord) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Records an event message (already known to have a string `event`) and tells listeners and waiters. */
  add(text: string, msg: Record<string, unknown>): QmpEventRecord {
    const ts = isObject(msg['timestamp']) ? msg['timestamp'] : {};
    const record: QmpEventRecord = {
      seq: ++this.seq,
      event: msg['event'] as string,
      timestamp: {
        seconds: typeof ts['seconds'] === 'number' ? ts['seconds'] : 0,
        microseconds: typeof ts['microseconds'] === 'number' ? ts['microseconds'] : 0,
      },
      raw: text,
    };
    if (isObject(msg['data'])) record.data = msg['data'];
    this.keep(record);
    for (const l of this.listeners) {
      try { l(record); } catch (err) { this.onListenerError(err); }
    }
    if (this.waiters.size > 0) {
      for (const w of [...this.waiters]) {
        let match: boolean;
        try {
          match = w.predicate(record);
        } catch (err) {
          this.settle(w);
          w.reject(err instanceof Error ? err : new Error(String(err)));
          continue;
        }
        if (match) {
          this.settle(w);
          w.resolve(record);
        }
      }
    }
    return record;
  }

  private keep(record: QmpEventRecord): void {
    if (this.maxEvents === 0 || record.raw.length > this.maxBytes) {
      // Too big to keep: the history stays the newest contiguous run of events, so it is emptied.
      this.items = [];
      this.head = 0;
      this.bytes = 0;
      this.droppedThrough = record.seq;
      return;
    }
    this.items.push(record);
    this.bytes += record.raw.length;
    while (this.items.length - this.head > this.maxEvents || this.bytes > this.maxBytes) {
      const old = this.items[this.head++] as QmpEventRecord;
      this.bytes -= old.raw.length;
      this.droppedThrough = old.seq;
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * Resolves with the first event after the cursor that matches, searching the history first. Rejects with
   * EventsDroppedError when events after the cursor were dropped from the history (the answer could be
   * wrong), EventTimeoutError, CommandCancelledError (signal), or what `notLive()` returns when the
   * session cannot deliver new events (called only when the history has no match).
   */
  wait(predicate: (e: QmpEventRecord) => boolean, options: WaitForEventOptions, notLive: () => Error | undefined): Promise<QmpEventRecord> {
    const after = options.after ?? this.seq;
    if (after < this.droppedThrough) {
      return Promise.reject(new EventsDroppedError(after, this.droppedThrough - after, `${this.maxEvents} events / ${this.maxBytes} bytes`));
    }
    for (let i = this.head; i < this.items.length; i++) {
      const r = this.items[i] as QmpEventRecord;
      if (r.seq > after && predicate(r)) return Promise.resolve(r);
    }
    const dead = notLive();
    if (dead) return Promise.reject(dead);
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new CommandCancelledError('Waiting for an event was cancelled', { cause: signal.reason }));
    return new Promise<QmpEventRecord>((resolve, reject) => {
      const onAbort = (): void => {
        this.settle(waiter);
        reject(new CommandCancelledError('Waiting for an event was cancelled', { cause: signal?.reason }));
      };
      const timer = setTimeout(() => {
        this.settle(waiter);
        reject(new EventTimeoutError(options.timeoutMs));
      }, Math.min(Math.max(0, options.timeoutMs), MAX_TIMER_MS));
      const waiter: Waiter = {
        predicate, resolve, reject,
        cleanup: () => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort); },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** Rejects every live wait (the session ended). */
  failWaiters(message: string, cause: unknown): void {
    for (const w of [...this.waiters]) {
      this.settle(w);
      w.reject(new DisconnectedError(`Waiting for an event: ${message}`, { cause }));
    }
  }

  private settle(w: Waiter): void {
    this.waiters.delete(w);
    w.cleanup();
  }
}
