// Owns the live QMP connections, one session per connection profile, side by side.
//
// A session connects (starting a sandbox QEMU first for sandbox profiles), fetches `query-qmp-schema` after
// every connect, hands the schema to its client and publishes it, and reconnects with growing delays when the
// monitor goes away. The last schema of every profile is cached on disk and loaded at start, so completion
// works before any connection. Nothing here renders anything: the status bar, the controllers and the
// language features listen to the events.
import * as vscode from 'vscode';
import type { LiveValues } from '../qmp/liveValues';
import { Kernel } from '../kernel/kernel';
import { formatVersion, type QemuVersion, type QmpPorts, type SessionClient, type SessionProcess } from './ports';
import type { QmpAddress, QmpEventRecord, Schema } from '../qmp';
import { ENDPOINTS, kindFromCommands, type EndpointKind } from '../endpoints/kinds';
import { guestAgentSchemaInfos, libvirtPermanentFailure, parseGuestInfo, QemuNotFoundError } from '../endpoints/index';
import { openEndpoint, type OpenedConnection, type OpenOptions } from '../kernel/open';
import type { Endpoint } from '../kernel/endpoint';
import { defaultSandboxName, isLaunchedProfile, profileAddress, profileEndpoint, readProfiles, sameProfile, type Profile } from './profiles';
import { SchemaCache } from './schemaCache';
import { requireTrust } from './trust';

export type SessionState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting' | 'error';

export interface SessionSchema {
  schema: Schema;
  version: QemuVersion | undefined;
  /** True when the schema came from the disk cache rather than from the connected QEMU. */
  cached: boolean;
}

/** A session event as the rest of the extension sees it. */
export interface SessionEvent {
  session: Session;
  event: QmpEventRecord;
}

/** The longest protocol line written to the log as is; the schema reply alone is 200 KiB. */
const maxTraceChars = 4000;
const firstReconnectDelayMs = 250;

/** What a profile connects to, as the one opener (src/kernel/open.ts) describes it. */
export function profileToEndpoint(p: Profile): Endpoint {
  switch (p.kind) {
    case 'unix': return { kind: 'unix', path: p.socket };
    case 'tcp': return { kind: 'tcp', host: p.host, port: p.port };
    case 'sandbox': return { kind: 'sandbox' };
    case 'storage-daemon': return { kind: 'storage-daemon' };
    case 'guest-agent': return { kind: 'guest-agent', target: p.address };
    case 'libvirt': return { kind: 'libvirt', domain: p.domain, ...(p.uri !== undefined ? { uri: p.uri } : {}) };
  }
}

/** Reads a setting with the default from package.json. */
function setting<T>(key: string, fallback: T): T {
  return vscode.workspace.getConfiguration('qmp').get<T>(key) ?? fallback;
}

/** The server timestamp of an event, as ISO 8601 with microseconds. */
export function eventTime(e: QmpEventRecord): string {
  const iso = new Date(e.timestamp.seconds * 1000).toISOString();
  return `${iso.slice(0, 19)}.${String(e.timestamp.microseconds).padStart(6, '0')}Z`;
}

/** What a session's QEMU is busy with (see Session.busy). */
export interface SessionBusy {
  command: string | undefined;
  /** In-band commands written and not answered (the oldest is `command`). */
  onWire: number;
  /** When the oldest was written (Date.now() ms). */
  since: number;
}

/** How long an in-band command goes unanswered before the session counts QEMU as busy (the status bar says so). */
export const BUSY_AFTER_MS = 1000;
/** More in-band commands than the client's window (7) never wait for replies at once; a few more are kept. */
const RECENT_IN_BAND = 32;

/**
 * What QEMU is busy with, from the client's backlog and the names of the in-band commands written last. QEMU
 * answers in-band commands in order, so the `onWire` unanswered ones are the last `onWire` written.
 */
export function busyOf(backlog: { onWire: number; oldestSentAt: number | undefined }, recent: readonly string[],
  now: number): SessionBusy | undefined {
  if (backlog.onWire <= 0 || backlog.oldestSentAt === undefined || now - backlog.oldestSentAt < BUSY_AFTER_MS) return undefined;
  return { command: recent[recent.length - backlog.onWire], onWire: backlog.onWire, since: backlog.oldestSentAt };
}

