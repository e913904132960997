// Live progress of long work (issue 22) through the production CLI bundle on a real QEMU (the tier's: 7.2, or
// 10.0 in the qemu10 tier): a throttled blockdev-mirror between two null-co nodes (48 MiB at 16 MiB/s, about three seconds).
// `run --json` records the job's progress and its final status (valid against the shipped schema); the text
// output says how the job ended; nothing about progress reaches standard error when it is not a terminal; at a
// terminal (a pseudo-terminal made by util-linux `script`) `run` and `test` draw the bar on the progress line.
/* eslint-disable no-control-regex -- the tests look for terminal escape codes (ESC, 0x1b) on purpose */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildCli, cliBundle, runCliBundle } from '../support/cliBundle';
import { startQemu, type TestQemu } from '../support/qemu';

const hasScript = spawnSync('script', ['--version']).status === 0;
let dir = '';
let qemu: TestQemu;
const size = 48 * 1024 * 1024;
let made = 0;

/** A notebook with the mirror cell (its nodes named afresh: every run adds them to the same QEMU); its file name. */
function mirrorNotebook(): string {
  const n = ++made;
  const mirror = [
    `{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "src${n}", "size": ${size}}}`,
    `{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "dst${n}", "size": ${size}}}`,
    `{"execute": "blockdev-mirror", "arguments": {"job-id": "m0", "device": "src${n}", "target": "dst${n}", "sync": "full", "speed": 16777216}}`,
    '{"wait-event": "BLOCK_JOB_READY", "data": {"device": "m0"}, "timeout": 30000}',
    '{"execute": "block-job-complete", "arguments": {"device": "m0"}}',
    '{"wait-event": "BLOCK_JOB_COMPLETED", "data": {"device": "m0"}, "timeout": 30000}',
  ].join('\n');
  const name = `mirror${n}.qmp`;
  writeFileSync(path.join(dir, name), `# mirror\n\n\`\`\`qmp\n${mirror}\n\`\`\`\n`, { mode: 0o600 });
  return name;
}

before(async () => {
  await buildCli();
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-progress-'));
  qemu = await startQemu();
});
after(async () => {
  await qemu.stop();
  rmSync(dir, { recursive: true, force: true });
});

