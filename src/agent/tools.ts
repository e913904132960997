// VS Code's language-model tools: the agent tools of `qmp-notebook mcp` (src/mcp/tools.ts, the same kernel) on
// the user's live sessions (src/session/sessionManager.ts). Declared in package.json
// (`contributes.languageModelTools`, the same names and input schemas: a unit test compares them). The policy of
// each profile: the sandbox (a QEMU the extension starts) `allow`; every other profile `qmp.agent.policy`
// (default read-only). Under `confirm`, VS Code's own confirmation (prepareInvocation's confirmationMessages)
// asks the person before a state-changing command is sent. Every session's commands are recorded as a `.qmp`
// notebook under the extension's storage, opened beside the chat when the first command runs.
import * as vscode from 'vscode';
import { QmpClient } from '../qmp/client';
import { AgentKernel, guessLanguage, type AgentConnection, type AgentTarget, type ConfirmAnswer } from '../mcp/kernel';
import { isAgentPolicy, type AgentPolicy } from '../mcp/policy';
import { AuditRecorder } from '../mcp/record';
import { AGENT_TOOLS } from '../mcp/tools';
import type { Profile } from '../session/profiles';
import type { SessionManager } from '../session/sessionManager';

/**
 * The policy of a profile: the sandbox allows; the others follow `qmp.agent.policy` (read-only by default) from
 * the user's own settings only: a workspace's settings file is something an agent can edit.
 */
export function profilePolicy(profile: Profile): AgentPolicy {
  if (profile.kind === 'sandbox') return 'allow';
  const set = vscode.workspace.getConfiguration('qmp').inspect<string>('agent.policy')?.globalValue;
  return set !== undefined && isAgentPolicy(set) ? set : 'read-only';
}

function describeProfile(p: Profile): string {
  switch (p.kind) {
    case 'unix': return `unix socket ${p.socket}`;
    case 'tcp': return `tcp ${p.host}:${p.port}`;
    case 'sandbox': return 'a sandbox QEMU the editor starts';
    case 'storage-daemon': return 'a qemu-storage-daemon the editor starts';
    case 'guest-agent': return 'a guest agent';
    case 'libvirt': return `the libvirt domain ${p.domain}`;
  }
}

class SessionTarget implements AgentTarget {
  constructor(private readonly sessions: SessionManager, private readonly profile: Profile) {}

  get name(): string { return this.profile.name; }
  get description(): string { return describeProfile(this.profile); }
  get policy(): AgentPolicy { return profilePolicy(this.profile); }
  get sandbox(): boolean { return this.profile.kind === 'sandbox'; }

  status(): { state: string; qemu?: string; oob?: boolean } {
    const s = this.sessions.session(this.profile.name);
    if (!s) return { state: 'disconnected' };
    const v = s.version;
    return { state: s.describeState(), ...(v ? { qemu: `${v.major}.${v.minor}.${v.micro}` } : {}), ...(s.oobEnabled !== undefined ? { oob: s.oobEnabled } : {}) };
  }

  async open(): Promise<AgentConnection> {
    const s = await this.sessions.connect(this.profile.name);
    const client = s.liveClient;
    if (!(client instanceof QmpClient)) throw new Error(`${this.profile.name} is ${s.describeState()}`);
    const dir = (s.sandbox as { dir?: unknown } | undefined)?.dir;
    const p = this.profile;
    return {
      client, schema: s.schema?.schema,
      ...(s.schema === undefined ? { schemaError: 'the session has no schema yet' } : {}),
      ...(typeof dir === 'string' ? { dir } : {}),
      local: p.kind === 'unix' || p.kind === 'sandbox' || p.kind === 'storage-daemon' || (p.kind === 'tcp' && ['localhost', '127.0.0.1', '::1'].includes(p.host)),
    };
  }
}

