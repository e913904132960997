// Command-line argument parsing for `qmp-notebook`: Node's util.parseArgs tokenizes, a table says which
// option takes a value and which subcommands accept it. Pure: it turns argv into a request or a usage error
// and touches neither the file system nor QEMU, so every spelling mistake is caught before anything starts.
import { parseArgs as tokenize } from 'node:util';
import { endpointFromOptions, parseHostPort as parseEndpointHostPort, type Endpoint, type EndpointOptions } from '../kernel/endpoint';

import { parseCompatPolicy } from '../format/validate';

/** Where the CLI finds its QEMU. `default` means the user gave nothing and the subcommand picks. */
export type ConnectionChoice = Endpoint | { kind: 'default' };

export interface RunRequest {
  command: 'run';
  file: string;
  connection: ConnectionChoice;
  json: boolean;
  /** `--timeout`: the time limit of each command in milliseconds (default DEFAULT_TIMEOUT_MS). */
  timeoutMs?: number;
  /** `--deadline`: a deadline for the whole run in milliseconds (connecting, the schema, every cell). */
  deadlineMs?: number;
  qemuBinary?: string;
}

export interface CheckRequest {
  command: 'check';
  /** The notebooks to check (`-` is standard input). */
  files: string[];
  /** `--timeout`: the time limit of query-qmp-schema (default 30000). */
  timeoutMs?: number;
  /** `--deadline`: connecting and fetching the schema. */
  deadlineMs?: number;
  /** A schema file (`--schema`) or a live QEMU to ask. */
  schemaFile?: string;
  /** QEMU's -compat input policy to check against (`--compat deprecated-input=reject,…`); else the notebook's. */
  compat?: string;
  connection: ConnectionChoice;
  json: boolean;
  qemuBinary?: string;
}

export interface SchemaRequest {
  command: 'schema';
  connection: ConnectionChoice;
  qemuBinary?: string;
  timeoutMs?: number;
  deadlineMs?: number;
}

/** `qmp-notebook shell`: an interactive QMP shell (src/cli/shell.ts). */
export interface ShellRequest {
  command: 'shell';
  connection: ConnectionChoice;
  qemuBinary?: string;
  /** `-p`: replies pretty-printed. */
  pretty: boolean;
  /** `-H`: every line is an HMP command (as qmp-shell's -H). */
  hmp: boolean;
  /** `--record FILE.qmp`: the session written as a notebook. */
  record?: string;
  /** `--history FILE`: where the line history is kept (default ~/.qmp-notebook_history). */
  history?: string;
  /** `--timeout MS`: the time limit of each command (default DEFAULT_TIMEOUT_MS). */
  timeoutMs?: number;
  /** `--deadline MS`: the whole session ends then (exit 1). */
  deadlineMs?: number;
  /** `--json`: every input's transcript records on standard output, as `run --json` prints them. */
  json?: boolean;
}

export type CliRequest =
  | RunRequest
  | CheckRequest
  | SchemaRequest
  | ShellRequest
  | { command: 'help'; topic?: 'run' | 'check' | 'schema' | 'shell' }
  | { command: 'version' };

export type ParseResult = { ok: true; request: CliRequest } | { ok: false; message: string };

/** The time limit of each command of `run` (a wait clause gives its own). */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The longest time a timer can wait (Node fires longer ones at once): the largest `--timeout`. */
export const MAX_TIMEOUT_MS = 2_147_483_647;


/** The connection options, as every command's help shows them. */
export const CONNECTION_HELP = `Connection, one of (default: the notebook's profile 'sandbox', else --sandbox):
  --socket PATH      QMP unix socket of a running QEMU (-qmp unix:PATH,server=on,wait=off)
  --tcp HOST:PORT    QMP TCP socket of a running QEMU
  --sandbox          start a private qemu-system-x86_64 -machine none -S
  --qemu BINARY      the QEMU binary for --sandbox (default qemu-system-x86_64)
  --storage-daemon   start a private qemu-storage-daemon and talk to its QMP monitor
  --guest-agent SOCK a guest agent (qemu-ga) socket: a path, or HOST:PORT; its commands come from guest-info
  --libvirt DOMAIN   a libvirt domain's QEMU, through virsh (libvirt marks the domain tainted: custom-monitor)
  --connect URI      with --libvirt: the libvirt URI (default: virsh's), e.g. qemu:///system, qemu+ssh://host/system
`;

