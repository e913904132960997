// Which libvirt failures a retry cannot fix (no such domain, not running, a refused login) and which it can
// (libvirtd restarting, a flapping network): the classification table with the texts virsh 9.0 really prints,
// and the errors the channel raises for each, through a fake virsh (a script that plays virsh's shell).
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { assertLinear } from '../support/linear';
import { ConnectError, DisconnectedError } from '../../src/qmp/errors';
import {
  LibvirtClient, LibvirtDomainConnectError, LibvirtDomainGoneError, classifyVirshError, libvirtDomainNameProblem, libvirtPermanentFailure,
} from '../../src/endpoints/libvirt';

describe('classifying what virsh says', () => {
  // Measured on Debian 12 (libvirt 9.0.0): docs/connections.md has the same table.
  const table: [string, ReturnType<typeof classifyVirshError>][] = [
    ["failed to get domain 'vm1'", 'domain-not-found'],
    ["Domain not found: no domain with matching uuid 'ab2286b5-341f-461f-94f2-6907a6123d45' (vm1)", 'domain-not-found'],
    ["Domain not found: no domain with matching name 'vm1'", 'domain-not-found'],
    ['Requested operation is not valid: domain is not running', 'domain-not-running'],
    ['shut off', 'transient'], // a state, not an error: open() decides on states itself
    ["authentication failed: access denied by policy", 'auth'],
    ["Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied", 'auth'],
    ['Cannot recv data: Host key verification failed.: Connection reset by peer', 'auth'],
    ["Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory", 'transient'],
    ["Failed to connect socket to '/var/run/libvirt/libvirt-sock': Connection refused", 'transient'],
    ['Disconnected from qemu:///system due to end of file; Failed to reconnect to the hypervisor', 'transient'],
    ['End of file while reading data: Input/output error', 'transient'],
    // libvirtd died: virsh could not look the domain up, which does not mean it is gone.
    ["End of file while reading data: Input/output error; failed to get domain 'vm1'", 'transient'],
    ["failed to get domain 'vm1'; End of file while reading data: Input/output error", 'transient'],
    ["internal error: client socket is closed; failed to get domain 'vm1'", 'transient'],
    ["Disconnected from qemu:///system due to end of file; failed to get domain 'vm1'", 'transient'],
    ['internal error: client socket is closed', 'transient'],
    ['Unable to read from monitor: Connection reset by peer', 'transient'],
    ['Cannot recv data: ssh: Could not resolve hostname nohost: Name or service not known', 'transient'],
    ['', 'transient'],
  ];
  for (const [text, kind] of table) {
    test(`${JSON.stringify(text.slice(0, 60))} is ${kind}`, () => assert.equal(classifyVirshError(text), kind));
  }

  test('any text around a marker keeps its class; huge input is classified in linear time', () => {
    const noise = fc.string({ maxLength: 200 }).filter((t) => classifyVirshError(t) === 'transient');
    fc.assert(fc.property(noise, noise, (a, b) => {
      assert.equal(classifyVirshError(`${a}failed to get domain 'x'${b}`), 'domain-not-found');
      assert.equal(classifyVirshError(`${a}domain is not running${b}`), 'domain-not-running');
    }));
    assert.equal(classifyVirshError('Domain '.repeat(2_000_000)), 'transient');
    assertLinear('classifyVirshError', (n) => 'Domain '.repeat(n), classifyVirshError, 100_000);
  });

  test('domain names virsh would misread are refused with why; ordinary odd names are passed on', () => {
    for (const name of ['--help', '-x', '--domain=vm1', '-']) assert.match(libvirtDomainNameProblem(name) ?? '', /starts with '-'/, name);
    assert.match(libvirtDomainNameProblem('a/b') ?? '', /contains '\/'/);
    assert.match(libvirtDomainNameProblem('a\nb') ?? '', /one line/);
    assert.match(libvirtDomainNameProblem('') ?? '', /empty/);
    for (const name of ['vm1', 'a b', "it's", '$(id)', 'a;b', 'a\\b', 'x--y', '\u00e9t\u00e9']) assert.equal(libvirtDomainNameProblem(name), undefined, name);
  });

  test('the permanent failure is found through the causes a client wraps it in; others are not permanent', () => {
    const gone = new LibvirtDomainGoneError('LIBVIRT_DOMAIN_NOT_FOUND', 'libvirt domain vm1 not found on qemu:///system (x)');
    const wrapped = new DisconnectedError('query-status: the session ended', { cause: gone });
    assert.deepEqual(libvirtPermanentFailure(wrapped), { code: 'LIBVIRT_DOMAIN_NOT_FOUND', message: gone.message });
    assert.equal(libvirtPermanentFailure(new DisconnectedError('End of file while reading data')), undefined);
    assert.equal(libvirtPermanentFailure('failed to get domain'), undefined);
    // A cycle of causes ends the walk.
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    assert.equal(libvirtPermanentFailure(a), undefined);
  });
});

