// The QEMU explorer's pure model (src/explorer/model.ts): which queries list a branch, how the replies become
// rows (block nodes with their children from the debug graph, the QOM composition tree's child<> properties,
// chardevs, jobs), the bound per level, which events and commands make a branch stale, and the commands a new
// cell on a row is pre-filled with (each one a cell the qmp parser accepts, naming the row).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_ITEMS, blockChildItems, blockRootItems, blockTree, branchQueries, branchesForCommand, branchesForEvent, cellCommands,
  chardevItems, childType, commandOfWire, commandText, jobItems, qomItems, qomJoin, type ExplorerItem,
} from '../../src/explorer/model';
import { parseCell } from '../../src/format';
import { assertLinear } from '../support/linear';

// x-debug-query-block-graph of a qcow2 overlay over a null-co node, the overlay attached to a backend.
const debug = {
  nodes: [
    { id: 1, type: 'block-backend', name: 'disk0' },
    { id: 2, type: 'block-driver', name: 'top' },
    { id: 3, type: 'block-driver', name: 'top-file' },
    { id: 4, type: 'block-driver', name: 'base' },
    { id: 5, type: 'block-driver', name: 'lone' },
  ],
  edges: [
    { parent: 1, child: 2, name: 'root', perm: ['consistent-read'], 'shared-perm': [] },
    { parent: 2, child: 3, name: 'file', perm: ['consistent-read', 'write'], 'shared-perm': [] },
    { parent: 2, child: 4, name: 'backing', perm: [], 'shared-perm': [] },
  ],
};
const named = [
  { 'node-name': 'top', drv: 'qcow2', file: '/tmp/x/top.qcow2', ro: false, backing_file: 'null-co://', image: { 'virtual-size': 67108864, 'actual-size': 200704 } },
  { 'node-name': 'top-file', drv: 'file', file: '/tmp/x/top.qcow2', ro: false, image: { 'virtual-size': 196704 } },
  { 'node-name': 'base', drv: 'null-co', file: 'null-co://', ro: true, image: { 'virtual-size': 67108864 } },
  { 'node-name': 'lone', drv: 'null-co', file: 'null-co://', ro: false, image: { 'virtual-size': 1048576 } },
];

const all = (): boolean => true;

describe('explorer: queries', () => {
  test('each branch is listed by the queries the server has', () => {
    assert.deepEqual(branchQueries('block', all), [{ command: 'query-named-block-nodes', args: { flat: true } }, { command: 'x-debug-query-block-graph' }]);
    assert.deepEqual(branchQueries('block', (c) => c !== 'x-debug-query-block-graph'), [{ command: 'query-named-block-nodes', args: { flat: true } }]);
    assert.deepEqual(branchQueries('devices', all), [{ command: 'qom-list', args: { path: '/machine' } }]);
    assert.deepEqual(branchQueries('objects', all), [{ command: 'qom-list', args: { path: '/objects' } }]);
    assert.deepEqual(branchQueries('chardevs', all), [{ command: 'query-chardev' }]);
    assert.deepEqual(branchQueries('jobs', all), [{ command: 'query-jobs' }]);
    // A guest agent has none of them.
    for (const b of ['block', 'devices', 'objects', 'chardevs', 'jobs'] as const) assert.equal(branchQueries(b, () => false), undefined);
  });
});

