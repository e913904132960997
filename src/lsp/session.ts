// The QEMU the language server talks to, when one is configured (and allowed, see config.ts): its live schema
// replaces the file or cached one, and `qmp.runCell` runs a cell on it. Built from the engine (src/run: the
// plan, the scheduler, the transcript) and the CLI's session opener and printer, so a cell runs exactly as
// `qmp-notebook run` runs it and its transcript reads the same.

import type { CliSession } from '../cli/cli';
import { TranscriptPrinter, type RunCell } from '../cli/run';
import { openSession } from '../cli/session';
import { Schema, type SchemaInfo } from '../qmp/index';
import { isCodeLanguage, isSessionFailure, planCell, RunEngine, type TranscriptRecord } from '../run/index';
import type { Connection } from './config';

export interface RunCellResult {
  status: 'ok' | 'failed' | 'disconnected' | 'refused';
  /** What `qmp-notebook run` prints for the cell: `->`/`<-` lines, events, errors. */
  transcript: string[];
  /** The engine's transcript records (docs/notebook-format.md), for clients that render them. */
  records?: TranscriptRecord[];
  message?: string;
}

/** Per-command time limit for a run from the editor (an event wait gives its own). */
export const RUN_TIMEOUT_MS = 30_000;
const SCHEMA_TIMEOUT_MS = 30_000;

export class LspSession {
  private opening: Promise<CliSession> | undefined;
  private schema: Schema | undefined;
  private oob: boolean | undefined;
  private closed = false;

  constructor(private readonly connection: Connection, private readonly qemuBinary?: string) {}

  describe(): string {
    const c = this.connection;
    return c.kind === 'unix' ? `unix socket ${c.path}` : c.kind === 'tcp' ? `tcp ${c.host}:${c.port}` : 'a sandbox QEMU';
  }

  /** Connects (once; again after a loss) and reads the schema. */
  private open(): Promise<CliSession> {
    if (this.closed) return Promise.reject(new Error('the language server is shutting down'));
    this.opening ??= (async () => {
      const s = await openSession(this.connection, this.qemuBinary !== undefined ? { qemuBinary: this.qemuBinary } : {});
      try {
        const infos = await s.client.execute('query-qmp-schema', undefined, { timeoutMs: SCHEMA_TIMEOUT_MS });
        if (Array.isArray(infos)) {
          this.schema = Schema.fromIntrospection(infos as SchemaInfo[]);
          s.client.setSchema(this.schema);
        }
        const oob = (s.client as unknown as { oobEnabled?: unknown }).oobEnabled;
        this.oob = typeof oob === 'boolean' ? oob : undefined;
      } catch (err) {
        await s.close();
        throw err;
      }
      return s;
    })();
    this.opening.catch(() => { this.opening = undefined; });
    return this.opening;
  }

  /** Connects and returns the live schema. */
  async liveSchema(): Promise<{ schema: Schema | undefined; oobNegotiated: boolean | undefined }> {
    await this.open();
    return { schema: this.schema, oobNegotiated: this.oob };
  }

  /** Runs one cell; never throws for QEMU or connection problems. */
  async runCell(source: string, language: string, index: number, line: number): Promise<RunCellResult> {
    const transcript: string[] = [];
    let session: CliSession;
    try {
      session = await this.open();
    } catch (err) {
      const message = `cannot connect to ${this.describe()}: ${err instanceof Error ? err.message : String(err)}`;
      return { status: 'disconnected', transcript: [message], message };
    }
    if (!isCodeLanguage(language)) return { status: 'refused', transcript: [], message: `${language} is not a code cell` };
    const plan = planCell(source, language, this.schema);
    if (plan.problems.length > 0) {
      for (const p of plan.problems) transcript.push(`error: ${p.message}`);
      return { status: 'refused', transcript, message: 'the cell has problems; nothing was sent' };
    }
    const cell: RunCell = { cell: index, line, plan };
    const records: TranscriptRecord[] = [];
    const printer = new TranscriptPrinter({ out: (l) => transcript.push(l), err: (l) => transcript.push(l) }, false, [cell]);
    const engine = new RunEngine({ client: () => session.client, commandTimeoutMs: RUN_TIMEOUT_MS });
    try {
      const result = await engine.run([cell], (r) => { records.push(r); printer.write(r); });
      const f = result.failure;
      if (f === undefined) return { status: 'ok', transcript, records };
      const message = printer.failureText(f);
      if (!isSessionFailure(f.kind)) return { status: 'failed', transcript, records, message };
      // The next run reconnects.
      this.opening = undefined;
      void session.close().catch(() => undefined);
      return { status: 'disconnected', transcript, records, message };
    } finally {
      engine.dispose();
    }
  }

  async dispose(): Promise<void> {
    this.closed = true;
    const o = this.opening;
    this.opening = undefined;
    if (o !== undefined) await o.then((s) => s.close(), () => undefined);
  }
}
