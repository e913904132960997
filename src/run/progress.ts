// Live progress of long work (block jobs, migrations) started or driven by a running cell. Pure: no vscode,
// no I/O of its own; the engine (engine.ts) owns one JobWatcher, hands it each command a cell got an ok reply
// to and every event, and tells it when a cell ends. The watcher turns what QEMU says into `job-progress` and
// `job-finished` transcript records (transcript.ts), which every door receives from the engine.
//
// What a job is. A command that starts one (`blockdev-mirror`, `drive-mirror`, `blockdev-backup`,
// `drive-backup`, `block-commit`, `block-stream`, `blockdev-create`, backup actions of a `transaction`), a
// command that drives one (`job-*`, `block-job-*`: the cell then follows the job it names), a
// JOB_STATUS_CHANGE `created` event given to the cell, or `migrate` (the migration, id `migration`). A block
// job's id is its `job-id`, else its `device` (QEMU's own default).
//
// Where progress comes from. JOB_STATUS_CHANGE and MIGRATION events (status at once), BLOCK_JOB_COMPLETED /
// BLOCK_JOB_CANCELLED / BLOCK_JOB_ERROR (final offset and length, error text), and polling `query-jobs` /
// `query-migrate` (current and total progress; QEMU's own counters, measured on 7.2 and 10.0). Polls go through
// the cell's client like any command, but are not the user's: they make no transcript records.
//
// The poll bound. At most `maxQueriesPerSecond` queries (default 4) per watcher, that is per engine, that is per
// connection, however many jobs and cells: one query-jobs answers for every block job. Polls are at least
// 1/maxQueriesPerSecond apart, the first one interval after a job is followed; one poll in flight at a time,
// each bounded by `pollTimeoutMs`. No timer runs while no job is live; a job stops being polled when it
// ends or when the cell that follows it ends (its `job-finished` then says `running`). A query QEMU does not
// have (a storage daemon has no query-migrate) is not asked again on that client; events still count. A poll
// QEMU did not answer in time is the last on that client: QEMU is stuck, and every further poll would take one
// more place of the in-band window the cells' commands need (its reply is still owed).
//
// Speed and remaining time: the progress made over the last `windowMs` of samples (QEMU moves its counters in
// steps, once per throttling slice, so one interval alone would swing between 0 and twice the speed).
import type { CommandInput, CommandReply } from '../qmp/messages';
import type { QmpEventRecord } from '../qmp/events';
import { CommandTimeoutError } from '../qmp/errors';

export type JobKind = 'block-job' | 'migration';

/** A job a cell follows: a block job by its id, or the migration. */
export interface JobRef {
  kind: JobKind;
  id: string;
}

/** The id the migration is known by (QEMU has one migration per VM). */
export const MIGRATION_ID = 'migration';

/** How a followed job ended for its cell. `running`: the cell ended first; the job goes on in QEMU. */
export type JobOutcome = 'concluded' | 'aborted' | 'running';

/** What is known of a job now: the body of a `job-progress` record. */
export interface JobView {
  job: string;
  kind: JobKind;
  /** QEMU's job type (`mirror`, `backup`, `commit`, `stream`, `create`), when known. */
  jobType?: string;
  /** QEMU's last status (`created`, `running`, `ready`, `concluded`, …; for a migration `active`, `completed`, …). */
  status: string;
  /** QEMU's progress counters (bytes for block jobs and migrations), when known. */
  current?: number;
  total?: number;
  /** floor(100 · current / total), when both are known. */
  percent?: number;
  /** Bytes per second over the last samples, when there are enough of them. */
  bytesPerSecond?: number;
  /** Milliseconds left at that speed. */
  etaMs?: number;
  /** QEMU's error text (a failed or stopped job). */
  error?: string;
}

/** The body of a `job-finished` record: the last view, how it ended, and for how long the cell followed it. */
export interface JobEnd extends JobView {
  outcome: JobOutcome;
  /** The job was cancelled (BLOCK_JOB_CANCELLED, migration `cancelled`). */
  cancelled?: boolean;
  ms: number;
}

export type JobReport = ({ type: 'job-progress' } & JobView) | ({ type: 'job-finished' } & JobEnd);

