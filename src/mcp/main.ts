// `qmp-notebook mcp`: an MCP server on stdio (docs/mcp.md). Its own options set the rails (the policy of each
// session, where the audit notebooks go); the connection options are the CLI's own, parsed by the CLI's parser.
// It serves until its client closes standard input, then stops what it started (a sandbox QEMU).
import os from 'node:os';
import path from 'node:path';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { parseArgs as parseCliArgs } from '../cli/args';
import type { ResolvedConnection } from '../cli/cli';
import { manPageDocs } from '../language/providers';
import { resolveConfig } from '../lsp/config';
import { CliAgentTarget } from './connect';
import type { AgentTarget } from './kernel';
import { isAgentPolicy, type AgentPolicy } from './policy';
import { AuditRecorder } from './record';
import { createMcpServer } from './server';

export const MCP_USAGE = `Usage: qmp-notebook mcp [CONNECTION] [--policy read-only|confirm|allow] [--record DIR] [--name NAME]
                        [--no-sandbox] [--sandbox-policy POLICY] [--trust-workspace-connections] [--man-page FILE]

An MCP server on standard input/output for coding agents (docs/mcp.md). The sessions it offers: the
connection given (any CONNECTION option of 'qmp-notebook run': --socket, --tcp, --sandbox, --storage-daemon,
--guest-agent, --libvirt [--connect URI], --qemu), and a sandbox QEMU started on first use.

  --policy P         what the agent may send on the given connection: read-only (the default, except on a
                     sandbox), confirm (state-changing commands need your approval, asked through the MCP
                     client; refused when it cannot ask) or allow
  --sandbox-policy P the sandbox's policy (default allow)
  --no-sandbox       do not offer a sandbox
  --name NAME        the given connection's session name (default: vm)
  --record DIR       where the audit notebooks (.qmp) go (default ~/.local/state/qmp-notebook/agent)
  --trust-workspace-connections
                     without a CONNECTION, use the one .qmp-notebook.json in the working directory names
                     (docs/lsp.md); never without this flag
  --man-page FILE    the qemu-qmp-ref(7) man page for the manual's text (default: man -w finds it)
`;

interface McpRequest {
  connection?: ResolvedConnection;
  qemuBinary?: string;
  policy?: AgentPolicy;
  sandboxPolicy: AgentPolicy;
  sandbox: boolean;
  name?: string;
  record?: string;
  trustWorkspace: boolean;
  manPage?: string;
  help: boolean;
}

const VALUE_OPTIONS = new Set(['policy', 'sandbox-policy', 'name', 'record', 'man-page']);
const FLAG_OPTIONS = new Set(['no-sandbox', 'trust-workspace-connections', 'help']);

/** Parses the arguments after `mcp`; the connection options go to the CLI's own parser. Never throws. */
export function parseMcpArgs(argv: readonly string[]): { ok: true; request: McpRequest } | { ok: false; message: string } {
  const own = new Map<string, string | true>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const name = arg === '-h' ? 'help' : m?.[1];
    if (name !== undefined && (VALUE_OPTIONS.has(name) || FLAG_OPTIONS.has(name))) {
      if (own.has(name)) return { ok: false, message: `--${name} given twice` };
      if (FLAG_OPTIONS.has(name)) {
        if (m?.[2] !== undefined) return { ok: false, message: `--${name} takes no value` };
        own.set(name, true);
      } else {
        const value = m?.[2] ?? argv[++i];
        if (value === undefined || value === '') return { ok: false, message: `--${name} needs a value` };
        own.set(name, value);
      }
      continue;
    }
    rest.push(arg);
  }
  if (own.has('help')) return { ok: true, request: { sandboxPolicy: 'allow', sandbox: true, trustWorkspace: false, help: true } };
  const parsed = parseCliArgs(['schema', ...rest]);
  if (!parsed.ok) return { ok: false, message: parsed.message.replace(/'schema'/g, "'mcp'") };
  if (parsed.request.command !== 'schema') return { ok: false, message: 'unexpected arguments' };
  const policyOf = (key: string): AgentPolicy | { error: string } | undefined => {
    const v = own.get(key);
    if (typeof v !== 'string') return undefined;
    return isAgentPolicy(v) ? v : { error: `--${key} expects read-only, confirm or allow, got '${v}'` };
  };
  const policy = policyOf('policy');
  const sandboxPolicy = policyOf('sandbox-policy');
  if (typeof policy === 'object') return { ok: false, message: policy.error };
  if (typeof sandboxPolicy === 'object') return { ok: false, message: sandboxPolicy.error };
  const c = parsed.request.connection;
  const str = (k: string): string | undefined => (typeof own.get(k) === 'string' ? own.get(k) as string : undefined);
  const name = str('name');
  if (name !== undefined && name === 'sandbox' && c.kind !== 'sandbox') return { ok: false, message: "--name sandbox is the sandbox's name; choose another" };
  return {
    ok: true,
    request: {
      ...(c.kind !== 'default' ? { connection: c } : {}),
      ...(parsed.request.qemuBinary !== undefined ? { qemuBinary: parsed.request.qemuBinary } : {}),
      ...(policy !== undefined ? { policy } : {}),
      sandboxPolicy: sandboxPolicy ?? 'allow',
      sandbox: !own.has('no-sandbox'),
      ...(name !== undefined ? { name } : {}),
      ...(str('record') !== undefined ? { record: str('record') as string } : {}),
      trustWorkspace: own.has('trust-workspace-connections'),
      ...(str('man-page') !== undefined ? { manPage: str('man-page') as string } : {}),
      help: false,
    },
  };
}

