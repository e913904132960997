// The connection the language server talks to, when one is configured (and allowed, see config.ts): its live
// schema replaces the file or cached one, and `qmp.runCell` runs a cell on it. It is a kernel (src/kernel),
// the same as the CLI's: every kind of endpoint (socket, TCP, sandbox, storage daemon, guest agent, libvirt),
// the connection's one engine, its schema and its live values; the transcript is printed by the CLI's
// printer, so a cell runs exactly as `qmp-notebook run` runs it and its transcript reads the same.

import { jsonLine, TranscriptPrinter, TRANSCRIPT_FORMAT, type RunCell } from '../cli/run';
import { describeEndpoint, openKernel, type Endpoint, type OpenKernel } from '../kernel/index';
import type { LiveValues } from '../qmp/liveValues';
import type { Schema } from '../qmp/index';
import { isCodeLanguage, isSessionFailure, planCell, type TranscriptRecord } from '../run/index';
import { RawJson } from './exactJson';

export interface RunCellResult {
  status: 'ok' | 'failed' | 'disconnected' | 'refused';
  /** What `qmp-notebook run` prints for the cell: `->`/`<-` lines, events, errors. */
  transcript: string[];
  /**
   * The run's records with the names and fields of `qmp-notebook run --json` (schemas/transcript.schema.json),
   * for clients that render them; `format` is their version. Each is the text of that line (RawJson), which the
   * server's writer puts on the wire as it is, so integers beyond 2^53 (ids, QEMU's values) arrive exact.
   */
  records?: RawJson[];
  format?: number;
  message?: string;
}

/** Per-command time limit for a run from the editor (an event wait gives its own). */
export const RUN_TIMEOUT_MS = 30_000;

export class LspSession {
  private opening: Promise<OpenKernel> | undefined;
  private kernel: OpenKernel | undefined;
  private closed = false;

  constructor(private readonly connection: Endpoint, private readonly qemuBinary?: string) {}

  describe(): string {
    return this.connection.kind === 'unix' ? `unix socket ${this.connection.path}`
      : this.connection.kind === 'tcp' ? `tcp ${this.connection.host}:${this.connection.port}` : describeEndpoint(this.connection);
  }

  /** Opens the kernel (once; again after a loss) and reads the schema. */
  private open(): Promise<OpenKernel> {
    if (this.closed) return Promise.reject(new Error('the language server is shutting down'));
    this.opening ??= (async () => {
      const k = await openKernel(this.connection, {
        ...(this.qemuBinary !== undefined ? { qemuBinary: this.qemuBinary } : {}),
        engine: { commandTimeoutMs: RUN_TIMEOUT_MS },
      });
      try {
        await k.loadSchema();
      } catch (err) {
        await k.close();
        throw err;
      }
      this.kernel = k;
      return k;
    })();
    this.opening.catch(() => { this.opening = undefined; });
    return this.opening;
  }

  /** Connects and returns the live schema. */
  async liveSchema(): Promise<{ schema: Schema | undefined; oobNegotiated: boolean | undefined }> {
    const k = await this.open();
    return { schema: k.schema, oobNegotiated: k.oobNever !== undefined ? false : k.client.oobEnabled };
  }

  /**
   * The live values of the connection (block nodes, device ids, jobs…; docs/live-values.md), made stale by the
   * commands runCell sends and by events; undefined while not connected.
   */
  get live(): LiveValues | undefined {
    return this.kernel?.live;
  }

  /** The last reply saved under a name by the cells runCell ran (docs/notebook-format.md, "Named replies"). */
  namedReply(name: string): string | undefined {
    const e = this.kernel?.engine.names.get(name);
    return e?.ok === true ? e.raw : undefined;
  }

  /** Runs one cell; never throws for QEMU or connection problems. */
  async runCell(source: string, language: string, index: number, line: number): Promise<RunCellResult> {
    const transcript: string[] = [];
    let kernel: OpenKernel;
    try {
      kernel = await this.open();
    } catch (err) {
      const message = `cannot connect to ${this.describe()}: ${err instanceof Error ? err.message : String(err)}`;
      return { status: 'disconnected', transcript: [message], message };
    }
    if (!isCodeLanguage(language)) return { status: 'refused', transcript: [], message: `${language} is not a code cell` };
    const plan = planCell(source, language, kernel.schema);
    if (plan.problems.length > 0) {
      for (const p of plan.problems) transcript.push(`error: ${p.message}`);
      return { status: 'refused', transcript, message: 'the cell has problems; nothing was sent' };
    }
    const cell: RunCell = { cell: index, line, plan };
    const records: TranscriptRecord[] = [];
    const printer = new TranscriptPrinter({ out: (l) => transcript.push(l), err: (l) => transcript.push(l) }, false, [cell]);
    const result = await kernel.run([cell], (r) => { records.push(r); printer.write(r); });
    const f = result.failure;
    const machine = { records: records.map((r) => new RawJson(jsonLine(r))), format: TRANSCRIPT_FORMAT };
    if (f === undefined) return { status: 'ok', transcript, ...machine };
    const message = printer.failureText(f);
    if (!isSessionFailure(f.kind)) return { status: 'failed', transcript, ...machine, message };
    // The next run reconnects.
    if (this.kernel === kernel) this.kernel = undefined;
    this.opening = undefined;
    void kernel.close().catch(() => undefined);
    return { status: 'disconnected', transcript, ...machine, message };
  }

  async dispose(): Promise<void> {
    this.closed = true;
    const o = this.opening;
    this.opening = undefined;
    this.kernel = undefined;
    if (o !== undefined) await o.then((k) => k.close(), () => undefined);
  }
}