type Args = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
const obj = (v: unknown): Args | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Args : undefined);

/** Block-job starters: the id is `job-id`, else `device` (QEMU's default). */
const STARTERS = new Set(['blockdev-mirror', 'drive-mirror', 'blockdev-backup', 'drive-backup', 'block-commit', 'block-stream', 'blockdev-create']);
/** The events that say something about a job. */
const WATCHED_EVENTS = new Set(['JOB_STATUS_CHANGE', 'BLOCK_JOB_COMPLETED', 'BLOCK_JOB_CANCELLED', 'BLOCK_JOB_ERROR', 'MIGRATION']);
/** Commands that drive a job named by `id` (job-*) or `device` (block-job-*). */
const DRIVERS_BY_ID = new Set(['job-complete', 'job-finalize', 'job-resume', 'job-cancel', 'job-pause', 'block-job-finalize']);
const DRIVERS_BY_DEVICE = new Set(['block-job-complete', 'block-job-resume', 'block-job-cancel', 'block-job-pause', 'block-job-set-speed']);
/** Transaction actions that start a block job. */
const TRANSACTION_JOBS = new Set(['blockdev-backup', 'drive-backup']);

/** The jobs a command names, by its name and arguments (see the file comment). */
export function jobsOfCommand(name: string, args: unknown): JobRef[] {
  const a = obj(args) ?? {};
  if (name === 'migrate') return [{ kind: 'migration', id: MIGRATION_ID }];
  if (STARTERS.has(name)) {
    const id = str(a['job-id']) ?? (name === 'blockdev-create' ? undefined : str(a['device']));
    return id !== undefined ? [{ kind: 'block-job', id }] : [];
  }
  if (DRIVERS_BY_ID.has(name)) {
    const id = str(a['id']);
    return id !== undefined ? [{ kind: 'block-job', id }] : [];
  }
  if (DRIVERS_BY_DEVICE.has(name)) {
    const id = str(a['device']);
    return id !== undefined ? [{ kind: 'block-job', id }] : [];
  }
  if (name === 'transaction' && Array.isArray(a['actions'])) {
    const refs: JobRef[] = [];
    for (const action of a['actions'] as unknown[]) {
      const x = obj(action);
      const data = obj(x?.['data']);
      if (!x || !data || !TRANSACTION_JOBS.has(String(x['type']))) continue;
      const id = str(data['job-id']) ?? str(data['device']);
      if (id !== undefined) refs.push({ kind: 'block-job', id });
      if (refs.length >= MAX_JOBS) break;
    }
    return refs;
  }
  return [];
}

/** One job as `query-jobs` or `query-migrate` describes it. */
export interface JobSample {
  id: string;
  kind: JobKind;
  jobType?: string;
  status: string;
  current?: number;
  total?: number;
  /** A speed QEMU states itself (a migration's `mbps`), in bytes per second. */
  bytesPerSecond?: number;
  /** What is left, when QEMU states it (a migration's `ram.remaining`), in bytes. */
  remaining?: number;
  error?: string;
}

/** The block jobs of a `query-jobs` reply (its `return`); undefined when it is not one. */
export function samplesFromQueryJobs(value: unknown): JobSample[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: JobSample[] = [];
  for (const item of value as unknown[]) {
    const j = obj(item);
    const id = str(j?.['id']);
    const status = str(j?.['status']);
    if (!j || id === undefined || status === undefined) continue;
    const s: JobSample = { id, kind: 'block-job', status };
    const type = str(j['type']);
    const current = num(j['current-progress']);
    const total = num(j['total-progress']);
    const error = str(j['error']);
    if (type !== undefined) s.jobType = type;
    if (current !== undefined) s.current = current;
    if (total !== undefined) s.total = total;
    if (error !== undefined) s.error = error;
    out.push(s);
  }
  return out;
}

/**
 * The migration of a `query-migrate` reply (its `return`): undefined when there has been none (`{}`) or it is
 * not one. Progress is RAM: `total − remaining` of `total` (remaining can grow again as the guest dirties pages).
 */
