// The command line at a terminal (a pseudo-terminal made by util-linux `script`): colours and the progress
// line appear there and only there: never with NO_COLOR, never in a pipe.
/* eslint-disable no-control-regex -- the tests look for terminal escape codes (ESC, 0x1b) on purpose */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildCli } from '../support/cliBundle';

let bundle = '';
let dir = '';
const hasScript = spawnSync('script', ['--version']).status === 0;

before(async () => {
  bundle = await buildCli();
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-cli-tty-'));
});
after(() => { rmSync(dir, { recursive: true, force: true }); });

const quote = (w: string): string => `'${w.replace(/'/g, `'\\''`)}'`;

/** Runs the CLI in a pseudo-terminal; returns what the terminal showed (stdout and stderr together). */
function inTerminal(args: string[], env: Record<string, string> = {}, cwd?: string): { status: number | null; screen: string } {
  const command = [process.execPath, bundle, ...args].map(quote).join(' ');
  const r = spawnSync('script', ['-qefc', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm', ...env }, timeout: 60_000, ...(cwd ? { cwd } : {}) });
  return { status: r.status, screen: r.stdout };
}

describe('at a terminal', { skip: hasScript ? false : 'script (util-linux) is not installed' }, () => {
  test('test: ok green, FAIL red, the diff coloured; none with NO_COLOR or in a pipe', () => {
    const file = path.join(dir, 'changed.qmp');
    writeFileSync(file, '```qmp\n{"execute": "query-status"}\n```\n\n```qmp-output\n<- {"return": {"status": "running"}}\n```\n');
    const tty = inTerminal(['test', file, '--sandbox']);
    assert.equal(tty.status, 1, tty.screen);
    assert.match(tty.screen, /\x1b\[31mFAIL\x1b\[39m /);
    assert.match(tty.screen, /\x1b\[31m-<- \{"return": \{"status": "running"\}\}\x1b\[39m/);
    assert.match(tty.screen, /\x1b\[31m0 passed, 1 failed\x1b\[39m/);
    const plain = inTerminal(['test', file, '--sandbox'], { NO_COLOR: '1' });
    assert.equal(plain.status, 1);
    assert.doesNotMatch(plain.screen, /\x1b\[3\dm/);
    const piped = spawnSync(process.execPath, [bundle, 'test', file, '--sandbox'], { encoding: 'utf8', timeout: 60_000 });
    assert.doesNotMatch(piped.stdout + piped.stderr, /\x1b/);
  });

  test('run: a progress line during a long wait, cleared before the output; a closing line', () => {
    const file = path.join(dir, 'wait.qmp');
    writeFileSync(file, '```qmp\n{"execute": "query-status"}\n{"wait-event": "RESET", "timeout": 2500}\n```\n');
    // The file by its short name: the progress line is cut to the terminal's width, and TMPDIR may be long
    // (the QEMU 10.0 tier's is inside its chroot).
    const tty = inTerminal(['run', 'wait.qmp', '--sandbox'], {}, dir);
    assert.equal(tty.status, 1, tty.screen);
    assert.match(tty.screen, /\r\x1b\[Krunning wait\.qmp: 1 cell … [12] s/);
    assert.match(tty.screen, /\r\x1b\[Kqmp-notebook: [^\n]*RESET/);
    assert.match(tty.screen, /qmp-notebook: stopped at cell 1 after 2\.\d s/);
    const piped = spawnSync(process.execPath, [bundle, 'run', file, '--sandbox'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(piped.status, 1);
    assert.doesNotMatch(piped.stderr, /running|stopped at/);
  });
});
