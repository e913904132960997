// The block graph (src/render/blockGraph.ts) of a real QEMU: a qcow2 overlay whose backing node is a null-co
// node. x-debug-query-block-graph, completed from query-named-block-nodes, gives the nodes (with driver and
// size) and the edges (file, backing, with the permissions QEMU reports), and the SVG draws each of them.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient } from '../../src/qmp/client';
import { graphFromDebug, graphFromNamed, graphSvg } from '../../src/render/blockGraph';
import { tableOf } from '../../src/render/model';
import { createQcow2OverNullBase, startQemu, type TestQemu } from '../support/qemu';

let qemu: TestQemu;
let client: QmpClient;

before(async () => {
  qemu = await startQemu();
  client = new QmpClient();
  await client.connect({ kind: 'unix', path: qemu.socketPath });
  const job = await createQcow2OverNullBase(client, qemu);
  assert.equal(job.error, undefined);
  await client.execute('job-dismiss', { id: 'create' });
  await client.execute('blockdev-add', { driver: 'qcow2', 'node-name': 'top', file: 'top-file', backing: 'base' });
});
after(async () => {
  await client.disconnect();
  await qemu.stop();
});

describe('block graph of a real QEMU', () => {
  test('a qcow2 overlay over a null-co node: nodes, edges, roles, permissions, in the SVG', async () => {
    const debug = await client.execute('x-debug-query-block-graph');
    const named = await client.execute('query-named-block-nodes', { flat: true });
    const g = graphFromDebug(debug, named);
    const byName = new Map(g.nodes.map((n) => [n.name, n]));
    assert.equal(byName.get('top')?.driver, 'qcow2');
    assert.equal(byName.get('top-file')?.driver, 'file');
    assert.equal(byName.get('base')?.driver, 'null-co');
    assert.equal(byName.get('top')?.size, 64 * 1024 * 1024);
    const id = (name: string): string => byName.get(name)?.id ?? assert.fail(`no node ${name}`);
    const edges = g.edges.map((e) => [e.parent, e.child, e.role]);
    assert.deepEqual(edges.filter((e) => e[0] === id('top')).sort(), [[id('top'), id('base'), 'backing'], [id('top'), id('top-file'), 'file']].sort());
    // qcow2 reads its file consistently; a backing node is read (consistent-read) only by an attached user.
    const file = g.edges.find((e) => e.role === 'file');
    assert.ok(file?.perm.includes('consistent-read'), JSON.stringify(file));

    const svg = graphSvg(g);
    const nodes = [...svg.matchAll(/<g class="node[^"]*" data-node-id="([^"]*)" data-node-name="([^"]*)"/g)].map((m) => m[2]).sort();
    assert.deepEqual(nodes, ['base', 'top', 'top-file']);
    const svgEdges = [...svg.matchAll(/<g class="edge" data-parent="([^"]*)" data-child="([^"]*)" data-role="([^"]*)"/g)].map((m) => [m[1], m[2], m[3]]);
    assert.deepEqual(svgEdges.sort(), edges.sort());
    assert.match(svg, />qcow2</);
    assert.match(svg, />null-co</);
  });

  test('query-named-block-nodes is a table, and a graph of its nodes', async () => {
    const named = await client.execute('query-named-block-nodes', { flat: false });
    const t = tableOf(named);
    assert.ok(t);
    assert.ok(t.columns.includes('node-name') && t.columns.includes('drv'), t.columns.join(','));
    const g = graphFromNamed(named);
    assert.deepEqual(g.nodes.map((n) => n.name).sort(), ['base', 'top', 'top-file']);
  });
});
