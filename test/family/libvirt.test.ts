// A libvirt-managed domain through virsh: a real libvirtd started without systemd (test/support/daemons.ts),
// a transient 64 MiB type='qemu' domain with no disks, started paused. Commands, ids, events, the schema,
// the OOB refusal, the domain going away mid-session, and a URI that cannot be reached.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConnectError, DisconnectedError, OobRefusedError } from '../../src/qmp/errors';
import {
  LibvirtClient, LibvirtDomainConnectError, LibvirtDomainGoneError, eventLineToQmp, libvirtPermanentFailure, listDomains, virshQuote,
} from '../../src/endpoints/libvirt';
import {
  createTestDomain, defineTestDomain, destroyTestDomain, ensureLibvirtd, libvirtUri, runCli, undefineTestDomain,
} from '../support/daemons';
import { settled } from '../support/clock';

const domain = `qmpfam-${process.pid}`;
let dir = '';

before(async () => {
  const { started, ms } = await ensureLibvirtd();
  process.stderr.write(`libvirtd ${started ? 'started' : 'already running'} in ${ms} ms\n`);
  createTestDomain(domain);
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-lv-'));
});
after(() => {
  destroyTestDomain(domain);
  rmSync(dir, { recursive: true, force: true });
});

function client(traces?: string[]): LibvirtClient {
  return new LibvirtClient({ uri: libvirtUri, domain }, traces ? { trace: (d, t) => traces.push(`${d} ${t}`) } : {});
}