export function sampleFromQueryMigrate(value: unknown): JobSample | undefined {
  const m = obj(value);
  const status = str(m?.['status']);
  if (!m || status === undefined) return undefined;
  const s: JobSample = { id: MIGRATION_ID, kind: 'migration', status, jobType: 'migration' };
  const ram = obj(m['ram']);
  const total = num(ram?.['total']);
  const remaining = num(ram?.['remaining']);
  if (total !== undefined && total > 0) {
    s.total = total;
    if (status === 'completed') s.current = total;
    else if (remaining !== undefined) { s.current = Math.max(0, total - remaining); s.remaining = remaining; }
  }
  const mbps = typeof ram?.['mbps'] === 'number' ? ram['mbps'] as number : undefined;
  if (mbps !== undefined && Number.isFinite(mbps) && mbps > 0) s.bytesPerSecond = Math.round(mbps * 1e6 / 8);
  const error = str(m['error-desc']);
  if (error !== undefined) s.error = error;
  return s;
}

/** Whether a status is an end: QEMU's job ended (`concluded`, `null`), or the migration did. */
export function isFinalStatus(kind: JobKind, status: string): boolean {
  return kind === 'block-job' ? status === 'concluded' || status === 'null' : status === 'completed' || status === 'failed' || status === 'cancelled';
}

/** floor(100 · current / total), clamped to 0..100; undefined without a positive total. */
export function percentOf(current: number | undefined, total: number | undefined): number | undefined {
  if (current === undefined || total === undefined || total <= 0) return undefined;
  return Math.max(0, Math.min(100, Math.floor((100 * current) / total)));
}

/** The samples kept per job for the speed (bounded, whatever the poll rate). */
const MAX_SAMPLES = 64;

/**
 * Speed and time left from progress samples: the progress over the last `windowMs` (at least `minSpanMs` of
 * samples, else no estimate). Bounded memory: at most MAX_SAMPLES samples.
 */
export class RateEstimator {
  private readonly samples: Array<{ t: number; v: number }> = [];

  constructor(private readonly windowMs = 4000, private readonly minSpanMs = 500) {}

  add(t: number, value: number): void {
    const last = this.samples[this.samples.length - 1];
    // Progress that went back (a job restarted its count, a migration's dirty pages): start afresh.
    if (last && value < last.v) this.samples.length = 0;
    if (last && last.t === t) last.v = value;
    else this.samples.push({ t, v: value });
    while (this.samples.length > 2 && (this.samples.length > MAX_SAMPLES || t - (this.samples[1] as { t: number }).t >= this.windowMs)) this.samples.shift();
  }

  /** Units per second, or undefined when the samples span less than `minSpanMs`. */
  perSecond(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.t - first.t < this.minSpanMs) return undefined;
    return ((last.v - first.v) * 1000) / (last.t - first.t);
  }
}

/** Milliseconds to cover `left` at `perSecond`; undefined when not moving. */
export function etaOf(left: number | undefined, perSecond: number | undefined): number | undefined {
  if (left === undefined || perSecond === undefined || perSecond <= 0) return undefined;
  return Math.round((left * 1000) / perSecond);
}

/** What events said of a job: kept for every job the connection's events name, followed or not. */
class JobState {
  view: JobView;
  ended = false;
  aborting = false;
  cancelled = false;
  /** The sequence number of the last event about it, and of its `created` event (0: none seen). */
  lastSeq = 0;
  createdSeq = 0;

  constructor(readonly ref: JobRef) {
    this.view = { job: ref.id, kind: ref.kind, status: 'unknown' };
    if (ref.kind === 'migration') this.view.jobType = 'migration';
  }

  /** Takes on what another state knows (the events that came before a cell followed the job). */
  copy(from: JobState): void {
    this.view = { ...from.view };
    this.ended = from.ended;
    this.aborting = from.aborting;
    this.cancelled = from.cancelled;
  }
}

/** A job one cell follows. */
class FollowedJob extends JobState {
  readonly rate = new RateEstimator();
  /** The view as last reported (a report only when something changed). */
  reported = '';

  constructor(ref: JobRef, readonly t0: number) {
    super(ref);
  }
}

