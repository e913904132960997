// `qmp-notebook shell` against real QEMU through the production CLI bundle: typed in a real pseudo-terminal
// (tmux, Debian's), the way a person types: completion with Tab, history with Up, events that arrive while a
// line is half typed, `--record` then `qmp-notebook test` on a fresh sandbox; and scripted through stdin.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QmpClient } from '../../src/qmp/index';
import { startQemu, type TestQemu } from '../support/qemu';
import { buildCli, runCliBundle, type CliResult } from '../support/cliBundle';
import { assertValidRecords } from '../support/records';

let bundle = '';
let dir = '';
const hasTmux = spawnSync('tmux', ['-V']).status === 0;

before(async () => {
  bundle = await buildCli();
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-shell-test-'));
});
after(() => { rmSync(dir, { recursive: true, force: true }); });

/** A shell in a tmux pane of its own server (private socket under the test's folder). */
class Pane {
  private readonly socket: string;

  constructor(name: string, args: string[], env: Record<string, string>) {
    this.socket = path.join(dir, `tmux-${name}`);
    const command = [process.execPath, bundle, 'shell', ...args];
    // tmux runs the command through a shell; every word is quoted for it.
    const quoted = command.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
    const envArgs = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    const r = spawnSync('tmux', ['-S', this.socket, '-f', '/dev/null', 'new-session', '-d', '-x', '160', '-y', '50', ...envArgs, `${quoted}; sleep 30`]);
    assert.equal(r.status, 0, r.stderr?.toString());
  }

  keys(...keys: string[]): void {
    const r = spawnSync('tmux', ['-S', this.socket, 'send-keys', '-t', '0', ...keys]);
    assert.equal(r.status, 0, r.stderr?.toString());
  }

  /** Types text literally (no key names). */
  type(text: string): void {
    const r = spawnSync('tmux', ['-S', this.socket, 'send-keys', '-t', '0', '-l', text]);
    assert.equal(r.status, 0, r.stderr?.toString());
  }

  screen(): string {
    const r = spawnSync('tmux', ['-S', this.socket, 'capture-pane', '-p', '-t', '0'], { encoding: 'utf8' });
    return r.stdout;
  }

