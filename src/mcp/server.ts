// The MCP door: the agent tools (tools.ts) served with the official SDK (@modelcontextprotocol/sdk) over any
// transport, stdio for `qmp-notebook mcp`. The person's approval for state-changing commands under the
// `confirm` policy is asked through MCP elicitation when the client supports it; otherwise such commands are
// refused with a message saying so.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AgentKernel, type ConfirmAnswer, type KernelOptions } from './kernel';
import { AGENT_TOOLS } from './tools';

export interface McpServerOptions extends Omit<KernelOptions, 'confirm'> {
  version: string;
  /** Where the server's own notes go (stderr). */
  log(line: string): void;
}

/** Builds the server and its kernel; `connect(transport)` starts serving. */
export function createMcpServer(options: McpServerOptions): { server: Server; kernel: AgentKernel } {
  const server = new Server(
    { name: 'qmp-notebook', version: options.version },
    {
      capabilities: { tools: {} },
      instructions: 'Tools to inspect and drive QEMU through its machine protocol (QMP). Start with qmp_list_sessions, look commands up with ' +
        'qmp_lookup, check them with qmp_validate, then qmp_execute. Every command is validated against the schema before it is sent; ' +
        'a person-set policy may refuse state-changing commands or ask for approval. Everything sent is recorded in a .qmp notebook.',
    },
  );
  const confirm = async (req: { session: string; commands: string[]; text: string }): Promise<ConfirmAnswer> => {
    if (server.getClientCapabilities()?.elicitation === undefined) return 'unavailable';
    try {
      const r = await server.elicitInput({
        message: `The agent wants to send ${req.commands.join(', ')} to the QEMU session '${req.session}', which changes the VM's state:\n\n${req.text.slice(0, 2000)}\n\nSend it?`,
        requestedSchema: { type: 'object', properties: { send: { type: 'boolean', title: 'Send it', description: 'Send these commands to QEMU' } }, required: ['send'] },
      });
      return r.action === 'accept' && r.content?.['send'] === true ? 'approved' : 'declined';
    } catch (err) {
      options.log(`elicitation failed: ${err instanceof Error ? err.message : String(err)}`);
      return 'unavailable';
    }
  };
  const kernel = new AgentKernel({ ...options, confirm });

  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: AGENT_TOOLS.map((t) => ({
      name: t.name, title: t.title, description: t.description, inputSchema: t.input,
      annotations: { title: t.title, readOnlyHint: t.readOnly, destructiveHint: !t.readOnly, openWorldHint: false },
    })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request): Promise<CallToolResult> => {
    const tool = AGENT_TOOLS.find((t) => t.name === request.params.name);
    if (!tool) {
      return { isError: true, content: [{ type: 'text', text: `Unknown tool ${request.params.name}; the tools are ${AGENT_TOOLS.map((t) => t.name).join(', ')}.` }] };
    }
    try {
      const result = kernel.finish(await tool.call(kernel, request.params.arguments ?? {}));
      return {
        ...(result.ok ? {} : { isError: true }),
        content: [{ type: 'text', text: result.text }, ...(result.image ? [{ type: 'image' as const, data: result.image.base64, mimeType: result.image.mimeType }] : [])],
        structuredContent: result.data,
      };
    } catch (err) {
      options.log(`internal error in ${tool.name}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      return { isError: true, content: [{ type: 'text', text: `Internal error in ${tool.name}: ${err instanceof Error ? err.message : String(err)}. Report it; other tools still work.` }] };
    }
  });
  return { server, kernel };
}

export async function serve(server: Server, transport: Transport): Promise<void> {
  await server.connect(transport);
}
