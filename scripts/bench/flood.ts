// Event floods (issue 8 item 5): 100,000 events of about 1 KB while one command waits for its reply.
// - through the CLI: `qmp-notebook run --json` (the bundled bin, a child process) against a fake QMP server
//   that sends the flood before the reply; the child's peak RSS must stay under 200 MB;
// - through a cell: the engine (src/run) with a fake client, its records coalesced by the Batcher the
//   notebook controller uses; the UI appends must be batched (few, not one per event), and the process's
//   RSS growth stays under 200 MB.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Batcher, planCell, RunEngine, type EngineClient, type TranscriptRecord } from '../../src/run/index';
import type { CommandInput, CommandReply, QmpEventRecord } from '../../src/qmp/client';
import { now, type Row } from './stats';

const EVENTS = 100_000;
const LIMIT_MB = 200;
const PAD = 'x'.repeat(1000);

function eventText(i: number): string {
  return `{"timestamp": {"seconds": 1, "microseconds": ${i % 1_000_000}}, "event": "FLOOD", "data": {"i": ${i}, "pad": "${PAD}"}}\r\n`;
}

/** A QMP server that answers `query-status` only after EVENTS events, written as fast as the socket drains. */
function floodServer(socketPath: string): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.write('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n');
    let buf = '';
    s.on('error', () => undefined);
    s.on('data', (d) => {
      buf += d.toString('utf8');
      for (;;) {
        const m = /"id":\s*("(?:[^"\\]|\\.)*"|\d+)\s*\}/.exec(buf);
        if (!m) return;
        const upto = (m.index ?? 0) + m[0].length;
        const cmd = buf.slice(0, upto);
        buf = buf.slice(upto);
        const id = m[1] as string;
        if (!cmd.includes('query-status')) { s.write(`{"return": {}, "id": ${id}}\r\n`); continue; }
        let i = 0;
        const pump = (): void => {
          while (i < EVENTS) {
            if (!s.write(eventText(i++))) { s.once('drain', pump); return; }
          }
          s.write(`{"return": {"status": "running", "singlestep": false, "running": true}, "id": ${id}}\r\n`);
        };
        pump();
      }
    });
  });
  return new Promise((resolve) => server.listen(socketPath, () => resolve(server)));
}

async function cliFlood(root: string, dir: string, json: boolean): Promise<Row> {
  const socketPath = path.join(dir, `flood-${json ? 'json' : 'text'}.sock`);
  const server = await floodServer(socketPath);
  const file = path.join(dir, 'flood.qmp');
  writeFileSync(file, '```qmp\n{"execute": "query-status"}\n```\n', { mode: 0o600 });
  const preload = path.join(dir, 'maxrss.cjs');
  writeFileSync(preload, "process.on('exit', () => process.stderr.write('MAXRSS ' + process.resourceUsage().maxRSS + '\\n'));\n", { mode: 0o600 });
  const t = now();
  const result = await new Promise<{ code: number | null; stderr: string; lines: number }>((resolve) => {
    const child = spawn(process.execPath, ['--require', preload, path.join(root, 'dist', 'cli.js'), 'run', file, '--socket', socketPath,
      ...(json ? ['--json'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let lines = 0;
    child.stdout.on('data', (d: Buffer) => { for (const b of d) if (b === 10) lines++; });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (code) => resolve({ code, stderr, lines }));
  });
  const ms = now() - t;
  server.close();
  const kb = Number(/MAXRSS (\d+)/.exec(result.stderr)?.[1] ?? NaN);
  if (result.code !== 0) throw new Error(`the flood run exited ${result.code}: ${result.stderr}`);
  const mb = kb / 1024;
  return {
    label: `CLI ${json ? '--json' : 'text'}: 100k 1 KB events, peak RSS ${mb.toFixed(0)} MB (${result.lines} lines)`,
    ours: ms, unit: 'ms', target: `RSS < ${LIMIT_MB} MB`, met: mb < LIMIT_MB,
  };
}

/** A client that floods EVENTS events before answering the one command. */
class FloodClient implements EngineClient {
  private seq = 0;
  private readonly listeners = new Set<(e: QmpEventRecord) => void>();

  send(input: CommandInput, options: { onWritten?: (w: { sent: string; idText: string }) => void } = {}): Promise<CommandReply> {
    const sent = `{"execute":"${input.execute ?? ''}","id":"#1"}`;
    options.onWritten?.({ sent, idText: '"#1"' });
    return new Promise((resolve) => {
      let i = 0;
      const pump = (): void => {
        // In slices, as a socket would deliver them, so timers (the batcher's) get their turn.
        const end = Math.min(EVENTS, i + 2000);
        for (; i < end; i++) {
          const raw = eventText(i).trimEnd();
          const e: QmpEventRecord = { seq: ++this.seq, event: 'FLOOD', data: { i, pad: PAD }, timestamp: { seconds: 1, microseconds: i }, raw };
          for (const l of this.listeners) l(e);
        }
        if (i < EVENTS) setImmediate(pump);
        else resolve({ idText: '"#1"', ok: true, value: {}, raw: '{"return": {}, "id": "#1"}', sent });
      };
      pump();
    });
  }

  onEvent(listener: (e: QmpEventRecord) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  eventCursor(): number {
    return this.seq;
  }

  waitForEvent(): Promise<QmpEventRecord> {
    return Promise.reject(new Error('not used'));
  }
}

async function cellFlood(): Promise<Row[]> {
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 10);
  let appends = 0;
  let outputs = 0;
  // What the controller does with each record: one output each, appended in batches.
  const batcher = new Batcher<TranscriptRecord>((items) => { appends++; outputs += items.length; }, 50, 500);
  const engine = new RunEngine({ client: () => new FloodClient() });
  const t = now();
  await engine.run([{ cell: 0, plan: planCell('{"execute": "query-status"}', 'qmp') }], (r) => batcher.push(r));
  await batcher.settle();
  const ms = now() - t;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  engine.dispose();
  const growth = (peak - rss0) / (1024 * 1024);
  return [
    { label: `cell: 100k 1 KB events, RSS growth ${growth.toFixed(0)} MB`, ours: ms, unit: 'ms', target: `< ${LIMIT_MB} MB`, met: growth < LIMIT_MB },
    { label: `cell: UI appends ${appends} for ${outputs} outputs`, ours: ms, unit: 'ms', target: '≤ 100 appends, ≤ 1,010 outputs', met: appends <= 100 && outputs <= 1010 },
  ];
}

/** The flood rows; builds the CLI bundle first (scripts/build.mjs). */
export async function benchFlood(root: string, dir: string): Promise<Row[]> {
  const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`scripts/build.mjs failed: ${build.stderr}`);
  return [await cliFlood(root, dir, true), await cliFlood(root, dir, false), ...(await cellFlood())];
}
