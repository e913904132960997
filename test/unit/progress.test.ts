// Live progress of long work (src/run/progress.ts): what a job is, samples from query-jobs / query-migrate,
// speed and time left, and the poll bound, on a fake clock; and the engine's records for a cell that starts a
// job, on a client that plays QEMU's job (the qemu tier does the same on a real QEMU: cliProgress.test.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { CommandInput, CommandReply, QmpEventRecord } from '../../src/qmp/client';
import {
  etaOf, JobWatcher, jobsOfCommand, percentOf, RateEstimator, sampleFromQueryMigrate, samplesFromQueryJobs,
  type JobOwner, type JobReport, type PollClient,
} from '../../src/run/progress';
import { planCell, RunEngine, type EngineClient, type TranscriptRecord } from '../../src/run/index';
import { CommandTimeoutError } from '../../src/qmp/errors';

/** A clock and timers that move only when told. */
class FakeClock {
  t = 0;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private ids = 0;
  now = (): number => this.t;
  setTimer = (fn: () => void, ms: number): unknown => {
    const id = ++this.ids;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimer = (h: unknown): void => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };
  get armed(): number {
    return this.timers.length;
  }
  /** Moves time forward, running timers in order (and the promise jobs they start). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
      for (let i = 0; i < 5; i++) await Promise.resolve();
    }
    this.t = end;
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

/** QEMU's jobs as a poll client sees them: progress moves in steps, as a throttled mirror's does. */
class FakeJobs implements PollClient {
  jobs = new Map<string, { status: string; current: number; total: number; type: string; error?: string }>();
  migration: Record<string, unknown> = {};
  sent: Array<{ query: string; t: number }> = [];
  /** Answer after this long (a busy QEMU). */
  delayMs = 0;
  missing = new Set<string>();
  constructor(private readonly clock: FakeClock) {}
  send(input: CommandInput): Promise<CommandReply> {
    const name = input.execute as string;
    this.sent.push({ query: name, t: this.clock.t });
    const answer = (): CommandReply => {
      if (this.missing.has(name)) return { idText: '1', ok: false, error: { class: 'CommandNotFound', desc: `The command ${name} has not been found` }, raw: '', sent: '' };
      const value = name === 'query-jobs'
        ? [...this.jobs].map(([id, j]) => ({ id, type: j.type, status: j.status, 'current-progress': j.current, 'total-progress': j.total, ...(j.error ? { error: j.error } : {}) }))
        : this.migration;
      return { idText: '1', ok: true, value, raw: '', sent: '' };
    };
    if (this.delayMs === 0) return Promise.resolve(answer());
    return new Promise((resolve) => this.clock.setTimer(() => resolve(answer()), this.delayMs));
  }
}

function owner(client: PollClient): JobOwner & { reports: JobReport[] } {
  const reports: JobReport[] = [];
  return { client, reports, report: (r) => reports.push(r) };
}

function event(name: string, data: object, seq = 1): QmpEventRecord {
  return { seq, event: name, data, timestamp: { seconds: 1, microseconds: 0 }, raw: JSON.stringify({ event: name, data }) };
}

describe('what a job is', () => {
  test('starters name their job by job-id, else by device (QEMU\'s default); blockdev-create needs job-id', () => {
    assert.deepEqual(jobsOfCommand('blockdev-mirror', { 'job-id': 'm0', device: 'src', target: 'dst', sync: 'full' }), [{ kind: 'block-job', id: 'm0' }]);
    assert.deepEqual(jobsOfCommand('drive-backup', { device: 'drive0', target: '/x', sync: 'full' }), [{ kind: 'block-job', id: 'drive0' }]);
    for (const c of ['block-commit', 'block-stream', 'blockdev-backup', 'drive-mirror']) {
      assert.deepEqual(jobsOfCommand(c, { device: 'd' }), [{ kind: 'block-job', id: 'd' }], c);
    }
    assert.deepEqual(jobsOfCommand('blockdev-create', { 'job-id': 'c0', options: {} }), [{ kind: 'block-job', id: 'c0' }]);
    assert.deepEqual(jobsOfCommand('blockdev-create', { options: {} }), []);
    assert.deepEqual(jobsOfCommand('migrate', { uri: 'exec:cat' }), [{ kind: 'migration', id: 'migration' }]);
  });

  test('commands that drive a job follow it; a transaction follows each backup it starts; others name none', () => {
    assert.deepEqual(jobsOfCommand('block-job-complete', { device: 'm0' }), [{ kind: 'block-job', id: 'm0' }]);
    assert.deepEqual(jobsOfCommand('job-finalize', { id: 'j' }), [{ kind: 'block-job', id: 'j' }]);
    assert.deepEqual(jobsOfCommand('transaction', { actions: [
      { type: 'blockdev-backup', data: { 'job-id': 'b1', device: 'a', target: 'b', sync: 'full' } },
      { type: 'blockdev-snapshot-sync', data: { device: 'a' } },
      { type: 'drive-backup', data: { device: 'c', target: '/t', sync: 'full' } },
    ] }), [{ kind: 'block-job', id: 'b1' }, { kind: 'block-job', id: 'c' }]);
    assert.deepEqual(jobsOfCommand('query-status', {}), []);
    assert.deepEqual(jobsOfCommand('blockdev-mirror', 'nonsense'), []);
    assert.deepEqual(jobsOfCommand('transaction', { actions: 'x' }), []);
  });
});

describe('samples from QEMU\'s replies', () => {
  test('query-jobs as QEMU 7.2 and 10.0 answer it', () => {
    assert.deepEqual(samplesFromQueryJobs([{ 'current-progress': 16777216, status: 'running', 'total-progress': 67108864, type: 'mirror', id: 'm0' }]),
      [{ id: 'm0', kind: 'block-job', jobType: 'mirror', status: 'running', current: 16777216, total: 67108864 }]);
    assert.deepEqual(samplesFromQueryJobs([{ id: 'b', status: 'concluded', type: 'backup', 'current-progress': 1, 'total-progress': 2, error: 'Input/output error' }])?.[0]?.error, 'Input/output error');
    assert.deepEqual(samplesFromQueryJobs([]), []);
    assert.equal(samplesFromQueryJobs({}), undefined);
    assert.deepEqual(samplesFromQueryJobs([null, { id: 1 }, { id: 'x' }]), []);
  });

  test('query-migrate: none yet, active (RAM left, QEMU\'s own speed), completed, failed', () => {
    assert.equal(sampleFromQueryMigrate({}), undefined);
    const active = sampleFromQueryMigrate({ status: 'active', ram: { total: 1000, remaining: 250, transferred: 800, mbps: 8 } });
    assert.deepEqual(active, { id: 'migration', kind: 'migration', jobType: 'migration', status: 'active', total: 1000, current: 750, remaining: 250, bytesPerSecond: 1_000_000 });
    assert.equal(sampleFromQueryMigrate({ status: 'completed', ram: { total: 1000, remaining: 0 } })?.current, 1000);
    assert.equal(sampleFromQueryMigrate({ status: 'failed', 'error-desc': 'Unable to write to socket' })?.error, 'Unable to write to socket');
  });

  test('percent and time left', () => {
    assert.equal(percentOf(16777216, 67108864), 25);
    assert.equal(percentOf(67108864, 67108864), 100);
    assert.equal(percentOf(5, 0), undefined);
    assert.equal(percentOf(undefined, 10), undefined);
    assert.equal(percentOf(11, 10), 100);
    assert.equal(etaOf(100, 50), 2000);
    assert.equal(etaOf(100, 0), undefined);
  });
});

describe('speed from samples', () => {
  test('progress in steps (once a second) gives the mean speed over the window, not 0 and 2x', () => {
    const r = new RateEstimator(4000, 500);
    assert.equal(r.perSecond(), undefined);
    // 16 MiB each second, polled four times a second.
    for (let t = 0; t <= 4000; t += 250) r.add(t, Math.floor(t / 1000) * 16);
    const speed = r.perSecond() as number;
    assert.ok(speed > 12 && speed <= 16, String(speed));
  });

  test('a new rate shows once the window has passed; progress that goes back starts afresh', () => {
    const r = new RateEstimator(2000, 500);
    let v = 0;
    for (let t = 0; t <= 10_000; t += 100) { v += 10; r.add(t, v); }
    assert.equal(Math.round(r.perSecond() as number), 100);
    for (let t = 10_100; t <= 14_000; t += 100) { v += 100; r.add(t, v); }
    assert.equal(Math.round(r.perSecond() as number), 1000);
    r.add(14_100, 5);
    assert.equal(r.perSecond(), undefined);
  });

  test('memory is bounded whatever the rate of samples (speed still right)', () => {
    const r = new RateEstimator(1_000_000, 1);
    for (let t = 0; t < 200_000; t++) r.add(t, t * 3);
    assert.equal(Math.round(r.perSecond() as number), 3000);
    assert.ok(((r as unknown as { samples: unknown[] }).samples).length <= 64);
  });
});

describe('the job watcher', () => {
  test('a throttled mirror: bar advances, ends at 100% concluded; polls at most 4 per second; none after the end', async () => {
    const clock = new FakeClock();
    const qemu = new FakeJobs(clock);
    const w = new JobWatcher({ now: clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer });
    const cell = owner(qemu);
    const total = 64 << 20;
    qemu.jobs.set('m0', { status: 'running', current: 0, total, type: 'mirror' });
    w.event(event('JOB_STATUS_CHANGE', { status: 'created', id: 'm0' }), cell);
    w.commandSucceeded(cell, { execute: 'blockdev-mirror', arguments: { 'job-id': 'm0', device: 'src', target: 'dst', sync: 'full', speed: 16 << 20 } });
    for (let s = 1; s <= 4; s++) {
      await clock.advance(1000);
      (qemu.jobs.get('m0') as { current: number }).current = s * (16 << 20);
    }
    await clock.advance(1000);
    qemu.jobs.get('m0')!.status = 'ready';
    w.event(event('JOB_STATUS_CHANGE', { status: 'ready', id: 'm0' }), cell);
    w.event(event('BLOCK_JOB_COMPLETED', { device: 'm0', len: total, offset: total, speed: 16 << 20, type: 'mirror' }), cell);
    w.event(event('JOB_STATUS_CHANGE', { status: 'concluded', id: 'm0' }), cell);
    qemu.jobs.delete('m0');
    const percents = cell.reports.filter((r) => r.type === 'job-progress').map((r) => r.percent).filter((p) => p !== undefined);
    assert.ok(new Set(percents).size >= 3, JSON.stringify(percents));
    assert.deepEqual([...percents].sort((a, b) => (a as number) - (b as number)), percents, 'never goes back');
    const last = cell.reports[cell.reports.length - 1];
    assert.equal(last?.type, 'job-finished');
    assert.equal(last?.type === 'job-finished' && last.outcome, 'concluded');
    assert.equal(last?.percent, 100);
    assert.equal(last?.jobType, 'mirror');
    const speeds = cell.reports.filter((r) => r.type === 'job-progress' && r.bytesPerSecond !== undefined);
    assert.ok(speeds.length > 0 && speeds.every((r) => r.type === 'job-progress' && (r.etaMs ?? 0) >= 0));
    // 5 seconds of polling: at most 4 a second, the first one interval after the job was followed.
    assert.ok(qemu.sent.length <= 20 && qemu.sent.length >= 15, String(qemu.sent.length));
    assert.ok((qemu.sent[0]?.t ?? 0) >= 250);
    for (let i = 1; i < qemu.sent.length; i++) assert.ok(qemu.sent[i]!.t - qemu.sent[i - 1]!.t >= 250);
    const n = qemu.sent.length;
    await clock.advance(10_000);
    assert.equal(qemu.sent.length, n, 'no polls once no job is live');
    assert.equal(clock.armed, 0);
    w.ownerEnded(cell);
    assert.equal(cell.reports.filter((r) => r.type === 'job-finished').length, 1, 'one end per job');
  });

  test('a cell that ends on BLOCK_JOB_COMPLETED/CANCELLED, before QEMU\'s concluded arrives: the job ended (concluded, aborted), not still pending', () => {
    const clock = new FakeClock();
    const qemu = new FakeJobs(clock);
    const w = new JobWatcher({ now: clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer });
    const cases: Array<[string, object, string, boolean]> = [
      ['BLOCK_JOB_COMPLETED', { len: 8, offset: 8, speed: 0, type: 'mirror' }, 'concluded', false],
      ['BLOCK_JOB_COMPLETED', { len: 8, offset: 4, speed: 0, type: 'mirror', error: 'Input/output error' }, 'aborted', false],
      ['BLOCK_JOB_CANCELLED', { len: 8, offset: 2, speed: 0, type: 'backup' }, 'aborted', true],
    ];
    let seq = 100;
    for (const [name, data, outcome, cancelled] of cases) {
      const id = `j${seq}`;
      const cell = owner(qemu);
      qemu.jobs.set(id, { status: 'running', current: 0, total: 8, type: 'mirror' });
      w.event(event('JOB_STATUS_CHANGE', { status: 'created', id }, seq++), cell);
      w.event(event('JOB_STATUS_CHANGE', { status: 'pending', id }, seq++), cell);
      w.event(event(name, { device: id, ...data }, seq++), cell);
      w.ownerEnded(cell);
      w.event(event('JOB_STATUS_CHANGE', { status: 'concluded', id }, seq++), undefined);
      const ends = cell.reports.filter((r) => r.type === 'job-finished');
      assert.equal(ends.length, 1, JSON.stringify(cell.reports));
      const end = ends[0]!;
      assert.equal(end.type === 'job-finished' && end.outcome, outcome, `${name} ${JSON.stringify(data)}`);
      assert.equal(end.status, 'concluded');
      assert.equal(end.type === 'job-finished' && end.cancelled === true, cancelled);
      assert.equal(end.etaMs, undefined);
    }
    assert.equal(w.live, false, 'nothing left to poll');
  });

  test('several jobs in several cells share one bound; one query-jobs answers for all of them', async () => {
    const clock = new FakeClock();
    const qemu = new FakeJobs(clock);
    qemu.migration = { status: 'active', ram: { total: 100, remaining: 60 } };
    const w = new JobWatcher({ now: clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer });
    const a = owner(qemu);
    const b = owner(qemu);
    for (const id of ['j1', 'j2']) qemu.jobs.set(id, { status: 'running', current: 1, total: 4, type: 'backup' });
    qemu.jobs.set('j3', { status: 'running', current: 3, total: 4, type: 'commit' });
    w.commandSucceeded(a, { execute: 'blockdev-backup', arguments: { 'job-id': 'j1', device: 'x' } });
    w.commandSucceeded(a, { execute: 'blockdev-backup', arguments: { 'job-id': 'j2', device: 'y' } });
    w.commandSucceeded(b, { execute: 'block-commit', arguments: { 'job-id': 'j3', device: 'z' } });
    w.commandSucceeded(b, { execute: 'migrate', arguments: { uri: 'exec:cat' } });
    await clock.advance(10_000);
    assert.ok(qemu.sent.length <= 41, String(qemu.sent.length));
    assert.ok(qemu.sent.some((s) => s.query === 'query-migrate') && qemu.sent.some((s) => s.query === 'query-jobs'));
    const jobsOf = (o: typeof a): string[] => [...new Set(o.reports.map((r) => r.job))].sort();
    assert.deepEqual(jobsOf(a), ['j1', 'j2']);
    assert.deepEqual(jobsOf(b), ['j3', 'migration']);
    assert.equal(b.reports.find((r) => r.job === 'migration')?.percent, 40);
    // The cells end while the jobs run: each job ends as `running`, and polling stops.
    w.ownerEnded(a);
    w.ownerEnded(b);
    const ends = [...a.reports, ...b.reports].filter((r) => r.type === 'job-finished');
    assert.equal(ends.length, 4);
    assert.ok(ends.every((r) => r.type === 'job-finished' && r.outcome === 'running'));
    const n = qemu.sent.length;
    await clock.advance(5000);
    assert.equal(qemu.sent.length, n);
  });

  test('an aborted job says so with QEMU\'s error; a cancelled one is aborted and cancelled', async () => {
    const clock = new FakeClock();
    const qemu = new FakeJobs(clock);
    const w = new JobWatcher({ now: clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer });
    const cell = owner(qemu);
    qemu.jobs.set('b0', { status: 'running', current: 1 << 20, total: 64 << 20, type: 'backup' });
    qemu.jobs.set('c0', { status: 'running', current: 0, total: 10, type: 'stream' });
    w.commandSucceeded(cell, { execute: 'blockdev-backup', arguments: { 'job-id': 'b0', device: 's', target: 't', sync: 'full' } });
    w.commandSucceeded(cell, { execute: 'block-stream', arguments: { 'job-id': 'c0', device: 's' } });
    await clock.advance(300);
    w.event(event('JOB_STATUS_CHANGE', { status: 'aborting', id: 'b0' }), cell);
    w.event(event('BLOCK_JOB_CANCELLED', { device: 'b0', len: 64 << 20, offset: 1 << 20, speed: 1, type: 'backup' }), cell);
    w.event(event('JOB_STATUS_CHANGE', { status: 'concluded', id: 'b0' }), cell);
    // c0 fails and stays concluded (not dismissed): a poll sees its error.
    qemu.jobs.set('c0', { status: 'concluded', current: 3, total: 10, type: 'stream', error: 'Input/output error' });
    await clock.advance(300);
    const ends = cell.reports.filter((r) => r.type === 'job-finished');
    const b0 = ends.find((r) => r.job === 'b0');
    const c0 = ends.find((r) => r.job === 'c0');
    assert.equal(b0?.type === 'job-finished' && b0.outcome, 'aborted');
    assert.equal(b0?.type === 'job-finished' && b0.cancelled, true);
    assert.equal(b0?.percent, 1);
    assert.equal(c0?.type === 'job-finished' && c0.outcome, 'aborted');
    assert.equal(c0?.error, 'Input/output error');
  });

  test('a job gone from query-jobs between two looks has ended; a query QEMU lacks is not asked again', async () => {
    const clock = new FakeClock();
    const qemu = new FakeJobs(clock);
    qemu.missing.add('query-migrate');
    const w = new JobWatcher({ now: clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer });
    const cell = owner(qemu);
    w.commandSucceeded(cell, { execute: 'blockdev-create', arguments: { 'job-id': 'quick', options: {} } });
    w.commandSucceeded(cell, { execute: 'migrate', arguments: { uri: 'exec:cat' } });
    await clock.advance(5000);
    assert.equal(cell.reports.find((r) => r.job === 'quick' && r.type === 'job-finished')?.type, 'job-finished');
    assert.equal(qemu.sent.filter((s) => s.query === 'query-migrate').length, 1);
    assert.equal(clock.armed, 0, 'nothing left to poll');
    // The migration is still followed by its events.
    w.event(event('MIGRATION', { status: 'completed' }), cell);
    const m = cell.reports.find((r) => r.job === 'migration' && r.type === 'job-finished');
    assert.equal(m?.type === 'job-finished' && m.outcome, 'concluded');
  });

  test('a job that ended before the reply of the command on it: ended at once from its events, once per cell, never from an older job of the same id', async () => {
    const clock = new FakeClock();
    const qemu = new FakeJobs(clock);
    const w = new JobWatcher({ now: clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer });
    const a = owner(qemu);
    const b = owner(qemu);
    // An older job c0 failed long ago.
    w.event(event('JOB_STATUS_CHANGE', { status: 'created', id: 'c0' }, 1), undefined);
    w.event(event('JOB_STATUS_CHANGE', { status: 'aborting', id: 'c0' }, 2), undefined);
    w.event(event('JOB_STATUS_CHANGE', { status: 'concluded', id: 'c0' }, 3), undefined);
    // Cell a: a quick blockdev-create c0 (sent at cursor 10) whose job concluded before its reply.
    w.event(event('JOB_STATUS_CHANGE', { status: 'created', id: 'c0' }, 11), undefined);
    w.event(event('JOB_STATUS_CHANGE', { status: 'concluded', id: 'c0' }, 12), undefined);
    w.commandSucceeded(a, { execute: 'blockdev-create', arguments: { 'job-id': 'c0', options: {} } }, 10);
    const endA = a.reports.filter((r) => r.type === 'job-finished');
    assert.equal(endA.length, 1);
    assert.equal(endA[0]?.type === 'job-finished' && endA[0].outcome, 'concluded', 'not the older job\'s abort');
    // Cell a again: a starter whose job ended before events could tell (no created after the cursor): polled.
    w.commandSucceeded(a, { execute: 'blockdev-mirror', arguments: { 'job-id': 'm9', device: 'd' } }, 12);
    await clock.advance(300);
    assert.equal(a.reports.filter((r) => r.job === 'm9' && r.type === 'job-finished').length, 1, 'gone from query-jobs: ended');
    // Cell b drives m1 (started earlier, followed by no cell); it concludes before b's reply.
    w.event(event('JOB_STATUS_CHANGE', { status: 'created', id: 'm1' }, 20), undefined);
    w.event(event('JOB_STATUS_CHANGE', { status: 'ready', id: 'm1' }, 21), undefined);
    w.event(event('BLOCK_JOB_COMPLETED', { device: 'm1', len: 8, offset: 8, speed: 0, type: 'mirror' }, 23), undefined);
    w.event(event('JOB_STATUS_CHANGE', { status: 'concluded', id: 'm1' }, 24), undefined);
    const polls = qemu.sent.length;
    w.commandSucceeded(b, { execute: 'block-job-complete', arguments: { device: 'm1' } }, 22);
    const endB = b.reports.filter((r) => r.type === 'job-finished');
    assert.equal(endB.length, 1);
    assert.equal(endB[0]?.type === 'job-finished' && endB[0].outcome, 'concluded');
    assert.equal(endB[0]?.percent, 100);
    await clock.advance(1000);
    assert.equal(qemu.sent.length, polls, 'nothing to poll for a job that ended');
    // The same cell follows a job to its end, then a command on it is answered: no second end.
    const c = owner(qemu);
    qemu.jobs.set('m2', { status: 'ready', current: 1, total: 1, type: 'mirror' });
    w.event(event('JOB_STATUS_CHANGE', { status: 'created', id: 'm2' }, 30), c);
    w.commandSucceeded(c, { execute: 'blockdev-mirror', arguments: { 'job-id': 'm2', device: 'd' } }, 29);
    w.event(event('JOB_STATUS_CHANGE', { status: 'concluded', id: 'm2' }, 32), c);
    w.commandSucceeded(c, { execute: 'block-job-complete', arguments: { device: 'm2' } }, 31);
    w.ownerEnded(c);
    assert.equal(c.reports.filter((r) => r.type === 'job-finished').length, 1, JSON.stringify(c.reports));
    w.dispose();
  });

  test('a poll QEMU does not answer in time is the last: no more polls stack up in the in-band window; events still count', async () => {
    const clock = new FakeClock();
    let sent = 0;
    const stuck: PollClient = {
      send: (input, options) => {
        sent++;
        return new Promise((_, reject) => clock.setTimer(() => reject(new CommandTimeoutError(input.execute as string, options.timeoutMs as number)), options.timeoutMs as number));
      },
    };
    const w = new JobWatcher({ now: clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer, pollTimeoutMs: 5000 });
    const cell = owner(stuck);
    w.commandSucceeded(cell, { execute: 'blockdev-mirror', arguments: { 'job-id': 'm', device: 'd' } });
    await clock.advance(60_000);
    assert.equal(sent, 1);
    w.event(event('JOB_STATUS_CHANGE', { status: 'concluded', id: 'm' }, 5), cell);
    assert.equal(cell.reports.at(-1)?.type, 'job-finished');
    w.dispose();
  });

  test('one poll in flight at a time: a slow QEMU gets fewer polls, never more; hold() sends none', async () => {
    const clock = new FakeClock();
    const qemu = new FakeJobs(clock);
    qemu.delayMs = 2000;
    let hold = false;
    const w = new JobWatcher({ now: clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer, hold: () => hold });
    const cell = owner(qemu);
    qemu.jobs.set('m', { status: 'running', current: 0, total: 1, type: 'mirror' });
    w.commandSucceeded(cell, { execute: 'drive-mirror', arguments: { device: 'm' } });
    await clock.advance(10_000);
    assert.ok(qemu.sent.length <= 6, String(qemu.sent.length));
    hold = true;
    const n = qemu.sent.length;
    await clock.advance(10_000);
    assert.equal(qemu.sent.length, n);
    hold = false;
    await clock.advance(1000);
    assert.ok(qemu.sent.length > n);
    w.dispose();
  });

  test('property: whatever the jobs, events and cells, at most 4 polls in any second and one end per followed job', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.oneof(
        fc.record({ op: fc.constant('start' as const), id: fc.integer({ min: 0, max: 4 }), cell: fc.integer({ min: 0, max: 2 }) }),
        fc.record({ op: fc.constant('event' as const), id: fc.integer({ min: 0, max: 4 }), status: fc.constantFrom('created', 'running', 'ready', 'aborting', 'concluded', 'null') }),
        fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 1500 }) }),
        fc.record({ op: fc.constant('end' as const), cell: fc.integer({ min: 0, max: 2 }) }),
        fc.record({ op: fc.constant('gone' as const), id: fc.integer({ min: 0, max: 4 }) }),
      ), { maxLength: 40 }),
      async (ops) => {
        const clock = new FakeClock();
        const qemu = new FakeJobs(clock);
        const w = new JobWatcher({ now: clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer });
        const cells = [owner(qemu), owner(qemu), owner(qemu)];
        const ended = new Set<number>();
        let firstStart: number | undefined;
        for (const o of ops) {
          if (o.op === 'start') {
            if (ended.has(o.cell)) continue;
            firstStart ??= clock.t;
            qemu.jobs.set(`j${o.id}`, { status: 'running', current: o.id, total: 10, type: 'mirror' });
            w.commandSucceeded(cells[o.cell]!, { execute: 'blockdev-mirror', arguments: { 'job-id': `j${o.id}`, device: 'd' } });
          } else if (o.op === 'event') {
            w.event(event('JOB_STATUS_CHANGE', { status: o.status, id: `j${o.id}` }), undefined);
          } else if (o.op === 'wait') {
            await clock.advance(o.ms);
          } else if (o.op === 'gone') {
            qemu.jobs.delete(`j${o.id}`);
          } else {
            ended.add(o.cell);
            w.ownerEnded(cells[o.cell]!);
          }
        }
        await clock.advance(2000);
        for (let i = 0; i < 3; i++) w.ownerEnded(cells[i]!);
        const times = qemu.sent.map((s) => s.t);
        for (let i = 4; i < times.length; i++) assert.ok(times[i]! - times[i - 4]! >= 1000, `5 polls within a second: ${times.join(',')}`);
        // From the first follow on, never more than 4 a second: the first poll one interval after it.
        if (times.length > 0) assert.ok(firstStart !== undefined && times[0]! >= firstStart + 250, `first poll at ${times[0]} after a start at ${firstStart}`);
        for (const c of cells) {
          // Every job a cell followed has ended for it once every cell ended: its last report is its end.
          const last = new Map<string, JobReport>();
          for (const r of c.reports) last.set(r.job, r);
          for (const [job, r] of last) assert.equal(r.type, 'job-finished', job);
        }
        const n = qemu.sent.length;
        await clock.advance(5000);
        assert.equal(qemu.sent.length, n, 'no polling once every cell ended');
        w.dispose();
      },
    ), { numRuns: 150 });
  });
});

