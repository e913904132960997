// `qmp-notebook lsp [--stdio]`: the language server over standard input and output (src/lsp/server.ts).
// Standard output carries only protocol messages; anything else goes to standard error or the client's log.
// The process always ends with its input (docs/lsp.md, "Protocol details"):
//   0  after `shutdown`, on `exit` or the end of input
//   1  `exit` or the end of input without `shutdown` (also mid-message), or standard output closed
//   2  input that is not LSP framing (the next message cannot be found): a message on standard error says why
import {
  AbstractMessageReader, createConnection, type DataCallback, type Disposable, type Message, type MessageReader,
  StreamMessageWriter,
} from 'vscode-languageserver/node';
import { stringifyExact } from './exactJson';
import { FrameReader } from './framing';
import { type Guard, jsonRpcGuard } from './guard';
import { startServer } from './server';

export const LSP_USAGE = `Usage: qmp-notebook lsp [--stdio]
Runs the QMP language server over standard input and output (see docs/lsp.md).`;

/** How long the server may take to stop a sandbox and close connections once its input has ended. */
const STOP_BOUND_MS = 3000;

/** A MessageReader over a byte stream with strict framing (framing.ts) and the guard's checks (guard.ts). */
class StdinReader extends AbstractMessageReader implements MessageReader {
  constructor(private readonly input: NodeJS.ReadableStream, private readonly guard: Guard,
    private readonly ended: (how: { fatal?: string; midMessage: boolean }) => void) {
    super();
  }

  listen(callback: DataCallback): Disposable {
    let done = false;
    const frames = new FrameReader({
      message: (body) => {
        const m = this.guard.check(body);
        if (m !== undefined) callback(m as Message);
      },
      fatal: (reason) => {
        if (done) return;
        done = true;
        this.ended({ fatal: reason, midMessage: false });
      },
    });
    const onData = (chunk: Buffer | string): void => { frames.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk); };
    const onEnd = (): void => {
      if (done) return;
      done = true;
      this.ended({ midMessage: frames.pending > 0 });
    };
    this.input.on('data', onData);
    this.input.on('end', onEnd);
    this.input.on('close', onEnd);
    this.input.on('error', onEnd);
    return { dispose: () => { this.input.off('data', onData); this.input.off('end', onEnd); this.input.off('close', onEnd); } };
  }
}

/** Starts the server; resolves never (the process ends on the client's `exit`), or returns a usage exit code. */
export function lspMain(argv: readonly string[], err: (line: string) => void, out: (line: string) => void): number | undefined {
  for (const a of argv) {
    if (a === '--help' || a === '-h') {
      out(LSP_USAGE);
      return 0;
    }
    // Editors pass --stdio (vscode-languageclient), some add --clientProcessId=N; stdio is the only transport.
    if (a !== '--stdio' && !a.startsWith('--clientProcessId')) {
      err(`qmp-notebook lsp: unknown option '${a}'`);
      err(LSP_USAGE);
      return 2;
    }
  }
  // Messages are written with stringifyExact, so that runCell's records keep QEMU's integers exact.
  const writer = new StreamMessageWriter(process.stdout, {
    contentTypeEncoder: {
      name: 'application/json',
      encode: async (msg, options) => Buffer.from(stringifyExact(msg), options.charset),
    },
  });
  const guard = jsonRpcGuard((id, code, message) => {
    void writer.write({ jsonrpc: '2.0', id, error: { code, message } } as Message).catch(() => undefined);
  });
  let stop = (): Promise<void> => Promise.resolve();
  let ending = false;
  const end = (code: number, line?: string): void => {
    if (ending) return;
    ending = true;
    if (line !== undefined) err(`qmp-notebook lsp: ${line}`);
    const bound = new Promise<void>((resolve) => { setTimeout(resolve, STOP_BOUND_MS).unref(); });
    void Promise.race([stop().catch(() => undefined), bound]).finally(() => process.exit(code));
  };
  const reader = new StdinReader(process.stdin, guard, ({ fatal, midMessage }) => {
    if (fatal !== undefined) end(2, `unreadable input from the client (${fatal}); the next message cannot be found, exiting`);
    else if (guard.shutdownReceived) end(0, midMessage ? 'the input ended in the middle of a message' : undefined);
    else end(1, `the client closed the input${midMessage ? ' in the middle of a message' : ''} without "shutdown" and "exit"; exiting`);
  });
  // The client went away (EPIPE): nothing can be answered any more.
  process.stdout.on('error', () => end(guard.shutdownReceived ? 0 : 1));
  const connection = createConnection(reader, writer);
  // Nothing but protocol messages on stdout: console output goes to the client's log (or stderr).
  console.log = (...args: unknown[]) => connection.console.log(args.map(String).join(' '));
  console.info = console.log;
  stop = startServer(connection).stop;
  return undefined;
}