/** The endpoint kind each schema reveals, computed once per schema. */
const detectedKinds = new WeakMap<object, EndpointKind>();

export class Session {
  state: SessionState = 'disconnected';
  /** Why the last connection failed or ended, for the status bar and for failing cells. */
  lastError: string | undefined;
  client: SessionClient | undefined;
  sandbox: SessionProcess | undefined;
  address: QmpAddress | undefined;
  schema: SessionSchema | undefined;
  /** Increases with every established connection, so that a listener can tell a reconnect happened. */
  generation = 0;
  /** The number of reconnection attempts since the connection was lost. */
  reconnectAttempts = 0;
  /** @internal */ pendingConnect: Promise<void> | undefined;
  /** @internal */ abort: AbortController | undefined;
  /** @internal */ reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** @internal */ clientSubscriptions: { dispose(): void }[] = [];
  /** @internal */ closing = false;
  /** Settles when the last fetched schema is written to the cache. */
  cacheSaved: Promise<void> = Promise.resolve();
  /**
   * The live values of the connection (block nodes, device ids, jobs…; docs/live-values.md): fetched on
   * demand, invalidated by events and by the commands that change them. Undefined while not connected.
   */
  live: LiveValues | undefined;
  /**
   * QEMU's in-band queue as the client sees it, while it is wedged: `queued` commands wait in the client
   * because `onWire` earlier ones are unanswered. Undefined while QEMU keeps up.
   */
  wedged: { onWire: number; queued: number; oldestSentAt: number | undefined } | undefined;
  /**
   * QEMU is working on an in-band command for more than BUSY_AFTER_MS (a blocked main loop, a slow command, or
   * one whose cell was interrupted: its reply is still due, and QEMU answers in-band commands in order).
   * `command`: the oldest unanswered one; `since`: when it was written (Date.now() ms). Checked once a second
   * while anything in-band is unanswered; undefined otherwise.
   */
  busy: SessionBusy | undefined;
  /** @internal The names of the last in-band commands written, oldest first (bounded): who QEMU is busy with. */
  recentInBand: string[] = [];
  /** @internal */ busyTimer: ReturnType<typeof setInterval> | undefined;
  /** Settles when the device types of the current connection were fetched (or failed to be). */
  deviceTypesLoaded: Promise<void> = Promise.resolve();

  /**
   * The device types this QEMU can create (`qom-list-types` with `implements: device`, `abstract: false`),
   * sorted; listed once per connection in the background, undefined until then. Completion offers them for
   * device_add's `driver`, which the schema only knows as a string.
   */
  get deviceTypes(): readonly string[] | undefined {
    const snap = this.live?.peek('device-type');
    return snap === undefined ? undefined : snap.items.map((i) => i.value).sort();
  }

  /**
   * The kernel of the session (src/kernel): its one engine, shared by every notebook that runs on this
   * session (so each event is attributed once, and a notebook queues behind another's command as QEMU
   * queues it), its schema and its live values. It runs on the connected client and never connects by itself.
   */
  readonly kernel: Kernel;

  constructor(public profile: Profile) {
    this.kernel = new Kernel({
      client: () => {
        const c = this.liveClient;
        if (!c) throw new Error(`"${this.name}" is not connected.`);
        return c;
      },
      kind: () => this.endpoint,
      engine: { commandTimeoutMs: () => setting<number>('commandTimeoutMs', 0) },
    });
  }

  get name(): string {
    return this.profile.name;
  }

  get version(): QemuVersion | undefined {
    return this.client?.version ?? this.schema?.version;
  }

  get oobEnabled(): boolean | undefined {
    return this.state === 'connected' ? this.client?.oobEnabled : undefined;
  }

  /** The connected client, or undefined while there is none. */
  get liveClient(): SessionClient | undefined {
    return this.state === 'connected' ? this.client : undefined;
  }

