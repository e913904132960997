// Live progress of long work (issue 22, src/run/progress.ts) on the bench's QEMU: a throttled blockdev-mirror
// between two null-co nodes (48 MiB at 16 MiB/s, about three seconds) run as a cell on an engine, which follows
// the job and polls query-jobs.
// - Polls per second per job: the query-jobs the engine sent, counted at its client, over the cell's time.
// - Another cell's round trip while a job is polled: query-status cells run one after another on a second engine
//   of the same connection (a door of its own, as the language server's), their reply times while the polled
//   mirror runs, against the same mirror started with a bare execute (QEMU busy with the same job, nobody
//   polling). Phases alternate (polled first, then bare first), so that noise lands on both sides alike; the
//   ratio is the median of the pairs' ratios of medians.
import type { QmpClient } from '../../src/qmp/index';
import { planCell, RunEngine, type EngineClient } from '../../src/run/index';
import { median, type Row } from './stats';

const SIZE = 48 * 1024 * 1024;
const SPEED = 16 * 1024 * 1024;
const PAIRS = 4;

export async function benchProgress(ours: QmpClient): Promise<Row[]> {
  let queries = 0;
  const counting: EngineClient = {
    send: (input, options) => {
      if (input.execute === 'query-jobs' || input.execute === 'query-migrate') queries++;
      return ours.send(input, options);
    },
    onEvent: (l) => ours.onEvent(l),
    eventCursor: () => ours.eventCursor(),
    waitForEvent: (p, o) => ours.waitForEvent(p, o),
  };
  const jobEngine = new RunEngine({ client: () => counting });
  const other = new RunEngine({ client: () => ours });
  const statusPlan = planCell('{"execute": "query-status"}', 'qmp');
  const polled: number[] = [];
  const bare: number[] = [];
  let pollSeconds = 0;
  let phase = 0;
  const queriesByPhase: number[] = [];

  /** Runs query-status cells on the other engine until `done` settles; their reply times. */
  const measure = async (done: Promise<unknown>): Promise<number[]> => {
    let over = false;
    void done.then(() => { over = true; }, () => { over = true; });
    const times: number[] = [];
    while (!over) {
      await other.run([{ cell: 1, plan: statusPlan }], (r) => { if (r.type === 'reply') times.push(r.ms); });
    }
    return times;
  };

  const nodes = async (): Promise<{ src: string; dst: string; job: string }> => {
    phase++;
    const src = `bench-mirror-src-${phase}`;
    const dst = `bench-mirror-dst-${phase}`;
    await ours.execute('blockdev-add', { driver: 'null-co', 'node-name': src, size: SIZE });
    await ours.execute('blockdev-add', { driver: 'null-co', 'node-name': dst, size: SIZE });
    return { src, dst, job: `bench-mirror-${phase}` };
  };
  const drop = async (n: { src: string; dst: string }): Promise<void> => {
    await ours.execute('blockdev-del', { 'node-name': n.src });
    await ours.execute('blockdev-del', { 'node-name': n.dst });
  };

  /** Polled: the mirror as a cell; the engine follows the job and polls. Its query-status reply times. */
  const polledPhase = async (): Promise<number[]> => {
    const n = await nodes();
    const text = [
      `{"execute": "blockdev-mirror", "arguments": {"job-id": "${n.job}", "device": "${n.src}", "target": "${n.dst}", "sync": "full", "speed": ${SPEED}}}`,
      `{"wait-event": "BLOCK_JOB_READY", "data": {"device": "${n.job}"}, "timeout": 60000}`,
      `{"execute": "block-job-complete", "arguments": {"device": "${n.job}"}}`,
      `{"wait-event": "BLOCK_JOB_COMPLETED", "data": {"device": "${n.job}"}, "timeout": 60000}`,
    ].join('\n');
    const before = queries;
    // The time the engine followed the job: from its first report to its end.
    let t0 = 0;
    let t1 = 0;
    const cell = jobEngine.run([{ cell: 1, plan: planCell(text, 'qmp') }], (r) => {
      if (r.type === 'job-progress' && t0 === 0) t0 = performance.now();
      if (r.type === 'job-finished') t1 = performance.now();
    });
    const times = await measure(cell);
    const result = await cell;
    if (result.failure) throw new Error(`the polled mirror failed: ${result.failure.message}`);
    if (t1 > t0 && t0 > 0) pollSeconds += (t1 - t0) / 1000;
    queriesByPhase.push(queries - before);
    await drop(n);
    return times;
  };
  /** Bare: the same mirror by a plain execute; nobody follows or polls it. */
  const barePhase = async (): Promise<number[]> => {
    const n = await nodes();
    const cursor = ours.eventCursor();
    const done = (async () => {
      await ours.execute('blockdev-mirror', { 'job-id': n.job, device: n.src, target: n.dst, sync: 'full', speed: SPEED });
      await ours.waitForEvent((e) => e.event === 'BLOCK_JOB_READY', { after: cursor, timeoutMs: 60_000 });
      await ours.execute('block-job-complete', { device: n.job });
      await ours.waitForEvent((e) => e.event === 'BLOCK_JOB_COMPLETED', { after: cursor, timeoutMs: 60_000 });
    })();
    const times = await measure(done);
    await done;
    await drop(n);
    return times;
  };

  const ratios: number[] = [];
  try {
    for (let pair = 0; pair < PAIRS; pair++) {
      // Which goes first alternates, so that load that rises or falls lands on both sides alike.
      let p: number[];
      let b: number[];
      if (pair % 2 === 0) { p = await polledPhase(); b = await barePhase(); } else { b = await barePhase(); p = await polledPhase(); }
      polled.push(...p);
      bare.push(...b);
      ratios.push(median(p) / median(b));
    }
  } finally {
    jobEngine.dispose();
    other.dispose();
  }
  const total = queriesByPhase.reduce((a, b) => a + b, 0);
  const perSecond = pollSeconds > 0 ? total / pollSeconds : NaN;
  const p = median(polled);
  const b = median(bare);
  return [
    {
      label: `job progress: polls per second per job (throttled mirror: ${total} queries in ${pollSeconds.toFixed(1)} s = ${perSecond.toFixed(2)}/s)`,
      ours: perSecond, unit: 'req/s', target: '≤ 4 /s', met: perSecond <= 4,
    },
    {
      label: `another cell's query-status round trip while a job is polled, median (${polled.length} / ${bare.length} cells)`,
      ours: p, base: { name: 'job not polled', value: b }, unit: 'ms', target: '≤ 1.05x', pairedRatio: median(ratios), met: median(ratios) <= 1.05,
    },
  ];
}
