// The vocabulary of a QMP command and its reply, shared by the session (client.ts) and the handshake
// (dialect.ts) so that neither imports the other.

/**
 * A command in the general form notebooks and the CLI use. Exactly one of `execute`, `exec-oob`.
 * `control: {'run-oob': true}` is the 2018 draft spelling of out-of-band and is sent as `exec-oob`.
 * `idText` is the caller's own id as raw JSON text; it is sent and given back exactly as written.
 */
export interface CommandInput {
  execute?: string;
  'exec-oob'?: string;
  arguments?: object;
  control?: { 'run-oob'?: boolean };
  idText?: string;
  /**
   * The arguments as compact JSON text of an object, sent instead of `JSON.stringify(arguments)` so that
   * literals JavaScript cannot hold exactly (integers beyond 2^53) reach QEMU as the author wrote them. The
   * notebook format produces it from the parsed source; it must be one JSON object with no comments.
   */
  argumentsText?: string;
}

export type CommandReply =
  | { idText: string; ok: true; value: unknown; raw: string; sent: string }
  | { idText: string; ok: false; error: { class: string; desc: string }; raw: string; sent: string };