/** The exit statuses, the same for every command (each command's help says what 1 means for it). */
export const EXIT_HELP = `Exit status:
  0    success
  1    the work failed: a QEMU error reply, a timeout, a malformed cell, a problem found (check), a cell
       that does not match (test), a failed command read from a script (shell)
  2    usage error, an unreadable file, a connection that could not be made, QEMU going away
  70   internal error (a bug: please report it)
  130  interrupted (SIGINT, Ctrl-C); a sandbox the command started is stopped
  143  terminated (SIGTERM); a sandbox the command started is stopped
`;

const TIMEOUT_HELP = `  --timeout MS       the time limit of each command (1 to ${MAX_TIMEOUT_MS}; default ${DEFAULT_TIMEOUT_MS}); an
                     event wait uses its own "timeout" (default 10000)
  --deadline MS      a deadline for the whole command, connecting included (default none)`;

export const USAGE = `Usage:
  qmp-notebook run FILE.qmp [CONNECTION] [--json] [--timeout MS] [--deadline MS]
  qmp-notebook check FILE.qmp… [--schema SCHEMA.json | CONNECTION] [--json] [--compat POLICY]
  qmp-notebook test FILE.qmp… [CONNECTION] [--update] [--junit OUT.xml] [--json] [--timeout MS] [--deadline MS]
  qmp-notebook shell [CONNECTION] [-p] [-H] [--json] [--record FILE.qmp] [--history FILE] [--timeout MS]
  qmp-notebook schema [CONNECTION]
  qmp-notebook schema diff A.json B.json   what differs between two QEMUs' schemas
  qmp-notebook check FILE.qmp --schema A.json --schema B.json…   where a notebook meets version differences
  qmp-notebook import FILE… -o OUT.qmp   a libvirt log, qmp-shell log or history, iotests .out, or ->/<- text
  qmp-notebook export --to FORMAT FILE.qmp   qmp-shell, jsonl, markdown, html, virsh, python, socat
  qmp-notebook lsp [--stdio]   the language server for editors (docs/lsp.md)
  qmp-notebook mcp [CONNECTION] [--policy read-only|confirm|allow]   an MCP server for agents (docs/mcp.md)
  qmp-notebook --help | --version
  qmp-notebook COMMAND --help  the options of one command

A FILE of '-' is standard input.

${CONNECTION_HELP}
Options:
  --json             one JSON object per line instead of text
  --timeout MS       the time limit of each command (default ${DEFAULT_TIMEOUT_MS}), in every command
  --deadline MS      a deadline for the whole command, connecting included, in every command
  --schema FILE      check: a query-qmp-schema reply saved as JSON (see 'qmp-notebook schema')
  --compat POLICY    check: QEMU's -compat input policy (see 'qmp-notebook check --help')
  -h, --help         this help
  -V, --version      print the version

${EXIT_HELP}`;

/** `qmp-notebook run --help`. */
export const RUN_USAGE = `Usage: qmp-notebook run FILE.qmp [CONNECTION] [--json] [--timeout MS] [--deadline MS]

Runs the notebook's code cells in order and prints what was sent and what came back (-> and <-; an HMP
reply as its text). Stops at the first cell that fails. FILE of '-' is standard input.

${CONNECTION_HELP}
Options:
  --json             one JSON object per transcript record
${TIMEOUT_HELP}
  -h, --help         this help

${EXIT_HELP}`;

/** `qmp-notebook check --help`. */
export const CHECK_USAGE = `Usage: qmp-notebook check FILE.qmp… [--schema SCHEMA.json | CONNECTION] [--json] [--compat POLICY]

Checks notebooks against a QEMU's schema without running them: FILE:LINE:COL: severity: message for each
problem; with a connection, the names the QEMU holds are checked too. FILE of '-' is standard input.

${CONNECTION_HELP}
Options:
  --schema FILE      a query-qmp-schema reply saved as JSON (see 'qmp-notebook schema'); nothing starts
  --compat POLICY    QEMU's -compat input policy; with deprecated-input=reject (unstable-input=reject)
                     deprecated (unstable) commands, members and values are errors. Default: the notebook's
                     front matter 'compat', else QEMU's default (accept)
  --json             one JSON object per problem
${TIMEOUT_HELP}
  -h, --help         this help

${EXIT_HELP}`;

