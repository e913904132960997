// The live values of a session: which block nodes, devices, jobs, chardevs… the connected QEMU holds now,
// fetched on demand with ordinary in-band queries and kept in a short cache.
//
// Rules, in the order they apply:
// - A value is fetched when asked for and not cached, or cached longer than `ttlMs` ago, or invalidated by an
//   event (liveRefs.invalidatingEvents) or by a command that creates or removes one (noteCommand).
// - Never while the user's own in-band command is outstanding: a query would queue behind it in QEMU and
//   wait as long as it does. Then the cached values are returned marked `stale` (or none, marked stale).
// - Every fetch has a time limit (`timeoutMs`); a failed or late fetch leaves the old values, marked stale,
//   with the reason.
// - Memory is bounded: at most `maxItems` values per query and `maxEntries` cached queries (least recently
//   used out first; qom paths are cached per parent path).
// Concurrent asks for the same query share one fetch.
import type { LiveKind } from './liveRefs';
import { invalidatingEvents, kindsChangedBy } from './liveRefs';

/** One live value, with what completion and hover show about it. */
export interface LiveItem {
  readonly value: string;
  /** A short line: a node's driver, a device's type, a job's status. */
  readonly detail?: string;
}

export interface LiveSnapshot {
  readonly kind: LiveKind;
  readonly items: readonly LiveItem[];
  /** True when the values may be out of date (fetch skipped because QEMU is busy, or it failed). */
  readonly stale: boolean;
  /** False for kinds no query lists (netdevs): then an unknown value proves nothing. */
  readonly listable: boolean;
  /** Why the values are stale, for the user. */
  readonly reason?: string;
}

/** What the live values need of a session. QmpClient satisfies it through a small adapter. */
export interface LivePort {
  /** Runs an ordinary in-band command and resolves with its `return`; rejects on any error or timeout. */
  execute(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<unknown>;
  /** True while a command the user sent in-band has not been answered. */
  inBandBusy(): boolean;
  /** Whether the server has the command (from the schema); absent means assume yes. */
  hasCommand?(name: string): boolean;
}

export interface LiveValuesOptions {
  ttlMs?: number;
  timeoutMs?: number;
  maxItems?: number;
  maxEntries?: number;
  now?: () => number;
}

interface Query {
  command: string;
  args?: Record<string, unknown>;
}

interface Source {
  query(scope: string | undefined): Query | undefined;
  extract(result: unknown, scope: string | undefined): LiveItem[];
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const list = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter(isObj) : []);

function item(value: unknown, ...details: unknown[]): LiveItem | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const detail = details.filter((d) => typeof d === 'string' && d !== '').join(' ');
  return detail ? { value, detail } : { value };
}

function items(rows: Record<string, unknown>[], pick: (r: Record<string, unknown>) => LiveItem | undefined): LiveItem[] {
  const out: LiveItem[] = [];
  for (const r of rows) {
    const it = pick(r);
    if (it) out.push(it);
  }
  return out;
}

/** `child<usb-kbd>` → `usb-kbd`; other QOM property types as they are. */
function qomChildType(type: unknown): string | undefined {
  const t = str(type);
  if (t === undefined) return undefined;
  const m = /^(?:child|link)<(.*)>$/.exec(t);
  return m ? m[1] : t;
}

/** The parent of a QOM path typed so far: `/machine/per` → `/machine`, `/machine/` → `/machine`. */
export function qomParent(typed: string): string {
  const i = typed.lastIndexOf('/');
  if (i <= 0) return '/';
  return typed.slice(0, i);
}

const namedNodes: Query = { command: 'query-named-block-nodes', args: { flat: true } };

