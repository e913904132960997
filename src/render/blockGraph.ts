// The block graph as a picture, like QEMU's scripts/render_block_graph.py but with no graphviz: the model from
// `x-debug-query-block-graph` (names of the driver nodes completed from `query-named-block-nodes` when given),
// or from `query-named-block-nodes` alone (its `children`, in QEMU versions that report them), laid out with
// dagre and written as a standalone SVG (the renderer shows it and saves it). Pure: runs in Node and in the
// notebook's webview.
import { Graph, layout } from '@dagrejs/dagre';
import { humanSize } from './bytes';

export type NodeKind = 'backend' | 'job' | 'driver';

export interface GraphNode {
  /** Unique in the graph: the debug graph's id, or the node name. */
  id: string;
  kind: NodeKind;
  /** The node name, backend name or job id ('' for an anonymous backend). */
  name: string;
  driver?: string;
  file?: string;
  /** Virtual size in bytes. */
  size?: number;
}

export interface GraphEdge {
  parent: string;
  child: string;
  /** The child's role: file, backing, root, … */
  role: string;
  perm: string[];
  shared: string[];
}

export interface BlockGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

interface NamedInfo { driver?: string; file?: string; size?: number }

/** What query-named-block-nodes says of each node name (driver, file name, virtual size). */
function namedInfo(named: unknown): Map<string, NamedInfo> {
  const out = new Map<string, NamedInfo>();
  if (!Array.isArray(named)) return out;
  for (const n of named) {
    if (!isRecord(n) || typeof n['node-name'] !== 'string') continue;
    const image = isRecord(n['image']) ? n['image'] : {};
    const info: NamedInfo = {};
    if (typeof n['drv'] === 'string') info.driver = n['drv'];
    if (typeof n['file'] === 'string') info.file = n['file'];
    const size = image['virtual-size'];
    if (typeof size === 'number') info.size = size;
    out.set(n['node-name'], info);
  }
  return out;
}

/** Whether a reply looks like x-debug-query-block-graph's (`{nodes, edges}`). */
export function isDebugGraph(v: unknown): boolean {
  return isRecord(v) && Array.isArray(v['nodes']) && Array.isArray(v['edges']);
}

/** Whether a reply is query-named-block-nodes' with children to draw edges from. */
export function isNamedWithChildren(v: unknown): boolean {
  return Array.isArray(v) && v.length > 0 && v.every((n) => isRecord(n) && typeof n['node-name'] === 'string' && typeof n['drv'] === 'string')
    && v.some((n) => Array.isArray((n as Record<string, unknown>)['children']));
}

/** The model of an x-debug-query-block-graph reply, completed from query-named-block-nodes when given. */
export function graphFromDebug(reply: unknown, named?: unknown): BlockGraph {
  if (!isDebugGraph(reply)) throw new Error('not an x-debug-query-block-graph reply (an object with nodes and edges)');
  const r = reply as { nodes: unknown[]; edges: unknown[] };
  const info = namedInfo(named);
  const nodes: GraphNode[] = [];
  const ids = new Set<string>();
  for (const n of r.nodes) {
    if (!isRecord(n) || (typeof n['id'] !== 'number' && typeof n['id'] !== 'string')) continue;
    const id = String(n['id']);
    const type = n['type'];
    const kind: NodeKind = type === 'block-backend' ? 'backend' : type === 'block-job' ? 'job' : 'driver';
    const name = typeof n['name'] === 'string' ? n['name'] : '';
    const node: GraphNode = { id, kind, name, ...(kind === 'driver' ? info.get(name) ?? {} : {}) };
    nodes.push(node);
    ids.add(id);
  }
  const edges: GraphEdge[] = [];
  for (const e of r.edges) {
    if (!isRecord(e)) continue;
    const parent = String(e['parent']);
    const child = String(e['child']);
    if (!ids.has(parent) || !ids.has(child)) continue;
    edges.push({ parent, child, role: typeof e['name'] === 'string' ? e['name'] : '', perm: strings(e['perm']), shared: strings(e['shared-perm']) });
  }
  return { nodes, edges };
}

/**
 * The model of a query-named-block-nodes reply: its nodes, and edges from each node's `children` (`{child,
 * node-name}`) where QEMU reports them (neither 7.2 nor 10.0 does, measured: there the graph has no edges; use
 * x-debug-query-block-graph, which both have).
 */
export function graphFromNamed(reply: unknown): BlockGraph {
  if (!Array.isArray(reply)) throw new Error('not a query-named-block-nodes reply (an array)');
  const info = namedInfo(reply);
  const nodes: GraphNode[] = [...info].map(([name, i]) => ({ id: name, kind: 'driver', name, ...i }));
  const edges: GraphEdge[] = [];
  for (const n of reply) {
    if (!isRecord(n) || typeof n['node-name'] !== 'string' || !Array.isArray(n['children'])) continue;
    for (const c of n['children']) {
      if (!isRecord(c) || typeof c['node-name'] !== 'string' || !info.has(c['node-name'])) continue;
      edges.push({ parent: n['node-name'], child: c['node-name'], role: typeof c['child'] === 'string' ? c['child'] : '', perm: [], shared: [] });
    }
  }
  return { nodes, edges };
}

function cut(s: string, max: number): string {
  return s.length > max ? `…${s.slice(s.length - max + 1)}` : s;
}

