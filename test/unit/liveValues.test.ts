// LiveValues against a fake port: caching, invalidation, the busy rule, bounds, failures.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveValues, qomParent, type LivePort } from '../../src/qmp/liveValues';

interface Call { command: string; args: Record<string, unknown> | undefined }

function fakePort(replies: Record<string, (args: Record<string, unknown> | undefined) => unknown>): LivePort & { calls: Call[]; busy: boolean } {
  const port = {
    calls: [] as Call[],
    busy: false,
    execute(command: string, args: Record<string, unknown> | undefined): Promise<unknown> {
      port.calls.push({ command, args });
      const r = replies[command];
      if (!r) return Promise.reject(new Error(`The command ${command} has not been found`));
      try { return Promise.resolve(r(args)); } catch (e) { return Promise.reject(e); }
    },
    inBandBusy: () => port.busy,
  };
  return port;
}

const nodes = [
  { 'node-name': 'n0', drv: 'null-co', file: 'null-co://', 'dirty-bitmaps': [{ name: 'b0', granularity: 65536, recording: true }] },
  { 'node-name': 'n1', drv: 'qcow2', file: '/tmp/a.qcow2' },
];

describe('LiveValues', () => {
  test('fetches once, answers from the cache, shares a query between kinds', async () => {
    const port = fakePort({ 'query-named-block-nodes': () => nodes });
    const live = new LiveValues(port);
    const a = await live.get('block-node');
    assert.deepEqual(a.items.map((i) => i.value), ['n0', 'n1']);
    assert.equal(a.items[0]?.detail, 'null-co null-co://');
    assert.equal(a.stale, false);
    await live.get('block-node');
    const bm = await live.get('dirty-bitmap', 'n0');
    assert.deepEqual(bm.items.map((i) => i.value), ['b0']);
    assert.deepEqual((await live.get('dirty-bitmap', 'n1')).items, []);
    assert.equal(port.calls.length, 1);
    assert.deepEqual(port.calls[0], { command: 'query-named-block-nodes', args: { flat: true } });
  });

  test('concurrent asks share one fetch', async () => {
    const port = fakePort({ 'query-chardev': () => [{ label: 'c0', filename: 'null' }] });
    const live = new LiveValues(port);
    const [x, y] = await Promise.all([live.get('chardev'), live.get('chardev')]);
    assert.deepEqual(x.items, y.items);
    assert.equal(port.calls.length, 1);
  });

  test('events and commands invalidate exactly the kinds they change', async () => {
    let list = [{ id: 'j0', type: 'mirror', status: 'running' }];
    const port = fakePort({ 'query-jobs': () => list, 'query-chardev': () => [] });
    const live = new LiveValues(port);
    await live.get('job');
    await live.get('chardev');
    live.noteEvent('DEVICE_DELETED');
    await live.get('job');
    assert.equal(port.calls.length, 2, 'DEVICE_DELETED does not touch jobs');
    list = [];
    live.noteEvent('JOB_STATUS_CHANGE');
    assert.deepEqual((await live.get('job')).items, []);
    assert.equal(port.calls.length, 3);
    live.noteCommand('chardev-add');
    await live.get('chardev');
    assert.equal(port.calls.length, 4);
    live.noteCommand('query-status');
    await live.get('chardev');
    assert.equal(port.calls.length, 4);
  });

  test('the cache expires after its time to live', async () => {
    let t = 0;
    const port = fakePort({ 'query-iothreads': () => [{ id: 'io0', 'thread-id': 7 }] });
    const live = new LiveValues(port, { ttlMs: 1000, now: () => t });
    await live.get('iothread');
    t = 999;
    await live.get('iothread');
    assert.equal(port.calls.length, 1);
    t = 1000;
    const s = await live.get('iothread');
    assert.equal(port.calls.length, 2);
    assert.equal(s.items[0]?.detail, 'thread 7');
  });

  test('never queries while an in-band command of the user is outstanding: cached and stale', async () => {
    const port = fakePort({ 'query-block-exports': () => [{ id: 'e0', type: 'nbd', 'node-name': 'n0' }] });
    const live = new LiveValues(port);
    port.busy = true;
    const first = await live.get('block-export');
    assert.equal(port.calls.length, 0);
    assert.equal(first.stale, true);
    assert.match(first.reason ?? '', /busy/);
    port.busy = false;
    await live.get('block-export');
    live.noteCommand('block-export-del');
    port.busy = true;
    const again = await live.get('block-export');
    assert.equal(port.calls.length, 1);
    assert.deepEqual(again.items.map((i) => i.value), ['e0']);
    assert.equal(again.stale, true);
  });

  test('a failed fetch keeps the old values, stale, with the reason; never rejects', async () => {
    let fail = false;
    const port = fakePort({ 'query-block-jobs': () => { if (fail) throw new Error('timed out'); return [{ device: 'job0', type: 'mirror', status: 'ready' }]; } });
    const live = new LiveValues(port);
    await live.get('block-job');
    fail = true;
    live.invalidate(['block-job']);
    const s = await live.get('block-job');
    assert.deepEqual(s.items.map((i) => i.value), ['job0']);
    assert.equal(s.stale, true);
    assert.match(s.reason ?? '', /timed out/);
    const missing = await new LiveValues(fakePort({})).get('cpu-model');
    assert.equal(missing.stale, true);
    assert.deepEqual(missing.items, []);
  });

  test('kinds no query lists are not listable; commands the server lacks are not asked', async () => {
    const port = { ...fakePort({}), hasCommand: (n: string) => n !== 'query-jobs' };
    const live = new LiveValues(port);
    assert.equal((await live.get('netdev')).listable, false);
    assert.equal((await live.get('job')).listable, false);
  });

  test('QOM paths are listed below the parent of what was typed', async () => {
    const port = fakePort({ 'qom-list': (args) => (args?.['path'] === '/machine'
      ? [{ name: 'peripheral', type: 'child<container>' }, { name: 'type', type: 'string' }, { name: 'unattached', type: 'child<container>' }]
      : []) });
    const live = new LiveValues(port);
    const s = await live.get('qom-path', '/machine/per');
    assert.deepEqual(s.items.map((i) => i.value), ['/machine/peripheral', '/machine/unattached']);
    assert.equal(qomParent('/machine/'), '/machine');
    assert.equal(qomParent('/mach'), '/');
    assert.equal(qomParent(''), '/');
  });

  test('memory is bounded: values per query and cached queries', async () => {
    const many = Array.from({ length: 20_000 }, (_, i) => ({ name: `p${i}`, type: 'child<container>' }));
    const port = fakePort({ 'qom-list': () => many });
    const live = new LiveValues(port, { maxItems: 100, maxEntries: 4 });
    assert.equal((await live.get('qom-property', '/a')).items.length, 100);
    for (const p of ['/b', '/c', '/d', '/e', '/f']) await live.get('qom-property', p);
    await live.get('qom-property', '/a');
    assert.equal(port.calls.length, 7, 'the oldest entry was evicted and fetched again');
  });
});