// A fake virsh: the shell (`-q`, commands on stdin) and the event loop (`qemu-monitor-event`, silent).
// FAKE_VIRSH_MODE: running | shutoff | missing | auth; a file FAKE_VIRSH_GONE makes the domain disappear
// (or, with FAKE_VIRSH_GONE_TEXT, say that text instead).
const FAKE = `#!/usr/bin/env node
const fs = require('fs');
const args = process.argv.slice(2);
const mode = process.env.FAKE_VIRSH_MODE;
if (args.includes('qemu-monitor-event')) {
  let said = false;
  setInterval(() => {
    if (!said && fs.existsSync(process.env.FAKE_VIRSH_GONE) && process.env.FAKE_VIRSH_SHUTDOWN) {
      said = true;
      process.stdout.write("2026-11-30 03:43:09.253+0000: event SHUTDOWN for domain 'vm1': " + JSON.stringify({ guest: false, reason: 'host-signal' }) + '\\n');
    }
  }, 20);
  return;
}
if (mode === 'auth') { process.stderr.write('error: failed to connect to the hypervisor\\nerror: authentication failed: access denied by policy\\n'); process.exit(1); }
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
    const gone = fs.existsSync(process.env.FAKE_VIRSH_GONE);
    if (line.startsWith('echo ')) process.stdout.write(line.slice(5).replace(/''/g, '') + '\\n');
    else if (line.startsWith('domstate ')) {
      if (mode === 'missing' || gone) process.stderr.write("error: failed to get domain 'vm1'\\n");
      else process.stdout.write((mode === 'shutoff' ? 'shut off' : 'paused') + '\\n\\n');
    } else if (line.startsWith('qemu-monitor-command ')) {
      if (gone) process.stderr.write('error: ' + (process.env.FAKE_VIRSH_GONE_TEXT || "Domain not found: no domain with matching uuid 'ab22' (vm1)") + '\\n');
      else process.stdout.write('{"return":{},"id":"libvirt-1"}\\n');
    }
  }
});
process.stdin.on('end', () => process.exit(0));
`;

