// Every kind of connection through every door that takes one: the CLI's run, check, test, schema and shell, and
// the language server's runCell (with the kernel's live values), against the real daemons of the family tier:
// a private qemu-storage-daemon, a qemu-ga, and a libvirt domain through virsh. One kernel (src/kernel) opens
// them all, so each door accepts each kind and says the same thing about it (docs/testing.md, "Every door on
// every kind of connection").
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LspSession } from '../../src/lsp/session';
import { openKernel, type Endpoint } from '../../src/kernel/index';
import {
  createTestDomain, destroyTestDomain, ensureLibvirtd, libvirtUri, runCli, startGuestAgent, type TestGuestAgent,
} from '../support/daemons';
import { buildCli, runCliBundle } from '../support/cliBundle';
import { jsonRecords, recordShape } from '../support/records';

const domain = `qmpkern-${process.pid}`;
let dir = '';
let agent: TestGuestAgent;

before(async () => {
  await ensureLibvirtd();
  createTestDomain(domain);
  agent = await startGuestAgent();
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-kern-'));
});
after(async () => {
  destroyTestDomain(domain);
  await agent.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Kind {
  name: string;
  flags: () => string[];
  endpoint: () => Endpoint;
  /** A cell whose reply is the same on every run, with the reply written under it. */
  cell: string;
  /** A command the schema lists. */
  command: string;
}

const kinds: Kind[] = [
  {
    name: 'storage daemon', flags: () => ['--storage-daemon'], endpoint: () => ({ kind: 'storage-daemon' }),
    cell: '{"execute": "query-named-block-nodes", "arguments": {"flat": true}}\n<- {"return": []}', command: 'blockdev-add',
  },
  {
    name: 'guest agent', flags: () => ['--guest-agent', agent.socketPath], endpoint: () => ({ kind: 'guest-agent', target: { kind: 'unix', path: agent.socketPath } }),
    cell: '{"execute": "guest-ping"}\n<- {"return": {}}', command: 'guest-ping',
  },
  {
    name: 'libvirt', flags: () => ['--libvirt', domain, '--connect', libvirtUri], endpoint: () => ({ kind: 'libvirt', domain, uri: libvirtUri }),
    cell: `{"execute": "query-name"}\n<- {"return": {"name": "${domain}"}}`, command: 'query-status',
  },
];

function notebook(name: string, text: string): string {
  const file = path.join(dir, `${name.replace(/\W+/g, '-')}-${Math.random().toString(36).slice(2)}.qmp`);
  writeFileSync(file, text);
  return file;
}

for (const k of kinds) {
  describe(`every door on a ${k.name}`, () => {
    // qemu-ga 7.2 exits when a client leaves a reply unread: each test starts with a live agent.
    beforeEach(async () => { if (!agent.alive()) await agent.restart(); });
    test('schema lists its commands', async () => {
      const r = await runCli(['schema', ...k.flags()]);
      assert.equal(r.code, 0, r.stderr);
      const infos = JSON.parse(r.stdout) as Array<{ 'meta-type': string; name: string }>;
      assert.ok(infos.some((i) => i['meta-type'] === 'command' && i.name === k.command), `${k.command} in the schema`);
    });

    test('run and test accept it: the written reply matches; --update saves outputs that test then passes', async () => {
      const file = notebook(k.name, `\`\`\`qmp\n${k.cell}\n\`\`\`\n`);
      const run = await runCli(['run', file, ...k.flags(), '--json']);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      const expected = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; match?: boolean }).filter((r) => r.type === 'expected-reply');
      assert.deepEqual(expected.map((r) => r.match), [true]);
      const u = await runCli(['test', file, ...k.flags(), '--update']);
      assert.equal(u.code, 0, u.stdout + u.stderr);
      assert.match(readFileSync(file, 'utf8'), /```qmp-output/);
      const t = await runCli(['test', file, ...k.flags(), '--json']);
      assert.equal(t.code, 0, t.stdout + t.stderr);
      assert.match(t.stdout, /"passed":1,"failed":0/);
    });

    test('a written reply that differs fails run (exit 1) and test (exit 1) alike', async () => {
      const wrong = k.cell.replace(/<- .*$/, '<- {"return": {"nothing": "like it"}}');
      const file = notebook(k.name, `\`\`\`qmp\n${wrong}\n\`\`\`\n`);
      const run = await runCli(['run', file, ...k.flags(), '--json']);
      const records = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; match?: boolean });
      assert.deepEqual(records.filter((r) => r.type === 'expected-reply').map((r) => r.match), [false]);
      const t = await runCli(['test', file, ...k.flags()]);
      assert.equal(t.code, 1, t.stdout + t.stderr);
      assert.match(t.stdout, /FAIL/);
    });

    test('check has nothing to say about the cell, and the shell runs it as run does: the same records', async () => {
      const file = notebook(k.name, `\`\`\`qmp\n${k.cell}\n\`\`\`\n`);
      const check = await runCli(['check', file, ...k.flags()]);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.equal(check.stdout, '');
      if (!agent.alive()) await agent.restart();
      const run = await runCli(['run', file, ...k.flags(), '--json']);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      if (!agent.alive()) await agent.restart();
      // The cell pasted into the shell with its fences, through a pipe.
      const shell = await runCliBundle(await buildCli(), ['shell', ...k.flags(), '--json'],
        { input: `\`\`\`qmp\n${k.cell}\n\`\`\`\n`, env: { ...process.env, HOME: dir } });
      assert.equal(shell.code, 0, shell.stdout + shell.stderr);
      const records = jsonRecords(shell.stdout);
      assert.ok(records.some((r) => r['type'] === 'expected-reply' && r['match'] === true), shell.stdout);
      assert.deepEqual(records.map(recordShape), jsonRecords(run.stdout).map(recordShape));
    });

    test('the language server runs a cell on it through the same kernel', async () => {
      const session = new LspSession(k.endpoint());
      try {
        const { schema } = await session.liveSchema();
        assert.ok(schema?.command(k.command), `${k.command} in the live schema`);
        const r = await session.runCell(k.cell, 'qmp', 0, 1);
        assert.equal(r.status, 'ok', r.transcript.join('\n'));
        assert.ok(r.records?.map((rec) => JSON.parse(rec.text) as { type: string; match?: boolean }).some((rec) => rec.type === 'expected-reply' && rec.match), JSON.stringify(r.records));
        assert.ok(session.live, 'live values while connected');
      } finally {
        await session.dispose();
      }
    });
  });
}

