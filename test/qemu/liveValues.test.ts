// Live values on a real QEMU (q35 under TCG, paused): the objects a test creates are listed in the right
// kinds, a deleted node disappears after the command, an unplugged device after its DEVICE_DELETED event.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient } from '../../src/qmp/client';
import { LiveValues, type LivePort } from '../../src/qmp/liveValues';
import { startQemu, type TestQemu } from '../support/qemu';

let qemu: TestQemu;
let client: QmpClient;
let live: LiveValues;

before(async () => {
  qemu = await startQemu({ machine: ['-machine', 'q35', '-accel', 'tcg', '-device', 'qemu-xhci,id=xhci'] });
  client = new QmpClient();
  await client.connect({ kind: 'unix', path: qemu.socketPath });
  const port: LivePort = {
    execute: (command, args, timeoutMs) => client.execute(command, args, { timeoutMs }),
    inBandBusy: () => false,
  };
  live = new LiveValues(port);
  client.onEvent((e) => live.noteEvent(e.event));
  await client.execute('blockdev-add', { driver: 'null-co', 'node-name': 'n0' });
  await client.execute('blockdev-add', { driver: 'null-co', 'node-name': 'n1' });
  await client.execute('block-dirty-bitmap-add', { node: 'n0', name: 'b0' });
  await client.execute('chardev-add', { id: 'c0', backend: { type: 'null', data: {} } });
  await client.execute('object-add', { 'qom-type': 'iothread', id: 'io0' });
  await client.execute('device_add', { driver: 'usb-kbd', id: 'kbd0' });
});
after(async () => {
  await client.disconnect();
  await qemu.stop();
});

const values = async (...a: Parameters<LiveValues['get']>): Promise<string[]> => (await live.get(...a)).items.map((i) => i.value);

describe('live values on real QEMU', () => {
  test('lists exactly what the test created, in the right kinds', async () => {
    assert.deepEqual((await values('block-node')).sort(), ['n0', 'n1']);
    assert.deepEqual(await values('dirty-bitmap', 'n0'), ['b0']);
    assert.deepEqual(await values('dirty-bitmap', 'n1'), []);
    assert.ok((await values('chardev')).includes('c0'));
    assert.ok((await values('object-id')).includes('io0'));
    assert.deepEqual(await values('iothread'), ['io0']);
    assert.deepEqual((await values('qdev-id')).sort(), ['kbd0', 'xhci']);
    assert.equal((await live.get('qdev-id')).items.find((i) => i.value === 'kbd0')?.detail, 'usb-kbd');
    assert.ok((await values('device-type')).includes('usb-kbd'));
    assert.ok(!(await values('device-type')).includes('device'), 'abstract types are left out');
    assert.ok((await values('cpu-model')).includes('qemu64'));
    assert.ok((await values('device-property', 'usb-kbd')).includes('port'), 'device_add members of a driver');
    assert.ok((await values('qom-path', '/objects/')).includes('/objects/io0'));
    assert.ok((await values('qom-property', '/objects/io0')).includes('poll-max-ns'));
    assert.deepEqual(await values('job'), []);
    assert.deepEqual(await values('block-export'), []);
  });

  test('a deleted node disappears after the command that deleted it', async () => {
    await values('block-node');
    await client.execute('blockdev-del', { 'node-name': 'n1' });
    live.noteCommand('blockdev-del');
    assert.deepEqual(await values('block-node'), ['n0']);
  });

  test('an unplugged device disappears after its DEVICE_DELETED event', async () => {
    assert.deepEqual((await values('qdev-id')).sort(), ['kbd0', 'xhci']);
    const cursor = client.eventCursor();
    await client.execute('device_del', { id: 'kbd0' });
    await client.waitForEvent((e) => e.event === 'DEVICE_DELETED' && (e.data as { device?: string } | undefined)?.device === 'kbd0',
      { after: cursor, timeoutMs: 10_000 });
    const fetchesBefore = live.fetches;
    assert.deepEqual(await values('qdev-id'), ['xhci']);
    assert.equal(live.fetches, fetchesBefore + 1, 'the event made the cache fetch again');
  });
});