  /** Waits until the screen matches (polling the pane: tmux has no event for it), at most `ms`. */
  async waitFor(re: RegExp, ms = 20_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = this.screen();
      if (re.test(s)) return s;
      if (Date.now() > deadline) assert.fail(`the screen never matched ${re}:\n${s}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The line the cursor is on, without trailing blanks. */
  cursorLine(): string {
    const r = spawnSync('tmux', ['-S', this.socket, 'display-message', '-p', '-t', '0', '#{cursor_y}'], { encoding: 'utf8' });
    const y = Number(r.stdout.trim());
    return (this.screen().split('\n')[y] ?? '').trimEnd();
  }

  /** Waits until the line being typed reads `text`. */
  async waitForLine(text: string, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.cursorLine() !== text) {
      if (Date.now() > deadline) assert.fail(`the line never read ${JSON.stringify(text)}; it reads ${JSON.stringify(this.cursorLine())}\n${this.screen()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  kill(): void {
    spawnSync('tmux', ['-S', this.socket, 'kill-server']);
  }
}

describe('qmp-notebook shell in a terminal', { skip: hasTmux ? false : 'tmux is not installed' }, () => {
  test('Tab completes commands, dotted keys, enum values and live node names; ? explains; --record then test passes', async () => {
    const home = mkdtempSync(path.join(dir, 'home-'));
    const record = path.join(dir, 'session.qmp');
    const pane = new Pane('complete', ['--sandbox', '--record', record], { HOME: home });
    try {
      await pane.waitFor(/\(QEMU\) ?$/m);
      // Two Tabs list the candidates of an ambiguous prefix; one more letter makes it unique.
      pane.type('query-stat');
      pane.keys('Tab');
      await pane.waitForLine('(QEMU) query-stat');
      pane.keys('Tab');
      const listed = await pane.waitFor(/query-status/);
      assert.match(listed, /query-stats/);
      pane.type('u');
      pane.keys('Tab');
      await pane.waitForLine('(QEMU) query-status');
      pane.keys('Enter');
      await pane.waitFor(/"status": "prelaunch"/);

      // An enum value, a dotted key at depth 2 and a boolean value.
      pane.type('blockdev-add driver=null-c');
      pane.keys('Tab');
      await pane.waitForLine('(QEMU) blockdev-add driver=null-co');
      pane.type(' node-name=disk0 cache.dir');
      pane.keys('Tab');
      await pane.waitForLine('(QEMU) blockdev-add driver=null-co node-name=disk0 cache.direct=');
      pane.type('fa');
      pane.keys('Tab');
      await pane.waitForLine('(QEMU) blockdev-add driver=null-co node-name=disk0 cache.direct=false');
      pane.keys('Enter');
      await pane.waitFor(/\{"return": \{\}\}\n\(QEMU\) ?$/m);

      // The node name the QEMU now holds.
      pane.type('block-dirty-bitmap-add name=b0 node=di');
      pane.keys('Tab');
      await pane.waitForLine('(QEMU) block-dirty-bitmap-add name=b0 node=disk0');
      pane.keys('Enter');
      await pane.waitFor(/\{"return": \{\}\}\n\(QEMU\) ?$/m);

      // A problem is shown before sending; the line is sent as run sends it, and QEMU's own error follows.
      pane.type('qeury-status');
      pane.keys('Enter');
      await pane.waitFor(/did you mean 'query-status'\?\n\{"error": \{"class": "CommandNotFound"[^\n]*\n\(QEMU\) ?$/m);

      // A line ending in ? shows the documentation of the word before it.
      pane.type('blockdev-add driver?');
      pane.keys('Enter');
      const hover = await pane.waitFor(/blockdev-add driver\?\ndriver \(member of blockdev-add\): required\n[\s\S]*\(QEMU\) ?$/m);
      assert.match(hover, /Type: 'blkdebug' \|/);

      pane.keys('C-d');
      await pane.waitFor(/\$ $|^$/m, 20_000);
    } finally {
      pane.kill();
    }
    // The recorded notebook: commands as cells, replies as saved outputs, the typo with QEMU's error.
    const text = readFileSync(record, 'utf8');
    assert.match(text, /```qmp-shell\nquery-status\n```\n\n```qmp-output\n-> \{"execute": "query-status"\}\n\n<- \{"return": \{"status": "prelaunch"/);
    assert.match(text, /```qmp-shell\nblockdev-add driver=null-co node-name=disk0 cache.direct=false\n```/);
    assert.match(text, /```qmp-shell\nqeury-status\n```\n\n```qmp-output\n-> \{"execute": "qeury-status"\}\n\n<- \{"error": \{"class": "CommandNotFound"/);
    assert.equal(statSync(record).mode & 0o777, 0o600);
    // It re-runs as a regression test on a fresh sandbox.
    const r = await runCliBundle(bundle, ['test', record, '--sandbox']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /4 passed, 0 failed/);
  });

  test('history is kept in a private file and comes back with Up in the next session', async () => {
    const home = mkdtempSync(path.join(dir, 'home-'));
    const history = path.join(home, '.qmp-notebook_history');
    let pane = new Pane('history1', ['--sandbox'], { HOME: home });
    try {
      await pane.waitFor(/\(QEMU\) ?$/m);
      pane.type('query-name');
      pane.keys('Enter');
      await pane.waitFor(/\{"return": \{\}\}/);
      pane.keys('C-d');
      const deadline = Date.now() + 20_000;
      while (!existsSync(history) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    } finally {
      pane.kill();
    }
    assert.equal(readFileSync(history, 'utf8'), 'query-name\n');
    assert.equal(statSync(history).mode & 0o777, 0o600);
    pane = new Pane('history2', ['--sandbox'], { HOME: home });
    try {
      await pane.waitFor(/\(QEMU\) ?$/m);
      pane.keys('Up');
      await pane.waitForLine('(QEMU) query-name');
    } finally {
      pane.kill();
    }
  });

  test('an event that arrives while a line is half typed prints above it, and the line is kept', async () => {
    const qemu: TestQemu = await startQemu({ args: ['-qmp', `unix:${path.join(dir, 'second.sock')},server=on,wait=off`] });
    const other = new QmpClient();
    const record = path.join(dir, 'events.qmp');
    const pane = new Pane('events', ['--socket', qemu.socketPath, '-p', '--record', record], { HOME: mkdtempSync(path.join(dir, 'home-')) });
    try {
      await pane.waitFor(/\(QEMU\) ?$/m);
      pane.type('query-name');
      pane.keys('Enter');
      await pane.waitFor(/"return": \{\}\n\}\n\(QEMU\) ?$/m);
      pane.type('query-sta');
      await pane.waitForLine('(QEMU) query-sta');
      // Another monitor resumes the guest: RESUME goes to every monitor, the shell's included.
      await other.connect({ kind: 'unix', path: path.join(dir, 'second.sock') });
      await other.execute('cont');
      const screen = await pane.waitFor(/"event": "RESUME"/);
      assert.match(screen, /"timestamp": \{/, 'pretty-printed (-p)');
      await pane.waitForLine('(QEMU) query-sta');
      pane.type('tus');
      pane.keys('Enter');
      await pane.waitFor(/"status": "running"/);
      const lines = pane.screen().split('\n').filter((l) => l.startsWith('(QEMU)'));
      assert.deepEqual(lines, ['(QEMU) query-name', '(QEMU) query-status', '(QEMU)'], pane.screen());
      // The event is saved with the command before it, its timestamp in the stable form.
      const saved = readFileSync(record, 'utf8');
      assert.match(saved, /```qmp-shell\nquery-name\n```\n\n```qmp-output\n-> \{"execute": "query-name"\}\n\n<- \{"return": \{\}\}\n\n<- \{"timestamp": \{"seconds": "SECS", "microseconds": "USECS"\}, "event": "RESUME"\}\n```/);
    } finally {
      pane.kill();
      await other.disconnect();
      await qemu.stop();
    }
  });
});

/** Runs the shell with `input` on stdin (a pipe, not a terminal). */
function shellScript(input: string, args: string[]): Promise<CliResult> {
  return runCliBundle(bundle, ['shell', ...args], { input, env: { ...process.env, HOME: dir }, deadlineMs: 60_000 });
}

describe('qmp-notebook shell reading a script', () => {
  test('printf query-status | shell --sandbox prints the reply and exits 0', async () => {
    const r = await shellScript('query-status\n', ['--sandbox']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\{"return": \{"status": "prelaunch", [^\n]*"running": false\}\}\n$/);
    assert.equal(r.stderr, '');
  });

  test('JSON over several lines, HMP after !, a transaction; HMP replies print as text', async () => {
    const script = [
      '{"execute": "blockdev-add",', ' "arguments": {"driver": "null-co", "node-name": "n1"}}',
      '!info status',
      'transaction(', 'block-dirty-bitmap-add node=n1 name=b0', 'block-dirty-bitmap-add node=n1 name=b1', ')',
      'query-named-block-nodes flat=true',
    ].join('\n');
    const r = await shellScript(`${script}\n`, ['--sandbox']);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.split('\n');
    assert.equal(out[0], '{"return": {}}');
    assert.equal(out[1], 'VM status: paused (prelaunch)');
    assert.equal(out[2], '{"return": {}}');
    assert.match(out[3] ?? '', /"name": "b0"/);
    assert.match(out[3] ?? '', /"name": "b1"/);
  });

  test('a failed command: the error reply on stdout, exit 1; the next commands still run', async () => {
    const r = await shellScript('device_del id=nope\nquery-status\nqeury-status\n', ['--sandbox']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^\{"error": \{"class": "DeviceNotFound"[^\n]*\n\{"return": \{"status": "prelaunch"[^\n]*\n\{"error": \{"class": "CommandNotFound"/);
    // The typo's hint comes before sending; the line is sent as run sends it (one verdict on every door).
    assert.match(r.stderr, /did you mean 'query-status'\?\n/);
    assert.doesNotMatch(r.stderr, /not sent/);
  });

  test('--oob sends exec-oob (the recorded cell shows it); a command without allow-oob is refused before sending', async () => {
    const record = path.join(dir, 'oob.qmp');
    const r = await shellScript('query-status --oob\nmigrate-pause --oob\n', ['--sandbox', '--record', record]);
    assert.equal(r.code, 1);
    // The diagnostic under the line, then the engine's refusal (run's words): nothing was sent.
    assert.match(r.stderr, /query-status --oob\n {15}\^{5}\nerror: The command query-status does not support OOB\nerror: query-status cannot run out-of-band: its schema does not have allow-oob\. Nothing was sent\.\n/);
    assert.match(r.stdout, /^\{"error": \{"class": "GenericError", "desc": "migrate-pause is currently only supported during postcopy-active state"\}\}\n$/);
    const text = readFileSync(record, 'utf8');
    assert.match(text, /```qmp-shell\nmigrate-pause --oob\n```\n\n```qmp-output\n-> \{"exec-oob": "migrate-pause"\}\n/);
    assert.doesNotMatch(text, /query-status/);
  });

  test('a cell pasted with its fences runs as run runs it: its <- reply compared, the final line of the job it follows', async () => {
    const script = [
      'blockdev-add driver=null-co node-name=src size=1048576', 'blockdev-add driver=null-co node-name=dst size=1048576',
      '```qmp',
      '{"execute": "blockdev-mirror", "arguments": {"job-id": "m0", "device": "src", "target": "dst", "sync": "full", "speed": 2097152}}',
      '<- {"return": {}}',
      '{"wait-event": "BLOCK_JOB_READY"}',
      '{"execute": "block-job-complete", "arguments": {"device": "m0"}}',
      '{"wait-event": "JOB_STATUS_CHANGE", "data": {"status": "null"}}',
      '```',
      '```qmp', '{"execute": "query-name"}', '<- {"return": {"name": "x"}}', '```',
    ].join('\n');
    const r = await shellScript(`${script}\n`, ['--sandbox']);
    // A differing <- reply is said, not a failure (as in run).
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^\/\/ the reply matches the expected <- reply$/m);
    assert.match(r.stderr, /^\/\/ job m0 \(mirror\): concluded, 100%, 1\.0 MiB in \d+\.\d s$/m);
    assert.match(r.stderr, /^\/\/ the reply differs from the expected <- reply: .*name/m);
  });

  test('--json: an event that comes between commands is a late event record of the command before it', async () => {
    const child = spawn(process.execPath, [bundle, 'shell', '--sandbox', '--json'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HOME: dir } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      // The job is ready about half a second after its command's reply: no command runs then.
      child.stdin.write('blockdev-add driver=null-co node-name=src size=1048576\nblockdev-add driver=null-co node-name=dst size=1048576\n' +
        'blockdev-mirror job-id=m0 device=src target=dst sync=full speed=2097152\n');
      const deadline = Date.now() + 30_000;
      while (!stdout.includes('"BLOCK_JOB_READY"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      child.stdin.end('query-name\n');
      assert.equal(await closed, 0, stderr);
    } finally {
      clearTimeout(timer);
    }
    const records = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    await assertValidRecords(records);
    const ready = records.find((x) => x['type'] === 'event' && (x['event'] as { event: string }).event === 'BLOCK_JOB_READY');
    assert.ok(ready, stdout);
    assert.equal(ready['cell'], 3);
    assert.equal(ready['late'], true);
    // It follows its cell's end, and comes before the next cell starts; its time is on the engine's clock.
    const at = records.indexOf(ready);
    const finished = records.findIndex((x) => x['type'] === 'cell-finished' && x['cell'] === 3);
    const next = records.findIndex((x) => x['type'] === 'cell-started' && x['cell'] === 4);
    assert.ok(finished < at && at < next, stdout);
    assert.ok((ready['at'] as number) >= (records[finished]?.['at'] as number) && (ready['at'] as number) <= (records[next]?.['at'] as number), stdout);
  });

  test('--json: every input\'s records as run --json prints them; a line refused before sending is a record with its problems', async () => {
    const r = await shellScript('query-status\n{"execute": "cont"}\nqeury-status\nquery-status --oob\n', ['--sandbox', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const records = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(records[0], { type: 'transcript', format: 1 });
    await assertValidRecords(records);
    assert.deepEqual([...new Set(records.slice(1).map((x) => x['cell']))], [1, 2, 3, 4]);
    assert.ok(records.some((x) => x['type'] === 'reply' && x['command'] === 'query-status'), r.stdout);
    // RESUME comes with cont's reply (its cell's); the typo is sent as run sends it and gets QEMU's error; an
    // exec-oob of a command without allow-oob is refused before sending, with the engine's problem.
    assert.ok(records.some((x) => x['type'] === 'event' && x['cell'] === 2), r.stdout);
    const failures = records.filter((x) => x['type'] === 'failure') as Array<{ kind: string; cell: number; message?: string }>;
    assert.deepEqual(failures.map((f) => [f.cell, f.kind]), [[3, 'qemu-error'], [4, 'not-sent-because-invalid']], r.stdout);
    assert.match(failures[1]?.message ?? '', /cannot run out-of-band: its schema does not have allow-oob\. Nothing was sent/);
    assert.match(r.stderr, /did you mean 'query-status'/);
  });

  test('SIGTERM while a command waits: exit 143, the sandbox QEMU stopped with it', async () => {
    const child = spawn(process.execPath, [bundle, 'shell', '--sandbox'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HOME: dir } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    child.stdin.write('query-status\nwait-event RESET timeout=60000\n');
    const deadline = Date.now() + 30_000;
    while (!stdout.includes('prelaunch') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // The sandbox is a child of the shell while it runs.
    const kids = spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    assert.ok(kids.length > 0, 'a sandbox QEMU runs');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    assert.equal(await closed, 143, stderr);
    clearTimeout(timer);
    assert.match(stderr, /qmp-notebook: terminated/);
    for (const pid of kids) {
      const gone = Date.now() + 5000;
      while (spawnSync('kill', ['-0', pid]).status === 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
      assert.notEqual(spawnSync('kill', ['-0', pid]).status, 0, `process ${pid} still runs`);
    }
  });

  test('-H: every line is HMP; --record writes HMP cells', async () => {
    const record = path.join(dir, 'hmp.qmp');
    writeFileSync(record, 'stale');
    const r = await shellScript('info status\n', ['--sandbox', '-H', '--record', record]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'VM status: paused (prelaunch)\n');
    const text = readFileSync(record, 'utf8');
    assert.match(text, /```hmp\ninfo status\n```\n\n```qmp-output\n-> \{"execute": "human-monitor-command", "arguments": \{"command-line": "info status"\}\}\n\n<- \{"return": "VM status: paused \(prelaunch\)\\r\\n"\}\n```\n$/);
  });
});