/** How many jobs' event states are kept (the oldest are forgotten first). */
const MAX_KNOWN = 256;

const keyOf = (kind: JobKind, id: string): string => `${kind}:${id}`;

/** The calls the watcher makes on a client (the engine's client, used by its cells). */
export interface PollClient {
  send(input: CommandInput, options: { timeoutMs?: number }): Promise<CommandReply>;
}

/** One cell's side of the watcher: where its reports go and the client to poll on. */
export interface JobOwner {
  readonly client: PollClient;
  report(r: JobReport): void;
}

export interface JobWatcherOptions {
  /** Monotonic milliseconds. */
  now(): number;
  /** Timers (default setTimeout/clearTimeout): tests pass a fake clock's. */
  setTimer?(fn: () => void, ms: number): unknown;
  clearTimer?(handle: unknown): void;
  /** The bound on queries per second, for all jobs of the watcher together (default 4). */
  maxQueriesPerSecond?: number;
  /** Each poll's time limit (default 5000 ms). */
  pollTimeoutMs?: number;
  /** While this says true, no poll goes out (QEMU owes replies to given-up commands: a poll would queue behind them). */
  hold?(): boolean;
}

/** At most this many jobs followed at once (across cells); more are not followed. */
export const MAX_JOBS = 256;

export const DEFAULT_MAX_QUERIES_PER_SECOND = 4;

type Query = 'query-jobs' | 'query-migrate';

/** Follows the jobs of running cells (see the file comment). */
export class JobWatcher {
  private readonly owners = new Map<JobOwner, FollowedJob[]>();
  private count = 0;
  private timer: unknown;
  private inFlight = false;
  private lastPoll = -Infinity;
  private lastQuery: Query | undefined;
  /** Queries a client answered with an error (it does not have them): not asked again on that client. */
  private readonly missing = new WeakMap<PollClient, Set<Query>>();
  /** Clients that did not answer a poll in time: not polled again. */
  private readonly stalled = new WeakSet<PollClient>();
  private readonly intervalMs: number;
  private readonly pollTimeoutMs: number;
  private disposed = false;
  /** How many polls went out (for benches and tests). */
  polls = 0;

  constructor(private readonly options: JobWatcherOptions) {
    const rate = options.maxQueriesPerSecond ?? DEFAULT_MAX_QUERIES_PER_SECOND;
    this.intervalMs = 1000 / (rate > 0 ? rate : DEFAULT_MAX_QUERIES_PER_SECOND);
    this.pollTimeoutMs = options.pollTimeoutMs ?? 5000;
  }

  /** Whether a command can name a job (a cheap test before anything is made for the cell). */
  names(command: string): boolean {
    return command === 'migrate' || command === 'transaction' || STARTERS.has(command) || DRIVERS_BY_ID.has(command) || DRIVERS_BY_DEVICE.has(command);
  }

  /** Whether an event can change a job (the others are not looked at). */
  watches(event: string): boolean {
    return WATCHED_EVENTS.has(event);
  }

  /**
   * A command of the owner's cell got an ok reply: follow the jobs it started or drives. `cursor`: the event
   * cursor when it was sent (events after it are about this command's jobs: a job that ended before the reply
   * ends for the cell at once, with what its events said).
   */
  commandSucceeded(owner: JobOwner, input: CommandInput, cursor = 0): void {
    const name = input.execute ?? input['exec-oob'];
    if (name === undefined) return;
    const refs = jobsOfCommand(name, input.arguments);
    const starts = name === 'migrate' || name === 'transaction' || STARTERS.has(name);
    for (const ref of refs) this.follow(owner, ref, cursor, starts);
  }

