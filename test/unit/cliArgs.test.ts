// Argument parsing of the qmp-notebook CLI: every request form, and a usage error for every mistake.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, parseHostPort, MAX_TIMEOUT_MS, USAGE, type CliRequest } from '../../src/cli/args';

function ok(argv: string[]): CliRequest {
  const r = parseArgs(argv);
  if (!r.ok) assert.fail(`expected success for ${JSON.stringify(argv)}, got: ${r.message}`);
  return r.request;
}

function usageError(argv: string[], pattern: RegExp): void {
  const r = parseArgs(argv);
  assert.equal(r.ok, false, `expected a usage error for ${JSON.stringify(argv)}`);
  if (!r.ok) assert.match(r.message, pattern);
}

describe('cli args: run', () => {
  test('defaults: the default connection, text output, no whole-run deadline', () => {
    assert.deepEqual(ok(['run', 'a.qmp']), {
      command: 'run', file: 'a.qmp', connection: { kind: 'default' }, json: false,
    });
  });
  test('every option, in both --opt value and --opt=value spellings', () => {
    assert.deepEqual(ok(['run', '--socket', '/tmp/q.sock', 'a.qmp', '--json', '--timeout=250']), {
      command: 'run', file: 'a.qmp', connection: { kind: 'unix', path: '/tmp/q.sock' }, json: true, timeoutMs: 250,
    });
    assert.deepEqual(ok(['run', 'a.qmp', '--tcp=localhost:4444']), {
      command: 'run', file: 'a.qmp', connection: { kind: 'tcp', host: 'localhost', port: 4444 }, json: false,
    });
    assert.deepEqual(ok(['run', 'a.qmp', '--sandbox', '--qemu', '/opt/qemu']), {
      command: 'run', file: 'a.qmp', connection: { kind: 'sandbox' }, json: false,
      qemuBinary: '/opt/qemu',
    });
  });
  test('a file that starts with a dash after --', () => {
    const r = ok(['run', '--', '-odd.qmp']);
    assert.equal(r.command === 'run' && r.file, '-odd.qmp');
  });
  test('usage errors', () => {
    usageError(['run'], /needs a notebook file/);
    usageError(['run', 'a.qmp', 'b.qmp'], /one notebook file/);
    usageError(['run', 'a.qmp', '--socket', 'x', '--sandbox'], /only one of --socket, --sandbox/);
    usageError(['run', 'a.qmp', '--tcp', 'x'], /HOST:PORT/);
    usageError(['run', 'a.qmp', '--tcp', 'h:0'], /HOST:PORT/);
    usageError(['run', 'a.qmp', '--timeout', '-5'], /positive number/);
    usageError(['run', 'a.qmp', '--timeout', '1.5'], /positive number/);
    usageError(['run', 'a.qmp', '--timeout'], /needs a value/);
    // Node fires a timer longer than 2^31-1 ms at once: such a deadline is refused, never shortened.
    usageError(['run', 'a.qmp', '--timeout', '3000000000'], /at most 2147483647 ms/);
    usageError(['run', 'a.qmp', '--timeout', '99999999999999999999999'], /at most/);
    assert.deepEqual(ok(['run', 'a.qmp', '--timeout', String(MAX_TIMEOUT_MS)]), {
      command: 'run', file: 'a.qmp', connection: { kind: 'default' }, json: false, timeoutMs: MAX_TIMEOUT_MS,
    });
    assert.deepEqual(ok(['run', 'a.qmp', '--deadline', '5000', '--timeout', '100']), {
      command: 'run', file: 'a.qmp', connection: { kind: 'default' }, json: false, timeoutMs: 100, deadlineMs: 5000,
    });
    usageError(['run', 'a.qmp', '--deadline', '0'], /--deadline expects a positive number/);
    assert.match(USAGE, /--timeout MS +the time limit of each command/);
    assert.match(USAGE, /--deadline MS +a deadline for the whole command, connecting included, in every command/);
    usageError(['run', 'a.qmp', '--socket='], /needs a value/);
    usageError(['run', 'a.qmp', '--json=yes'], /takes no value/);
    usageError(['run', 'a.qmp', '--json', '--json'], /given twice/);
    usageError(['run', 'a.qmp', '--schema', 's.json'], /'run' does not take --schema/);
    usageError(['run', 'a.qmp', '--frobnicate'], /unknown option '--frobnicate'/);
    usageError(['run', 'a.qmp', '-x'], /unknown option '-x'/);
    usageError(['run', 'a.qmp', '--socket', 's', '--qemu', 'q'], /--qemu only applies to --sandbox/);
  });
});

describe('cli args: check and schema', () => {
  test('check with a schema file or a connection', () => {
    assert.deepEqual(ok(['check', 'a.qmp', '--schema', 's.json', '--json']), {
      command: 'check', files: ['a.qmp'], schemaFile: 's.json', connection: { kind: 'default' }, json: true,
    });
    assert.deepEqual(ok(['check', 'a.qmp', '--socket', '/s']), {
      command: 'check', files: ['a.qmp'], connection: { kind: 'unix', path: '/s' }, json: false,
    });
    usageError(['check', 'a.qmp', '--schema', 's.json', '--sandbox'], /only one of/);
    assert.deepEqual(ok(['check', 'a.qmp', 'b.qmp', '-', '--timeout', '5']), {
      command: 'check', files: ['a.qmp', 'b.qmp', '-'], connection: { kind: 'default' }, json: false, timeoutMs: 5,
    });
    usageError(['check', 'a.qmp', '--update'], /unknown option '--update'/);
  });
  test('schema takes a connection and no file', () => {
    assert.deepEqual(ok(['schema', '--sandbox']), { command: 'schema', connection: { kind: 'sandbox' } });
    assert.deepEqual(ok(['schema']), { command: 'schema', connection: { kind: 'default' } });
    usageError(['schema', 'a.qmp'], /takes no file/);
    usageError(['schema', '--json'], /'schema' does not take --json/);
  });
});

describe('cli args: help, version, nonsense', () => {
  test('help and version', () => {
    assert.deepEqual(ok(['--help']), { command: 'help' });
    assert.deepEqual(ok(['-h']), { command: 'help' });
    assert.deepEqual(ok(['run', '--help']), { command: 'help', topic: 'run' });
    assert.deepEqual(ok(['--version']), { command: 'version' });
    assert.deepEqual(ok(['-V']), { command: 'version' });
  });
  test('no command, an unknown command, an option before the command', () => {
    usageError([], /no command given/);
    usageError(['frob'], /unknown command 'frob'/);
    usageError(['--json', 'run', 'a.qmp'], /needs a command before it/);
  });
  test('host:port forms', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:4444'), { host: '127.0.0.1', port: 4444 });
    assert.deepEqual(parseHostPort('[::1]:4444'), { host: '::1', port: 4444 });
    assert.equal(parseHostPort('::1:4444'), undefined);
    assert.equal(parseHostPort('host:65536'), undefined);
    assert.equal(parseHostPort('host'), undefined);
  });
});
