// The `qmp-notebook` bin (bundled to dist/cli.js). Only wiring: the work is in cli.ts.
import { cliMain } from './cli';
import { realDeps } from './deps';

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

cliMain(process.argv.slice(2), realDeps(), { out: writer(process.stdout), err: writer(process.stderr) }).then(
  (code) => finish(code),
  (err: unknown) => {
    process.stderr.write(`qmp-notebook: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    return finish(70);
  },
);