  /** Every event of the connection; `owner` is the running cell the event was given to, if any. */
  event(e: QmpEventRecord, owner: JobOwner | undefined): void {
    if (this.disposed) return;
    const data = obj(e.data) ?? {};
    if (e.event === 'JOB_STATUS_CHANGE') {
      const id = str(data['id']);
      const status = str(data['status']);
      if (id === undefined || status === undefined) return;
      if (status === 'created') this.known.delete(keyOf('block-job', id));
      this.note(e, 'block-job', id, status === 'created');
      // A job the cell did not name (one a transaction or a job-* command started): the cell follows it too.
      if (status === 'created' && owner !== undefined) this.follow(owner, { kind: 'block-job', id }, e.seq - 1, true);
      this.update('block-job', id, (j) => {
        if (status === 'aborting') j.aborting = true;
        j.view.status = status;
        if (isFinalStatus('block-job', status)) j.ended = true;
      });
    } else if (e.event === 'BLOCK_JOB_COMPLETED' || e.event === 'BLOCK_JOB_CANCELLED') {
      const id = str(data['device']);
      if (id === undefined) return;
      this.note(e, 'block-job', id);
      this.update('block-job', id, (j) => {
        const len = num(data['len']);
        const offset = num(data['offset']);
        if (len !== undefined) j.view.total = len;
        if (offset !== undefined) j.view.current = offset;
        const type = str(data['type']);
        if (type !== undefined) j.view.jobType = type;
        const error = str(data['error']);
        if (error !== undefined) { j.view.error = error; j.aborting = true; }
        if (e.event === 'BLOCK_JOB_CANCELLED') { j.cancelled = true; j.aborting = true; }
        // The job's end: QEMU emits these in the step that concludes the job (job_finalize_single, then
        // job_conclude), so its JOB_STATUS_CHANGE `concluded` may arrive only after a cell that waited for
        // this event ended; no other state can follow.
        j.view.status = 'concluded';
        j.ended = true;
      });
    } else if (e.event === 'BLOCK_JOB_ERROR') {
      const id = str(data['device']);
      if (id === undefined) return;
      this.note(e, 'block-job', id);
      this.update('block-job', id, (j) => {
        j.view.error = `${str(data['operation']) ?? 'I/O'} error (action: ${str(data['action']) ?? 'unknown'})`;
      });
    } else if (e.event === 'MIGRATION') {
      const status = str(data['status']);
      if (status === undefined) return;
      this.note(e, 'migration', MIGRATION_ID, status === 'setup');
      this.update('migration', MIGRATION_ID, (j) => {
        j.view.status = status;
        if (status === 'completed') {
          if (j.view.total !== undefined) j.view.current = j.view.total;
          j.view.percent = 100;
        }
        if (status === 'failed' || status === 'cancelled') j.aborting = true;
        if (status === 'cancelled') j.cancelled = true;
        if (isFinalStatus('migration', status)) j.ended = true;
      });
    }
  }

  /** The owner's cell ended: a `job-finished` for each job it still followed, and it follows none any more. */
  ownerEnded(owner: JobOwner): void {
    const jobs = this.owners.get(owner);
    if (!jobs) return;
    this.owners.delete(owner);
    this.count -= jobs.length;
    for (const j of jobs) if (!j.ended) this.finish(owner, j, 'running');
    if (this.liveQueries().length === 0) this.stopTimer();
  }

  /** Whether any followed job is live (polling runs only then). */
  get live(): boolean {
    return this.liveQueries().length > 0;
  }

  dispose(): void {
    this.disposed = true;
    this.stopTimer();
    this.owners.clear();
    this.count = 0;
  }

  /**
   * The owner follows a job from now on. `cursor`: events after it are about this job (what they said is
   * taken on). `starts`: the command started the job (else it drives one: a cell that followed the job to its
   * end already does not follow it again because a command on it was answered after it ended).
   */
  private follow(owner: JobOwner, ref: JobRef, cursor: number, starts: boolean): void {
    if (this.disposed) return;
    let jobs = this.owners.get(owner);
    const mine = jobs?.filter((j) => j.ref.kind === ref.kind && j.ref.id === ref.id) ?? [];
    const latest = mine[mine.length - 1];
    if (latest && (!latest.ended || !starts)) return;
    if (this.count >= MAX_JOBS) return;
    if (!jobs) this.owners.set(owner, (jobs = []));
    // The first poll after a quiet spell waits one interval as well: then no span of time from the moment a job
    // is followed holds more than `maxQueriesPerSecond` polls a second (the events say at once that it runs).
    if (this.liveQueries().length === 0) this.lastPoll = Math.max(this.lastPoll, this.options.now());
    const job = new FollowedJob(ref, this.options.now());
    const known = this.known.get(keyOf(ref.kind, ref.id));
    if (known && known.lastSeq > cursor && (!starts || known.createdSeq > cursor || ref.kind === 'migration')) job.copy(known);
    jobs.push(job);
    this.count++;
    this.refresh(job);
    if (job.ended) this.finish(owner, job, job.aborting ? 'aborted' : 'concluded');
    else if (job.view.status !== 'unknown') this.report(owner, job);
    this.schedule();
  }

