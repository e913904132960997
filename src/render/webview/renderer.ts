// The notebook renderer of QMP replies (mime application/vnd.qmp.reply+json), bundled by esbuild as a browser
// ES module (dist/renderer.js) and run by VS Code in the notebook's webview. It shows a reply as a collapsible
// tree (copy the path of a value), an array of like objects as a sortable table, a block graph as a diagram
// (save or copy it as SVG), and the plain JSON text one click away. Offline (no fetches), themed with VS Code's
// CSS variables, keyboard-driven, with ARIA roles (tree/treeitem, table with aria-sort, toolbar, tabs).
// The model is src/render/model.ts and src/render/blockGraph.ts, tested under Node.
import { entries, pathString, sortOrder, tableOf, type Direction, type Segment, type Table } from '../model';
import { graphFromDebug, graphFromNamed, graphSvg, isDebugGraph, isNamedWithChildren } from '../blockGraph';

interface OutputItem { id: string; mime: string; json(): unknown; text(): string }
interface RendererContext { postMessage?(message: unknown): void }

const TABLE_PAGE = 500;

const style = `
.qmp-r { font-family: var(--vscode-editor-font-family, monospace); font-size: var(--vscode-editor-font-size, 13px); color: var(--vscode-foreground); }
.qmp-r .bar { display: flex; gap: 4px; margin-bottom: 4px; flex-wrap: wrap; }
.qmp-r button { font: inherit; font-size: 12px; color: var(--vscode-button-secondaryForeground, var(--vscode-foreground)); background: var(--vscode-button-secondaryBackground, transparent); border: 1px solid var(--vscode-button-border, var(--vscode-contrastBorder, transparent)); padding: 1px 8px; cursor: pointer; border-radius: 2px; }
.qmp-r button[aria-selected="true"], .qmp-r button[aria-pressed="true"] { color: var(--vscode-button-foreground); background: var(--vscode-button-background); }
.qmp-r button:focus-visible, .qmp-r [role="treeitem"]:focus-visible, .qmp-r th button:focus-visible { outline: 1px solid var(--vscode-focusBorder); outline-offset: -1px; }
.qmp-r [role="tree"] { list-style: none; margin: 0; padding: 0; }
.qmp-r [role="group"] { list-style: none; margin: 0; padding-left: 16px; }
.qmp-r [role="treeitem"] > .row { white-space: pre; cursor: default; }
.qmp-r [role="treeitem"] > .row:hover { background: var(--vscode-list-hoverBackground); }
.qmp-r [role="treeitem"]:focus > .row { background: var(--vscode-list-focusBackground, var(--vscode-list-hoverBackground)); }
.qmp-r [role="treeitem"]:focus { outline: none; }
.qmp-r .twisty { display: inline-block; width: 1em; }
.qmp-r .key { color: var(--vscode-debugTokenExpression-name, var(--vscode-symbolIcon-fieldForeground)); }
.qmp-r .v-string { color: var(--vscode-debugTokenExpression-string); }
.qmp-r .v-number { color: var(--vscode-debugTokenExpression-number); }
.qmp-r .v-boolean, .qmp-r .v-null { color: var(--vscode-debugTokenExpression-boolean); }
.qmp-r .v-object, .qmp-r .v-array { color: var(--vscode-descriptionForeground); }
.qmp-r .copy { margin-left: 8px; font-size: 11px; padding: 0 4px; visibility: hidden; }
.qmp-r [role="treeitem"]:focus > .row .copy, .qmp-r .row:hover .copy { visibility: visible; }
.qmp-r .table { overflow-x: auto; }
.qmp-r table { border-collapse: collapse; }
.qmp-r th, .qmp-r td { border: 1px solid var(--vscode-editorWidget-border, var(--vscode-panel-border, #8884)); padding: 1px 6px; text-align: left; white-space: nowrap; }
.qmp-r th button { border: none; background: transparent; color: inherit; font-weight: bold; padding: 0; }
.qmp-r tbody tr:hover { background: var(--vscode-list-hoverBackground); }
.qmp-r pre { margin: 0; white-space: pre; }
.qmp-r .graph { overflow: auto; color: var(--vscode-foreground); }
.qmp-r .graph .edge-label { fill: var(--vscode-descriptionForeground); }
.qmp-r .status { font-size: 11px; color: var(--vscode-descriptionForeground); margin-left: 8px; align-self: center; }
`;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