/** The lines of a node's box. */
export function nodeLines(n: GraphNode): string[] {
  const title = n.kind === 'backend' ? `backend ${n.name || `#${n.id}`}` : n.kind === 'job' ? `job ${n.name || `#${n.id}`}` : n.name || `#${n.id}`;
  const lines = [title];
  if (n.driver) lines.push(n.driver);
  // A `json:{…}` name (QEMU's for a node whose options have no plain file name: a backing node given at
  // blockdev-add, a filter over null-co) is no file to read: it stays in the node's tooltip only.
  if (n.file && n.file !== n.name && !n.file.startsWith('json:')) lines.push(cut(n.file, 40));
  if (n.size !== undefined) lines.push(humanSize(n.size));
  return lines;
}

/** The lines of an edge's label: the role, then the permissions taken (`perm`), if any. */
export function edgeLines(e: GraphEdge): string[] {
  return e.perm.length ? [e.role, e.perm.join(' ')] : [e.role];
}

function xml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CHAR_W = 7.2;
const LINE_H = 15;
const PAD = 8;

function box(lines: string[]): { width: number; height: number } {
  const longest = Math.max(1, ...lines.map((l) => l.length));
  return { width: Math.ceil(longest * CHAR_W + 2 * PAD), height: lines.length * LINE_H + 2 * PAD };
}

function textLines(lines: string[], x: number, top: number, cls: string): string {
  const spans = lines.map((l, i) => `<tspan x="${x.toFixed(1)}" y="${(top + (i + 1) * LINE_H - 3).toFixed(1)}"${i === 0 ? ' font-weight="bold"' : ''}>${xml(l)}</tspan>`);
  return `<text class="${cls}" text-anchor="middle" fill="currentColor">${spans.join('')}</text>`;
}

/**
 * The graph laid out top-down (parents above their children) with dagre, as a standalone SVG: each node a
 * `<g class="node" data-node-id data-node-name data-kind data-driver>` with a box and its lines; each edge a `<g
 * class="edge" data-parent data-child data-role data-perm>` (parent and child: node ids) with its path, arrow and
 * label; a `<title>` on each with the full text. Colours are `currentColor` (the exported file draws in black; the
 * renderer themes it).
 */
export function graphSvg(g: BlockGraph): string {
  const graph = new Graph({ multigraph: true });
  graph.setGraph({ rankdir: 'TB', nodesep: 30, ranksep: 50, edgesep: 20, marginx: 10, marginy: 10 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const n of g.nodes) graph.setNode(n.id, box(nodeLines(n)));
  g.edges.forEach((e, i) => {
    const b = box(edgeLines(e));
    // The label beside its edge (labelpos r), not on it, so that the line does not run through the text.
    graph.setEdge(e.parent, e.child, { width: b.width - PAD, height: b.height - PAD, labelpos: 'r', labeloffset: 6 }, `e${i}`);
  });
  layout(graph);
  const size = graph.graph();
  const width = Math.ceil(size.width ?? 0);
  const height = Math.ceil(size.height ?? 0);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="qmp-block-graph" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Block graph: ${g.nodes.length} nodes, ${g.edges.length} edges" font-family="monospace" font-size="12">`);
  parts.push('<defs><marker id="qmp-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="currentColor"/></marker></defs>');
  g.edges.forEach((e, i) => {
    const laid = graph.edge(e.parent, e.child, `e${i}`) as { points?: { x: number; y: number }[]; x?: number; y?: number; height?: number };
    const points = laid.points ?? [];
    const d = points.map((p, k) => `${k === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join('');
    const lines = edgeLines(e);
    const title = `${e.role}: ${e.parent} → ${e.child}; perm: ${e.perm.join(', ') || 'none'}; shared: ${e.shared.join(', ') || 'none'}`;
    parts.push(`<g class="edge" data-parent="${xml(e.parent)}" data-child="${xml(e.child)}" data-role="${xml(e.role)}" data-perm="${xml(e.perm.join(' '))}">`
      + `<title>${xml(title)}</title><path d="${d}" fill="none" stroke="currentColor" stroke-opacity="0.7" marker-end="url(#qmp-arrow)"/>`
      + (laid.x !== undefined && laid.y !== undefined ? textLines(lines, laid.x, laid.y - (lines.length * LINE_H) / 2, 'edge-label') : '')
      + '</g>');
  });
  for (const n of g.nodes) {
    const laid = graph.node(n.id) as { x: number; y: number; width: number; height: number };
    const lines = nodeLines(n);
    const x = laid.x - laid.width / 2;
    const y = laid.y - laid.height / 2;
    const title = [n.name || `#${n.id}`, n.kind, n.driver, n.file, n.size !== undefined ? `${n.size} bytes` : undefined].filter((s) => s).join('\n');
    parts.push(`<g class="node node-${n.kind}" data-node-id="${xml(n.id)}" data-node-name="${xml(n.name)}" data-kind="${n.kind}"${n.driver ? ` data-driver="${xml(n.driver)}"` : ''}>`
      + `<title>${xml(title)}</title><rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${laid.width}" height="${laid.height}" rx="${n.kind === 'driver' ? 4 : 12}" fill="none" stroke="currentColor"/>`
      + textLines(lines, laid.x, y + PAD, 'node-label')
      + '</g>');
  }
  parts.push('</svg>');
  return parts.join('');
}
