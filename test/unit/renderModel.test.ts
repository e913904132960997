// The pure part of the reply renderer (src/render/model.ts): paths to copy, tree entries, when an array is a
// table and what its columns are, how a column sorts; and the block graph's model and SVG (src/render/
// blockGraph.ts) for a debug graph of the shape QEMU sends (the qemu tier checks a real one).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { entries, naturalCompare, pathString, sortOrder, summary, tableOf } from '../../src/render/model';
import { graphFromDebug, graphFromNamed, graphSvg, isDebugGraph, nodeLines } from '../../src/render/blockGraph';
import { humanSize } from '../../src/render/bytes';
import { assertLinear } from '../support/linear';

describe('renderer model: paths', () => {
  test('identifiers with dots, QMP names and indexes in brackets', () => {
    assert.equal(pathString([]), 'return');
    assert.equal(pathString([0, 'inserted', 'file']), 'return[0].inserted.file');
    assert.equal(pathString([2, 'node-name']), 'return[2]["node-name"]');
    assert.equal(pathString(['a"b']), 'return["a\\"b"]');
  });
  test('a path evaluates back to the value it names', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const walk = (x: unknown, path: (string | number)[]): { path: (string | number)[]; value: unknown } => {
        const es = entries(x, path);
        const first = es[0];
        return first ? walk(first.value, first.path) : { path, value: x };
      };
      const leaf = walk(v, []);
      const read = new Function('r', `return ${pathString(leaf.path, 'r')};`) as (r: unknown) => unknown;
      assert.deepEqual(read(v), leaf.value);
    }));
  });
});

describe('renderer model: tree', () => {
  test('entries of an object and an array, with summaries', () => {
    const es = entries({ a: 1, b: [1, 2], c: {}, d: 'x', e: null }, ['p']);
    assert.deepEqual(es.map((e) => [e.key, e.kind, e.expandable, e.summary]), [
      ['a', 'number', false, '1'], ['b', 'array', true, '[…] 2 items'], ['c', 'object', false, '{}'],
      ['d', 'string', false, '"x"'], ['e', 'null', false, 'null'],
    ]);
    assert.deepEqual(es[1]?.path, ['p', 'b']);
    assert.deepEqual(entries(5), []);
    assert.equal(summary('x'.repeat(500)).length, 120);
  });
});