function copyText(ctx: RendererContext, text: string, status: HTMLElement, what: string): void {
  const done = (): void => { status.textContent = `Copied ${what}`; };
  // The webview's clipboard, else the extension's (through the renderer's messaging).
  const viaExtension = (): void => {
    if (ctx.postMessage) {
      ctx.postMessage({ type: 'copy', text });
      done();
    } else {
      status.textContent = 'Could not copy';
    }
  };
  if (navigator.clipboard?.writeText) navigator.clipboard.writeText(text).then(done, viaExtension);
  else viaExtension();
}

/** The tree of a value: lazily opened, roving focus, arrows to move and open, `c` to copy the path. */
function treeView(value: unknown, ctx: RendererContext, status: HTMLElement): HTMLElement {
  const tree = el('ul', { role: 'tree', 'aria-label': 'Reply' });
  const item = (key: string, seg: Segment[] | undefined, v: unknown, kind: string, expandable: boolean, summaryText: string, level: number): HTMLElement => {
    const li = el('li', { role: 'treeitem', tabindex: '-1', 'aria-level': String(level) });
    const path = seg ?? [];
    li.dataset['path'] = pathString(path);
    const row = el('div', { class: 'row' });
    const twisty = el('span', { class: 'twisty', 'aria-hidden': 'true' }, expandable ? '▸' : '');
    row.append(twisty);
    if (key) row.append(el('span', { class: 'key' }, key), document.createTextNode(': '));
    row.append(el('span', { class: `v-${kind}` }, summaryText));
    const copy = el('button', { class: 'copy', tabindex: '-1', title: 'Copy the path of this value (c)' }, 'copy path');
    copy.addEventListener('click', (ev) => { ev.stopPropagation(); copyText(ctx, pathString(path), status, pathString(path)); });
    row.append(copy);
    li.append(row);
    if (expandable) {
      li.setAttribute('aria-expanded', 'false');
      let group: HTMLElement | undefined;
      const toggle = (open?: boolean): void => {
        const opening = open ?? li.getAttribute('aria-expanded') !== 'true';
        li.setAttribute('aria-expanded', String(opening));
        twisty.textContent = opening ? '▾' : '▸';
        if (opening && !group) {
          group = el('ul', { role: 'group' });
          for (const e of entries(v, path)) group.append(item(String(e.key), e.path, e.value, e.kind, e.expandable, e.summary, level + 1));
          li.append(group);
        }
        if (group) group.hidden = !opening;
      };
      (li as HTMLElement & { toggle?: (open?: boolean) => void }).toggle = toggle;
      row.addEventListener('click', () => { toggle(); focus(li); });
    } else {
      row.addEventListener('click', () => focus(li));
    }
    return li;
  };
  const visible = (): HTMLElement[] => Array.from(tree.querySelectorAll<HTMLElement>('[role="treeitem"]')).filter((x) => !x.closest('[hidden]'));
  const focus = (li: HTMLElement): void => {
    for (const x of Array.from(tree.querySelectorAll('[role="treeitem"][tabindex="0"]'))) x.setAttribute('tabindex', '-1');
    li.setAttribute('tabindex', '0');
    li.focus();
  };
  tree.addEventListener('keydown', (ev) => {
    const current = (ev.target as HTMLElement).closest<HTMLElement>('[role="treeitem"]');
    if (!current) return;
    const all = visible();
    const i = all.indexOf(current);
    const toggle = (current as HTMLElement & { toggle?: (open?: boolean) => void }).toggle;
    const expanded = current.getAttribute('aria-expanded');
    let handled = true;
    if (ev.key === 'ArrowDown') { const n = all[i + 1]; if (n) focus(n); }
    else if (ev.key === 'ArrowUp') { const p = all[i - 1]; if (p) focus(p); }
    else if (ev.key === 'Home') { const f = all[0]; if (f) focus(f); }
    else if (ev.key === 'End') { const l = all[all.length - 1]; if (l) focus(l); }
    else if (ev.key === 'ArrowRight') {
      if (expanded === 'false') toggle?.(true);
      else if (expanded === 'true') { const n = all[i + 1]; if (n) focus(n); }
    } else if (ev.key === 'ArrowLeft') {
      if (expanded === 'true') toggle?.(false);
      else { const parent = current.parentElement?.closest<HTMLElement>('[role="treeitem"]'); if (parent) focus(parent); }
    } else if (ev.key === 'Enter' || ev.key === ' ') toggle?.();
    else if (ev.key === 'c' || ev.key === 'C') copyText(ctx, current.dataset['path'] ?? 'return', status, current.dataset['path'] ?? 'return');
    else handled = false;
    if (handled) { ev.preventDefault(); ev.stopPropagation(); }
  });
  const kind = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value === 'object' ? 'object' : typeof value;
  const rootEntries = entries(value, []);
  const root = item('return', [], value, kind, rootEntries.length > 0, kind === 'array' ? `[…] ${rootEntries.length} items` : kind === 'object' ? `{…} ${rootEntries.length} keys` : JSON.stringify(value), 1);
  root.setAttribute('tabindex', '0');
  tree.append(root);
  (root as HTMLElement & { toggle?: (open?: boolean) => void }).toggle?.(true);
  return tree;
}

