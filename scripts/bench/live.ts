// Live values (docs/live-values.md): completion of block node names from the session's cache, and one refresh
// of that cache after an event, on the bench's QEMU with 200 null-co nodes the bench makes.
import { languageService } from '../../src/language/service';
import { LiveValues } from '../../src/qmp/liveValues';
import { Schema, type QmpClient, type SchemaInfo } from '../../src/qmp/index';
import type { RawQmp } from './raw';
import { median, now, p99, type Row } from './stats';

const NODES = 200;

export async function benchLive(ours: QmpClient, raw: RawQmp, infos: SchemaInfo[]): Promise<Row[]> {
  for (let i = 0; i < NODES; i++) await ours.execute('blockdev-add', { driver: 'null-co', 'node-name': `bench-node-${i}` });
  const live = new LiveValues({
    execute: (command, args, timeoutMs) => ours.execute(command, args, { timeoutMs }),
    inBandBusy: () => false,
  });
  const schema = Schema.fromIntrospection(infos);
  const qmp = languageService('qmp');
  if (!qmp) throw new Error('no qmp language service');
  const text = '{ "execute": "blockdev-del", "arguments": { "node-name": "bench-node-1" } }';
  const offset = text.indexOf('bench-node-1');
  await live.get('block-node');
  const completion: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t0 = now();
    const items = qmp.complete(text, offset, { schema, live }).items;
    completion.push(now() - t0);
    if (i === 0 && items.filter((it) => it.kind === 'value').length !== NODES) throw new Error(`expected ${NODES} nodes, got ${items.length} items`);
  }
  // One refresh after an event: the event marks the kind stale, the next ask lists it again.
  const refresh: number[] = [];
  const rawList: number[] = [];
  for (let i = 0; i < 30; i++) {
    live.noteEvent('JOB_STATUS_CHANGE');
    const t0 = now();
    await live.get('block-node');
    refresh.push(now() - t0);
    const t1 = now();
    await raw.call('query-named-block-nodes', { flat: true });
    rawList.push(now() - t1);
  }
  for (let i = 0; i < NODES; i++) await ours.execute('blockdev-del', { 'node-name': `bench-node-${i}` });
  const completionP99 = p99(completion);
  const refreshMedian = median(refresh);
  return [
    { label: `completion with live values p99 (${NODES} nodes, cached)`, ours: completionP99, unit: 'ms', target: '≤ 5 ms', met: completionP99 <= 5 },
    {
      label: `one refresh after an event, median (${NODES} nodes)`, ours: refreshMedian, base: { name: 'raw query', value: median(rawList) },
      unit: 'ms', target: '≤ 50 ms', met: refreshMedian <= 50,
    },
  ];
}