/** An engine client that plays one throttled mirror: 4 steps of progress, then ready and completed. */
class MirrorClient implements EngineClient {
  private seq = 0;
  private readonly history: QmpEventRecord[] = [];
  private readonly listeners = new Set<(e: QmpEventRecord) => void>();
  current = 0;
  status = 'none';
  readonly total = 4;
  commands: string[] = [];
  private emit(name: string, data: object): void {
    const e = { ...event(name, data, ++this.seq) };
    this.history.push(e);
    for (const l of this.listeners) l(e);
  }
  send(input: CommandInput): Promise<CommandReply> {
    const name = input.execute as string;
    this.commands.push(name);
    const ok = (value: unknown): CommandReply => ({ idText: `"#${this.commands.length}"`, ok: true, value, raw: JSON.stringify({ return: value }), sent: JSON.stringify(input) });
    if (name === 'blockdev-mirror') {
      this.status = 'running';
      this.emit('JOB_STATUS_CHANGE', { status: 'created', id: 'm0' });
      this.emit('JOB_STATUS_CHANGE', { status: 'running', id: 'm0' });
      const tick = setInterval(() => {
        this.current++;
        if (this.current >= this.total) {
          clearInterval(tick);
          this.status = 'ready';
          this.emit('JOB_STATUS_CHANGE', { status: 'ready', id: 'm0' });
          this.emit('BLOCK_JOB_READY', { device: 'm0', len: this.total, offset: this.total, speed: 1, type: 'mirror' });
        }
      }, 120);
      return Promise.resolve(ok({}));
    }
    if (name === 'block-job-complete') {
      setTimeout(() => {
        this.emit('BLOCK_JOB_COMPLETED', { device: 'm0', len: this.total, offset: this.total, speed: 1, type: 'mirror' });
        this.emit('JOB_STATUS_CHANGE', { status: 'concluded', id: 'm0' });
        this.emit('JOB_STATUS_CHANGE', { status: 'null', id: 'm0' });
        this.status = 'none';
      }, 5);
      return Promise.resolve(ok({}));
    }
    if (name === 'query-jobs') {
      return Promise.resolve(ok(this.status === 'none' ? [] : [{ id: 'm0', type: 'mirror', status: this.status, 'current-progress': this.current, 'total-progress': this.total }]));
    }
    return Promise.resolve(ok({}));
  }
  onEvent(l: (e: QmpEventRecord) => void): { dispose(): void } {
    this.listeners.add(l);
    return { dispose: () => this.listeners.delete(l) };
  }
  eventCursor(): number {
    return this.seq;
  }
  waitForEvent(p: (e: QmpEventRecord) => boolean, o: { after?: number; timeoutMs: number }): Promise<QmpEventRecord> {
    const found = this.history.find((e) => e.seq > (o.after ?? this.seq) && p(e));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { sub.dispose(); reject(new Error('timeout')); }, o.timeoutMs);
      const sub = this.onEvent((e) => { if (p(e)) { clearTimeout(timer); sub.dispose(); resolve(e); } });
    });
  }
}