/** Opens a recording as a notebook beside the chat (the editor group to the side), without taking the focus. */
async function openBeside(file: string, log: vscode.LogOutputChannel): Promise<void> {
  // The first note or cell writes the file in the same turn that made the recorder; the workbench's file service
  // (remote under code-server) may still answer "nonexistent" for a moment: a few tries, 1.5 s at most.
  let doc: vscode.NotebookDocument | undefined;
  let lastError: unknown;
  for (let attempt = 0; attempt < 6 && doc === undefined; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, attempt * 100));
    try {
      doc = await vscode.workspace.openNotebookDocument(vscode.Uri.file(file));
    } catch (err) {
      lastError = err;
    }
  }
  if (doc === undefined) {
    log.warn(`cannot open the agent recording ${file}: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
    return;
  }
  try {
    await vscode.window.showNotebookDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true });
  } catch (err) {
    log.warn(`cannot show the agent recording beside the chat (${err instanceof Error ? err.message : String(err)}); showing it in the active group`);
    await vscode.window.showNotebookDocument(doc, { preserveFocus: true }).then(undefined, () => undefined);
  }
}

/** The kernel of the language-model tools, for the host tests. */
export interface AgentTools extends vscode.Disposable {
  kernel: AgentKernel;
  /** The recording of each session so far (file paths). */
  recordings(): string[];
}

/** Registers the language-model tools; returns what to dispose. */
export function registerAgentTools(context: vscode.ExtensionContext, sessions: SessionManager, log: vscode.LogOutputChannel): AgentTools {
  const targets = new Map<string, SessionTarget>();
  const targetList = (): SessionTarget[] => sessions.profiles.map((p) => {
    let t = targets.get(p.name);
    if (!t || t.description !== describeProfile(p)) targets.set(p.name, (t = new SessionTarget(sessions, p)));
    return t;
  });
  const dir = vscode.Uri.joinPath(context.globalStorageUri, 'agent-sessions').fsPath;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const recorders = new Map<string, AuditRecorder>();
  const recorder = (t: AgentTarget): AuditRecorder => {
    let r = recorders.get(t.name);
    if (!r) {
      r = new AuditRecorder(`${dir}/${stamp}-${t.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.qmp`, {
        profile: t.name,
        title: `# Agent session on ${t.name}\n\nRecorded by QMP Notebook's language-model tools from ${new Date().toISOString()}: ${t.description}; policy ${t.policy}. ` +
          'Every command the agent sent is a cell below with what QEMU answered; what was refused or only looked at is a note.',
      });
      r.onError = (m) => log.warn(m);
      recorders.set(t.name, r);
      void openBeside(r.path, log);
    }
    return r;
  };
  // Inputs VS Code has asked the person about (prepareInvocation returned confirmation messages): invoke runs them.
  const confirmed = new Map<string, number>();
  const key = (session: string, text: string): string => JSON.stringify([session, text]);
  const confirm = (req: { session: string; text: string }): Promise<ConfirmAnswer> => {
    const k = key(req.session, req.text);
    const at = confirmed.get(k);
    confirmed.delete(k);
    return Promise.resolve(at !== undefined && Date.now() - at < 10 * 60_000 ? 'approved' : 'unavailable');
  };
  const kernel = new AgentKernel({
    targets: targetList, confirm, recorder,
    untrusted: () => (vscode.workspace.isTrusted ? undefined : 'the workspace is not trusted'),
  });

  const disposables: vscode.Disposable[] = [];
  for (const spec of AGENT_TOOLS) {
    disposables.push(vscode.lm.registerTool<Record<string, unknown>>(spec.name, {
      prepareInvocation: async (options) => {
        const input = options.input;
        const text = spec.name === 'qmp_hmp' ? String(input['command'] ?? '') : String(input['text'] ?? '');
        if (spec.name !== 'qmp_execute' && spec.name !== 'qmp_hmp') return { invocationMessage: spec.title };
        const session = typeof input['session'] === 'string' ? input['session'] : undefined;
        const language = spec.name === 'qmp_hmp' ? 'hmp' as const : input['language'] === 'qmp' || input['language'] === 'qmp-shell' ? input['language'] : guessLanguage(text);
        const preview = await kernel.preview({ ...(session !== undefined ? { session } : {}), text, language });
        if (!preview || preview.confirm.length === 0) return { invocationMessage: `${spec.title}: ${text.slice(0, 80)}` };
        const planned = spec.name === 'qmp_hmp' ? `{"execute": "human-monitor-command", "arguments": {"command-line": ${JSON.stringify(text)}}}` : text;
        confirmed.set(key(preview.session, spec.name === 'qmp_hmp' ? text.trim() : text), Date.now());
        return {
          invocationMessage: `${spec.title} on ${preview.session}`,
          confirmationMessages: {
            title: `Send ${preview.confirm.join(', ')} to ${preview.session}?`,
            message: new vscode.MarkdownString(`The agent wants to send a command that changes the VM's state (${preview.confirm.join(', ')}) to the QEMU session **${preview.session}**:\n\n\`\`\`json\n${planned.slice(0, 2000)}\n\`\`\``),
          },
        };
      },
      invoke: async (options) => {
        const result = kernel.finish(await spec.call(kernel, options.input));
        const parts: unknown[] = [new vscode.LanguageModelTextPart(result.text)];
        // An image part where the running VS Code has LanguageModelDataPart (newer than engines.vscode 1.96).
        const DataPart = (vscode as { LanguageModelDataPart?: { image(data: Uint8Array, mime: string): unknown } }).LanguageModelDataPart;
        if (result.image && DataPart) parts.push(DataPart.image(Buffer.from(result.image.base64, 'base64'), result.image.mimeType));
        return new vscode.LanguageModelToolResult(parts as vscode.LanguageModelTextPart[]);
      },
    }));
  }
  return {
    kernel,
    recordings: () => [...recorders.values()].map((r) => r.path),
    dispose: () => { for (const d of disposables) d.dispose(); kernel.dispose(); },
  };
}