describe('renderer model: tables', () => {
  test('qom-list is a table of name and type', () => {
    const t = tableOf([{ name: 'type', type: 'string' }, { name: 'machine', type: 'child<pc-i440fx-7.2-machine>' }]);
    assert.ok(t);
    assert.deepEqual(t.columns, ['name', 'type']);
    assert.deepEqual(t.cells[1], ['machine', 'child<pc-i440fx-7.2-machine>']);
  });
  test('members every row has come first; absent cells are empty; containers are compact JSON', () => {
    const t = tableOf([{ device: 'a', locked: false }, { inserted: { ro: true }, device: 'b', locked: true }]);
    assert.ok(t);
    assert.deepEqual(t.columns, ['device', 'locked', 'inserted']);
    const named = tableOf([{ iops_rd: 0, ro: false, 'node-name': 'a', drv: 'raw' }]);
    assert.deepEqual(named?.columns, ['node-name', 'drv', 'iops_rd', 'ro'], 'naming members lead');
    assert.deepEqual(t.cells, [['a', 'false', ''], ['b', 'true', '{"ro":true}']]);
  });
  test('not a table: scalars, mixed shapes, empty arrays, too many columns', () => {
    assert.equal(tableOf([1, 2]), undefined);
    assert.equal(tableOf([]), undefined);
    assert.equal(tableOf({ a: 1 }), undefined);
    assert.equal(tableOf([{ a: 1 }, { b: 2 }]), undefined);
    assert.equal(tableOf([{ a: 1 }, [1]]), undefined);
    const wide = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i]));
    assert.equal(tableOf([wide]), undefined);
  });
  test('sorting: numbers by value, names naturally, stable, absent last both ways', () => {
    const t = tableOf([
      { 'cpu-index': 10, 'qom-path': '/machine/unattached/device[10]' },
      { 'cpu-index': 2, 'qom-path': '/machine/unattached/device[2]' },
      { 'cpu-index': 9, 'qom-path': '/machine/unattached/device[9]', extra: 1 },
      { 'cpu-index': 2, 'qom-path': '/machine/unattached/device[2]' },
    ]);
    assert.ok(t);
    assert.deepEqual(sortOrder(t, 'cpu-index'), [1, 3, 2, 0]);
    assert.deepEqual(sortOrder(t, 'cpu-index', 'descending'), [0, 2, 1, 3]);
    assert.deepEqual(sortOrder(t, 'qom-path'), [1, 3, 2, 0]);
    assert.deepEqual(sortOrder(t, 'extra'), [2, 0, 1, 3]);
    assert.deepEqual(sortOrder(t, 'extra', 'descending'), [2, 0, 1, 3]);
    assert.deepEqual(sortOrder(t, 'no-such'), [0, 1, 2, 3]);
  });
  test('sorting gives a permutation in order, for any rows', () => {
    fc.assert(fc.property(fc.array(fc.record({ k: fc.oneof(fc.integer(), fc.string(), fc.boolean()) }), { minLength: 1 }), (rows) => {
      const t = tableOf(rows);
      assert.ok(t);
      const o = sortOrder(t, 'k');
      assert.deepEqual([...o].sort((a, b) => a - b), rows.map((_, i) => i));
      for (let i = 1; i < o.length; i++) {
        const a = rows[o[i - 1] as number]?.k;
        const b = rows[o[i] as number]?.k;
        if (typeof a === typeof b && typeof a === 'number') assert.ok((a as number) <= (b as number));
        if (typeof a === 'string' && typeof b === 'string') assert.ok(naturalCompare(a, b) <= 0);
      }
    }));
  });
  test('natural comparison', () => {
    assert.ok(naturalCompare('node2', 'node10') < 0);
    assert.ok(naturalCompare('node010', 'node9') > 0);
    assert.equal(naturalCompare('a01', 'a1'), 0);
    assert.ok(naturalCompare('a', 'ab') < 0);
  });
  test('building a table is linear in the rows', () => {
    assertLinear('tableOf', (n) => Array.from({ length: n }, (_, i) => ({ name: `prop${i}`, type: 'string' })), (rows) => tableOf(rows), 20000);
  });
});

// The shape of x-debug-query-block-graph for a qcow2 overlay over a null-co backing node, attached to nothing.
const debugGraph = {
  nodes: [
    { id: 1, type: 'block-driver', name: 'top' },
    { id: 2, type: 'block-driver', name: 'top-file' },
    { id: 3, type: 'block-driver', name: 'base' },
  ],
  edges: [
    { parent: 1, child: 2, name: 'file', perm: ['consistent-read', 'write'], 'shared-perm': ['write-unchanged', 'resize'] },
    { parent: 1, child: 3, name: 'backing', perm: [], 'shared-perm': ['consistent-read', 'write-unchanged', 'resize'] },
  ],
};
const named = [
  { 'node-name': 'top', drv: 'qcow2', file: '/tmp/x/top.qcow2', image: { 'virtual-size': 67108864 } },
  { 'node-name': 'top-file', drv: 'file', file: '/tmp/x/top.qcow2', image: { 'virtual-size': 196704 } },
  { 'node-name': 'base', drv: 'null-co', file: 'null-co://', image: { 'virtual-size': 67108864 } },
];

