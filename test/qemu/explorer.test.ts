// The QEMU explorer's model (src/explorer/model.ts) on a real QEMU (7.2 in the qemu tier, 10.0 in qemu10): the
// queries it lists each branch with exist and answer; a qcow2 overlay over a null-co node becomes one root with
// its file and backing children; the QOM composition tree and /objects give child<> rows; the chardev and the
// blockdev-create job show; and the commands a new cell on each row is pre-filled with run on QEMU as written
// and do what they say (qom-get reads the type, blockdev-del, object-del, chardev-remove and job-dismiss remove
// the row).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient } from '../../src/qmp/client';
import {
  blockChildItems, blockRootItems, blockTree, branchQueries, cellCommands, chardevItems, jobItems, qomItems, type BranchId, type ExplorerItem,
} from '../../src/explorer/model';
import { createQcow2OverNullBase, startQemu, type TestQemu } from '../support/qemu';

let qemu: TestQemu;
let client: QmpClient;
let commands: Set<string>;

before(async () => {
  qemu = await startQemu();
  client = new QmpClient();
  await client.connect({ kind: 'unix', path: qemu.socketPath });
  commands = new Set(((await client.execute('query-commands')) as { name: string }[]).map((c) => c.name));
  await createQcow2OverNullBase(client, qemu); // its concluded job stays, for the jobs branch
  await client.execute('blockdev-add', { driver: 'qcow2', 'node-name': 'top', file: 'top-file', backing: 'base' });
  await client.execute('object-add', { 'qom-type': 'secret', id: 'sec0', data: 'x' });
  await client.execute('chardev-add', { id: 'ch0', backend: { type: 'null', data: {} } });
});
after(async () => {
  await client.disconnect();
  await qemu.stop();
});

async function list(branch: BranchId): Promise<unknown[]> {
  const queries = branchQueries(branch, (c) => commands.has(c));
  assert.ok(queries, `${branch} is listable`);
  const out: unknown[] = [];
  for (const q of queries) out.push(await client.execute(q.command, q.args));
  return out;
}

/** Runs the text of a pre-filled cell (one JSON command) as written. */
async function runCell(item: ExplorerItem, command: string): Promise<unknown> {
  const cmd = (cellCommands(item) ?? []).find((c) => c.command === command);
  assert.ok(cmd, `${command} is offered for ${item.label}`);
  const parsed = JSON.parse(cmd.text) as { execute: string; arguments?: Record<string, unknown> };
  return client.execute(parsed.execute, parsed.arguments);
}

function named(items: ExplorerItem[], label: string): ExplorerItem {
  return items.find((i) => i.label === label) ?? assert.fail(`no ${label} in ${items.map((i) => i.label).join(', ')}`);
}

describe('explorer model on a real QEMU', () => {
  test('every branch is listable, with the debug graph for the block nodes', () => {
    for (const b of ['block', 'devices', 'objects', 'chardevs', 'jobs'] as const) assert.ok(branchQueries(b, (c) => commands.has(c)), b);
    assert.equal(branchQueries('block', (c) => commands.has(c))?.length, 2);
  });

  test('block nodes: the overlay is a root with its file and backing children, driver and size', async () => {
    const [namedReply, debug] = await list('block');
    const tree = blockTree(namedReply, debug);
    const roots = blockRootItems(tree);
    assert.deepEqual(roots.map((r) => r.label), ['top']);
    const top = named(roots, 'top');
    assert.equal(top.description, 'qcow2 · 64 MiB');
    assert.match(top.tooltip, /^children: (file top-file, backing base|backing base, file top-file)$/m);
    const kids = blockChildItems(tree, top);
    assert.deepEqual(kids.map((k) => `${k.label} ${k.description?.split(' · ').slice(0, 2).join(' ') ?? ''}`).sort(), ['base backing null-co', 'top-file file file']);
    // The pre-filled commands run as written.
    const nodes = (await runCell(top, 'query-named-block-nodes')) as { 'node-name': string }[];
    assert.ok(nodes.some((n) => n['node-name'] === 'top'));
    await runCell(top, 'x-debug-query-block-graph');
    await runCell(top, 'query-block');
  });

  test('QOM: /machine and /objects as child<> rows; qom-list and qom-get on them', async () => {
    const [machine] = await list('devices');
    const rows = qomItems('/machine', machine);
    for (const c of ['peripheral', 'peripheral-anon', 'unattached']) assert.equal(named(rows, c).description, 'container');
    const unattached = named(rows, 'unattached');
    const level = qomItems(unattached.path ?? '', await runCell(unattached, 'qom-list'));
    assert.ok(level.every((r) => r.path?.startsWith('/machine/unattached/')));
    const [objects] = await list('objects');
    const sec = named(qomItems('/objects', objects), 'sec0');
    assert.equal(sec.kind, 'object');
    assert.equal(sec.description, 'secret');
    assert.equal(await runCell(sec, 'qom-get'), 'secret');
    await runCell(sec, 'qom-list');
  });

  test('chardevs and jobs', async () => {
    const [chardevs] = await list('chardevs');
    assert.equal(named(chardevItems(chardevs), 'ch0').description, 'null');
    const [jobs] = await list('jobs');
    const job = named(jobItems(jobs), 'create');
    assert.match(job.description ?? '', /^create · concluded/);
  });

  test('the removing commands remove the rows', async () => {
    const [jobs] = await list('jobs');
    await runCell(named(jobItems(jobs), 'create'), 'job-dismiss');
    assert.ok(!jobItems((await list('jobs'))[0]).some((j) => j.label === 'create'));

    const [objects] = await list('objects');
    await runCell(named(qomItems('/objects', objects), 'sec0'), 'object-del');
    assert.ok(!qomItems('/objects', (await list('objects'))[0]).some((o) => o.label === 'sec0'));

    const [chardevs] = await list('chardevs');
    await runCell(named(chardevItems(chardevs), 'ch0'), 'chardev-remove');
    assert.ok(!chardevItems((await list('chardevs'))[0]).some((c) => c.label === 'ch0'));

    const [n, d] = await list('block');
    const tree = blockTree(n, d);
    const top = named(blockRootItems(tree), 'top');
    const kids = blockChildItems(tree, top);
    await runCell(top, 'blockdev-del');
    for (const k of kids) await runCell(k, 'blockdev-del');
    const [n2, d2] = await list('block');
    assert.deepEqual(blockRootItems(blockTree(n2, d2)), []);
  });
});