const quote = (w: string): string => `'${w.replace(/'/g, `'\\''`)}'`;

/** Runs the CLI in a pseudo-terminal; returns what the terminal showed (stdout and stderr together). */
function inTerminal(args: string[]): { status: number | null; screen: string } {
  const command = [process.execPath, cliBundle, ...args].map(quote).join(' ');
  const r = spawnSync('script', ['-qefc', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm', COLUMNS: '200' }, timeout: 90_000, cwd: dir });
  return { status: r.status, screen: r.stdout };
}

describe('job progress in the CLI', () => {
  test('run --json: job-progress records that advance, one job-finished (concluded, 100%), all valid; no progress on a stderr that is no terminal', async () => {
    const r = await runCliBundle(cliBundle, ['run', path.join(dir, mirrorNotebook()), '--socket', qemu.socketPath, '--json'], { deadlineMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    const records = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    const { default: Ajv2020 } = await import('ajv/dist/2020');
    const schema = JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', 'schemas', 'transcript.schema.json'), 'utf8')) as object;
    const validate = new Ajv2020({ strict: false }).compile(schema);
    for (const rec of records) assert.ok(validate(rec), `${JSON.stringify(rec)}: ${JSON.stringify(validate.errors)}`);
    const progress = records.filter((x) => x['type'] === 'job-progress');
    const percents = progress.map((x) => x['percent']).filter((p): p is number => typeof p === 'number');
    assert.ok(new Set(percents).size >= 2, JSON.stringify(progress));
    assert.ok(progress.every((x) => x['job'] === 'm0' && x['kind'] === 'block-job' && x['cell'] === 2));
    assert.ok(progress.some((x) => typeof x['bytesPerSecond'] === 'number'), 'a speed');
    const finished = records.filter((x) => x['type'] === 'job-finished');
    assert.equal(finished.length, 1, JSON.stringify(finished));
    assert.equal(finished[0]?.['outcome'], 'concluded');
    assert.equal(finished[0]?.['percent'], 100);
    assert.equal(finished[0]?.['jobType'], 'mirror');
    assert.equal(finished[0]?.['total'], size);
    const types = records.map((x) => x['type']);
    assert.ok(types.indexOf('job-finished') < types.lastIndexOf('cell-finished'));
    // The polls are not the cell's commands; the cell's own wait for BLOCK_JOB_COMPLETED was satisfied.
    assert.ok(!records.some((x) => x['command'] === 'query-jobs'));
    assert.ok(records.some((x) => x['type'] === 'wait-satisfied' && x['wait-event'] === 'BLOCK_JOB_COMPLETED'));
    assert.equal(r.stderr, '');
  });

  test('run (text, piped): the job\'s end as a // line on stdout; nothing about progress on stderr', async () => {
    const r = await runCliBundle(cliBundle, ['run', path.join(dir, mirrorNotebook()), '--socket', qemu.socketPath], { deadlineMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\/\/ job m0 \(mirror\): concluded, 100%, 48\.0 MiB in \d+\.\d s$/m);
    assert.doesNotMatch(r.stdout, /running, \d+%/);
    assert.equal(r.stderr, '');
  });

  test('a migration (events on, to exec:cat > /dev/null) is followed to its end: concluded, 100%', async () => {
    const vm = await startQemu({ machine: ['-M', 'q35', '-m', '128M', '-accel', 'tcg'] });
    try {
      const file = path.join(dir, 'migrate.qmp');
      writeFileSync(file, '```qmp\n' + [
        '{"execute": "migrate-set-capabilities", "arguments": {"capabilities": [{"capability": "events", "state": true}]}}',
        '{"execute": "migrate", "arguments": {"uri": "exec:cat > /dev/null"}}',
        '{"wait-event": "MIGRATION", "data": {"status": "completed"}, "timeout": 30000}',
      ].join('\n') + '\n```\n', { mode: 0o600 });
      const r = await runCliBundle(cliBundle, ['run', file, '--socket', vm.socketPath, '--json'], { deadlineMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const records = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
      const finished = records.filter((x) => x['type'] === 'job-finished');
      assert.equal(finished.length, 1, r.stdout);
      assert.equal(finished[0]?.['job'], 'migration');
      assert.equal(finished[0]?.['kind'], 'migration');
      assert.equal(finished[0]?.['status'], 'completed');
      assert.equal(finished[0]?.['outcome'], 'concluded');
      assert.equal(finished[0]?.['percent'], 100);
    } finally {
      await vm.stop();
    }
  });

  test('at a terminal, run and test draw the job\'s bar on the progress line, with percent, speed and time left', { skip: hasScript ? false : 'script (util-linux) is not installed' }, () => {
    const tty = inTerminal(['run', mirrorNotebook(), '--socket', qemu.socketPath]);
    assert.equal(tty.status, 0, tty.screen);
    const drawn = [...tty.screen.matchAll(/\r\x1b\[Km0 \(mirror\): running, (\d+)% \[[█·]{20}\]([^\r\n]*)/g)];
    assert.ok(new Set(drawn.map((m) => m[1])).size >= 2, tty.screen);
    assert.ok(drawn.some((m) => /MiB\/s, \d+ s left/.test(m[2] ?? '')), tty.screen);
    assert.match(tty.screen, /\/\/ job m0 \(mirror\): concluded, 100%/);
    const tested = inTerminal(['test', mirrorNotebook(), '--socket', qemu.socketPath]);
    assert.match(tested.screen, /\r\x1b\[Km0 \(mirror\): running, \d+% \[/, tested.screen);
  });
});