/** `qmp-notebook schema --help`. */
export const SCHEMA_USAGE = `Usage: qmp-notebook schema [CONNECTION] [--timeout MS] [--deadline MS]

Prints the query-qmp-schema reply of a QEMU as JSON, for 'qmp-notebook check --schema' and editors.

${CONNECTION_HELP}
Options:
${TIMEOUT_HELP}
  -h, --help         this help

${EXIT_HELP}`;

type OptionName = 'socket' | 'tcp' | 'sandbox' | 'storage-daemon' | 'guest-agent' | 'libvirt' | 'connect' | 'qemu' | 'json' | 'timeout' | 'schema' | 'compat'
  | 'pretty' | 'hmp' | 'record' | 'history' | 'deadline' | 'help' | 'version';

/** The options: whether each takes a value, its short form, and which subcommands accept it ('' = none given). */
const OPTIONS: Record<OptionName, { value: boolean; short?: string; commands: ReadonlyArray<string> }> = {
  socket: { value: true, commands: ['run', 'check', 'schema', 'shell'] },
  tcp: { value: true, commands: ['run', 'check', 'schema', 'shell'] },
  sandbox: { value: false, commands: ['run', 'check', 'schema', 'shell'] },
  'storage-daemon': { value: false, commands: ['run', 'check', 'schema', 'shell'] },
  'guest-agent': { value: true, commands: ['run', 'check', 'schema', 'shell'] },
  libvirt: { value: true, commands: ['run', 'check', 'schema', 'shell'] },
  connect: { value: true, commands: ['run', 'check', 'schema', 'shell'] },
  qemu: { value: true, commands: ['run', 'check', 'schema', 'shell'] },
  json: { value: false, commands: ['run', 'check', 'shell'] },
  timeout: { value: true, commands: ['run', 'check', 'schema', 'shell'] },
  deadline: { value: true, commands: ['run', 'check', 'schema', 'shell'] },
  schema: { value: true, commands: ['check'] },
  compat: { value: true, commands: ['check'] },
  pretty: { value: false, short: 'p', commands: ['shell'] },
  hmp: { value: false, short: 'H', commands: ['shell'] },
  record: { value: true, commands: ['shell'] },
  history: { value: true, commands: ['shell'] },
  help: { value: false, short: 'h', commands: ['run', 'check', 'schema', 'shell', ''] },
  version: { value: false, short: 'V', commands: [''] },
};

const TOKENIZER_OPTIONS = Object.fromEntries(Object.entries(OPTIONS).map(([name, o]) =>
  [name, { type: o.value ? 'string' as const : 'boolean' as const, ...(o.short ? { short: o.short } : {}) }]));

function isOptionName(name: string): name is OptionName {
  return Object.prototype.hasOwnProperty.call(OPTIONS, name);
}

/** A positive whole number of milliseconds a timer can wait, or the usage error's text. */
export function parseMilliseconds(option: string, text: string): number | string {
  if (!/^\d+$/.test(text) || Number(text) <= 0) return `--${option} expects a positive number of milliseconds, got '${text}'`;
  if (Number(text) > MAX_TIMEOUT_MS) return `--${option} can be at most ${MAX_TIMEOUT_MS} ms (about 24.8 days), got '${text}'`;
  return Number(text);
}