describe('the engine follows the jobs of its cells', () => {
  test('records: job-progress as the mirror advances, one job-finished (concluded, 100%) before cell-finished; polls are not the cell\'s commands', async () => {
    const client = new MirrorClient();
    const engine = new RunEngine({ client: () => client, jobQueriesPerSecond: 20 });
    const records: TranscriptRecord[] = [];
    const text = [
      '{"execute": "blockdev-mirror", "arguments": {"job-id": "m0", "device": "src", "target": "dst", "sync": "full"}}',
      '{"wait-event": "BLOCK_JOB_READY", "timeout": 5000}',
      '{"execute": "block-job-complete", "arguments": {"device": "m0"}}',
      '{"wait-event": "BLOCK_JOB_COMPLETED", "timeout": 5000}',
    ].join('\n');
    const result = await engine.run([{ cell: 1, plan: planCell(text, 'qmp') }], (r) => records.push(r));
    assert.deepEqual(result.outcomes, ['succeeded']);
    const types = records.map((r) => r.type);
    assert.ok(!records.some((r) => (r.type === 'sent' || r.type === 'reply') && r.command === 'query-jobs'), 'polls are not in the transcript');
    assert.ok(client.commands.includes('query-jobs'));
    const percents = records.flatMap((r) => (r.type === 'job-progress' && r.percent !== undefined ? [r.percent] : []));
    assert.ok(new Set(percents).size >= 2, JSON.stringify(percents));
    const finished = records.filter((r) => r.type === 'job-finished');
    assert.equal(finished.length, 1);
    assert.equal(finished[0]?.type === 'job-finished' && finished[0].outcome, 'concluded');
    assert.equal(finished[0]?.percent, 100);
    assert.ok(types.indexOf('job-finished') < types.indexOf('cell-finished'));
    assert.equal(engine.jobPolls, client.commands.filter((c) => c === 'query-jobs').length);
    engine.dispose();
  });

  test('a cell that only starts a job: job-finished says running, and polling stops with the cell', async () => {
    const client = new MirrorClient();
    const engine = new RunEngine({ client: () => client });
    const records: TranscriptRecord[] = [];
    await engine.run([{ cell: 1, plan: planCell('{"execute": "blockdev-mirror", "arguments": {"job-id": "m0", "device": "s", "target": "t", "sync": "full"}}', 'qmp') }], (r) => records.push(r));
    const f = records.find((r) => r.type === 'job-finished');
    assert.equal(f?.type === 'job-finished' && f.outcome, 'running');
    const n = engine.jobPolls;
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(engine.jobPolls, n);
    engine.dispose();
  });
});