describe('libvirt passthrough (virsh)', () => {
  test('lists the domain; commands get their replies with our ids (libvirt\'s own are replaced)', async () => {
    assert.ok((await listDomains({ uri: libvirtUri })).includes(domain));
    const traces: string[] = [];
    const c = client(traces);
    await c.connect();
    try {
      const status = await c.execute('query-status') as { status: string; running: boolean };
      assert.equal(status.running, false);
      const bad = await c.send({ execute: 'no-such-command', arguments: { text: 'it\'s "quoted" ; echo x # ü' } });
      assert.ok(!bad.ok && bad.error.class === 'CommandNotFound', bad.raw);
      // A command whose own text tries to end the shell's quoting, start a line, or forge a marker.
      const forged = await c.send({ execute: "x'; echo QMPNB''00x1\nquit\n'", arguments: { s: "'\necho QMPNB\nquit" } });
      assert.ok(!forged.ok && forged.error.class === 'CommandNotFound', forged.raw);
      assert.equal(await c.execute('query-name').then(() => 'still running'), 'still running');
      assert.doesNotMatch(bad.raw, /libvirt-\d+/);
      // Many in a row: each reply goes to its own command.
      const names = await Promise.all(Array.from({ length: 10 }, (_, i) => c.execute('qom-get', { path: '/machine', property: 'type' }).then((v) => [i, v])));
      assert.deepEqual(names.map(([i]) => i), [...Array(10).keys()]);
      assert.ok(!traces.some((t) => t.startsWith('->') && /libvirt-/.test(t)));
      const schema = await c.execute('query-qmp-schema') as unknown[];
      assert.ok(schema.length > 500);
    } finally {
      await c.disconnect();
    }
  });

  test('events: cont and stop bring RESUME and STOP', async () => {
    const c = client();
    await c.connect();
    try {
      const cursor = c.eventCursor();
      await c.execute('cont');
      await c.waitForEvent((e) => e.event === 'RESUME', { after: cursor, timeoutMs: 20_000 });
      await c.execute('stop');
      const stop = await c.waitForEvent((e) => e.event === 'STOP', { after: cursor, timeoutMs: 20_000 });
      assert.ok(stop.timestamp.seconds > 1_600_000_000);
    } finally {
      await c.disconnect();
    }
  });

  test('exec-oob fails before sending, with libvirt\'s reason', async () => {
    const traces: string[] = [];
    const c = client(traces);
    await c.connect();
    try {
      await assert.rejects(c.send({ 'exec-oob': 'query-status' }), (err: unknown) => {
        assert.ok(err instanceof OobRefusedError);
        assert.match(err.message, /libvirt never enables out-of-band execution/);
        return true;
      });
      assert.ok(!traces.some((t) => t.includes('exec-oob')));
    } finally {
      await c.disconnect();
    }
  });

  test('a domain that does not exist, and a URI that cannot be reached: bounded, clear errors', async () => {
    await assert.rejects(new LibvirtClient({ uri: libvirtUri, domain: 'qmp-no-such-domain' }).connect(), (err: unknown) => {
      assert.ok(err instanceof LibvirtDomainConnectError);
      assert.match(err.message, /^libvirt domain qmp-no-such-domain not found on qemu:\/\/\/system \(failed to get domain 'qmp-no-such-domain'\)/);
      return true;
    });
    await assert.rejects(new LibvirtClient({ uri: 'qemu+ssh://qmp-no-such-host.invalid/system', domain }, { connectTimeoutMs: 20_000 }).connect(),
      (err: unknown) => {
        assert.ok(err instanceof ConnectError, String(err));
        assert.match(err.message, /qmp-no-such-host\.invalid/);
        // virsh's own failure ended it, not the 20 s connect bound.
        assert.doesNotMatch(err.message, /timed out/);
        // An unreachable host may come back: not a failure that stops reconnection.
        assert.equal(libvirtPermanentFailure(err), undefined);
        return true;
      });
  });

  test('CLI: --libvirt DOMAIN --connect URI runs a notebook and notes the taint once', async () => {
    const file = path.join(dir, 'lv.qmp');
    writeFileSync(file, '```qmp\n{"execute": "query-status"}\n{"execute": "query-name"}\n```\n\n```qmp\n{"exec-oob": "query-status"}\n```\n');
    const r = await runCli(['run', file, '--libvirt', domain, '--connect', libvirtUri, '--json']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stderr.match(/tainted \(custom-monitor\)/g)?.length, 1, r.stderr);
    assert.match(r.stdout + r.stderr, /libvirt never enables out-of-band execution/);
    assert.match(r.stdout, /"command":"query-name"/);
  });

  /**
   * A live session to a domain of its own (`make` creates it, `remove` takes it away at the end), with the promise
   * of the session's end taken before anything can end it, so no disconnect is missed.
   */
  async function underLiveSession(suffix: string, make: (name: string) => void, remove: (name: string) => void,
    body: (c: LibvirtClient, victim: string, lost: Promise<Error | undefined>) => Promise<void>): Promise<void> {
    const victim = `${domain}-${suffix}`;
    make(victim);
    const c = new LibvirtClient({ uri: libvirtUri, domain: victim });
    try {
      await c.connect();
      const lost = new Promise<Error | undefined>((resolve) => c.onDisconnect(resolve));
      await c.execute('query-status');
      await body(c, victim, lost);
    } finally {
      await c.disconnect();
      remove(victim);
    }
  }

  /** Connecting again to a domain in that state fails before any passthrough, with this code. */
  async function assertConnectRefused(victim: string, code: string, message?: RegExp): Promise<void> {
    await assert.rejects(new LibvirtClient({ uri: libvirtUri, domain: victim }).connect(), (err: unknown) => {
      assert.ok(err instanceof LibvirtDomainConnectError, String(err));
      assert.equal(err.code, code);
      if (message) assert.match(err.message, message);
      return true;
    });
  }

  test('the domain going away mid-session fails the running command at once and ends the session', async () => {
    await underLiveSession('gone', createTestDomain, destroyTestDomain, async (c, victim, lost) => {
      destroyTestDomain(victim);
      // DisconnectedError, not CommandTimeoutError: the domain's end failed the command, not its 60 s bound.
      await assert.rejects(c.execute('query-status', undefined, { timeoutMs: 60_000 }), DisconnectedError);
      const why = await lost;
      // A retry cannot bring a destroyed transient domain back: the error says so (the editor stops reconnecting).
      assert.ok(why instanceof LibvirtDomainGoneError, String(why));
      assert.equal(libvirtPermanentFailure(why)?.code, 'LIBVIRT_DOMAIN_NOT_FOUND');
      assert.match(why.message, new RegExp(`^libvirt domain ${victim} not found on qemu:///system`));
      assert.equal(c.state, 'idle');
      await assertConnectRefused(victim, 'LIBVIRT_DOMAIN_NOT_FOUND');
    });
  });

  test('an idle session notices its domain destroyed (SHUTDOWN, then a domstate probe) and ends as permanent', async () => {
    await underLiveSession('idle', createTestDomain, destroyTestDomain, async (c, victim, lost) => {
      destroyTestDomain(victim);
      const noticed = await settled(lost, 'the idle session noticing its domain destroyed', 30_000);
      const why = noticed.status === 'fulfilled' ? noticed.value : undefined;
      assert.equal(libvirtPermanentFailure(why)?.code, 'LIBVIRT_DOMAIN_NOT_FOUND', String(why));
      assert.equal(c.state, 'idle');
    });
  });

  test('a defined domain that is shut off under a live session: permanent, "is not running"', async () => {
    await underLiveSession('off', defineTestDomain, undefineTestDomain, async (c, victim, lost) => {
      destroyTestDomain(victim);
      await assert.rejects(c.execute('query-status', undefined, { timeoutMs: 60_000 }), DisconnectedError);
      const why = await lost;
      assert.equal(libvirtPermanentFailure(why)?.code, 'LIBVIRT_DOMAIN_NOT_RUNNING', String(why));
      assert.match(why?.message ?? '', new RegExp(`^libvirt domain ${victim} is not running`));
      await assertConnectRefused(victim, 'LIBVIRT_DOMAIN_NOT_RUNNING', /is not running \(shut off\)/);
    });
  });
});

describe('virsh framing helpers', () => {
  test('virshQuote survives quotes and refuses newlines', () => {
    assert.equal(virshQuote(`a'b`), `'a'\\''b'`);
    assert.throws(() => virshQuote('a\nb'), TypeError);
  });

  test('event lines become QMP events; other lines and foreign domains do not', () => {
    assert.equal(eventLineToQmp("2026-11-29 23:39:26.561+0000: event RESUME for domain 'vm1': <null>", 'vm1'),
      '{"timestamp":{"seconds":1795995566,"microseconds":561000},"event":"RESUME"}');
    assert.equal(eventLineToQmp(`2026-11-29 23:39:26.561+0000: event SHUTDOWN for domain 'vm1': {"guest":false,"reason":"host-signal"}`, 'vm1'),
      '{"timestamp":{"seconds":1795995566,"microseconds":561000},"event":"SHUTDOWN","data":{"guest":false,"reason":"host-signal"}}');
    assert.equal(eventLineToQmp("2026-11-29 23:39:26.561+0000: event RESUME for domain 'vm2': <null>", 'vm1'), undefined);
    assert.equal(eventLineToQmp('virsh # something', 'vm1'), undefined);
    assert.equal(eventLineToQmp("2026-11-29 23:39:26.561+0000: event RESUME for domain 'vm1': {broken", 'vm1'), undefined);
  });
});
