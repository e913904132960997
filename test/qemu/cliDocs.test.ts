// docs/cli.md's `run` and `check` examples, taken from the page and run as the page shows them: the notebook the
// page prints (`demo.qmp`) is written as it is, the command lines are run as written (the socket path replaced by
// a test QEMU's), and their output is compared with the page's line by line. `check --schema
// qemu-10.0-schema.json` names its QEMU, so its output must match exactly (QEMU 10.0's schema, from the fixtures);
// `run` names none, so what QEMU stamps (an event's timestamp, how long a wait took) is masked, nothing else.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startQemu, type TestQemu } from '../support/qemu';
import { buildCli, cliBundle, repoRoot, runCliBundle } from '../support/cliBundle';

const page = readFileSync(path.join(repoRoot, 'docs', 'cli.md'), 'utf8');

/** The body of the first fenced block (fence of `fence`) that starts after `marker` on the page. */
function blockAfter(marker: string, fence = '```'): string {
  const at = page.indexOf(marker);
  assert.ok(at >= 0, `docs/cli.md has no "${marker}"`);
  const open = page.indexOf(`\n${fence}`, at);
  const bodyStart = page.indexOf('\n', open + 1) + 1;
  const close = page.indexOf(`\n${fence}\n`, bodyStart - 1);
  assert.ok(open >= 0 && close > open, `no ${fence} block after "${marker}"`);
  return page.slice(bodyStart, close + 1);
}

/** A terminal example: the command after `$ ` and the lines it prints. */
function example(marker: string): { argv: string[]; lines: string[] } {
  const block = blockAfter(marker);
  const [first, ...rest] = block.replace(/\n$/, '').split('\n');
  assert.ok(first?.startsWith('$ qmp-notebook '), `the example after "${marker}" starts with a command`);
  return { argv: (first ?? '').slice('$ qmp-notebook '.length).split(' '), lines: rest };
}

/** QEMU's stamps: an event's timestamp, a wait's duration. */
function masked(line: string): string {
  return line
    .replace(/"seconds": \d+, "microseconds": \d+/g, '"seconds": S, "microseconds": US')
    .replace(/\(waited [\d.]+ ms\)/g, '(waited MS ms)');
}

let dir: string;
let qemu: TestQemu;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-cli-docs-'));
  chmodSync(dir, 0o700);
  writeFileSync(path.join(dir, 'demo.qmp'), blockAfter('The examples on this page run `demo.qmp`', '````'), { mode: 0o600 });
  copyFileSync(path.join(repoRoot, 'test', 'fixtures', 'qemu-10.0', 'query-qmp-schema.json'), path.join(dir, 'qemu-10.0-schema.json'));
  await buildCli();
  qemu = await startQemu();
});

after(async () => {
  await qemu?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("docs/cli.md's examples, as the page shows them", () => {
  test('check demo.qmp --schema qemu-10.0-schema.json: every line of the page, exit 1', async () => {
    const { argv, lines } = example('## `check`');
    const r = await runCliBundle(cliBundle, argv, { cwd: dir });
    // Problems go to standard output, the closing count to standard error (as a terminal shows them, in order).
    assert.deepEqual([...r.stdout.split('\n').filter((l) => l !== ''), ...r.stderr.split('\n').filter((l) => l !== '')], lines);
    assert.equal(r.code, 1);
  });

  test('run demo.qmp --socket …: the transcript of the page (QEMU\'s stamps masked), the error on standard error, exit 1', async () => {
    const { argv, lines } = example('Text output (the default) prints');
    const socket = argv.indexOf('--socket');
    assert.ok(socket > 0, 'the example names a socket');
    argv[socket + 1] = qemu.socketPath;
    const r = await runCliBundle(cliBundle, argv, { cwd: dir });
    const stderrLine = lines.filter((l) => l.startsWith('qmp-notebook: '));
    assert.deepEqual(r.stdout.split('\n').filter((l) => l !== '').map(masked), lines.filter((l) => !l.startsWith('qmp-notebook: ')).map(masked));
    assert.deepEqual(r.stderr.split('\n').filter((l) => l !== ''), stderrLine);
    assert.match(page, /The last line goes to standard error; the exit status is 1\./);
    assert.equal(r.code, 1);
  });
});