describe('the texts of a job', () => {
  test('a live line: status, percent with a bar, speed, time left; an end: outcome, amount and time, or QEMU\'s error', async () => {
    const { jobLine, durationText, progressBar } = await import('../../src/run/recordText');
    const { humanSize } = await import('../../src/render/bytes');
    assert.equal(progressBar(50, 10), '[█████·····]');
    assert.equal(progressBar(0, 4), '[····]');
    assert.equal(progressBar(100, 4), '[████]');
    assert.equal(humanSize(950, { steady: true }), '950 B');
    assert.equal(humanSize(16 * 1024 * 1024, { steady: true }), '16.0 MiB');
    assert.equal(humanSize(16 * 1024 * 1024), '16 MiB', 'a size that is not watched drops the decimal of a whole number');
    assert.equal(durationText(1400), '1 s');
    assert.equal(durationText(200_000), '3 min 20 s');
    assert.equal(durationText(7_500_000), '2 h 5 min');
    assert.equal(jobLine({ job: 'm0', kind: 'block-job', jobType: 'mirror', status: 'running', current: 1, total: 3, percent: 33, bytesPerSecond: 16 << 20, etaMs: 1000 }),
      'm0 (mirror): running, 33% [███████·············], 16.0 MiB/s, 1 s left');
    assert.equal(jobLine({ job: 'm0', kind: 'block-job', jobType: 'mirror', status: 'concluded', current: 48 << 20, total: 48 << 20, percent: 100, outcome: 'concluded', ms: 3010 }),
      'm0 (mirror): concluded, 100%, 48.0 MiB in 3.0 s');
    assert.equal(jobLine({ job: 'b0', kind: 'block-job', jobType: 'backup', status: 'concluded', percent: 1, current: 1 << 20, error: 'Input/output error', outcome: 'aborted', ms: 300 }),
      'b0 (backup): aborted, 1%, 1.0 MiB in 0.3 s, error: Input/output error');
    assert.equal(jobLine({ job: 'm1', kind: 'block-job', status: 'running', outcome: 'running', ms: 5 }), 'm1: still running when the cell ended');
    assert.equal(jobLine({ job: 'migration', kind: 'migration', jobType: 'migration', status: 'cancelled', outcome: 'aborted', cancelled: true, ms: 5 }), 'migration: aborted (cancelled)');
  });

  test('the CLI\'s progress line: every live job, joined; a job leaves it at its end; cleared once', async () => {
    const { JobProgressLine } = await import('../../src/cli/run');
    const shown: string[] = [];
    const line = new JobProgressLine((t) => shown.push(t));
    line.write({ type: 'job-progress', cell: 1, at: 0, job: 'a', kind: 'block-job', jobType: 'mirror', status: 'running', percent: 10 });
    line.write({ type: 'job-progress', cell: 1, at: 1, job: 'b', kind: 'block-job', jobType: 'backup', status: 'running', percent: 50 });
    line.write({ type: 'event', cell: 1, at: 2, event: event('STOP', {}) });
    assert.equal(shown.length, 2);
    assert.match(shown[1] ?? '', /^a \(mirror\): running, 10% \[.*\]; b \(backup\): running, 50% \[.*\]$/);
    line.write({ type: 'job-finished', cell: 1, at: 3, job: 'a', kind: 'block-job', status: 'concluded', outcome: 'concluded', ms: 3 });
    assert.match(shown[2] ?? '', /^b \(backup\): running, 50%/);
    // An end of a job the line never showed changes nothing.
    line.write({ type: 'job-finished', cell: 2, at: 4, job: 'z', kind: 'block-job', status: 'concluded', outcome: 'concluded', ms: 3 });
    assert.equal(shown.length, 3);
    line.clear();
    line.clear();
    assert.deepEqual(shown.slice(3), ['']);
  });
});