describe('explorer: block nodes', () => {
  test('roots are the nodes no node holds; children come with their role; backends and fields in the tooltip', () => {
    const tree = blockTree(named, debug);
    const roots = blockRootItems(tree);
    assert.deepEqual(roots.map((r) => [r.label, r.description, r.expandable]), [['top', 'qcow2 · 64 MiB', true], ['lone', 'null-co · 1 MiB', false]]);
    const top = roots[0] as ExplorerItem;
    assert.match(top.tooltip, /^node top$/m);
    assert.match(top.tooltip, /^driver: qcow2$/m);
    assert.match(top.tooltip, /^file: \/tmp\/x\/top\.qcow2$/m);
    assert.match(top.tooltip, /^virtual size: 64 MiB \(67108864 bytes\)$/m);
    assert.match(top.tooltip, /^attached to: disk0$/m);
    assert.match(top.tooltip, /^children: file top-file, backing base$/m);
    const kids = blockChildItems(tree, top);
    assert.deepEqual(kids.map((k) => [k.label, k.description, k.name]), [['top-file', 'file · file · 192.1 KiB', 'top-file'], ['base', 'backing · null-co · 64 MiB', 'base']]);
    assert.match(kids[1]?.tooltip ?? '', /^read-only: yes$/m);
    // Ids are unique and stable: the same node under two parents gets two ids.
    const ids = [...roots, ...kids].map((i) => i.id);
    assert.equal(new Set(ids).size, ids.length);
    const shared = blockTree(named.slice(0, 3).concat([{ 'node-name': 'top2', drv: 'qcow2', file: 'x', ro: false, image: { 'virtual-size': 1 } } as never]), {
      nodes: [...debug.nodes.slice(1, 4), { id: 6, type: 'block-driver', name: 'top2' }],
      edges: [debug.edges[1], debug.edges[2], { parent: 6, child: 4, name: 'backing', perm: [], 'shared-perm': [] }],
    });
    const sharedRoots = blockRootItems(shared);
    assert.deepEqual(sharedRoots.map((r) => r.label), ['top', 'top2']);
    const bases = sharedRoots.flatMap((r) => blockChildItems(shared, r)).filter((k) => k.label === 'base');
    assert.equal(bases.length, 2);
    assert.notEqual(bases[0]?.id, bases[1]?.id);
    assert.deepEqual(blockRootItems(blockTree(named, debug)).map((i) => i.id), roots.map((i) => i.id));
  });
  test('without the debug graph: every node a root (or children from query-named-block-nodes where QEMU gives them)', () => {
    assert.deepEqual(blockRootItems(blockTree(named)).map((r) => r.label), ['top', 'top-file', 'base', 'lone']);
    const withChildren = named.map((n) => (n['node-name'] === 'top' ? { ...n, children: [{ child: 'file', 'node-name': 'top-file' }, { child: 'backing', 'node-name': 'base' }] } : n));
    const tree = blockTree(withChildren);
    const roots = blockRootItems(tree);
    assert.deepEqual(roots.map((r) => r.label), ['top', 'lone']);
    assert.deepEqual(blockChildItems(tree, roots[0] as ExplorerItem).map((k) => k.label), ['top-file', 'base']);
  });
  test('garbage replies give no rows and do not throw', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
      const tree = blockTree(a, b);
      for (const r of blockRootItems(tree)) blockChildItems(tree, r);
      chardevItems(a);
      jobItems(a);
      qomItems('/machine', a);
    }));
  });
  test('a level shows at most MAX_ITEMS rows, then one saying how many more', () => {
    const many = Array.from({ length: MAX_ITEMS + 5 }, (_, i) => ({ 'node-name': `n${i}`, drv: 'null-co' }));
    const rows = blockRootItems(blockTree(many));
    assert.equal(rows.length, MAX_ITEMS + 1);
    assert.equal(rows[MAX_ITEMS]?.kind, 'more');
    assert.equal(rows[MAX_ITEMS]?.label, '… 5 more');
    assert.equal(cellCommands(rows[MAX_ITEMS] as ExplorerItem), undefined);
  });
  test('building the block tree and its rows is linear in the nodes', () => {
    const chain = (n: number): { named: unknown[]; debug: unknown } => ({
      named: Array.from({ length: n }, (_, i) => ({ 'node-name': `n${i}`, drv: 'qcow2', image: { 'virtual-size': 1024 } })),
      debug: {
        nodes: Array.from({ length: n }, (_, i) => ({ id: i, type: 'block-driver', name: `n${i}` })),
        edges: Array.from({ length: n - 1 }, (_, i) => ({ parent: i, child: i + 1, name: 'backing', perm: [], 'shared-perm': [] })),
      },
    });
    let deepest = 0;
    assertLinear('blockTree', chain, (g) => {
      const tree = blockTree(g.named, g.debug);
      let level = blockRootItems(tree);
      while (level[0]) {
        deepest = Math.max(deepest, level[0].id.length);
        level = blockChildItems(tree, level[0]);
      }
    }, 2000);
    // A row's id does not grow with its depth.
    assert.ok(deepest < 64, `an id of ${deepest} characters`);
  });
});