/** Parses `HOST:PORT`, `[IPv6]:PORT`; the port must be 1-65535. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  // The core's parser; on the command line the host must be given.
  return parseEndpointHostPort(text);
}

/** Parses the arguments after `node cli.js`. Never throws. */
export function parseArgs(argv: readonly string[]): ParseResult {
  const fail = (message: string): ParseResult => ({ ok: false, message });
  let subcommand = '';
  const positionals: string[] = [];
  const values = new Map<OptionName, string | true>();
  const { tokens } = tokenize({ args: [...argv], options: TOKENIZER_OPTIONS, strict: false, allowPositionals: true, tokens: true });

  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      const arg = token.value;
      if (subcommand === '' && positionals.length === 0 && !values.has('help') && !values.has('version')) {
        if (arg !== 'run' && arg !== 'check' && arg !== 'schema' && arg !== 'shell') {
          return fail(`unknown command '${arg}' (expected run, check, test, shell or schema)`);
        }
        subcommand = arg;
      } else {
        positionals.push(arg);
      }
      continue;
    }
    const name = token.name;
    if (!isOptionName(name)) return fail(`unknown option '${token.rawName.startsWith('--') ? `--${name}` : token.rawName}'`);
    const spec = OPTIONS[name];
    if (!spec.commands.includes(subcommand)) {
      return fail(subcommand ? `'${subcommand}' does not take --${name}` : `--${name} needs a command before it`);
    }
    if (values.has(name)) return fail(`--${name} given twice`);
    if (spec.value) {
      if (token.value === undefined || token.value === '') return fail(`--${name} needs a value`);
      values.set(name, token.value);
    } else {
      if (token.inlineValue) return fail(`--${name} takes no value`);
      values.set(name, true);
    }
  }

  if (values.has('help')) {
    return { ok: true, request: subcommand ? { command: 'help', topic: subcommand as 'run' | 'check' | 'schema' | 'shell' } : { command: 'help' } };
  }
  if (values.has('version')) return { ok: true, request: { command: 'version' } };
  if (subcommand === '') return fail('no command given');

  const connectionFlags = (['socket', 'tcp', 'sandbox', 'storage-daemon', 'guest-agent', 'libvirt', 'schema'] as const).filter((n) => values.has(n));
  if (connectionFlags.length > 1) {
    return fail(`give only one of ${connectionFlags.map((n) => `--${n}`).join(', ')}`);
  }
  // One reader of the connection options for every subcommand (src/kernel/endpoint.ts).
  const endpointValues: Record<string, string | boolean> = {};
  for (const n of ['socket', 'tcp', 'sandbox', 'storage-daemon', 'guest-agent', 'libvirt', 'connect', 'qemu'] as const) {
    const v = values.get(n);
    if (v !== undefined) endpointValues[n] = v;
  }
  const chosen = endpointFromOptions(endpointValues as EndpointOptions);
  if (!chosen.ok) return fail(chosen.message);
  const connection: ConnectionChoice = chosen.endpoint ?? { kind: 'default' };
  const qemu = values.get('qemu');
  const qemuBinary = typeof qemu === 'string' ? { qemuBinary: qemu } : {};
  const json = values.has('json');

  const timeout: { timeoutMs?: number; deadlineMs?: number } = {};
  for (const [option, key] of [['timeout', 'timeoutMs'], ['deadline', 'deadlineMs']] as const) {
    const t = values.get(option);
    if (typeof t !== 'string') continue;
    const ms = parseMilliseconds(option, t);
    if (typeof ms === 'string') return fail(ms);
    timeout[key] = ms;
  }
  if (subcommand === 'shell') {
    if (positionals.length) return fail(`'shell' takes no file (got '${positionals[0]}'); give --record FILE.qmp to save the session`);
    const record = values.get('record');
    const history = values.get('history');
    return {
      ok: true,
      request: {
        command: 'shell', connection, ...qemuBinary, ...timeout, pretty: values.has('pretty'), hmp: values.has('hmp'), ...(json ? { json } : {}),
        ...(typeof record === 'string' ? { record } : {}), ...(typeof history === 'string' ? { history } : {}),
      },
    };
  }
  if (subcommand === 'schema') {
    if (positionals.length) return fail(`'schema' takes no file (got '${positionals[0]}')`);
    return { ok: true, request: { command: 'schema', connection, ...qemuBinary, ...timeout } };
  }
  if (positionals.length === 0) return fail(`'${subcommand}' needs a notebook file`);
  if (subcommand === 'run' && positionals.length > 1) return fail(`'${subcommand}' takes one notebook file (got ${positionals.length})`);
  const file = positionals[0] as string;

  if (subcommand === 'run') {
    return { ok: true, request: { command: 'run', file, connection, json, ...timeout, ...qemuBinary } };
  }
  const schema = values.get('schema');
  const compat = values.get('compat');
  if (typeof compat === 'string') {
    const parsed = parseCompatPolicy(compat);
    if ('error' in parsed) return fail(`--compat: ${parsed.error}`);
  }
  return {
    ok: true,
    request: {
      command: 'check', files: positionals, connection, json, ...qemuBinary, ...timeout,
      ...(typeof schema === 'string' ? { schemaFile: schema } : {}),
      ...(typeof compat === 'string' ? { compat } : {}),
    },
  };
}