  /** What events said of each job (bounded: the oldest forgotten first), followed or not. */
  private readonly known = new Map<string, JobState>();

  /** An event about a job: the state kept for it notes it (the change itself is applied by `update`). */
  private note(e: QmpEventRecord, kind: JobKind, id: string, created = false): void {
    const key = keyOf(kind, id);
    let s = this.known.get(key);
    if (s) this.known.delete(key);
    else s = new JobState({ kind, id });
    this.known.set(key, s);
    if (this.known.size > MAX_KNOWN) this.known.delete(this.known.keys().next().value as string);
    s.lastSeq = e.seq;
    if (created) s.createdSeq = e.seq;
  }

  /** Applies a change to the kept state of the job and to every live followed job of this kind and id, and reports what changed. */
  private update(kind: JobKind, id: string, change: (j: JobState) => void): void {
    const known = this.known.get(keyOf(kind, id));
    if (known) change(known);
    for (const [owner, jobs] of this.owners) {
      for (const j of jobs) {
        if (j.ended || j.ref.kind !== kind || j.ref.id !== id) continue;
        change(j);
        this.refresh(j);
        if (j.ended) this.finish(owner, j, j.aborting ? 'aborted' : 'concluded');
        else this.report(owner, j);
      }
    }
  }

  /** Applies a sample to a job (counters, speed, time left). */
  private applySample(j: FollowedJob, s: JobSample): void {
    if (s.status === 'aborting') j.aborting = true;
    j.view.status = s.status;
    if (s.jobType !== undefined) j.view.jobType = s.jobType;
    if (s.current !== undefined) j.view.current = s.current;
    if (s.total !== undefined) j.view.total = s.total;
    if (s.error !== undefined) { j.view.error = s.error; j.aborting = true; }
    if (s.current !== undefined) j.rate.add(this.options.now(), s.current);
    const speed = s.bytesPerSecond ?? j.rate.perSecond();
    // No speed shown before progress moved (QEMU moves its counters in steps): not a misleading 0 B/s.
    if (speed !== undefined && speed > 0) j.view.bytesPerSecond = Math.round(speed);
    else delete j.view.bytesPerSecond;
    const left = s.remaining ?? (s.total !== undefined && s.current !== undefined ? s.total - s.current : undefined);
    const eta = etaOf(left, speed);
    if (eta !== undefined) j.view.etaMs = eta;
    else delete j.view.etaMs;
    if (isFinalStatus(j.ref.kind, s.status)) j.ended = true;
    if (j.ref.kind === 'migration' && (s.status === 'failed' || s.status === 'cancelled')) j.aborting = true;
    if (s.status === 'cancelled') j.cancelled = true;
  }

  private refresh(j: JobState): void {
    const p = percentOf(j.view.current, j.view.total);
    if (p !== undefined) j.view.percent = p;
    if (j.ended) delete j.view.etaMs;
  }

  private report(owner: JobOwner, j: FollowedJob): void {
    const key = JSON.stringify(j.view);
    if (key === j.reported) return;
    j.reported = key;
    this.safe(() => owner.report({ type: 'job-progress', ...j.view }));
  }

  private finish(owner: JobOwner, j: FollowedJob, outcome: JobOutcome): void {
    j.ended = true;
    this.refresh(j);
    const end: JobEnd = { ...j.view, outcome, ms: Math.round(this.options.now() - j.t0) };
    if (j.cancelled) end.cancelled = true;
    if (outcome !== 'running') delete end.etaMs;
    this.safe(() => owner.report({ type: 'job-finished', ...end }));
  }