describe('the channel over a fake virsh', () => {
  afterEach(() => { delete process.env['FAKE_VIRSH_SHUTDOWN']; });
  let dir = '';
  let virsh = '';
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'qmp-fakevirsh-'));
    virsh = path.join(dir, 'virsh');
    writeFileSync(virsh, FAKE);
    chmodSync(virsh, 0o700);
  });
  after(() => { rmSync(dir, { recursive: true, force: true }); delete process.env['FAKE_VIRSH_MODE']; });

  function setMode(mode: string, goneFile: string, goneText?: string): void {
    process.env['FAKE_VIRSH_MODE'] = mode;
    process.env['FAKE_VIRSH_GONE'] = goneFile;
    if (goneText === undefined) delete process.env['FAKE_VIRSH_GONE_TEXT'];
    else process.env['FAKE_VIRSH_GONE_TEXT'] = goneText;
  }

  const target = (): { domain: string; uri: string; virsh: string } => ({ domain: 'vm1', uri: 'qemu:///system', virsh });

  test('connecting: no such domain, shut off, refused login are permanent, each with its sentence', async () => {
    const cases: [string, string, RegExp][] = [
      ['missing', 'LIBVIRT_DOMAIN_NOT_FOUND', /^libvirt domain vm1 not found on qemu:\/\/\/system \(failed to get domain 'vm1'\)$/],
      ['shutoff', 'LIBVIRT_DOMAIN_NOT_RUNNING', /^libvirt domain vm1 is not running \(shut off\)$/],
      ['auth', 'LIBVIRT_AUTH', /^libvirt at qemu:\/\/\/system refused the connection for domain vm1 \(.*authentication failed/],
    ];
    for (const [mode, code, message] of cases) {
      setMode(mode, path.join(dir, 'none'));
      const c = new LibvirtClient(target(), { connectTimeoutMs: 20_000 });
      await assert.rejects(c.connect(), (err: unknown) => {
        assert.ok(err instanceof LibvirtDomainConnectError, `${mode}: ${String(err)}`);
        assert.ok(err instanceof ConnectError);
        assert.equal(err.code, code);
        assert.match(err.message, message);
        assert.equal(libvirtPermanentFailure(err)?.code, code);
        return true;
      });
      assert.equal(c.state, 'idle');
    }
  });

  test('mid-session: a domain that disappears ends the session as permanent; libvirtd going away does not', async () => {
    for (const [text, permanent] of [[undefined, true], ['Requested operation is not valid: domain is not running', true],
      ['End of file while reading data: Input/output error', false]] as const) {
      const goneFile = path.join(dir, `gone-${String(permanent)}-${text?.length ?? 0}`);
      setMode('running', goneFile, text);
      const c = new LibvirtClient(target(), { connectTimeoutMs: 20_000 });
      await c.connect();
      try {
        const lost = new Promise<Error | undefined>((resolve) => c.onDisconnect(resolve));
        assert.deepEqual(await c.execute('query-status', undefined, { timeoutMs: 20_000 }), {});
        writeFileSync(goneFile, '');
        // DisconnectedError, not CommandTimeoutError: the loss ended the command, not its 60 s bound.
        await assert.rejects(c.execute('query-status', undefined, { timeoutMs: 60_000 }), (err: unknown) => {
          assert.ok(err instanceof DisconnectedError, String(err));
          assert.equal(libvirtPermanentFailure(err) !== undefined, permanent, String(err));
          return true;
        });
        const why = await lost;
        if (permanent) {
          assert.ok(why instanceof LibvirtDomainGoneError, String(why));
          assert.match(why.message, text === undefined ? /^libvirt domain vm1 not found on qemu:\/\/\/system/ : /^libvirt domain vm1 is not running/);
        } else {
          assert.ok(!(why instanceof LibvirtDomainGoneError));
          assert.match(why?.message ?? '', /End of file/);
        }
      } finally {
        await c.disconnect();
      }
    }
  });

  test('an idle session learns from a SHUTDOWN event that its domain is gone (a domstate probe), with no command sent', async () => {
    const goneFile = path.join(dir, 'gone-idle');
    setMode('running', goneFile);
    process.env['FAKE_VIRSH_SHUTDOWN'] = '1';
    const traces: string[] = [];
    const c = new LibvirtClient(target(), { connectTimeoutMs: 20_000, trace: (d, t) => traces.push(`${d} ${t}`) });
    await c.connect();
    try {
      const lost = new Promise<Error | undefined>((resolve) => c.onDisconnect(resolve));
      const events: string[] = [];
      c.onEvent((e) => events.push(e.event));
      writeFileSync(goneFile, '');
      const why = await lost;
      assert.ok(why instanceof LibvirtDomainGoneError, String(why));
      assert.equal(why.code, 'LIBVIRT_DOMAIN_NOT_FOUND');
      assert.deepEqual(events, ['SHUTDOWN']);
      assert.ok(!traces.some((t) => t.startsWith('->')), 'no QMP command was passed through');
    } finally {
      await c.disconnect();
    }
  });
});