/** The table of an array of like objects: click (or Enter on) a header to sort, again to reverse. */
function tableView(table: Table, label: string): HTMLElement {
  const wrap = el('div', { class: 'table' });
  const t = el('table', { 'aria-label': label, 'aria-rowcount': String(table.rows.length + 1) });
  const head = el('tr');
  const body = el('tbody');
  let order = table.rows.map((_, i) => i);
  let shown = Math.min(TABLE_PAGE, order.length);
  const more = el('button', {}, '');
  const fill = (): void => {
    body.replaceChildren();
    for (const r of order.slice(0, shown)) {
      const tr = el('tr');
      for (const c of table.cells[r] ?? []) tr.append(el('td', {}, c));
      body.append(tr);
    }
    more.hidden = shown >= order.length;
    more.textContent = `Show all ${order.length} rows (${shown} shown)`;
  };
  more.addEventListener('click', () => { shown = order.length; fill(); });
  for (const c of table.columns) {
    const th = el('th', { scope: 'col', 'aria-sort': 'none' });
    const b = el('button', { title: `Sort by ${c}` }, c);
    b.addEventListener('click', () => {
      const dir: Direction = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
      for (const x of Array.from(head.children)) x.setAttribute('aria-sort', 'none');
      th.setAttribute('aria-sort', dir);
      order = sortOrder(table, c, dir);
      fill();
    });
    th.append(b);
    head.append(th);
  }
  t.append(el('thead'), body);
  t.firstElementChild?.append(head);
  fill();
  wrap.append(t, more);
  return wrap;
}

/** The block graph as SVG, with buttons to save it (through the extension) or copy its text. */
function graphView(svg: string, ctx: RendererContext, bar: HTMLElement, status: HTMLElement): HTMLElement {
  const box = el('div', { class: 'graph' });
  // The SVG is our own text (every name escaped by graphSvg), parsed as SVG, not HTML.
  const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
  box.append(document.importNode(doc.documentElement, true));
  const save = el('button', { title: 'Save the diagram as an SVG file' }, 'Save SVG');
  save.addEventListener('click', () => {
    if (ctx.postMessage) { ctx.postMessage({ type: 'saveSvg', svg }); status.textContent = 'Saving…'; }
    else status.textContent = 'Saving needs the QMP Notebook extension';
  });
  const copy = el('button', { title: 'Copy the diagram as SVG text' }, 'Copy SVG');
  copy.addEventListener('click', () => copyText(ctx, svg, status, 'the SVG'));
  save.hidden = copy.hidden = true;
  box.dataset['graphButtons'] = '1';
  bar.append(save, copy);
  (box as HTMLElement & { buttons?: HTMLElement[] }).buttons = [save, copy];
  return box;
}