  private safe(fn: () => void): void {
    try {
      fn();
    } catch {
      // A reader that throws must not stop the watcher (the engine's sinks are guarded the same way).
    }
  }

  /** The queries the live jobs need, each with the client of the first owner that needs it. */
  private liveQueries(): Array<{ query: Query; client: PollClient }> {
    const out: Array<{ query: Query; client: PollClient }> = [];
    for (const [owner, jobs] of this.owners) {
      for (const j of jobs) {
        if (j.ended) continue;
        const query: Query = j.ref.kind === 'migration' ? 'query-migrate' : 'query-jobs';
        if (out.some((q) => q.query === query)) continue;
        if (this.missing.get(owner.client)?.has(query) || this.stalled.has(owner.client)) continue;
        out.push({ query, client: owner.client });
      }
      if (out.length === 2) break;
    }
    return out;
  }

  private stopTimer(): void {
    if (this.timer !== undefined) (this.options.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>)))(this.timer);
    this.timer = undefined;
  }

  /** Arms the poll timer when a job is live and nothing is armed or in flight (see "The poll bound"). */
  private schedule(): void {
    if (this.disposed || this.timer !== undefined || this.inFlight || this.liveQueries().length === 0) return;
    const wait = Math.max(0, this.lastPoll + this.intervalMs - this.options.now());
    const set = this.options.setTimer ?? ((fn: () => void, ms: number) => {
      const t = setTimeout(fn, ms);
      // A poll never keeps a process alive by itself (the cell that follows the job does).
      t.unref?.();
      return t;
    });
    this.timer = set(() => { this.timer = undefined; void this.poll(); }, wait);
  }

  private async poll(): Promise<void> {
    const queries = this.liveQueries();
    if (queries.length === 0 || this.disposed) return;
    if (this.options.hold?.()) {
      this.lastPoll = this.options.now();
      this.schedule();
      return;
    }
    // Both kinds live: take turns, so that the bound holds for the two together.
    const pick = queries.find((q) => q.query !== this.lastQuery) ?? (queries[0] as { query: Query; client: PollClient });
    this.lastQuery = pick.query;
    this.lastPoll = this.options.now();
    this.inFlight = true;
    this.polls++;
    let reply: CommandReply | undefined;
    try {
      reply = await pick.client.send({ execute: pick.query }, { timeoutMs: this.pollTimeoutMs });
    } catch (err) {
      // Stuck: no more polls on this client (see the file comment). A lost connection: the cells end with it.
      if (err instanceof CommandTimeoutError) this.stalled.add(pick.client);
    } finally {
      this.inFlight = false;
    }
    if (this.disposed) return;
    if (reply && !reply.ok) {
      let set = this.missing.get(pick.client);
      if (!set) this.missing.set(pick.client, (set = new Set()));
      set.add(pick.query);
    } else if (reply) {
      if (pick.query === 'query-jobs') this.applyJobs(samplesFromQueryJobs(reply.value));
      else this.applyMigration(sampleFromQueryMigrate(reply.value));
    }
    this.schedule();
  }

  private applyJobs(samples: JobSample[] | undefined): void {
    if (!samples) return;
    const byId = new Map(samples.map((s) => [s.id, s]));
    for (const [owner, jobs] of this.owners) {
      for (const j of jobs) {
        if (j.ended || j.ref.kind !== 'block-job') continue;
        const s = byId.get(j.ref.id);
        if (s) this.applySample(j, s);
        // Gone from QEMU's list: the job ended (and was dismissed) between two looks; its events say how.
        else j.ended = true;
        this.refresh(j);
        if (j.ended) this.finish(owner, j, j.aborting ? 'aborted' : 'concluded');
        else this.report(owner, j);
      }
    }
  }

  private applyMigration(sample: JobSample | undefined): void {
    if (!sample) return;
    for (const [owner, jobs] of this.owners) {
      for (const j of jobs) {
        if (j.ended || j.ref.kind !== 'migration') continue;
        this.applySample(j, sample);
        this.refresh(j);
        if (j.ended) this.finish(owner, j, j.aborting ? 'aborted' : 'concluded');
        else this.report(owner, j);
      }
    }
  }
}