describe('the connection decides what can never run', () => {
  test('check --libvirt reports an exec-oob cell as an error, and run --libvirt refuses the same cell before sending', async () => {
    const file = notebook('oob', '```qmp\n{"exec-oob": "migrate-recover", "arguments": {"uri": "tcp:127.0.0.1:1"}}\n```\n');
    const check = await runCli(['check', file, '--libvirt', domain, '--connect', libvirtUri]);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stdout, /error: migrate-recover cannot run out-of-band here: libvirt never enables out-of-band execution on the monitors it owns \[oob-never\]/);
    const run = await runCli(['run', file, '--libvirt', domain, '--connect', libvirtUri, '--json']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const failure = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; kind?: string; message?: string }).find((r) => r.type === 'failure');
    assert.equal(failure?.kind, 'not-sent-because-invalid');
    assert.match(failure?.message ?? '', /libvirt never enables out-of-band execution/);
  });

  test('check --guest-agent says the same about the guest agent', async () => {
    const file = notebook('oob-ga', '```qmp\n{"exec-oob": "guest-ping"}\n```\n');
    const check = await runCli(['check', file, '--guest-agent', agent.socketPath]);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stdout, /guest-ping cannot run out-of-band here: the guest agent has no out-of-band execution/);
  });

  test('the shell refuses an exec-oob line on libvirt and on the guest agent before sending, with the reason', async () => {
    for (const [flags, command, reason] of [
      [['--libvirt', domain, '--connect', libvirtUri], 'query-name', /libvirt never enables out-of-band execution|does not support OOB/],
      [['--guest-agent', agent.socketPath], 'guest-ping', /the guest agent has no out-of-band execution|does not support OOB/],
    ] as const) {
      if (!agent.alive()) await agent.restart();
      const shell = await runCliBundle(await buildCli(), ['shell', ...flags, '--json'], { input: `{"exec-oob": "${command}"}\n`, env: { ...process.env, HOME: dir } });
      assert.equal(shell.code, 1, shell.stdout + shell.stderr);
      const records = jsonRecords(shell.stdout);
      const failure = records.find((r) => r['type'] === 'failure');
      assert.equal(failure?.['kind'], 'not-sent-because-invalid', shell.stdout);
      assert.match(String(failure?.['message']), reason);
      assert.ok(!records.some((r) => r['type'] === 'written'), shell.stdout);
    }
  });

  test('the storage daemon kernel learns its live values from the commands its engine sends', async () => {
    const kernel = await openKernel({ kind: 'storage-daemon' });
    try {
      await kernel.loadSchema();
      assert.deepEqual((await kernel.live.get('block-node')).items.map((i) => i.value), []);
      const add = '{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "kern0"}}';
      const { planCell } = await import('../../src/run/index');
      const result = await kernel.run([{ cell: 1, plan: planCell(add, 'qmp', kernel.schema) }], () => undefined);
      assert.equal(result.failure, undefined);
      // blockdev-add made the cached list stale: the next read lists the new node.
      assert.deepEqual((await kernel.live.get('block-node')).items.map((i) => i.value), ['kern0']);
    } finally {
      await kernel.close();
    }
  });
});