/** How each kind is listed. Kinds sharing a query share its cache entry. */
export const liveSources: Readonly<Record<LiveKind, Source | undefined>> = {
  'block-node': {
    query: () => namedNodes,
    extract: (r) => items(list(r), (n) => item(n['node-name'], n['drv'], str(n['file']))),
  },
  'dirty-bitmap': {
    query: () => namedNodes,
    extract: (r, node) =>
      list(r).filter((n) => n['node-name'] === node)
        .flatMap((n) => items(list(n['dirty-bitmaps']), (b) => item(b['name'], `granularity ${String(b['granularity'])}`,
          b['recording'] === false ? 'disabled' : ''))),
  },
  'block-backend': {
    query: () => ({ command: 'query-block' }),
    extract: (r) => items(list(r), (b) => {
      const inserted = isObj(b['inserted']) ? b['inserted'] : undefined;
      return item(b['device'], inserted ? str(inserted['node-name']) : 'no medium', str(b['qdev']));
    }),
  },
  'qdev-id': {
    query: () => ({ command: 'qom-list', args: { path: '/machine/peripheral' } }),
    extract: (r) => items(list(r), (p) => (str(p['type'])?.startsWith('child<') ? item(p['name'], qomChildType(p['type'])) : undefined)),
  },
  'object-id': {
    query: () => ({ command: 'qom-list', args: { path: '/objects' } }),
    extract: (r) => items(list(r), (p) => (str(p['type'])?.startsWith('child<') ? item(p['name'], qomChildType(p['type'])) : undefined)),
  },
  'qom-path': {
    query: (typed) => ({ command: 'qom-list', args: { path: qomParent(typed ?? '/') } }),
    extract: (r, typed) => {
      const parent = qomParent(typed ?? '/');
      const prefix = parent === '/' ? '/' : `${parent}/`;
      return items(list(r), (p) => (/^(child|link)</.test(str(p['type']) ?? '') ? item(prefix + String(p['name']), qomChildType(p['type'])) : undefined));
    },
  },
  'qom-property': {
    query: (path) => (path ? { command: 'qom-list', args: { path } } : undefined),
    extract: (r) => items(list(r), (p) => item(p['name'], str(p['type']))),
  },
  job: {
    query: () => ({ command: 'query-jobs' }),
    extract: (r) => items(list(r), (j) => item(j['id'], str(j['type']), str(j['status']))),
  },
  'block-job': {
    query: () => ({ command: 'query-block-jobs' }),
    extract: (r) => items(list(r), (j) => item(j['device'], str(j['type']), str(j['status']))),
  },
  chardev: {
    query: () => ({ command: 'query-chardev' }),
    extract: (r) => items(list(r), (c) => item(c['label'], str(c['filename']))),
  },
  netdev: undefined,
  'block-export': {
    query: () => ({ command: 'query-block-exports' }),
    extract: (r) => items(list(r), (e) => item(e['id'], str(e['type']), `on ${String(e['node-name'])}`)),
  },
  'cpu-model': {
    query: () => ({ command: 'query-cpu-definitions' }),
    extract: (r) => items(list(r), (c) => item(c['name'], c['static'] === true ? 'static' : '',
      Array.isArray(c['unavailable-features']) && c['unavailable-features'].length ? 'unavailable here' : '')),
  },
  'device-type': {
    query: () => ({ command: 'qom-list-types', args: { implements: 'device', abstract: false } }),
    extract: (r) => items(list(r), (t) => item(t['name'], str(t['parent']) ? `a ${String(t['parent'])}` : '')),
  },
  'qom-type': {
    query: () => ({ command: 'qom-list-types', args: { abstract: false } }),
    extract: (r) => items(list(r), (t) => item(t['name'], str(t['parent']) ? `a ${String(t['parent'])}` : '')),
  },
  'device-property': {
    query: (driver) => (driver ? { command: 'device-list-properties', args: { typename: driver } } : undefined),
    extract: (r) => items(list(r), (p) => item(p['name'], str(p['type']), str(p['description']))),
  },
  iothread: {
    query: () => ({ command: 'query-iothreads' }),
    extract: (r) => items(list(r), (t) => item(t['id'], t['thread-id'] !== undefined ? `thread ${String(t['thread-id'])}` : '')),
  },
};

/** The query command behind each kind, for invalidation (kinds sharing a command are invalidated together). */
function commandOf(kind: LiveKind): string | undefined {
  return liveSources[kind]?.query('/')?.command;
}

interface Entry {
  at: number;
  result?: unknown;
  error?: string | undefined;
  inflight?: Promise<void> | undefined;
  invalid: boolean;
}

export class LiveValues {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly maxItems: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** How many queries went to QEMU: for tests and the bench. */
  fetches = 0;

  constructor(private readonly port: LivePort, options: LiveValuesOptions = {}) {
    this.ttlMs = options.ttlMs ?? 5000;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.maxItems = options.maxItems ?? 5000;
    this.maxEntries = options.maxEntries ?? 64;
    this.now = options.now ?? (() => Date.now());
  }