  /** What is at the other end: from the profile, or for a plain socket from its schema (a storage daemon has no query-status). */
  get endpoint(): EndpointKind {
    const kind = profileEndpoint(this.profile);
    if (kind !== 'qemu' || !this.schema) return kind;
    const schema = this.schema.schema;
    let found = detectedKinds.get(schema);
    if (!found) {
      found = kindFromCommands(schema.commands().map((c) => c.name));
      detectedKinds.set(schema, found);
    }
    return found;
  }

  describeState(): string {
    switch (this.state) {
      case 'disconnected': return 'disconnected';
      case 'connecting': return 'connecting';
      case 'connected': return `connected to ${ENDPOINTS[this.endpoint].label}${this.version ? ` ${formatVersion(this.version)}` : ''}`;
      // Attempts count from 1: before the first one the session is only waiting to retry.
      case 'reconnecting': return this.reconnectAttempts > 0 ? `reconnecting (attempt ${this.reconnectAttempts})` : 'reconnecting';
      case 'error': return `error: ${this.lastError ?? 'unknown'}`;
    }
  }
}

export class SessionManager implements vscode.Disposable {
  private readonly byName = new Map<string, Session>();
  private profileList: Profile[] = [];
  private readonly cache: SchemaCache;
  private readonly disposables: vscode.Disposable[] = [];

  private readonly stateEmitter = new vscode.EventEmitter<Session>();
  private readonly schemaEmitter = new vscode.EventEmitter<Session>();
  private readonly eventEmitter = new vscode.EventEmitter<SessionEvent>();
  private readonly profilesEmitter = new vscode.EventEmitter<void>();
  private readonly traceEmitter = new vscode.EventEmitter<{ session: Session; dir: '->' | '<-'; text: string }>();
  private readonly wedgedEmitter = new vscode.EventEmitter<Session>();
  /**
   * Fires when a session's in-band queue becomes wedged, changes while wedged, or drains, and once a second while
   * QEMU is busy (Session.busy: the status bar shows for how long).
   */
  readonly onDidChangeWedged = this.wedgedEmitter.event;
  /** Fires whenever a session's state (or its error, version or OOB flag) changes. */
  readonly onDidChangeState = this.stateEmitter.event;
  /** Fires when a session's schema changes: loaded from cache, fetched after connect, or reloaded. */
  readonly onDidChangeSchema = this.schemaEmitter.event;
  /** Every QMP event of every session. */
  readonly onEvent = this.eventEmitter.event;
  /** Fires when the profile list changes (settings). */
  readonly onDidChangeProfiles = this.profilesEmitter.event;
  /** Every protocol message, as the trace log shows it (untruncated); for tests. */
  readonly onDidTrace = this.traceEmitter.event;
  /** Resolves when the cached schemas known at start are loaded. */
  readonly cacheLoaded: Promise<void>;
  /**
   * Asked before a libvirt session connects (its schema fetch is the first passthrough, which taints the
   * domain); false stops the connection. Set by the extension (a modal, remembered per domain).
   */
  confirmLibvirt: ((profile: Extract<Profile, { kind: 'libvirt' }>) => Promise<boolean>) | undefined;