/** The default directory of the audit notebooks. */
export function defaultRecordDir(env: NodeJS.ProcessEnv = process.env): string {
  const state = env['XDG_STATE_HOME'] !== undefined && env['XDG_STATE_HOME'] !== '' ? env['XDG_STATE_HOME'] : path.join(os.homedir(), '.local', 'state');
  return path.join(state, 'qmp-notebook', 'agent');
}

/** The sessions of a request: the given connection (or the trusted workspace's), then the sandbox. */
export function targetsOf(req: McpRequest, log: (line: string) => void, cwd = process.cwd()): CliAgentTarget[] {
  const targets: CliAgentTarget[] = [];
  const sandboxOptions = req.qemuBinary !== undefined ? { qemuBinary: req.qemuBinary } : {};
  let given = req.connection;
  if (given === undefined) {
    const config = resolveConfig({ trustWorkspaceConnections: req.trustWorkspace }, cwd);
    for (const w of config.warnings) log(w);
    if (config.connection !== undefined) {
      const { from: _from, ...endpoint } = config.connection;
      given = endpoint;
    }
  }
  if (given !== undefined) {
    const isSandbox = given.kind === 'sandbox';
    const policy = req.policy ?? (isSandbox ? req.sandboxPolicy : 'read-only');
    targets.push(new CliAgentTarget(isSandbox ? 'sandbox' : req.name ?? 'vm', given, policy, isSandbox ? sandboxOptions : {}));
  }
  if (req.sandbox && given?.kind !== 'sandbox') targets.push(new CliAgentTarget('sandbox', { kind: 'sandbox' }, req.sandboxPolicy, sandboxOptions));
  return targets;
}

/** Runs the server until standard input closes; returns the exit code. */
export async function mcpMain(argv: readonly string[], version: string, err: (line: string) => void): Promise<number> {
  const parsed = parseMcpArgs(argv);
  if (!parsed.ok) {
    err(`qmp-notebook mcp: ${parsed.message}`);
    err("Try 'qmp-notebook mcp --help'.");
    return 2;
  }
  const req = parsed.request;
  if (req.help) {
    for (const line of MCP_USAGE.trimEnd().split('\n')) err(line);
    return 0;
  }
  const log = (line: string): void => err(`qmp-notebook mcp: ${line}`);
  const targets = targetsOf(req, log);
  const recordDir = path.resolve(req.record ?? defaultRecordDir());
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const recorders = new Map<string, AuditRecorder>();
  const recorder = (t: AgentTarget): AuditRecorder => {
    let r = recorders.get(t.name);
    if (!r) {
      const file = path.join(recordDir, `${stamp}-${process.pid}-${t.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.qmp`);
      r = new AuditRecorder(file, {
        profile: t.name,
        title: `# Agent session on ${t.name}\n\nRecorded by \`qmp-notebook mcp\` ${version} from ${new Date().toISOString()}: ${t.description}; ` +
          `policy ${t.policy}. Every command the agent sent is a cell below with what QEMU answered; what was refused or only looked at is a note.`,
      });
      r.onError = log;
      recorders.set(t.name, r);
      log(`recording the session ${t.name} to ${r.path}`);
    }
    return r;
  };
  const docs = manPageDocs(req.manPage !== undefined ? { file: req.manPage } : {});
  const { server, kernel } = createMcpServer({ version, targets: () => targets, docs, recorder, log });
  log(`serving on stdio; sessions: ${targets.map((t) => `${t.name} (${t.description}; policy ${t.policy})`).join(', ') || 'none'}`);
  const closed = new Promise<void>((resolve) => {
    process.stdin.once('end', resolve);
    process.stdin.once('close', resolve);
    server.onclose = () => resolve();
  });
  await server.connect(new StdioServerTransport());
  await closed;
  kernel.dispose();
  await server.close().catch(() => undefined);
  await Promise.all(targets.map((t) => t.close().catch(() => undefined)));
  return 0;
}
