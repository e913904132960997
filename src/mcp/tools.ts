// The agent's tools, described once: name, description and input (as JSON Schema), and how each calls the
// kernel. The MCP server (server.ts) registers them with the SDK; VS Code's language-model tools (src/agent/,
// package.json `contributes.languageModelTools`, checked equal by a unit test) call the same kernel methods.
import type { AgentKernel, ToolResult } from './kernel';

export interface ToolSpec {
  name: string;
  title: string;
  description: string;
  /** JSON Schema of the input (an object). */
  input: { type: 'object'; properties: Record<string, JsonSchema>; required?: string[] };
  /** The tool only reads (nothing is sent to QEMU, or only what the policy counts as reading). */
  readOnly: boolean;
  call(kernel: AgentKernel, args: Record<string, unknown>): Promise<ToolResult> | ToolResult;
}

export interface JsonSchema {
  type?: 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array';
  description?: string;
  enum?: string[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  additionalProperties?: boolean;
}

const session: JsonSchema = { type: 'string', description: 'The session (profile) name from qmp_list_sessions; default: the first one.' };
const text: JsonSchema = { type: 'string', description: 'A QMP command as JSON ({"execute": "query-status"}) or qmp-shell text (query-status, or block-job-set-speed device=job0 speed=0); several lines make a small cell; {"wait-event": "STOP", "timeout": 5000} lines wait.' };
const language: JsonSchema = { type: 'string', enum: ['qmp', 'qmp-shell'], description: 'qmp (JSON) or qmp-shell; default: guessed (JSON when it starts with {).' };

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
function lang(v: unknown): 'qmp' | 'qmp-shell' | undefined {
  return v === 'qmp' || v === 'qmp-shell' ? v : undefined;
}
/** The members that are set, so that optional parameters stay absent. */
function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

export const AGENT_TOOLS: readonly ToolSpec[] = [
  {
    name: 'qmp_list_sessions',
    title: 'List QEMU sessions',
    description: 'Lists the QEMU sessions (connection profiles) this agent may use, with their QEMU version, whether out-of-band (OOB) execution is on, their state, and the policy a person set for each (read-only, confirm, allow).',
    input: { type: 'object', properties: {} },
    readOnly: true,
    call: (k) => k.listSessions(),
  },
  {
    name: 'qmp_lookup',
    title: 'Look up the QMP schema',
    description: "Looks up the connected QEMU's QMP schema. With name: a command's arguments with their types, what it returns, whether it allows out-of-band execution, and the manual's text; or an event's data. With keyword (or a name that is not a command): the matching commands and events, paged. With oob: true: the commands that allow OOB.",
    input: {
      type: 'object',
      properties: {
        session, name: { type: 'string', description: 'An exact command or event name, e.g. blockdev-add or BLOCK_JOB_COMPLETED.' },
        keyword: { type: 'string', description: 'Part of a name or a word of the manual, e.g. snapshot.' },
        oob: { type: 'boolean', description: 'List only the commands that allow out-of-band execution.' },
        offset: { type: 'integer', minimum: 0 }, limit: { type: 'integer', minimum: 1, maximum: 200 },
      },
    },
    readOnly: true,
    call: (k, a) => k.lookup(defined({ session: str(a['session']), name: str(a['name']), keyword: str(a['keyword']), oob: a['oob'] === true ? true : undefined, offset: num(a['offset']), limit: num(a['limit']) })),
  },
  {
    name: 'qmp_validate',
    title: 'Validate a QMP command',
    description: "Checks a QMP command (JSON or qmp-shell text) against the session's schema exactly as the editor does, and returns the diagnostics (line, column, message) and quick fixes (with the fixed text). Nothing is sent to QEMU.",
    input: { type: 'object', properties: { session, text, language }, required: ['text'] },
    readOnly: true,
    call: (k, a) => k.validate(defined({ session: str(a['session']), text: str(a['text']) ?? '', language: lang(a['language']) })),
  },
  {
    name: 'qmp_execute',
    title: 'Execute QMP commands',
    description: "Executes a QMP command or a small cell (at most 20 commands and waits) on a session. It is validated first and refused with the diagnostics when invalid; the session's policy may refuse it or ask the person. Returns QEMU's replies and the events that came, and records everything in the session's audit notebook.",
    input: { type: 'object', properties: { session, text, language }, required: ['text'] },
    readOnly: false,
    call: (k, a) => k.execute(defined({ session: str(a['session']), text: str(a['text']) ?? '', language: lang(a['language']) })),
  },
  {
    name: 'qmp_wait_event',
    title: 'Wait for a QMP event',
    description: 'Waits (at most timeoutMs, default 10000, at most 120000) for an event by name, optionally with data it must contain. Counts events since the last qmp_execute of the session (so an event that came with the reply counts), each at most once; or since an event number (since).',
    input: {
      type: 'object',
      properties: {
        session, event: { type: 'string', description: 'The event name, e.g. STOP, JOB_STATUS_CHANGE.' },
        data: { type: 'object', description: 'Members the event data must contain, e.g. {"status": "concluded"}.' },
        timeoutMs: { type: 'integer', minimum: 0, maximum: 120000 }, since: { type: 'integer', minimum: 0, description: 'Only events after this number (seq).' },
      },
      required: ['event'],
    },
    readOnly: true,
    call: (k, a) => k.waitEvent(defined({
      session: str(a['session']), event: str(a['event']) ?? '', timeoutMs: num(a['timeoutMs']), since: num(a['since']),
      data: typeof a['data'] === 'object' && a['data'] !== null && !Array.isArray(a['data']) ? a['data'] as Record<string, unknown> : undefined,
    })),
  },
  {
    name: 'qmp_read_events',
    title: 'Read recent QMP events',
    description: 'Returns the recent events of a session (newest last, at most limit), optionally only some names or those after an event number; the cursor to pass as since next time.',
    input: {
      type: 'object',
      properties: { session, since: { type: 'integer', minimum: 0 }, names: { type: 'array', items: { type: 'string' } }, limit: { type: 'integer', minimum: 1, maximum: 200 } },
    },
    readOnly: true,
    call: (k, a) => k.readEvents(defined({
      session: str(a['session']), since: num(a['since']), limit: num(a['limit']),
      names: Array.isArray(a['names']) ? a['names'].filter((x): x is string => typeof x === 'string') : undefined,
    })),
  },
  {
    name: 'qmp_hmp',
    title: 'Run an HMP command',
    description: "Runs one human monitor (HMP) command line through human-monitor-command, e.g. 'info registers' or 'info block', and returns its text. Under the read-only policy only info commands run.",
    input: { type: 'object', properties: { session, command: { type: 'string', description: 'One HMP command line.' } }, required: ['command'] },
    readOnly: false,
    call: (k, a) => k.hmp(defined({ session: str(a['session']), command: str(a['command']) ?? '' })),
  },
  {
    name: 'qmp_screenshot',
    title: 'Screenshot of the guest display',
    description: "Takes a screenshot of the guest's display (QMP screendump) and returns it as a PNG image. Needs a QEMU on this host with a display device.",
    input: { type: 'object', properties: { session, device: { type: 'string', description: 'The display device id (default: the first).' }, head: { type: 'integer', minimum: 0 } } },
    readOnly: true,
    call: (k, a) => k.screenshot(defined({ session: str(a['session']), device: str(a['device']), head: num(a['head']) })),
  },
  {
    name: 'qmp_read_result',
    title: 'Read the rest of a long result',
    description: 'Returns a page of a long result that another tool cut (it said truncated, with a resultId).',
    input: { type: 'object', properties: { id: { type: 'string' }, offset: { type: 'integer', minimum: 0 }, length: { type: 'integer', minimum: 1 } }, required: ['id'] },
    readOnly: true,
    call: (k, a) => k.readResult(defined({ id: str(a['id']) ?? '', offset: num(a['offset']), length: num(a['length']) })),
  },
];