  /** The cached values of `kind`, without fetching: undefined when never fetched. For synchronous callers. */
  peek(kind: LiveKind, scope?: string): LiveSnapshot | undefined {
    const src = liveSources[kind];
    if (!src) return { kind, items: [], stale: false, listable: false };
    const q = src.query(scope);
    if (!q) return undefined;
    const e = this.entries.get(keyOf(q));
    if (!e || (e.result === undefined && e.error === undefined)) return undefined;
    return this.snapshot(kind, scope, e);
  }

  /**
   * The values of `kind` (within `scope`: the node of a bitmap, the path of a QOM property, the QOM path typed
   * so far), fetched when the cache cannot answer. Never rejects: failures come back as a stale snapshot.
   */
  async get(kind: LiveKind, scope?: string): Promise<LiveSnapshot> {
    const src = liveSources[kind];
    if (!src) return { kind, items: [], stale: false, listable: false };
    const q = src.query(scope);
    if (!q) return { kind, items: [], stale: true, listable: true, reason: 'nothing to list yet' };
    if (this.port.hasCommand && !this.port.hasCommand(q.command)) {
      return { kind, items: [], stale: false, listable: false, reason: `this server has no ${q.command}` };
    }
    const key = keyOf(q);
    let e = this.entries.get(key);
    const fresh = e !== undefined && !e.invalid && e.result !== undefined && this.now() - e.at < this.ttlMs;
    if (!fresh) {
      if (this.port.inBandBusy()) {
        const base = e ?? { at: 0, invalid: true };
        return { ...this.snapshot(kind, scope, base), stale: true, reason: 'QEMU is busy with an in-band command; these values may be stale' };
      }
      e = this.fetch(key, q);
      await e.inflight;
    } else {
      // Keep recently used entries at the end of the map (least recently used out first).
      this.entries.delete(key);
      this.entries.set(key, e as Entry);
    }
    return this.snapshot(kind, scope, this.entries.get(key) ?? (e as Entry));
  }

  /** Marks kinds stale (their next get fetches again). */
  invalidate(kinds: Iterable<LiveKind>): void {
    const commands = new Set<string>();
    for (const k of kinds) {
      const c = commandOf(k);
      if (c) commands.add(c);
    }
    for (const [key, e] of this.entries) if (commands.has(key.slice(0, key.indexOf('\0')))) e.invalid = true;
  }

  /** An event arrived on the session. */
  noteEvent(name: string): void {
    const kinds = invalidatingEvents[name];
    if (kinds) this.invalidate(kinds);
  }

  /** A command of the user's was answered (successfully or not: a failed one may have half-created things). */
  noteCommand(command: string): void {
    const kinds = kindsChangedBy(command);
    if (kinds.length) this.invalidate(kinds);
  }

  clear(): void {
    this.entries.clear();
  }

  /** Whether anything is cached (nothing to make stale otherwise: the runner's hot path skips noteCommand). */
  get cached(): boolean {
    return this.entries.size > 0;
  }

  private fetch(key: string, q: Query): Entry {
    const existing = this.entries.get(key);
    if (existing?.inflight) return existing;
    const e: Entry = existing ?? { at: 0, invalid: true };
    this.fetches++;
    e.inflight = this.port.execute(q.command, q.args, this.timeoutMs).then(
      (result) => {
        e.result = result;
        e.error = undefined;
        e.invalid = false;
        e.at = this.now();
      },
      (err: unknown) => {
        e.error = err instanceof Error ? err.message : String(err);
        e.at = this.now();
      },
    ).finally(() => {
      e.inflight = undefined;
    });
    this.entries.delete(key);
    this.entries.set(key, e);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return e;
  }

  private snapshot(kind: LiveKind, scope: string | undefined, e: Entry): LiveSnapshot {
    const src = liveSources[kind] as Source;
    let found: LiveItem[] = [];
    if (e.result !== undefined) {
      try {
        found = src.extract(e.result, scope);
      } catch {
        found = [];
      }
    }
    if (found.length > this.maxItems) found = found.slice(0, this.maxItems);
    const stale = e.invalid || e.error !== undefined;
    const reason = e.error !== undefined ? `listing failed: ${e.error}` : undefined;
    return { kind, items: found, stale, listable: true, ...(reason !== undefined ? { reason } : {}) };
  }
}

function keyOf(q: Query): string {
  return `${q.command}\0${q.args === undefined ? '' : JSON.stringify(q.args)}`;
}
