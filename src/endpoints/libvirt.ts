// libvirt-managed domains: QMP through libvirt's passthrough, on the client core as a channel.
//
// libvirt owns the domain's QMP monitor; `virsh qemu-monitor-command DOMAIN --cmd JSON` passes one command
// through and prints QEMU's reply (with libvirt's own id). One virsh per command costs ~35 ms, so the
// channel keeps one long-lived `virsh` shell per session and writes commands to its stdin (~2 ms each).
// virsh echoes `virsh # <command>` for every line it reads from a pipe, so a reply is found by a marker:
// after each command the channel writes `echo` of a random per-session nonce and a sequence number, spelled
// with an empty quoted piece so that the echoed command line never contains the marker itself; whatever
// arrives before the marker belongs to that command, and no command text (or QEMU reply quoting it) can
// forge a marker without knowing the nonce. Events come from a second long-lived process,
// `virsh qemu-monitor-event DOMAIN --loop --timestamp`, whose lines are turned back into QMP event objects.
//
// What libvirt does differently, and how the channel answers it:
// - it refuses a command with an `id` member ("Unable to append command 'id' string") and adds its own:
//   the channel strips the session's id (always the last member the session writes) and puts it back on
//   the reply; replies come in order, one per command, because the shell runs one command at a time;
// - it never enables OOB (the client refuses exec-oob before sending, with that reason: LIBVIRT_NO_OOB);
// - the first passthrough marks the domain "tainted: custom-monitor" in libvirt (the callers warn first);
// - an error of virsh itself (no JSON reply) becomes an error reply of class `LibvirtError`; one that says
//   the domain is gone ends the channel, so running cells fail at once.
// Both processes are spawned with argument arrays; the URI (also a remote one such as qemu+ssh://host/system)
// goes to virsh unchanged.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  ConnectError, DisconnectedError, QmpClient, passthroughDialect, topLevelMemberText,
  type ChannelOpener, type ChannelSink, type QmpDialect, type ConnectOptions,
  type QmpAddress, type QmpChannel, type QmpClientOptions,
} from '../qmp/index';

export const DEFAULT_VIRSH = 'virsh';
export const LIBVIRT_NO_OOB = 'libvirt never enables out-of-band execution on the monitors it owns';

export interface LibvirtTarget {
  /** The libvirt connection URI; undefined: virsh's default (LIBVIRT_DEFAULT_URI, or qemu:///session for a user). */
  uri?: string;
  domain: string;
  /** The virsh binary. Default `virsh` on PATH. */
  virsh?: string;
}