function blockGraphSvg(data: { command?: string; return: unknown; named?: unknown }): string | undefined {
  try {
    if (isDebugGraph(data.return)) return graphSvg(graphFromDebug(data.return, data.named));
    if (isNamedWithChildren(data.return)) return graphSvg(graphFromNamed(data.return));
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * The documents (or shadow roots) that have the renderer's style. It is added once to each, not once per
 * output: every <style> added restyles the whole document against every rule in it, so one per output made a
 * Run All of thousands of replies quadratic in the window (each new reply's sheet matched against all the others').
 */
const styled = new WeakSet<Node>();

function ensureStyle(element: HTMLElement): void {
  const root = element.getRootNode();
  const shadow = root instanceof ShadowRoot ? root : undefined;
  const key: Node = shadow ?? document;
  if (styled.has(key)) return;
  styled.add(key);
  const sheet = el('style', { 'data-qmp-reply-style': '' }, style);
  if (shadow) shadow.prepend(sheet);
  else (document.head ?? document.documentElement).append(sheet);
}

function render(item: OutputItem, element: HTMLElement, ctx: RendererContext): void {
  let data: { command?: string; return: unknown; named?: unknown };
  try {
    data = item.json() as { command?: string; return: unknown; named?: unknown };
  } catch {
    element.textContent = item.text();
    return;
  }
  const value = data.return;
  const root = el('div', { class: 'qmp-r' });
  ensureStyle(element);
  const bar = el('div', { class: 'bar', role: 'tablist', 'aria-label': 'Views of the reply' });
  const status = el('span', { class: 'status', role: 'status' });
  const views: { name: string; make: () => HTMLElement }[] = [];
  const svg = blockGraphSvg(data);
  if (svg) views.push({ name: 'Graph', make: () => graphView(svg, ctx, bar, status) });
  const table = tableOf(value);
  if (table) views.push({ name: 'Table', make: () => tableView(table, data.command ? `${data.command} reply` : 'Reply') });
  views.push({ name: 'Tree', make: () => treeView(value, ctx, status) });
  views.push({ name: 'Text', make: () => el('pre', { tabindex: '0' }, JSON.stringify(value, null, 2)) });
  const panel = el('div', { role: 'tabpanel' });
  const made = new Map<string, HTMLElement>();
  const tabs: HTMLButtonElement[] = [];
  const show = (name: string): void => {
    for (const t of tabs) t.setAttribute('aria-selected', String(t.textContent === name));
    let v = made.get(name);
    if (!v) {
      v = views.find((x) => x.name === name)?.make() ?? el('div');
      made.set(name, v);
      panel.append(v);
    }
    for (const [n, x] of made) {
      x.hidden = n !== name;
      for (const b of (x as HTMLElement & { buttons?: HTMLElement[] }).buttons ?? []) b.hidden = n !== name;
    }
  };
  for (const v of views) {
    const b = el('button', { role: 'tab', 'aria-selected': 'false' }, v.name);
    b.addEventListener('click', () => show(v.name));
    tabs.push(b);
    bar.append(b);
  }
  bar.addEventListener('keydown', (ev) => {
    const i = tabs.indexOf(ev.target as HTMLButtonElement);
    if (i < 0 || (ev.key !== 'ArrowRight' && ev.key !== 'ArrowLeft')) return;
    const next = tabs[(i + (ev.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
    next?.focus();
    if (next?.textContent) show(next.textContent);
  });
  bar.append(status);
  root.append(bar, panel);
  element.replaceChildren(root);
  show(views[0]?.name ?? 'Tree');
}

export function activate(ctx: RendererContext): { renderOutputItem(item: OutputItem, element: HTMLElement): void } {
  return { renderOutputItem: (item, element) => render(item, element, ctx) };
}