describe('explorer: QOM, chardevs, jobs', () => {
  test('QOM children are the child<> properties, as qom-tree walks them', () => {
    const reply = [
      { name: 'type', type: 'string' },
      { name: 'peripheral', type: 'child<container>' },
      { name: 'q35', type: 'child<q35-pcihost>' },
      { name: 'fw_cfg', type: 'link<fw_cfg>' },
    ];
    const rows = qomItems('/machine', reply);
    assert.deepEqual(rows.map((r) => [r.kind, r.label, r.description, r.path, r.name]),
      [['qom', 'peripheral', 'container', '/machine/peripheral', '/machine/peripheral'], ['qom', 'q35', 'q35-pcihost', '/machine/q35', '/machine/q35']]);
    assert.equal(qomJoin('/', 'machine'), '/machine');
    assert.equal(childType('child<usb-kbd>'), 'usb-kbd');
    assert.equal(childType('link<usb-kbd>'), undefined);
    const objects = qomItems('/objects', [{ name: 'sec0', type: 'child<secret>' }, { name: 'type', type: 'string' }]);
    assert.deepEqual(objects.map((r) => [r.kind, r.label, r.name, r.path]), [['object', 'sec0', 'sec0', '/objects/sec0']]);
  });
  test('chardevs and jobs', () => {
    const c = chardevItems([{ label: 'ch0', filename: 'null', 'frontend-open': false }, { filename: 'no label' }]);
    assert.deepEqual(c.map((r) => [r.label, r.description, r.name]), [['ch0', 'null', 'ch0']]);
    assert.match(c[0]?.tooltip ?? '', /front end open: no/);
    const j = jobItems([{ id: 'job0', type: 'mirror', status: 'running', 'current-progress': 512, 'total-progress': 2048 }]);
    assert.deepEqual(j.map((r) => [r.label, r.description]), [['job0', 'mirror · running · 25%']]);
    assert.match(j[0]?.tooltip ?? '', /progress: 512 \/ 2048 \(25%\)/);
  });
});

describe('explorer: what makes a branch stale', () => {
  test('events, from the live values table', () => {
    assert.deepEqual(branchesForEvent('DEVICE_DELETED'), ['block', 'devices', 'objects']);
    assert.deepEqual(branchesForEvent('JOB_STATUS_CHANGE'), ['block', 'jobs']);
    assert.deepEqual(branchesForEvent('BLOCK_JOB_READY'), ['jobs']);
    assert.deepEqual(branchesForEvent('RESET'), []);
  });
  test('commands that create or remove what a branch shows', () => {
    assert.deepEqual(branchesForCommand('blockdev-add'), ['block']);
    assert.deepEqual(branchesForCommand('blockdev-del'), ['block']);
    assert.deepEqual(branchesForCommand('object-add'), ['devices', 'objects']);
    assert.deepEqual(branchesForCommand('object-del'), ['devices', 'objects']);
    assert.deepEqual(branchesForCommand('device_add'), ['block', 'devices', 'objects']);
    assert.deepEqual(branchesForCommand('chardev-add'), ['chardevs']);
    assert.deepEqual(branchesForCommand('chardev-remove'), ['chardevs']);
    assert.ok(branchesForCommand('blockdev-create').includes('jobs'));
    assert.deepEqual(branchesForCommand('job-dismiss'), ['jobs']);
    assert.deepEqual(branchesForCommand('query-block'), []);
    assert.deepEqual(branchesForCommand('qom-list'), []);
  });
  test('the command name of a wire message', () => {
    assert.equal(commandOfWire('{"execute": "blockdev-del", "arguments": {"node-name": "x"}}'), 'blockdev-del');
    assert.equal(commandOfWire('{"exec-oob": "migrate-pause", "id": 1}'), 'migrate-pause');
    assert.equal(commandOfWire('{"return": {}}'), undefined);
  });
});