  constructor(
    private readonly ports: QmpPorts,
    globalStorage: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
    private readonly events: vscode.OutputChannel,
  ) {
    this.cache = new SchemaCache(globalStorage);
    this.disposables.push(this.stateEmitter, this.schemaEmitter, this.eventEmitter, this.profilesEmitter, this.traceEmitter, this.wedgedEmitter);
    this.applyProfiles();
    this.cacheLoaded = this.loadCachedSchemas(this.profileList.map((p) => p.name));
    this.disposables.push(vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('qmp.connections')) this.applyProfiles();
    }));
  }

  /** Every profile: the configured ones and the built-in sandbox. */
  get profiles(): readonly Profile[] {
    return this.profileList;
  }

  profile(name: string): Profile | undefined {
    return this.profileList.find((p) => p.name === name);
  }

  /** The session of a profile (created on first use; it may be disconnected). */
  session(name: string): Session | undefined {
    const profile = this.profile(name);
    if (!profile) return undefined;
    let s = this.byName.get(name);
    if (!s) {
      s = new Session(profile);
      this.byName.set(name, s);
    }
    return s;
  }

  /** Every session that is not disconnected. */
  activeSessions(): Session[] {
    return [...this.byName.values()].filter((s) => s.state !== 'disconnected');
  }

  allSessions(): Session[] {
    return [...this.byName.values()];
  }

  private applyProfiles(): void {
    const { profiles, problems } = readProfiles();
    for (const p of problems) this.log.warn(p);
    const before = this.profileList;
    this.profileList = profiles;
    for (const [name, s] of this.byName) {
      const now = profiles.find((p) => p.name === name);
      if (!now || !sameProfile(now, s.profile)) {
        // A profile that was removed or now points elsewhere must not keep talking to the old monitor.
        void this.disconnect(name).finally(() => {
          if (now) s.profile = now;
          else {
            this.byName.delete(name);
            s.kernel.dispose();
          }
        });
      }
    }
    const added = profiles.filter((p) => !before.some((b) => b.name === p.name)).map((p) => p.name);
    if (before.length > 0 && added.length > 0) void this.loadCachedSchemas(added);
    this.profilesEmitter.fire();
  }

  private async loadCachedSchemas(names: string[]): Promise<void> {
    await Promise.all(names.map(async (name) => {
      const cached = await this.cache.load(name);
      const s = this.session(name);
      if (!cached || !s || s.schema) return;
      try {
        s.schema = { schema: this.ports.schemaFromIntrospection(cached.schema, cached.version), version: cached.version, cached: true };
        this.log.info(`[${name}] loaded the cached schema of QEMU ${formatVersion(cached.version)} (${cached.savedAt})`);
        this.schemaEmitter.fire(s);
      } catch (err) {
        this.log.warn(`[${name}] the cached schema could not be read: ${String(err)}`);
      }
    }));
  }

  private setState(s: Session, state: SessionState, error?: string): void {
    s.state = state;
    s.lastError = error;
    // A failure is an error in the log (its level is what a user filters on); a lost connection that will be
    // retried is a warning.
    const line = `[${s.name}] ${s.describeState()}`;
    if (state === 'error') this.log.error(line);
    else if (state === 'reconnecting') this.log.warn(error ? `${line}: ${error}` : line);
    else this.log.info(line);
    this.stateEmitter.fire(s);
    if (state !== 'connected' && s.schema && !s.schema.cached) {
      // Without a connection the last schema is only a memory of that QEMU: hovers and diagnostics say so.
      s.schema = { ...s.schema, cached: true };
      this.schemaEmitter.fire(s);
    }
  }

  /**
   * Connects a profile and resolves once it is connected and its schema is loaded. Joins a connect already
   * in progress. Throws UntrustedWorkspaceError in an untrusted workspace, and the connection error (with
   * the session left in state 'error') when it fails.
   */
  async connect(name: string): Promise<Session> {
    requireTrust('Connecting to QEMU');
    const s = this.session(name);
    if (!s) throw new Error(`There is no connection profile named "${name}". Add it to the qmp.connections setting.`);
    if (s.state === 'connected') return s;
    if (s.pendingConnect) {
      await s.pendingConnect;
      return s;
    }
    this.clearReconnect(s);
    // A connect asked for while reconnecting (a cell run, the status bar) tries at once; if it fails the
    // reconnection goes on rather than giving up.
    const wasReconnecting = s.state === 'reconnecting';
    if (!wasReconnecting) s.reconnectAttempts = 0;
    this.setState(s, 'connecting');
    s.pendingConnect = this.establish(s).finally(() => { s.pendingConnect = undefined; });
    try {
      await s.pendingConnect;
    } catch (err) {
      if (s.state === 'connecting' && !s.closing) {
        if (wasReconnecting && !libvirtPermanentFailure(err)) {
          this.setState(s, 'reconnecting', errorText(err));
          this.scheduleReconnect(s);
        } else {
          this.setState(s, 'error', errorText(err));
        }
      }
      throw err;
    }
    return s;
  }

  /**
   * One connection attempt: opened by the one opener of every door (src/kernel/open.ts `openEndpoint`: the
   * private process a sandbox or storage daemon needs, the client of the endpoint's dialect, the connection),
   * then the libvirt confirmation, the schema and the live values. Reconnecting is another attempt.
   */
  private async establish(s: Session): Promise<void> {
    const abort = new AbortController();
    s.abort = abort;
    s.closing = false;
    try {
      const profile = s.profile;
      if (profile.kind === 'libvirt' || profile.kind === 'guest-agent') requireTrust('Connecting');
      let opened: OpenedConnection;
      try {
        opened = await openEndpoint(profileToEndpoint(profile), {
          ...(isLaunchedProfile(profile) ? this.launchOptions(s, profile) : {}),
          signal: abort.signal,
          client: {
            enableOob: setting<boolean>('enableOob', true),
            trace: (dir, text) => this.trace(s, dir, text),
            log: (level, message) => this.log[level](`[${s.name}] ${message}`),
          },
        });
      } catch (err) {
        // The sandbox's own advice names the editor's setting (the opener's names the command line's option).
        if (err instanceof Error && err.cause instanceof QemuNotFoundError) throw err.cause;
        if (abort.signal.aborted) throw new Error('The connection was cancelled.', { cause: err });
        throw err;
      }
      const client = opened.client;
      s.sandbox = opened.process;
      s.address = opened.process?.address ?? profileAddress(profile);
      if (opened.process) this.log.info(`[${s.name}] ${profile.kind === 'storage-daemon' ? 'qemu-storage-daemon' : 'sandbox QEMU'} running, pid ${opened.process.pid}`);
      s.client = client;
      s.clientSubscriptions.push(client.onEvent((event) => this.forwardEvent(s, event)));
      s.clientSubscriptions.push(client.onBacklogChange((b) => this.backlogChanged(s, b)));
      s.clientSubscriptions.push(client.onDisconnect((err) => this.onLost(s, client, err)));
      // Asked once the domain is known to exist and run (connect only ran `virsh domstate`, which does not
      // taint it) and before the schema fetch, the first passthrough.
      if (profile.kind === 'libvirt' && this.confirmLibvirt && !(await this.confirmLibvirt(profile))) {
        throw new Error(`Not connected: libvirt would mark the domain "${profile.domain}" as tainted (custom-monitor), and that was declined.`);
      }
      if (s.client !== client || abort.signal.aborted) throw new Error(s.lastError ?? 'The connection was cancelled.');
      s.generation++;
      s.reconnectAttempts = 0;
      await this.fetchSchema(s, client);
      if (s.client !== client) throw new Error(s.lastError ?? 'The connection was lost while loading the schema.');
      // The kernel's live values follow this client (events are noted by forwardEvent, commands by trace).
      s.kernel.attach(client, false);
      s.live = s.kernel.live;
      s.deviceTypesLoaded = this.fetchDeviceTypes(s, client);
      this.setState(s, 'connected');
    } catch (err) {
      this.dropClient(s);
      if (isLaunchedProfile(s.profile)) await this.stopSandboxProcess(s);
      throw err;
    } finally {
      if (s.abort === abort) s.abort = undefined;
    }
  }

  /**
   * Fetches `query-qmp-schema`, gives it to the client and publishes it. A failure is logged and leaves the
   * session usable without schema checks.
   */
  private async fetchSchema(s: Session, client: SessionClient): Promise<void> {
    try {
      // The guest agent has no schema: its command list (guest-info) stands in for one.
      const reply = s.profile.kind === 'guest-agent'
        ? guestAgentSchemaInfos(parseGuestInfo(await client.execute('guest-info', undefined, { timeoutMs: 30_000 })).commands)
        : await client.execute('query-qmp-schema', undefined, { timeoutMs: 30_000 });
      if (!Array.isArray(reply)) throw new Error('query-qmp-schema did not return an array');
      const version = client.version;
      const schema = this.ports.schemaFromIntrospection(reply, version);
      client.setSchema(schema);
      s.kernel.useSchema(schema);
      s.schema = { schema, version, cached: false };
      this.log.info(`[${s.name}] schema loaded: ${reply.length} entities from ${ENDPOINTS[s.endpoint].label} ${formatVersion(version)}`);
      this.schemaEmitter.fire(s);
      s.cacheSaved = this.cache.save(s.name, version, reply).catch((err: unknown) => {
        this.log.warn(`[${s.name}] the schema could not be cached: ${errorText(err)}`);
      });
    } catch (err) {
      this.log.error(`[${s.name}] could not load the schema: ${errorText(err)}`);
    }
  }

  /** The live values of a new connection: its queries go out as ordinary in-band commands on `client`. */
  /** Lists the device types of the connected QEMU once; a failure leaves completion without them. */
  private async fetchDeviceTypes(s: Session, client: SessionClient): Promise<void> {
    const snap = await s.live?.get('device-type');
    if (s.client !== client || snap === undefined) return;
    if (snap.reason !== undefined) this.log.warn(`[${s.name}] could not list the device types: ${snap.reason}`);
    else this.log.info(`[${s.name}] ${snap.items.length} device types listed for completion`);
    this.schemaEmitter.fire(s);
  }

  /** Where the schema of a profile is cached (for tests and for the log). */
  schemaCacheFile(name: string): vscode.Uri {
    return this.cache.fileFor(name);
  }

  /** Fetches the schema again from the connected QEMU. */
  async reloadSchema(name: string): Promise<void> {
    const s = this.byName.get(name);
    const client = s?.liveClient;
    if (!s || !client) throw new Error(`"${name}" is not connected.`);
    await this.fetchSchema(s, client);
  }

  private trace(s: Session, dir: '->' | '<-', text: string): void {
    // A command that creates or removes objects makes the cached live values of its kinds stale. QEMU runs
    // in-band commands in order, so values listed after this point see its effect.
    if (dir === '->') {
      const m = /"(execute|exec-oob)"\s*:\s*"([^"\\]+)"/.exec(text.length > 200 ? text.slice(0, 200) : text);
      if (m?.[2] !== undefined) {
        s.live?.noteCommand(m[2]);
        if (m[1] === 'execute') this.noteInBand(s, m[2]);
      }
    }
    const shown = text.length > maxTraceChars
      ? `${text.slice(0, maxTraceChars)} … (${text.length} characters)` : text;
    this.log.trace(`[${s.name}] ${dir} ${shown}`);
    this.traceEmitter.fire({ session: s, dir, text });
  }

  /** An in-band command went on the wire: remember its name, and check once a second whether QEMU is busy with it. */
  private noteInBand(s: Session, command: string): void {
    s.recentInBand.push(command);
    if (s.recentInBand.length > RECENT_IN_BAND) s.recentInBand.splice(0, s.recentInBand.length - RECENT_IN_BAND);
    if (s.busyTimer === undefined) {
      s.busyTimer = setInterval(() => this.checkBusy(s), 1000);
      s.busyTimer.unref?.();
    }
  }

  /** Once a second while in-band commands are unanswered: sets Session.busy and tells the status bar (1 Hz at most). */
  private checkBusy(s: Session): void {
    const client = s.state === 'connected' ? s.client : undefined;
    const backlog = client?.inBandBacklog();
    const busy = backlog === undefined ? undefined : busyOf(backlog, s.recentInBand, Date.now());
    if (backlog === undefined || backlog.onWire === 0) this.stopBusyCheck(s);
    if (busy === undefined && s.busy === undefined) return;
    if (busy && !s.busy) this.log.info(`[${s.name}] QEMU is busy: ${busy.command ?? 'an in-band command'} unanswered for ${Math.round((Date.now() - busy.since) / 1000)} s`);
    s.busy = busy;
    this.wedgedEmitter.fire(s);
  }

  private stopBusyCheck(s: Session): void {
    if (s.busyTimer !== undefined) clearInterval(s.busyTimer);
    s.busyTimer = undefined;
  }

  /**
   * The client's in-band window is full and commands wait in the client, never sent: QEMU has not answered
   * the earlier ones (a blocked main loop). Said in the status bar, with a way out (reconnect).
   */
  private backlogChanged(s: Session, b: { onWire: number; queued: number; oldestSentAt: number | undefined }): void {
    const wedged = b.queued > 0 ? { ...b } : undefined;
    if (wedged === undefined && s.wedged === undefined) return;
    if (wedged && s.wedged && wedged.onWire === s.wedged.onWire && wedged.queued === s.wedged.queued) return;
    if (wedged && !s.wedged) {
      this.log.warn(`[${s.name}] QEMU has not answered ${b.onWire} in-band commands; ${b.queued} more wait in the client, unsent`);
    }
    s.wedged = wedged;
    this.wedgedEmitter.fire(s);
  }

  private forwardEvent(s: Session, event: QmpEventRecord): void {
    s.live?.noteEvent(event.event);
    const data = event.data === undefined ? '' : ` ${JSON.stringify(event.data)}`;
    this.events.appendLine(`${eventTime(event)} [${s.name}] ${event.event}${data}`);
    this.eventEmitter.fire({ session: s, event });
  }

  /** The monitor went away without being asked to. */
  /**
   * A libvirt domain that was destroyed, undefined or shut off does not come back by retrying: the session
   * ends in the error state saying so (the status bar offers Retry). libvirtd restarting is retried as any
   * lost monitor. Returns whether the session ended.
   */
  private endedForGood(s: Session, err: unknown): boolean {
    const permanent = libvirtPermanentFailure(err);
    if (!permanent) return false;
    this.setState(s, 'error', `${permanent.message}. Not reconnecting; retry from the status bar.`);
    return true;
  }

  private onLost(s: Session, client: SessionClient, err?: Error): void {
    if (s.client !== client || s.closing) return;
    const reason = err ? errorText(err) : 'the monitor closed the connection';
    this.dropClient(s);
    if (s.pendingConnect) return; // establish() sees the client gone and reports it.
    if (isLaunchedProfile(s.profile)) {
      // Our own QEMU (or storage daemon) went away: restarting it silently would hide the crash, so the user
      // restarts it. When the process died, say how (a signal, an exit status, its last stderr line).
      const launched = s.sandbox;
      const what = s.profile.kind === 'sandbox' ? 'The sandbox QEMU' : 'The storage daemon';
      this.setState(s, 'error', `${what} went away: ${reason}.`);
      void (async () => {
        if (launched) {
          await Promise.race([launched.exited, new Promise((r) => setTimeout(r, 1000))]);
          const died = launched.describeExit();
          if (died && s.state === 'error' && !s.client) this.setState(s, 'error', `${died}.`);
        }
        await this.stopSandboxProcess(s);
      })();
      return;
    }
    if (this.endedForGood(s, err)) return;
    if (!setting<boolean>('reconnect.enabled', true)) {
      this.setState(s, 'error', `QEMU went away: ${reason}.`);
      return;
    }
    s.reconnectAttempts = 0;
    this.setState(s, 'reconnecting', `QEMU went away: ${reason}.`);
    this.scheduleReconnect(s);
  }

  private scheduleReconnect(s: Session): void {
    const maxDelay = Math.max(100, setting<number>('reconnect.maxDelayMs', 30_000));
    const delay = Math.min(maxDelay, firstReconnectDelayMs * 2 ** Math.min(s.reconnectAttempts, 20));
    s.reconnectTimer = setTimeout(() => {
      s.reconnectTimer = undefined;
      void this.reconnectOnce(s);
    }, delay);
  }

  private async reconnectOnce(s: Session): Promise<void> {
    if (s.state !== 'reconnecting' || !vscode.workspace.isTrusted) return;
    s.reconnectAttempts++;
    // establish() resets the count once connected, so the attempt that succeeded is remembered here.
    const attempt = s.reconnectAttempts;
    const previousError = s.lastError;
    this.log.info(`[${s.name}] reconnection attempt ${attempt}`);
    this.stateEmitter.fire(s);
    s.pendingConnect = this.establish(s).finally(() => { s.pendingConnect = undefined; });
    try {
      await s.pendingConnect;
      this.log.info(`[${s.name}] reconnected after ${attempt} attempt${attempt === 1 ? '' : 's'}`);
    } catch (err) {
      if (s.state !== 'reconnecting' || s.closing) return; // The user disconnected meanwhile.
      this.log.error(`[${s.name}] reconnection attempt ${attempt} failed: ${errorText(err)}`);
      if (this.endedForGood(s, err)) return;
      s.lastError = previousError;
      this.scheduleReconnect(s);
    }
  }

  private clearReconnect(s: Session): void {
    if (s.reconnectTimer) clearTimeout(s.reconnectTimer);
    s.reconnectTimer = undefined;
  }

  private dropClient(s: Session): void {
    for (const d of s.clientSubscriptions.splice(0)) d.dispose();
    const client = s.client;
    s.client = undefined;
    s.live = undefined;
    this.stopBusyCheck(s);
    s.recentInBand = [];
    s.kernel.detach();
    if (s.wedged || s.busy) {
      s.wedged = undefined;
      s.busy = undefined;
      this.wedgedEmitter.fire(s);
    }
    if (client) void client.disconnect().catch(() => undefined);
  }

  /** The options of the process behind a sandbox or storage-daemon profile (trusted workspaces only). */
  private launchOptions(s: Session, profile: Extract<Profile, { kind: 'sandbox' | 'storage-daemon' }>): OpenOptions {
    const daemon = profile.kind === 'storage-daemon';
    requireTrust(daemon ? 'Starting a qemu-storage-daemon' : 'Starting a sandbox QEMU');
    const binary = setting<string>(daemon ? 'storageDaemon.path' : 'sandbox.qemuPath', '').trim();
    const extraArgs = daemon ? [] : setting<string[]>('sandbox.extraArgs', []);
    const what = daemon ? 'qemu-storage-daemon' : 'sandbox QEMU';
    this.log.info(`[${s.name}] starting the ${what}${binary ? ` (${binary})` : ''}${extraArgs.length ? ` with ${JSON.stringify(extraArgs)}` : ''}`);
    return daemon ? { ...(binary ? { storageDaemonBinary: binary } : {}) } : { ...(binary ? { qemuBinary: binary } : {}), sandboxArgs: extraArgs };
  }

  private async stopSandboxProcess(s: Session): Promise<void> {
    const sandbox = s.sandbox;
    s.sandbox = undefined;
    if (!sandbox) return;
    try {
      await sandbox.dispose();
      this.log.info(`[${s.name}] sandbox QEMU stopped`);
    } catch (err) {
      this.log.warn(`[${s.name}] stopping the sandbox QEMU failed: ${errorText(err)}`);
    }
  }

  /** Disconnects a profile: cancels a connect or reconnect in progress and stops its sandbox QEMU. */
  async disconnect(name: string): Promise<void> {
    const s = this.byName.get(name);
    if (!s) return;
    this.clearReconnect(s);
    s.closing = true;
    s.abort?.abort();
    const client = s.client;
    for (const d of s.clientSubscriptions.splice(0)) d.dispose();
    s.client = undefined;
    this.stopBusyCheck(s);
    s.recentInBand = [];
    s.busy = undefined;
    if (client) {
      try {
        await client.disconnect();
      } catch (err) {
        this.log.debug(`[${s.name}] disconnect: ${errorText(err)}`);
      }
    }
    await s.pendingConnect?.catch(() => undefined);
    await this.stopSandboxProcess(s);
    if (s.state !== 'disconnected') this.setState(s, 'disconnected');
  }

  /** The default sandbox profile, or the first sandbox profile when the user redefined "sandbox". */
  sandboxProfileName(): string | undefined {
    const named = this.profile(defaultSandboxName);
    if (named?.kind === 'sandbox') return named.name;
    return this.profileList.find((p) => p.kind === 'sandbox')?.name;
  }

  async disposeAsync(): Promise<void> {
    await Promise.all([...this.byName.keys()].map((n) => this.disconnect(n)));
  }

  dispose(): void {
    void this.disposeAsync();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