describe('block graph', () => {
  test('the model of a debug graph, completed from query-named-block-nodes', () => {
    const g = graphFromDebug(debugGraph, named);
    assert.deepEqual(g.nodes.map((n) => [n.id, n.name, n.driver, n.size]), [['1', 'top', 'qcow2', 67108864], ['2', 'top-file', 'file', 196704], ['3', 'base', 'null-co', 67108864]]);
    assert.deepEqual(g.edges.map((e) => [e.parent, e.child, e.role, e.perm.join(',')]), [['1', '2', 'file', 'consistent-read,write'], ['1', '3', 'backing', '']]);
    assert.ok(isDebugGraph(debugGraph));
    assert.throws(() => graphFromDebug([1]), /x-debug-query-block-graph/);
  });
  test('the SVG has a box per node and an arrow per edge, parents above children', () => {
    const svg = graphSvg(graphFromDebug(debugGraph, named));
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const nodes = [...svg.matchAll(/<g class="node[^"]*" data-node-id="(\d+)" data-node-name="([^"]*)"[^>]*>[\s\S]*?<rect x="([\d.-]+)" y="([\d.-]+)"/g)];
    assert.deepEqual(nodes.map((m) => m[2]), ['top', 'top-file', 'base']);
    const y = new Map(nodes.map((m) => [m[1], Number(m[4])]));
    assert.ok((y.get('1') as number) < (y.get('2') as number));
    assert.ok((y.get('1') as number) < (y.get('3') as number));
    const edges = [...svg.matchAll(/<g class="edge" data-parent="(\d+)" data-child="(\d+)" data-role="([^"]*)" data-perm="([^"]*)">[\s\S]*?<path d="(M[^"]+)"/g)];
    assert.deepEqual(edges.map((m) => [m[1], m[2], m[3], m[4]]), [['1', '2', 'file', 'consistent-read write'], ['1', '3', 'backing', '']]);
    for (const m of edges) assert.match(m[5] as string, /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+$/);
    assert.match(svg, />qcow2</);
    assert.match(svg, />64 MiB</);
    assert.match(svg, /aria-label="Block graph: 3 nodes, 2 edges"/);
  });
  test('names are escaped in the SVG', () => {
    const svg = graphSvg({ nodes: [{ id: 'a', kind: 'driver', name: '<x&"y>' }], edges: [] });
    assert.ok(!svg.includes('<x&'));
    assert.match(svg, /&#60;x&#38;&#34;y&#62;/);
  });
  test('query-named-block-nodes with children gives edges; without, nodes only', () => {
    const withChildren = named.map((n) => (n['node-name'] === 'top' ? { ...n, children: [{ child: 'file', 'node-name': 'top-file' }, { child: 'backing', 'node-name': 'base' }] } : n));
    assert.deepEqual(graphFromNamed(withChildren).edges.map((e) => [e.parent, e.child, e.role]), [['top', 'top-file', 'file'], ['top', 'base', 'backing']]);
    assert.equal(graphFromNamed(named).edges.length, 0);
  });
  test('sizes as people read them', () => {
    assert.equal(humanSize(512), '512 B');
    assert.equal(humanSize(67108864), '64 MiB');
    assert.equal(humanSize(1536 * 1024 * 1024), '1.5 GiB');
  });
});

describe('block graph: a node\'s lines', () => {
  test('name, driver, file and size; a json: pseudo file name stays in the tooltip only', () => {
    assert.deepEqual(nodeLines({ id: '1', kind: 'driver', name: 'top', driver: 'qcow2', file: '/tmp/x/top.qcow2', size: 67108864 }), ['top', 'qcow2', '/tmp/x/top.qcow2', '64 MiB']);
    const json = 'json:{"backing": {"driver": "null-co", "size": 67108864}, "driver": "qcow2", "file": {"driver": "file", "filename": "top.qcow2"}}';
    assert.deepEqual(nodeLines({ id: '1', kind: 'driver', name: 'top', driver: 'qcow2', file: json, size: 67108864 }), ['top', 'qcow2', '64 MiB']);
    const svg = graphSvg({ nodes: [{ id: '1', kind: 'driver', name: 'top', driver: 'qcow2', file: json, size: 67108864 }], edges: [] });
    assert.match(svg, /<title>top\ndriver\nqcow2\njson:\{&#34;backing&#34;/);
  });
});
