// The `qmp-notebook` bin (bundled to dist/cli.js). Only wiring: the work is in cli.ts.
import { cliMain } from './cli';
import { realDeps } from './deps';
import { lspMain } from '../lsp/stdio';

/**
 * Writes a line to a stream. When stdout is a pipe, Node writes asynchronously; the exit below waits for the
 * streams to drain so that no output is lost.
 */
function writer(stream: NodeJS.WriteStream): (line: string) => void {
  return (line) => { stream.write(line + '\n'); };
}

async function finish(code: number): Promise<void> {
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
  process.stderr.write('qmp-notebook: interrupted\n');
  process.exit(130);
});

// `lsp` is a long-running server with its own argument handling (src/lsp/stdio.ts); everything else is cliMain's.
const lspExit = process.argv[2] === 'lsp' ? lspMain(process.argv.slice(3), writer(process.stderr), writer(process.stdout)) : undefined;
if (lspExit !== undefined) void finish(lspExit);
else if (process.argv[2] !== 'lsp') cliMain(process.argv.slice(2), realDeps(), { out: writer(process.stdout), err: writer(process.stderr) }).then(
  (code) => finish(code),
  (err: unknown) => {
    process.stderr.write(`qmp-notebook: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    return finish(70);
  },
);
