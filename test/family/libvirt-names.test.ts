// Hostile domain names against real virsh: on the test driver (test:///default, in-process, whose domain
// `test` runs) and on the family tier's real libvirtd. A name virsh would read as an option is refused before
// virsh runs; every other name is passed as `--domain NAME` and can only ever reach the domain of that name.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { LibvirtClient, LibvirtDomainConnectError, liveVirshProcesses } from '../../src/endpoints/libvirt';
import { createTestDomain, destroyTestDomain, ensureLibvirtd, libvirtUri, runCli } from '../support/daemons';

const TEST_URI = 'test:///default';

async function refused(uri: string, domain: string): Promise<LibvirtDomainConnectError> {
  let caught: unknown;
  await new LibvirtClient({ uri, domain }, { connectTimeoutMs: 20_000 }).connect().catch((e: unknown) => { caught = e; });
  assert.ok(caught instanceof LibvirtDomainConnectError, `${domain}: ${String(caught)}`);
  return caught;
}

describe('hostile domain names on the test driver (real virsh)', () => {
  test('names virsh would read as options are refused before virsh runs, with why', async () => {
    for (const name of ['--domain=test', '--help', '-test', '--connect=test:///default']) {
      const err = await refused(TEST_URI, name);
      assert.equal(err.code, 'LIBVIRT_BAD_NAME');
      assert.match(err.message, /starts with '-', which virsh would read as an option/);
    }
  });

  test('odd names reach no other domain: each is "not found" under its own name', async () => {
    for (const name of ["test'", 'test ', ' test', 'te st', '$(echo test)', 'test;domstate test', 'test\\', '"test"', 'x --domain test', 'tést']) {
      const err = await refused(TEST_URI, name);
      assert.equal(err.code, 'LIBVIRT_DOMAIN_NOT_FOUND', name);
      assert.ok(err.message.includes(name), `${name}: ${err.message}`);
    }
    assert.deepEqual(liveVirshProcesses(), []);
  });

  test('the CLI: --libvirt=--domain=test and --libvirt=--help exit 2 with the reason, no virsh help, no taint note', async () => {
    for (const name of ['--domain=test', '--help']) {
      const r = await runCli(['schema', `--libvirt=${name}`, '--connect', TEST_URI]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /starts with '-', which virsh would read as an option/);
      assert.doesNotMatch(r.stdout + r.stderr, /domstate|SYNOPSIS|tainted/);
    }
  });
});

describe('hostile domain names on the real libvirtd', () => {
  const domain = `qmpnames-${process.pid}`;
  before(async () => {
    await ensureLibvirtd();
    createTestDomain(domain);
  });
  after(() => destroyTestDomain(domain));

  test('--domain=<a real domain> is refused; the real name still connects', async () => {
    assert.equal((await refused(libvirtUri, `--domain=${domain}`)).code, 'LIBVIRT_BAD_NAME');
    assert.equal((await refused(libvirtUri, `${domain} `)).code, 'LIBVIRT_DOMAIN_NOT_FOUND');
    const c = new LibvirtClient({ uri: libvirtUri, domain });
    await c.connect();
    try {
      assert.equal((await c.execute('query-status') as { running: boolean }).running, false);
    } finally {
      await c.disconnect();
    }
    assert.deepEqual(liveVirshProcesses(), []);
  });
});