/** Quotes one argument for virsh's own command shell (sh-like single quotes). Newlines cannot be quoted. */
export function virshQuote(text: string): string {
  if (/[\r\n]/.test(text)) throw new TypeError('virsh cannot take a newline in an argument');
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * Errors of virsh that mean its connection to libvirtd is gone (libvirtd died or restarted, the network
 * dropped): QEMU itself may well run on, so this is never "the domain is gone", even when virsh goes on to
 * say "failed to get domain" (it could not ask).
 */
const CONNECTION_LOST = /End of file while reading data|due to end of file|client socket is closed|Failed to reconnect to the hypervisor|not connected to the hypervisor|no valid connection|Cannot recv data|Cannot write data|Broken pipe|Connection reset by peer/i;

/** Errors of virsh that mean the domain (or libvirt) is gone: the session ends. */
const GONE = /failed to get domain|domain is not running|no longer running|Domain not found|Unable to read from monitor|monitor must not be used/i;

/**
 * What a failure of virsh means for a session that wants its domain back (docs/connections.md, "When the
 * domain goes away"): a retry cannot fix a domain that does not exist, one that is not running, or a
 * refused login; it can fix libvirtd restarting, a network that flapped, a monitor that closed while QEMU
 * was being restarted, and anything not recognised.
 */
export type LibvirtFailure = 'domain-not-found' | 'domain-not-running' | 'auth' | 'transient';

/**
 * The table, checked in order; the first match wins. Each pattern is a fixed alternation (linear). A lost
 * connection to libvirtd is transient whatever virsh says after it (it could not look the domain up).
 */
const FAILURE_TABLE: readonly [LibvirtFailure, RegExp][] = [
  // polkit, SASL, ssh keys, the socket's permissions.
  ['auth', /authentication (?:failed|unavailable)|access denied|Permission denied|not authorized|Host key verification failed/i],
  ['transient', CONNECTION_LOST],
  // `failed to get domain 'X'` (by name), `Domain not found: no domain with matching name/uuid` (libvirt 9).
  ['domain-not-found', /failed to get domain|Domain not found|no domain with matching/i],
  // A defined domain that is shut off or crashed: `Requested operation is not valid: domain is not running`.
  ['domain-not-running', /domain is not running|no longer running/i],
];

/** Classifies virsh's error text (or a domain state such as `shut off`). Unknown text is transient. */
export function classifyVirshError(text: string): LibvirtFailure {
  const head = text.length > 4096 ? text.slice(0, 4096) : text;
  for (const [kind, re] of FAILURE_TABLE) if (re.test(head)) return kind;
  return 'transient';
}

/**
 * Why virsh cannot be given this domain name, or undefined. virsh reads a word starting with `-` as an
 * option in some places (`--help` printed domstate's help; `--domain=X` named another domain), so such names
 * are refused outright, as are names libvirt itself refuses ('/'), and what cannot be one argument.
 */
export function libvirtDomainNameProblem(name: string): string | undefined {
  if (name === '') return 'a libvirt domain name cannot be empty';
  if (/[\r\n\0]/.test(name)) return 'a libvirt domain name must be one line (no newline or NUL)';
  if (name.startsWith('-')) return `the libvirt domain name '${name}' starts with '-', which virsh would read as an option; rename the domain or give its UUID`;
  if (name.includes('/')) return `the libvirt domain name '${name}' contains '/', which libvirt does not allow in a name`;
  return undefined;
}

/** Every virsh process alive, killed when this process exits however it exits (a CLI timing out, a crash). */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Spawns virsh (argument array, never a shell) and tracks it until it exits. */
function spawnVirsh(virsh: string, args: string[], stdio: Array<'pipe' | 'ignore'>): ChildProcess {
  const child = spawn(virsh, args, { stdio: stdio as ['pipe' | 'ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  child.once('error', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => { for (const c of liveChildren) { try { c.kill('SIGKILL'); } catch { /* gone */ } } });
  }
  return child;
}

/** The virsh processes this process started that have not exited yet (for tests). */
export function liveVirshProcesses(): number[] {
  return [...liveChildren].map((c) => c.pid).filter((p): p is number => p !== undefined);
}

/** The states of `virsh domstate` in which the domain has a QMP monitor. */
const RUNNING_STATES = new Set(['running', 'idle', 'paused', 'in shutdown', 'pmsuspended']);

/** Codes of the failures a retry cannot fix (LibvirtDomainConnectError, LibvirtDomainGoneError). */
export type LibvirtPermanentCode = 'LIBVIRT_DOMAIN_NOT_FOUND' | 'LIBVIRT_DOMAIN_NOT_RUNNING' | 'LIBVIRT_AUTH' | 'LIBVIRT_BAD_NAME';

function permanentCode(kind: Exclude<LibvirtFailure, 'transient'>): LibvirtPermanentCode {
  switch (kind) {
    case 'domain-not-found': return 'LIBVIRT_DOMAIN_NOT_FOUND';
    case 'domain-not-running': return 'LIBVIRT_DOMAIN_NOT_RUNNING';
    case 'auth': return 'LIBVIRT_AUTH';
  }
}

/** What virsh's text means when a retry cannot fix it (its code and the user's sentence); undefined otherwise. */
function permanentFailure(text: string, target: LibvirtTarget): { code: LibvirtPermanentCode; message: string } | undefined {
  const kind = classifyVirshError(text);
  if (kind === 'transient') return undefined;
  return { code: permanentCode(kind), message: describeLibvirtFailure(kind, target, text) };
}

/** The user's sentence for a failure a retry cannot fix. */
export function describeLibvirtFailure(kind: Exclude<LibvirtFailure, 'transient'>, target: LibvirtTarget, detail: string): string {
  const where = target.uri ? target.uri : "virsh's default URI";
  switch (kind) {
    case 'domain-not-found': return `libvirt domain ${target.domain} not found on ${where} (${detail})`;
    case 'domain-not-running': return `libvirt domain ${target.domain} is not running (${detail})`;
    case 'auth': return `libvirt at ${where} refused the connection for domain ${target.domain} (${detail})`;
  }
}

/** Connecting failed in a way a retry cannot fix: no such domain, not running, or a refused login. */
export class LibvirtDomainConnectError extends ConnectError {
  constructor(readonly code: LibvirtPermanentCode, message: string) {
    super(message, { phase: 'connect' });
  }
}

/** The session ended in a way a retry cannot fix (the domain was destroyed, undefined or shut off). */
export class LibvirtDomainGoneError extends DisconnectedError {
  constructor(readonly code: LibvirtPermanentCode, message: string) {
    super(message);
  }
}

/**
 * The permanent failure an error (or its causes, at most 8 deep) carries, or undefined when a retry might
 * help. Decided by instanceof and the code, never by a class name.
 */
export function libvirtPermanentFailure(err: unknown): { code: LibvirtPermanentCode; message: string } | undefined {
  let e: unknown = err;
  for (let i = 0; i < 8 && e instanceof Error; i++) {
    if (e instanceof LibvirtDomainConnectError || e instanceof LibvirtDomainGoneError) return { code: e.code, message: e.message };
    e = e.cause;
  }
  return undefined;
}

export function virshArgs(target: LibvirtTarget, rest: string[]): string[] {
  return [...(target.uri !== undefined && target.uri !== '' ? ['-c', target.uri] : []), ...rest];
}

/** Line of `virsh qemu-monitor-event --timestamp` → QMP event text, or undefined for anything else. */
export function eventLineToQmp(line: string, domain: string): string | undefined {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?([+-]\d{4}): event (\S+) for domain /.exec(line);
  if (!m) return undefined;
  const head = `${m[0]}'${domain}': `;
  if (!line.startsWith(head)) return undefined;
  const dataText = line.slice(head.length).trim();
  const frac = (m[3] ?? '').padEnd(6, '0');
  const tz = `${(m[4] as string).slice(0, 3)}:${(m[4] as string).slice(3)}`;
  const ms = Date.parse(`${m[1]}T${m[2]}${tz}`);
  if (Number.isNaN(ms) || !/^[A-Z0-9_]+$/.test(m[5] as string)) return undefined;
  const data = dataText === '<null>' || dataText === '' ? '' : dataText;
  if (data !== '') {
    try {
      if (typeof JSON.parse(data) !== 'object') return undefined;
    } catch {
      return undefined;
    }
  }
  return `{"timestamp":{"seconds":${Math.floor(ms / 1000)},"microseconds":${Number(frac)}},"event":${JSON.stringify(m[5])}` +
    `${data ? `,"data":${data}` : ''}}`;
}

/**
 * A command the channel owes a reply for; `probe` is its own `virsh domstate`, written after a SHUTDOWN
 * event to learn whether the domain is gone (it does not taint the domain and nothing is delivered for it).
 */
interface Owed { idText: string | undefined; seq: number; probe?: true }

/** After a SHUTDOWN event, when the channel asks virsh whether the domain still runs (libvirt needs a moment). */
export const LIBVIRT_PROBE_DELAYS_MS: readonly number[] = [500, 3000];

/** The channel: a virsh shell for commands and a virsh event loop, both long-lived. */
export class VirshChannel implements QmpChannel {
  readonly description: string;
  private sink: ChannelSink | undefined;
  private readonly nonce = randomBytes(12).toString('hex');
  private seq = 0;
  private readonly owed: Owed[] = [];
  private out = '';
  /** Output read since the last marker, not yet joined into `out`. */
  private chunks: string[] = [];
  private chunksLength = 0;
  /** The last characters read, so a marker split across reads is still seen. */
  private tail = '';
  private err = '';
  private endedErr: Error | undefined;
  private closing = false;
  private readonly shellExited: Promise<void>;
  private eventsExited: Promise<void> = Promise.resolve();
  private readonly settleTimers = new Set<ReturnType<typeof setTimeout>>();
  private events: ChildProcess | undefined;

  private constructor(private readonly target: LibvirtTarget, private readonly shell: ChildProcess, private readonly maxBytes: number) {
    this.description = `libvirt domain ${target.domain}${target.uri ? ` (${target.uri})` : ''}`;
    shell.stdout?.setEncoding('utf8');
    shell.stderr?.setEncoding('utf8');
    // Output is kept as chunks until one holds a marker: searching (and so flattening) the whole text on
    // every read would cost time and memory quadratic in a large reply.
    shell.stdout?.on('data', (d: string) => {
      if (this.endedErr) return;
      this.chunks.push(d);
      this.chunksLength += d.length;
      if (this.out.length + this.chunksLength > maxBytes) {
        this.chunks = [];
        this.chunksLength = 0;
        this.out = '';
        this.fail(new DisconnectedError(`virsh printed more than ${maxBytes} bytes for one command`));
        return;
      }
      const probe = this.tail + d;
      this.tail = probe.slice(-this.markerPrefix.length);
      if (!probe.includes(this.markerPrefix)) return;
      this.out += this.chunks.join('');
      this.chunks = [];
      this.chunksLength = 0;
      this.drain();
    });
    shell.stderr?.on('data', (d: string) => { if (this.err.length < 65536) this.err += d; });
    shell.stdin?.on('error', () => { /* the exit below reports it */ });
    this.shellExited = new Promise((r) => {
      shell.once('close', (code, signal) => {
        r();
        this.fail(new DisconnectedError(`virsh for ${this.description} exited (${signal ?? `status ${code}`})` +
          (this.err.trim() ? `: ${this.err.trim().split('\n').pop()}` : '')));
      });
    });
  }

  /** Set once open() checked the domain; before that an exit of the event loop is only remembered. */
  private opened = false;
  private eventsEarlyExit: string | undefined;

  /**
   * Starts `virsh qemu-monitor-event --loop`, alongside the domain check (so that it is listening by the time
   * connect() resolves). If it exits while the channel is open, events can no longer come, so waits could
   * only run into their timeouts: the channel ends at once with why (a transient failure: a reconnect starts
   * a new one). An exit before open() is done fails the connect, after the domain check had its say.
   */
  private startEvents(): void {
    const target = this.target;
    const events = spawnVirsh(target.virsh ?? DEFAULT_VIRSH,
      virshArgs(target, ['qemu-monitor-event', '--domain', target.domain, '--loop', '--timestamp']), ['ignore', 'pipe', 'pipe']);
    this.events = events;
    let evErr = '';
    events.on('error', (e) => { evErr ||= e.message; });
    events.stderr?.setEncoding('utf8');
    events.stderr?.on('data', (d: string) => { if (evErr.length < 4096) evErr += d; });
    let evBuf = '';
    events.stdout?.setEncoding('utf8');
    events.stdout?.on('data', (d: string) => {
      evBuf += d;
      if (evBuf.length > this.maxBytes) evBuf = evBuf.slice(-this.maxBytes);
      let nl: number;
      while ((nl = evBuf.indexOf('\n')) >= 0) {
        const line = evBuf.slice(0, nl);
        evBuf = evBuf.slice(nl + 1);
        const text = eventLineToQmp(line, target.domain);
        if (text && !this.endedErr && !this.closing) {
          this.deliver(text);
          // QEMU shut down: the domain may be gone (destroyed, shut off) with no command to find out.
          if (text.includes('"event":"SHUTDOWN"')) this.probeLater();
        }
      }
    });
    this.eventsExited = new Promise((r) => {
      events.once('close', (code, signal) => {
        r();
        if (this.closing || this.endedErr) return;
        const why = evErr.trim().split('\n').map((l) => l.replace(/^error: /, '')).filter(Boolean).join('; ');
        const message = `virsh qemu-monitor-event for ${this.description} exited (${signal ?? `status ${code}`})` +
          `${why ? `: ${why}` : ''}; events can no longer be received, so the session ends`;
        if (!this.opened) this.eventsEarlyExit = message;
        else this.fail(new DisconnectedError(message));
      });
    });
  }

  /** Starts virsh, checks the domain runs (`domstate`, which does not taint it), within timeoutMs. */
  static async open(target: LibvirtTarget, options: { timeoutMs: number; signal?: AbortSignal; maxMessageBytes?: number }): Promise<VirshChannel> {
    const bad = libvirtDomainNameProblem(target.domain);
    if (bad !== undefined) throw new LibvirtDomainConnectError('LIBVIRT_BAD_NAME', bad);
    const virsh = target.virsh ?? DEFAULT_VIRSH;
    const shell = spawnVirsh(virsh, virshArgs(target, ['-q']), ['pipe', 'pipe', 'pipe']);
    const spawned = new Promise<void>((resolve, reject) => {
      shell.once('spawn', () => resolve());
      shell.once('error', (e) => reject(new ConnectError(`Cannot start ${virsh}: ${e.message}` +
        ((e as NodeJS.ErrnoException).code === 'ENOENT' ? ' (install libvirt-clients)' : ''), { cause: e })));
    });
    await spawned;
    const channel = new VirshChannel(target, shell, options.maxMessageBytes ?? 64 * 1024 * 1024);
    channel.startEvents();
    try {
      const state = await channel.plain(`domstate --domain ${virshQuote(target.domain)}`, options.timeoutMs, options.signal);
      if (state.error) {
        const permanent = permanentFailure(state.error, target);
        if (permanent) throw new LibvirtDomainConnectError(permanent.code, permanent.message);
        throw new ConnectError(`${channel.description}: ${state.error}`);
      }
      const s = state.text.trim();
      if (!RUNNING_STATES.has(s)) {
        throw new LibvirtDomainConnectError('LIBVIRT_DOMAIN_NOT_RUNNING', describeLibvirtFailure('domain-not-running', target, s || 'unknown state'));
      }
      if (options.signal?.aborted) throw new ConnectError(`Connecting to ${channel.description} was cancelled`);
      channel.opened = true;
      if (channel.eventsEarlyExit !== undefined) throw new ConnectError(channel.eventsEarlyExit);
    } catch (err) {
      await channel.close();
      // virsh that could not log in exits at once: the exit's text says why.
      if (!(err instanceof LibvirtDomainConnectError) && err instanceof Error && classifyVirshError(err.message) === 'auth') {
        throw new LibvirtDomainConnectError('LIBVIRT_AUTH', describeLibvirtFailure('auth', target, err.message));
      }
      throw err;
    }
    return channel;
  }

  start(sink: ChannelSink): void {
    this.sink = sink;
  }

  send(text: string): void {
    if (this.closing || this.endedErr) return;
    let body = text.replace(/[\r\n]/g, ' ');
    const idText = topLevelMemberText(body, 'id');
    if (idText !== undefined) {
      const suffix = `,"id":${idText}}`;
      if (body.endsWith(suffix)) body = body.slice(0, -suffix.length) + '}';
      // Otherwise the id is not where the session writes it: sent as is, libvirt refuses it with its reason.
    }
    const seq = ++this.seq;
    this.owed.push({ idText, seq });
    this.writeCommand(`qemu-monitor-command --domain ${virshQuote(this.target.domain)} --cmd ${virshQuote(asciiJson(body))}`, seq);
  }

  /** Asks `virsh domstate` after each of LIBVIRT_PROBE_DELAYS_MS; a domain that is gone ends the channel. */
  private probeLater(): void {
    for (const ms of LIBVIRT_PROBE_DELAYS_MS) {
      const t = setTimeout(() => {
        this.settleTimers.delete(t);
        if (this.closing || this.endedErr) return;
        const seq = ++this.seq;
        this.owed.push({ idText: undefined, seq, probe: true });
        this.writeCommand(`domstate --domain ${virshQuote(this.target.domain)}`, seq);
      }, ms);
      this.settleTimers.add(t);
    }
  }

  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      for (const t of this.settleTimers) clearTimeout(t);
      this.shell.stdin?.end();
      this.events?.kill('SIGTERM');
      const timer = setTimeout(() => { this.shell.kill('SIGKILL'); this.events?.kill('SIGKILL'); }, 2000);
      await Promise.all([this.shellExited, this.eventsExited]);
      clearTimeout(timer);
    }
  }

  // --- framing ---

  private marker(seq: number): string { return `QMPNB${this.nonce}x${seq}`; }
  /** What every marker starts with. */
  private get markerPrefix(): string { return `QMPNB${this.nonce}x`; }

  private writeCommand(line: string, seq: number): void {
    // The marker is echoed as `QMPNB''<nonce>x<seq>`: the command echo never contains the marker itself.
    this.shell.stdin?.write(`${line}\necho QMPNB''${this.nonce}x${seq}\n`);
  }

  private plainWaiter: { seq: number; resolve: (r: { text: string; error: string | undefined }) => void } | undefined;

  /** Runs a plain virsh command (not a passthrough) and returns its output. Only before start(). */
  private plain(line: string, timeoutMs: number, signal?: AbortSignal): Promise<{ text: string; error: string | undefined }> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new ConnectError(`virsh did not answer within ${timeoutMs} ms for ${this.description}` +
          (this.target.uri ? `: is ${this.target.uri} reachable?` : '') + (this.err.trim() ? ` ${this.err.trim()}` : '')));
      }, timeoutMs);
      const onAbort = (): void => { clearTimeout(timer); reject(new ConnectError(`Connecting to ${this.description} was cancelled`)); };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.plainWaiter = { seq, resolve: (r) => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort); resolve(r); } };
      this.exitListener = (err) => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort); reject(new ConnectError(err.message, { cause: err })); };
      this.writeCommand(line, seq);
    });
  }

  private exitListener: ((err: Error) => void) | undefined;

  /** Cuts the shell's output at each marker and settles the command it ends. */
  private drain(): void {
    for (;;) {
      const seq = this.plainWaiter?.seq ?? this.owed[0]?.seq;
      if (seq === undefined) { if (this.out.length > 4096) this.out = this.out.slice(-4096); return; }
      const m = this.marker(seq);
      const at = this.out.indexOf(m);
      if (at < 0) return;
      const region = this.out.slice(0, at);
      this.out = this.out.slice(at + m.length);
      const lines = region.split('\n').map((l) => l.replace(/^(virsh # .*)$/, '')).filter((l) => l.trim() !== '');
      const settle = (): void => {
        const error = this.takeError();
        if (this.plainWaiter?.seq === seq) {
          const w = this.plainWaiter;
          this.plainWaiter = undefined;
          this.exitListener = undefined;
          w.resolve({ text: lines.join('\n'), error });
          return;
        }
        const owed = this.owed.shift();
        if (!owed) return;
        if (owed.probe) {
          this.probed(lines.join('\n').trim(), error);
          return;
        }
        const reply = lines.find((l) => l.trimStart().startsWith('{'));
        if (reply !== undefined) {
          this.deliver(withId(reply.trim(), owed.idText));
        } else {
          const why = error ?? 'virsh printed no reply';
          if (CONNECTION_LOST.test(why)) {
            this.fail(new DisconnectedError(`${this.description}: the connection to libvirtd was lost (${why}); QEMU itself may ` +
              'still be running, and a new session can reach it once libvirtd answers again'));
            return;
          }
          if (GONE.test(why)) {
            const permanent = permanentFailure(why, this.target);
            this.fail(permanent ? new LibvirtDomainGoneError(permanent.code, permanent.message)
              : new DisconnectedError(`${this.description} went away: ${why}`));
            return;
          }
          this.deliver(`{"error":{"class":"LibvirtError","desc":${JSON.stringify(why)}}${owed.idText !== undefined ? `,"id":${owed.idText}` : ''}}`);
        }
      };
      if (lines.some((l) => l.trimStart().startsWith('{')) || this.err.includes('\n')) {
        settle();
      } else {
        // virsh wrote its error to stderr before it ran the echo, but the two pipes may be read in either
        // order: give stderr a moment (bounded) before settling without it.
        const t = setTimeout(() => { this.settleTimers.delete(t); settle(); this.drain(); }, 100);
        this.settleTimers.add(t);
        return;
      }
    }
  }

  /** The answer of a domstate probe: a domain that is gone or not running ends the channel; others change nothing. */
  private probed(state: string, error: string | undefined): void {
    if (error !== undefined) {
      const permanent = permanentFailure(error, this.target);
      if (permanent) this.fail(new LibvirtDomainGoneError(permanent.code, permanent.message));
      return;
    }
    if (state !== '' && !RUNNING_STATES.has(state)) {
      this.fail(new LibvirtDomainGoneError('LIBVIRT_DOMAIN_NOT_RUNNING', describeLibvirtFailure('domain-not-running', this.target, state)));
    }
  }

  private takeError(): string | undefined {
    const text = this.err.trim();
    this.err = '';
    if (!text) return undefined;
    return text.split('\n').map((l) => l.replace(/^error: /, '')).filter(Boolean).join('; ');
  }

  private deliver(text: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.fail(new DisconnectedError(`virsh printed a reply that is not JSON: ${text.slice(0, 200)}`));
      return;
    }
    this.sink?.message(text, value);
  }

  private fail(err: Error): void {
    if (this.endedErr) return;
    this.endedErr = err;
    this.exitListener?.(err);
    this.exitListener = undefined;
    if (this.closing) return;
    this.sink?.ended(err);
    void this.close();
  }
}

/** `\uXXXX` for every non-ASCII character, so the bytes virsh reads are plain ASCII. */
function asciiJson(text: string): string {
  return text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Puts the session's id on libvirt's reply in place of libvirt's own (textually, so numbers stay exact). */
function withId(reply: string, idText: string | undefined): string {
  const theirs = topLevelMemberText(reply, 'id');
  let body = reply;
  if (theirs !== undefined) {
    // libvirt prints compact JSON with its id first or last.
    const first = `{"id":${theirs},`;
    const last = `,"id":${theirs}}`;
    if (body.startsWith(first)) body = '{' + body.slice(first.length);
    else if (body.endsWith(last)) body = body.slice(0, -last.length) + '}';
  }
  if (idText === undefined) return body;
  return body === '{}' ? `{"id":${idText}}` : `${body.slice(0, -1)},"id":${idText}}`;
}

export function libvirtChannelOpener(target: LibvirtTarget): ChannelOpener {
  return (options) => VirshChannel.open(target, { timeoutMs: options.timeoutMs, signal: options.signal, maxMessageBytes: options.maxMessageBytes });
}

/** The client for a libvirt domain: passthrough (no handshake), OOB refused with libvirt's reason. */
export class LibvirtClient extends QmpClient {
  constructor(private readonly target: LibvirtTarget, options: Omit<QmpClientOptions, 'dialect' | 'enableOob'> = {}) {
    super({ ...options, enableOob: false, dialect: libvirtDialect });
  }

  override connect(target?: QmpAddress | ChannelOpener, options: ConnectOptions = {}): Promise<void> {
    return super.connect(typeof target === 'function' ? target : libvirtChannelOpener(this.target), options);
  }

}

/** libvirt's passthrough: no greeting, and never OOB (the session refuses it with the reason). */
const libvirtDialect: QmpDialect = { ...passthroughDialect, name: 'libvirt', oobNever: LIBVIRT_NO_OOB, greeting: false };

/** `virsh list --all --name`: the domains of a URI, for the "Connect to libvirt Domain…" picker. */
export function listDomains(target: Omit<LibvirtTarget, 'domain'>, timeoutMs = 15_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawnVirsh(target.virsh ?? DEFAULT_VIRSH, virshArgs({ ...target, domain: '' }, ['list', '--all', '--name']), ['ignore', 'pipe', 'pipe']);
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => { if (out.length < 1 << 20) out += d; });
    child.stderr?.on('data', (d: string) => { if (err.length < 65536) err += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`virsh list did not answer within ${timeoutMs} ms`)); }, timeoutMs);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(err.trim().replace(/^error: /gm, '') || `virsh list exited with status ${code}`));
      else resolve(out.split('\n').map((l) => l.trim()).filter(Boolean));
    });
  });
}