describe('explorer: pre-filled cells', () => {
  const node: ExplorerItem = { kind: 'block-node', id: 'x', label: 'no"de', tooltip: '', name: 'no"de', expandable: false };
  const dev: ExplorerItem = { kind: 'qom', id: 'q', label: 'vd0', tooltip: '', name: '/machine/peripheral/vd0', path: '/machine/peripheral/vd0', expandable: true };
  const board: ExplorerItem = { kind: 'qom', id: 'q', label: 'q35', tooltip: '', name: '/machine/q35', path: '/machine/q35', expandable: true };
  const obj: ExplorerItem = { kind: 'object', id: 'o', label: 'sec0', tooltip: '', name: 'sec0', path: '/objects/sec0', expandable: true };
  const chr: ExplorerItem = { kind: 'chardev', id: 'c', label: 'ch0', tooltip: '', name: 'ch0', expandable: false };
  const job: ExplorerItem = { kind: 'job', id: 'j', label: 'job0', tooltip: '', name: 'job0', expandable: false };

  const parsed = (text: string): { execute: string; arguments?: Record<string, unknown> } => {
    const cell = parseCell(text, 'qmp');
    assert.equal(cell.errors.length, 0, `${text}: ${JSON.stringify(cell.errors)}`);
    assert.equal(cell.items.length, 1);
    const item = cell.items[0];
    assert.ok(item && item.kind === 'command');
    return JSON.parse(item.json) as { execute: string; arguments?: Record<string, unknown> };
  };

  test('by kind: queries first, then what removes the item, each naming it', () => {
    const names = (i: ExplorerItem): string[] => (cellCommands(i) ?? []).map((c) => c.command);
    assert.deepEqual(names(node), ['query-named-block-nodes', 'query-block', 'x-debug-query-block-graph', 'blockdev-del']);
    assert.deepEqual(names(dev), ['qom-list', 'qom-get', 'device_del']);
    assert.deepEqual(names(board), ['qom-list', 'qom-get']);
    assert.deepEqual(names(obj), ['qom-list', 'qom-get', 'object-del']);
    assert.deepEqual(names(chr), ['query-chardev', 'chardev-remove']);
    assert.deepEqual(names(job), ['query-jobs', 'job-cancel', 'job-dismiss']);
    const byName = (i: ExplorerItem, c: string): { execute: string; arguments?: Record<string, unknown> } => parsed((cellCommands(i) ?? []).find((x) => x.command === c)?.text ?? '');
    assert.deepEqual(byName(node, 'blockdev-del'), { execute: 'blockdev-del', arguments: { 'node-name': 'no"de' } });
    assert.deepEqual(byName(dev, 'device_del'), { execute: 'device_del', arguments: { id: 'vd0' } });
    assert.deepEqual(byName(dev, 'qom-get'), { execute: 'qom-get', arguments: { path: '/machine/peripheral/vd0', property: 'type' } });
    assert.deepEqual(byName(obj, 'object-del'), { execute: 'object-del', arguments: { id: 'sec0' } });
    assert.deepEqual(byName(obj, 'qom-list'), { execute: 'qom-list', arguments: { path: '/objects/sec0' } });
    assert.deepEqual(byName(chr, 'chardev-remove'), { execute: 'chardev-remove', arguments: { id: 'ch0' } });
    assert.deepEqual(byName(job, 'job-cancel'), { execute: 'job-cancel', arguments: { id: 'job0' } });
  });
  test('any name gives a cell that parses back to that name', () => {
    fc.assert(fc.property(fc.string(), (name) => {
      const text = commandText('blockdev-del', { 'node-name': name });
      assert.deepEqual(JSON.parse(text), { execute: 'blockdev-del', arguments: { 'node-name': name } });
    }));
  });
});
