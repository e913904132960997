// `qmp-notebook lsp [--stdio]`: the language server over standard input and output (src/lsp/server.ts).
// Standard output carries only protocol messages; anything else goes to standard error or the client's log.
import { createConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver/node';
import { jsonRpcGuard } from './guard';
import { startServer } from './server';

export const LSP_USAGE = `Usage: qmp-notebook lsp [--stdio]
Runs the QMP language server over standard input and output (see docs/lsp.md).`;

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
  const writer = new StreamMessageWriter(process.stdout);
  const reader = new StreamMessageReader(process.stdin, { contentTypeDecoder: jsonRpcGuard(writer) });
  const connection = createConnection(reader, writer);
  // Nothing but protocol messages on stdout: console output goes to the client's log (or stderr).
  console.log = (...args: unknown[]) => connection.console.log(args.map(String).join(' '));
  console.info = console.log;
  startServer(connection);
  return undefined;
}
