// Command-line argument parsing for `qmp-notebook`: Node's util.parseArgs tokenizes, a table says which
// option takes a value and which subcommands accept it. Pure: it turns argv into a request or a usage error
// and touches neither the file system nor QEMU, so every spelling mistake is caught before anything starts.
import { parseArgs as tokenize } from 'node:util';
import { endpointFromOptions, parseHostPort as parseEndpointHostPort, type Endpoint, type EndpointOptions } from '../kernel/endpoint';

import { parseCompatPolicy } from '../notebook/format/validate';

/** Where the CLI finds its QEMU. `default` means the user gave nothing and the subcommand picks. */
export type ConnectionChoice = Endpoint | { kind: 'default' };

export interface RunRequest {
  command: 'run';
  file: string;
  connection: ConnectionChoice;
  json: boolean;
  /** `--timeout`: a deadline for the whole run in milliseconds (connecting, the schema, every cell). */
  timeoutMs?: number;
  qemuBinary?: string;
}

export interface CheckRequest {
  command: 'check';
  file: string;
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
}

export type CliRequest =
  | RunRequest
  | CheckRequest
  | SchemaRequest
  | { command: 'help'; topic?: 'run' | 'check' | 'schema' }
  | { command: 'version' };

export type ParseResult = { ok: true; request: CliRequest } | { ok: false; message: string };

/** The time limit of each command of `run` (a wait clause gives its own). */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The longest time a timer can wait (Node fires longer ones at once): the largest `--timeout`. */
export const MAX_TIMEOUT_MS = 2_147_483_647;

export const USAGE = `Usage:
  qmp-notebook run FILE.qmp [CONNECTION] [--json] [--timeout MS]
  qmp-notebook check FILE.qmp [--schema SCHEMA.json | CONNECTION] [--json]
                     [--compat deprecated-input=reject,unstable-input=reject]
  qmp-notebook schema [CONNECTION]
  qmp-notebook test FILE.qmp… [CONNECTION] [--update] [--junit OUT.xml] [--json]
  qmp-notebook lsp [--stdio]   the language server for editors (docs/lsp.md)
  qmp-notebook --help | --version

Connection (run, check, schema), one of:
  --socket PATH      QMP unix socket of a running QEMU (-qmp unix:PATH,server=on,wait=off)
  --tcp HOST:PORT    QMP TCP socket of a running QEMU
  --sandbox          start a private qemu-system-x86_64 -machine none -S (the default)
  --qemu BINARY      the QEMU binary for --sandbox (default qemu-system-x86_64)
  --storage-daemon   start a private qemu-storage-daemon and talk to its QMP monitor
  --guest-agent SOCK a guest agent (qemu-ga) socket: a path, or HOST:PORT; its commands come from guest-info
  --libvirt DOMAIN   a libvirt domain's QEMU, through virsh (libvirt marks the domain tainted: custom-monitor)
  --connect URI      with --libvirt: the libvirt URI (default: virsh's), e.g. qemu:///system, qemu+ssh://host/system

Options:
  --json             one JSON object per line instead of text
  --timeout MS       run: a deadline for the whole run, connecting included (1 to ${MAX_TIMEOUT_MS} ms;
                     default none). Each command also has a ${DEFAULT_TIMEOUT_MS} ms limit; an event wait uses its own
                     "timeout" (default 10000)
  --schema FILE      check: a query-qmp-schema reply saved as JSON (see 'qmp-notebook schema')
  --compat POLICY    check: QEMU's -compat input policy; with deprecated-input=reject (unstable-input=reject)
                     deprecated (unstable) commands, members and values are errors. Default: the notebook's
                     front matter 'compat', else QEMU's default (accept)
  -h, --help         this help
  -V, --version      print the version

Exit status: 0 success; 1 a QEMU error, an event wait timed out, a malformed cell (run) or an error
found (check); 2 usage or connection error, including QEMU going away during a run.
`;

type OptionName = 'socket' | 'tcp' | 'sandbox' | 'storage-daemon' | 'guest-agent' | 'libvirt' | 'connect' | 'qemu' | 'json' | 'timeout' | 'schema' | 'compat' | 'help' | 'version';

/** The options: whether each takes a value, its short form, and which subcommands accept it ('' = none given). */
const OPTIONS: Record<OptionName, { value: boolean; short?: string; commands: ReadonlyArray<string> }> = {
  socket: { value: true, commands: ['run', 'check', 'schema'] },
  tcp: { value: true, commands: ['run', 'check', 'schema'] },
  sandbox: { value: false, commands: ['run', 'check', 'schema'] },
  'storage-daemon': { value: false, commands: ['run', 'check', 'schema'] },
  'guest-agent': { value: true, commands: ['run', 'check', 'schema'] },
  libvirt: { value: true, commands: ['run', 'check', 'schema'] },
  connect: { value: true, commands: ['run', 'check', 'schema'] },
  qemu: { value: true, commands: ['run', 'check', 'schema'] },
  json: { value: false, commands: ['run', 'check'] },
  timeout: { value: true, commands: ['run'] },
  schema: { value: true, commands: ['check'] },
  compat: { value: true, commands: ['check'] },
  help: { value: false, short: 'h', commands: ['run', 'check', 'schema', ''] },
  version: { value: false, short: 'V', commands: [''] },
};

const TOKENIZER_OPTIONS = Object.fromEntries(Object.entries(OPTIONS).map(([name, o]) =>
  [name, { type: o.value ? 'string' as const : 'boolean' as const, ...(o.short ? { short: o.short } : {}) }]));

function isOptionName(name: string): name is OptionName {
  return Object.prototype.hasOwnProperty.call(OPTIONS, name);
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
        if (arg !== 'run' && arg !== 'check' && arg !== 'schema') {
          return fail(`unknown command '${arg}' (expected run, check, schema or test)`);
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
    return { ok: true, request: subcommand ? { command: 'help', topic: subcommand as 'run' | 'check' | 'schema' } : { command: 'help' } };
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

  if (subcommand === 'schema') {
    if (positionals.length) return fail(`'schema' takes no file (got '${positionals[0]}')`);
    return { ok: true, request: { command: 'schema', connection, ...qemuBinary } };
  }
  if (positionals.length === 0) return fail(`'${subcommand}' needs a notebook file`);
  if (positionals.length > 1) return fail(`'${subcommand}' takes one notebook file (got ${positionals.length})`);
  const file = positionals[0] as string;

  if (subcommand === 'run') {
    const t = values.get('timeout');
    let timeout = {};
    if (typeof t === 'string') {
      if (!/^\d+$/.test(t) || Number(t) <= 0) return fail(`--timeout expects a positive number of milliseconds, got '${t}'`);
      if (Number(t) > MAX_TIMEOUT_MS) return fail(`--timeout can be at most ${MAX_TIMEOUT_MS} ms (about 24.8 days), got '${t}'`);
      timeout = { timeoutMs: Number(t) };
    }
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
      command: 'check', file, connection, json, ...qemuBinary,
      ...(typeof schema === 'string' ? { schemaFile: schema } : {}),
      ...(typeof compat === 'string' ? { compat } : {}),
    },
  };
}
