// The sessions `qmp-notebook mcp` offers an agent: the connection the person named on the command line (any
// kind the CLI has), and a sandbox QEMU started on first use. Connecting goes through ONE function,
// `openAgentConnection`, which uses the CLI's own opener (src/cli/session.ts): the connection's kernel
// (src/kernel), which also reads its schema once.
import { QmpClient } from '../qmp/client';
import type { Schema } from '../qmp/index';
import type { CliSession, ResolvedConnection } from '../cli/cli';
import { openSession, type OpenOptions } from '../cli/session';
import type { AgentConnection, AgentTarget } from './kernel';
import type { AgentPolicy } from './policy';

/** Opens a connection the way the CLI does, and reads its schema. The one place that connects. */
export async function openAgentConnection(connection: ResolvedConnection, options: OpenOptions = {}): Promise<{ session: CliSession; connection: AgentConnection }> {
  const session = await openSession(connection, options);
  const client = session.client;
  if (!(client instanceof QmpClient)) {
    await session.close();
    throw new Error('the connection did not give a QMP client');
  }
  let schema: Schema | undefined;
  let schemaError: string | undefined;
  try {
    // The kernel reads the schema once (query-qmp-schema, or the guest agent's guest-info) and gives it to the client.
    schema = await session.loadSchema();
  } catch (err) {
    schemaError = err instanceof Error ? err.message : String(err);
  }
  // A sandbox's private directory (openSession sets it; the CliSession type does not name it).
  const dir = (session as { dir?: unknown }).dir;
  return {
    session,
    connection: {
      client, schema, ...(schemaError !== undefined ? { schemaError } : {}), ...(typeof dir === 'string' && dir !== '' ? { dir } : {}),
      local: isLocal(connection),
    },
  };
}

/** Whether QEMU's files are this host's files, written by our own user (screendump). */
function isLocal(c: ResolvedConnection): boolean {
  if (c.kind === 'unix' || c.kind === 'sandbox' || c.kind === 'storage-daemon') return true;
  if (c.kind === 'tcp') return c.host === 'localhost' || c.host === '127.0.0.1' || c.host === '::1';
  return false;
}

export function describeConnection(c: ResolvedConnection): string {
  return c.kind === 'unix' ? `unix socket ${c.path}` : c.kind === 'tcp' ? `tcp ${c.host}:${c.port}`
    : c.kind === 'storage-daemon' ? 'a qemu-storage-daemon started for this server'
    : c.kind === 'libvirt' ? `the libvirt domain ${c.domain}${c.uri ? ` (${c.uri})` : ''}`
    : c.kind === 'guest-agent' ? `the guest agent at ${c.target.kind === 'unix' ? c.target.path : `${c.target.host}:${c.target.port}`}`
    : 'a sandbox QEMU started for this server (-machine none -S)';
}

/** A session of the CLI's MCP server: connects on first use, and again after the connection was lost. */
export class CliAgentTarget implements AgentTarget {
  private opened: { session: CliSession; connection: AgentConnection } | undefined;
  private opening: Promise<AgentConnection> | undefined;
  private lastError: string | undefined;

  constructor(
    readonly name: string,
    private readonly connection: ResolvedConnection,
    readonly policy: AgentPolicy,
    private readonly options: OpenOptions = {},
  ) {}

  get description(): string {
    return describeConnection(this.connection);
  }

  get sandbox(): boolean {
    return this.connection.kind === 'sandbox';
  }

  status(): { state: string; qemu?: string; oob?: boolean; endpoint?: string } {
    const c = this.opened?.connection.client;
    if (!c) return { state: this.lastError !== undefined ? `not connected (last attempt: ${this.lastError})` : 'not connected (connects on first use)' };
    if (c.state !== 'running') return { state: 'connection lost (the next call reconnects)' };
    const v = c.version;
    return { state: 'connected', ...(v ? { qemu: `${v.major}.${v.minor}.${v.micro}${v.package ? ` ${v.package.trim()}` : ''}`.trim() } : {}), oob: c.oobEnabled };
  }

  open(): Promise<AgentConnection> {
    if (this.opened && this.opened.connection.client.state === 'running') return Promise.resolve(this.opened.connection);
    this.opening ??= (async () => {
      const old = this.opened;
      this.opened = undefined;
      await old?.session.close().catch(() => undefined);
      try {
        this.opened = await openAgentConnection(this.connection, this.options);
        this.lastError = undefined;
        return this.opened.connection;
      } catch (err) {
        this.lastError = err instanceof Error ? err.message : String(err);
        throw err;
      }
    })().finally(() => { this.opening = undefined; });
    return this.opening;
  }

  async close(): Promise<void> {
    const o = this.opened;
    this.opened = undefined;
    await o?.session.close();
  }
}
