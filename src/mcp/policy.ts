// The safety rails an agent runs under, set by a person (a command-line flag, a setting), never by the agent:
//
// - `read-only`: only commands that read: `query-*`, `x-query-*` and the documented read-only list below
//   (HMP: `info …` only; the guest agent: its `guest-get-*`/`guest-info`/`guest-ping`); the default on anything
//   but the sandbox.
// - `confirm`: the commands that change a VM's state (src/endpoints/stateChanges.ts, the list docs/
//   connections.md documents) need the person's approval each time; everything else is sent.
// - `allow`: everything that passes validation is sent.
//
// Under every policy a command the schema does not know, or that fails validation, is never sent (kernel.ts).
import { commandsOf, stateChangingCommands } from '../endpoints/stateChanges';
import type { Step } from '../run/index';

export type AgentPolicy = 'read-only' | 'confirm' | 'allow';

export const AGENT_POLICIES: readonly AgentPolicy[] = ['read-only', 'confirm', 'allow'];

export function isAgentPolicy(s: string): s is AgentPolicy {
  return (AGENT_POLICIES as readonly string[]).includes(s);
}

/** Commands that only read, besides every `query-*` and `x-query-*` (docs/mcp.md lists them). */
export const READ_ONLY_QMP: ReadonlySet<string> = new Set([
  'qom-get', 'qom-list', 'qom-list-types', 'qom-list-properties', 'device-list-properties',
  'qmp_capabilities',
  // The guest agent's readers.
  'guest-info', 'guest-ping', 'guest-sync', 'guest-sync-delimited', 'guest-network-get-interfaces',
]);

/** Whether a QMP (or guest-agent) command only reads. `human-monitor-command` is decided by its line. */
export function isReadOnlyCommand(name: string, args?: object): boolean {
  if (name === 'human-monitor-command') {
    const line = (args as { 'command-line'?: unknown } | undefined)?.['command-line'];
    if (typeof line !== 'string') return false;
    const word = line.trim().split(/\s+/)[0] ?? '';
    return word === 'info' || word === 'i' || word === 'help' || word === '?';
  }
  return name.startsWith('query-') || name.startsWith('x-query-') || name.startsWith('guest-get-') || READ_ONLY_QMP.has(name);
}

export type PolicyVerdict =
  | { verdict: 'send' }
  /** The person must approve these (as they read them: `stop`, `hmp: quit`). */
  | { verdict: 'confirm'; commands: string[] }
  | { verdict: 'refuse'; commands: string[]; message: string };

/** What a policy says about a planned cell's commands. */
export function judge(policy: AgentPolicy, steps: readonly Step[]): PolicyVerdict {
  const commands = commandsOf(steps);
  if (policy === 'allow') return { verdict: 'send' };
  if (policy === 'read-only') {
    const writing = commands.filter((c) => !isReadOnlyCommand(c.name, c.arguments))
      .map((c) => (c.name === 'human-monitor-command' ? `hmp: ${String((c.arguments as { 'command-line'?: unknown } | undefined)?.['command-line'] ?? '').trim().split(/\s+/)[0]}` : c.name));
    if (writing.length === 0) return { verdict: 'send' };
    const names = [...new Set(writing)];
    return {
      verdict: 'refuse', commands: names,
      message: `refused by the read-only policy of this session: ${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} not a read-only command ` +
        '(only query-*, x-query-*, qom-get/qom-list…, HMP info). Nothing was sent. Ask the person who runs this server to ' +
        'choose the confirm or allow policy for this connection if the command is needed; do not retry it.',
    };
  }
  const changing = stateChangingCommands(commands);
  return changing.length === 0 ? { verdict: 'send' } : { verdict: 'confirm', commands: changing };
}
