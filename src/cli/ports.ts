// The parts of the protocol core the runner calls, written as structural types so that the runner can be
// type-checked and unit-tested on its own; main.ts hands it the real QmpClient and the compiler checks there
// that it fits. The shapes follow docs/ARCHITECTURE.md ("Module contracts", src/qmp/client.ts).

export interface Disposable {
  dispose(): void;
}

/** One event as the client keeps it; `seq` orders events for waitForEvent's cursor. */
export interface EventRecord {
  seq: number;
  event: string;
  data?: object;
  timestamp: { seconds: number; microseconds: number };
  raw: string;
}

/** What a cell asks the client to send (`CommandInput` of the contract). */
export interface CommandInputLike {
  execute?: string;
  'exec-oob'?: string;
  arguments?: object;
  control?: { 'run-oob'?: boolean };
  idText?: string;
}

/** A reply; QEMU errors are replies here, transport problems throw. */
export type CommandReplyLike =
  | { idText: string; ok: true; value: unknown; raw: string; sent: string }
  | { idText: string; ok: false; error: { class: string; desc: string }; raw: string; sent: string };

export interface RunnerClient {
  send(command: CommandInputLike, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<CommandReplyLike>;
  onEvent(listener: (event: EventRecord) => void): Disposable;
  eventCursor(): number;
  waitForEvent(
    predicate: (event: EventRecord) => boolean,
    options: { after?: number; timeoutMs: number; signal?: AbortSignal },
  ): Promise<EventRecord>;
}
