// The `qmp-notebook` bin (bundled to dist/cli.js). Only wiring: the work is in cli.ts.
import { cliMain } from './cli/cli';
import { realDeps } from './cli/deps';
import { version } from '../package.json';
import { exportMain } from './export/cli';
import { wantColor } from './cli/style';
import { importMain } from './import/cli';
import { compatMain, schemaDiffMain } from './cli/compat';

/**
 * Writes a line to a stream. When stdout is a pipe, Node writes asynchronously; the exit below waits for the
 * streams to drain so that no output is lost.
 */
function writer(stream: NodeJS.WriteStream): (line: string) => void {
  return (line) => { stream.write(line + '\n'); };
}

/** Flush standard output's buffer at this size at the latest. */
const OUT_BUFFER_BYTES = 64 * 1024;

/** Flush standard output's buffer this long after its first line at the latest (output streams as it comes). */
const OUT_FLUSH_MS = 20;

/**
 * Standard output, buffered: lines are gathered and written at most every 20 ms (or at 64 KiB), not with one
 * system call each, nor one per turn of the event loop (a run of short cells takes a turn per cell; stdout to a
 * file or pipe writes synchronously on Linux), so a run of many cells costs few writes and its output still
 * streams. `flush()` before anything goes to stderr keeps the two in order, and before exit.
 */
function bufferedWriter(stream: NodeJS.WriteStream, before?: () => void): { write(line: string): void; flush(): void } {
  let buffer = '';
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (buffer === '') return;
    const text = buffer;
    buffer = '';
    before?.();
    stream.write(text);
  };
  return {
    write: (line) => {
      buffer += `${line}\n`;
      if (buffer.length >= OUT_BUFFER_BYTES) flush();
      else timer ??= setTimeout(flush, OUT_FLUSH_MS);
    },
    flush,
  };
}

/**
 * The progress line on standard error (a terminal only): what is being waited for, drawn once it has lasted
 * a second and redrawn each second with the time so far; cleared before any other output, so it never mixes
 * with the lines of standard output or standard error. A live line (jobs' progress: `set(text, true)`) is
 * drawn at once, as it is, and gives way to the waiting line again when it is ''.
 */
function progressLine(stream: NodeJS.WriteStream): { set(text: string, live?: boolean): void; clear(): void } | undefined {
  if (stream.isTTY !== true || process.env['TERM'] === 'dumb') return undefined;
  let text = '';
  let liveText = '';
  let since = 0;
  let shown = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  const clear = (): void => {
    if (shown) stream.write('\r\x1b[K');
    shown = false;
  };
  // One terminal row at most (a wrapped line could not be cleared with one \r); a pty of no size is 80 wide.
  const width = (): number => (stream.columns || 80) - 1;
  const draw = (): void => {
    if (liveText !== '') {
      stream.write(`\r\x1b[K${liveText.length > width() ? `${liveText.slice(0, Math.max(0, width() - 1))}…` : liveText}`);
      shown = true;
      return;
    }
    const secs = Math.floor((Date.now() - since) / 1000);
    if (text === '' || secs < 1) return;
    const line = `${text} … ${secs} s`;
    stream.write(`\r\x1b[K${line.length > width() ? `${line.slice(0, Math.max(0, width() - 8 - String(secs).length))}… ${secs} s` : line}`);
    shown = true;
  };
  return {
    set(t: string, live = false): void {
      clear();
      if (live) {
        liveText = t;
        draw();
        return;
      }
      liveText = '';
      text = t;
      since = Date.now();
      if (timer !== undefined) clearInterval(timer);
      timer = t === '' ? undefined : setInterval(draw, 1000);
      timer?.unref();
    },
    clear,
  };
}

const progress = progressLine(process.stderr);
// Standard output's lines clear the progress line first (both may be the same terminal).
const stdout = bufferedWriter(process.stdout, () => progress?.clear());
const stderrLine = (line: string): void => { progress?.clear(); writer(process.stderr)(line); };

async function finish(code: number): Promise<void> {
  stdout.flush();
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => s.write('', () => resolve()))));
  process.exit(code);
}

// `qmp-notebook run x.qmp | head` closes the pipe early; that ends the CLI quietly, as it does for other tools.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
// Ctrl-C: exit through process.exit so that a sandbox QEMU is stopped by its exit handler.
process.once('SIGINT', () => {
  stdout.flush();
  process.stderr.write('qmp-notebook: interrupted\n');
  process.exit(130);
});

// SIGTERM (a CI job's timeout, `kill`): the same, with the status a shell gives a process it terminated.
process.once('SIGTERM', () => {
  stdout.flush();
  process.stderr.write('qmp-notebook: terminated\n');
  process.exit(143);
});

/** A server's own file could not be loaded (a partial install): said in one line, exit 2. */
function missing(what: string): (err: unknown) => Promise<void> {
  return (err) => {
    stderrLine(`qmp-notebook: cannot load the ${what}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    return finish(2);
  };
}

// `lsp` is a long-running server with its own argument handling (src/lsp/stdio.ts); everything else is cliMain's.
// Loaded only for `lsp`: vscode-languageserver's set-up cost every other subcommand's start about 10 ms.
if (process.argv[2] === 'lsp') {
  import('./lsp/stdio').then((m) => {
    const code = m.lspMain(process.argv.slice(3), writer(process.stderr), writer(process.stdout));
    if (code !== undefined) void finish(code);
  }, missing('language server'));
}
// `mcp` is the MCP server for agents (src/mcp/, docs/mcp.md): stdout is its protocol channel. Loaded only for
// `mcp` (the SDK is a third of the bundle), so the other subcommands start as fast as before.
else if (process.argv[2] === 'mcp') void import('./mcp/main').then((m) => m.mcpMain(process.argv.slice(3), version, writer(process.stderr)).then(finish), missing('MCP server'));
else if (process.argv[2] === 'export') void exportMain(process.argv.slice(3), (text) => process.stdout.write(text), stderrLine).then(finish);
// One notebook against several schemas, and `schema diff` (src/cli/compat.ts).
else if (process.argv[2] === 'schema' && process.argv[3] === 'diff') void finish(schemaDiffMain(process.argv.slice(4), (text) => process.stdout.write(text), stderrLine));
else if (process.argv[2] === 'check' && process.argv.filter((a) => a === '--schema' || a.startsWith('--schema=')).length > 1) void finish(compatMain(process.argv.slice(3), (text) => process.stdout.write(text), stderrLine));
else if (process.argv[2] === 'import') void importMain(process.argv.slice(3), (text) => process.stdout.write(text), stderrLine).then(finish);
else cliMain(process.argv.slice(2), {
  ...realDeps(),
  color: wantColor(process.stdout.isTTY, process.env),
  ...(progress ? { progress: progress.set } : {}),
}, { out: stdout.write, err: (l) => { stdout.flush(); stderrLine(l); } }).then(
  (code) => finish(code),
  (err: unknown) => {
    stdout.flush();
    process.stderr.write(`qmp-notebook: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    return finish(70);
  },
);
