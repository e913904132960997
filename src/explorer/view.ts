// The QEMU explorer: a tree view in the Explorer side bar with one root per connected session, and under it
// block nodes (with their children), devices (the QOM composition tree, listed one level per expansion), chardevs,
// objects and jobs. Glue over src/explorer/model.ts (what is queried, the items, the refresh rules, the pre-filled
// cells), which is tested under Node.
//
// Rules:
// - Nothing is queried in an untrusted workspace, nor while the view is hidden, nor for a branch nobody expanded
//   (VS Code asks for the children of expanded rows only); a QOM level is listed when its row is expanded.
// - A branch is listed once and kept until an event (DEVICE_DELETED, JOB_STATUS_CHANGE, BLOCK_JOB_*, …) or a
//   command a cell sends (blockdev-add, object-del, …) makes it stale, or the refresh button is pressed; stale
//   branches are listed again together, 250 ms after the last change (debounced), when the view is visible.
// - Never while the session has an unanswered in-band command (a query would queue behind it in QEMU): the
//   rows already listed stay, and the branch is tried again a second later while the view is visible.
// - Every query has a time limit (2 s); a failure is shown as a row saying why, and the old rows stay.
import * as vscode from 'vscode';
import type { Session, SessionManager } from '../session/sessionManager';
import { notebookType } from '../notebook/controller';
import { toNotebookData } from '../notebook/serializer';
import {
  BRANCHES, BRANCH_LABELS, DEVICES_ROOT, OBJECTS_ROOT, blockChildItems, blockRootItems, blockTree, branchQueries,
  branchesForCommand, branchesForEvent, cellCommands, chardevItems, commandOfWire, jobItems, qomItems, qomQuery,
  type BlockTree, type BranchId, type ExplorerItem, type Query,
} from './model';

export const EXPLORER_VIEW = 'qmpExplorer';
const QUERY_TIMEOUT_MS = 2000;
const DEBOUNCE_MS = 250;
const BUSY_RETRY_MS = 1000;

export type ExplorerNode =
  | { readonly type: 'session'; readonly session: string }
  | { readonly type: 'branch'; readonly session: string; readonly branch: BranchId }
  | { readonly type: 'item'; readonly session: string; readonly branch: BranchId; readonly item: ExplorerItem }
  | { readonly type: 'message'; readonly session: string; readonly id: string; readonly text: string; readonly tooltip?: string };

interface BranchCache {
  items?: ExplorerItem[];
  tree?: BlockTree;
  error?: string;
}

interface SessionCache {
  generation: number;
  branches: Map<BranchId, BranchCache>;
  /** qom-list results by path (devices and objects), the children rows of each expanded QOM row. */
  qom: Map<string, { items?: ExplorerItem[]; error?: string }>;
  dirty: Set<BranchId>;
  inflight: Map<string, Promise<void>>;
}

function isQomBranch(b: BranchId): boolean {
  return b === 'devices' || b === 'objects';
}

function rootOf(b: BranchId): string {
  return b === 'objects' ? OBJECTS_ROOT : DEVICES_ROOT;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const icons: Record<ExplorerItem['kind'], string> = {
  'block-node': 'database', qom: 'symbol-class', object: 'symbol-object', chardev: 'terminal', job: 'gear', more: 'ellipsis',
};

export class QemuExplorer implements vscode.TreeDataProvider<ExplorerNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ExplorerNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly refreshed = new vscode.EventEmitter<{ session: string; branch: BranchId | 'qom' }>();
  /** A branch (or a QOM level) was listed from QEMU: for tests. */
  readonly onDidList = this.refreshed.event;
  private readonly caches = new Map<string, SessionCache>();
  private readonly disposables: vscode.Disposable[] = [];
  private view: vscode.TreeView<ExplorerNode> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** A change waits for the view to be visible. */
  private pending = false;
  /** How many queries went to QEMU: for tests. */
  queries = 0;

  constructor(private readonly sessions: SessionManager) {
    this.disposables.push(
      this.changed, this.refreshed,
      sessions.onEvent(({ session, event }) => this.markStale(session.name, branchesForEvent(event.event))),
      sessions.onDidTrace(({ session, dir, text }) => {
        if (dir !== '->') return;
        const command = commandOfWire(text);
        if (command !== undefined) this.markStale(session.name, branchesForCommand(command));
      }),
      sessions.onDidChangeState((s) => {
        this.caches.delete(s.name);
        this.schedule(0);
      }),
      sessions.onDidChangeProfiles(() => this.schedule(0)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.schedule(0)),
    );
  }

  /** Registers the tree view; the view's visibility decides whether anything is refreshed. */
  attach(view: vscode.TreeView<ExplorerNode>): void {
    this.view = view;
    this.disposables.push(view.onDidChangeVisibility((e) => {
      if (e.visible && this.pending) this.schedule(0);
    }));
  }

  /** Whether the view is visible (nothing is refreshed while it is not). */
  get visible(): boolean {
    return this.view?.visible ?? false;
  }

  /** Fires when the view is shown or hidden: for tests. */
  get onDidChangeVisibility(): vscode.Event<vscode.TreeViewVisibilityChangeEvent> {
    return this.view?.onDidChangeVisibility ?? (() => ({ dispose: () => undefined }));
  }

  /** Branches of a session are stale: listed again (debounced) when shown. */
  markStale(session: string, branches: readonly BranchId[]): void {
    if (branches.length === 0) return;
    const c = this.caches.get(session);
    if (!c) return;
    let any = false;
    for (const b of branches) {
      if (!c.branches.has(b) && !(isQomBranch(b) && c.qom.size > 0)) continue;
      c.dirty.add(b);
      any = true;
    }
    if (any) this.schedule(DEBOUNCE_MS);
  }

  /** Everything listed again (the refresh button). */
  refresh(): void {
    for (const c of this.caches.values()) {
      for (const b of BRANCHES) c.dirty.add(b);
    }
    this.schedule(0);
  }

  private schedule(ms: number): void {
    this.pending = true;
    if (!this.visible) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.visible) return;
      this.pending = false;
      this.changed.fire(undefined);
    }, ms);
  }

  private cacheOf(s: Session): SessionCache {
    let c = this.caches.get(s.name);
    if (!c || c.generation !== s.generation) {
      c = { generation: s.generation, branches: new Map(), qom: new Map(), dirty: new Set(), inflight: new Map() };
      this.caches.set(s.name, c);
    }
    return c;
  }

  getTreeItem(node: ExplorerNode): vscode.TreeItem {
    switch (node.type) {
      case 'session': {
        const s = this.sessions.session(node.session);
        const t = new vscode.TreeItem(node.session, vscode.TreeItemCollapsibleState.Expanded);
        t.id = `s:${node.session}`;
        t.description = s?.describeState() ?? '';
        t.iconPath = new vscode.ThemeIcon('vm');
        t.contextValue = 'qmpExplorerSession';
        return t;
      }
      case 'branch': {
        const t = new vscode.TreeItem(BRANCH_LABELS[node.branch], node.branch === 'block' ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed);
        t.id = `s:${node.session}/${node.branch}`;
        t.contextValue = 'qmpExplorerBranch';
        return t;
      }
      case 'item': {
        const { item } = node;
        const t = new vscode.TreeItem(item.label, item.expandable ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
        t.id = `s:${node.session}/${node.branch}/${item.id}`;
        if (item.description) t.description = item.description;
        t.tooltip = item.tooltip;
        t.iconPath = new vscode.ThemeIcon(icons[item.kind]);
        t.contextValue = item.kind === 'more' ? 'qmpExplorerMore' : `qmpExplorerItem.${item.kind}`;
        t.accessibilityInformation = { label: `${item.label}${item.description ? `, ${item.description}` : ''}` };
        return t;
      }
      case 'message': {
        const t = new vscode.TreeItem(node.text, vscode.TreeItemCollapsibleState.None);
        t.id = `s:${node.session}/${node.id}`;
        if (node.tooltip) t.tooltip = node.tooltip;
        t.iconPath = new vscode.ThemeIcon('info');
        t.contextValue = 'qmpExplorerMessage';
        return t;
      }
    }
  }

  async getChildren(node?: ExplorerNode): Promise<ExplorerNode[]> {
    if (!vscode.workspace.isTrusted) return [];
    if (!node) return this.sessions.activeSessions().filter((s) => s.state === 'connected').map((s) => ({ type: 'session', session: s.name }));
    const s = this.sessions.session(node.session);
    if (!s || s.state !== 'connected') return [];
    switch (node.type) {
      case 'session': {
        const has = this.hasCommand(s);
        const branches = BRANCHES.filter((b) => branchQueries(b, has) !== undefined);
        if (branches.length === 0) return [{ type: 'message', session: s.name, id: 'none', text: 'This server lists none of these (no query-named-block-nodes, qom-list, query-chardev or query-jobs)' }];
        return branches.map((branch) => ({ type: 'branch', session: s.name, branch }));
      }
      case 'branch':
        return this.branchChildren(s, node.branch);
      case 'item':
        return this.itemChildren(s, node.branch, node.item);
      case 'message':
        return [];
    }
  }

  private hasCommand(s: Session): (command: string) => boolean {
    const schema = s.schema?.schema;
    return (command) => schema === undefined || schema.command(command) !== undefined;
  }

  /** Why nothing may be queried now (busy), or undefined. */
  private busy(s: Session): boolean {
    const b = s.liveClient?.inBandBacklog();
    return b !== undefined && b.onWire + b.queued > 0;
  }

  private async run(s: Session, q: Query): Promise<unknown> {
    const client = s.liveClient;
    if (!client) throw new Error(`"${s.name}" is not connected.`);
    this.queries++;
    return client.execute(q.command, q.args, { timeoutMs: QUERY_TIMEOUT_MS });
  }

  /** Lists a key (a branch, a QOM path) once at a time: concurrent asks share the query. */
  private once(c: SessionCache, key: string, work: () => Promise<void>): Promise<void> {
    let p = c.inflight.get(key);
    if (!p) {
      p = work().finally(() => c.inflight.delete(key));
      c.inflight.set(key, p);
    }
    return p;
  }

  /** QEMU is busy: keep what is shown, and try again while the view is visible. */
  private retryLater(): void {
    this.schedule(BUSY_RETRY_MS);
  }

  private async branchChildren(s: Session, branch: BranchId): Promise<ExplorerNode[]> {
    const c = this.cacheOf(s);
    if (isQomBranch(branch)) {
      if (c.dirty.has(branch)) {
        // Every QOM level under the branch's root is listed again when shown.
        const root = rootOf(branch);
        for (const p of [...c.qom.keys()]) if (p === root || p.startsWith(`${root}/`)) c.qom.get(p)!.error = 'stale';
        c.dirty.delete(branch);
      }
      c.branches.set(branch, {});
      return this.qomChildren(s, c, branch, rootOf(branch));
    }
    let cached = c.branches.get(branch);
    if (!cached || cached.items === undefined || c.dirty.has(branch)) {
      if (this.busy(s)) {
        this.retryLater();
        if (!cached?.items) return [{ type: 'message', session: s.name, id: `${branch}/busy`, text: 'QEMU is busy with an in-band command; listed when it answers' }];
      } else {
        c.dirty.delete(branch);
        await this.once(c, branch, () => this.listBranch(s, c, branch));
        cached = c.branches.get(branch);
      }
    }
    const out: ExplorerNode[] = (cached?.items ?? []).map((item) => ({ type: 'item', session: s.name, branch, item }));
    if (cached?.error) out.unshift({ type: 'message', session: s.name, id: `${branch}/error`, text: `Could not list: ${cached.error}` });
    else if (out.length === 0) out.push({ type: 'message', session: s.name, id: `${branch}/empty`, text: 'none' });
    return out;
  }

  private async listBranch(s: Session, c: SessionCache, branch: BranchId): Promise<void> {
    const queries = branchQueries(branch, this.hasCommand(s)) ?? [];
    const old = c.branches.get(branch);
    try {
      const replies: unknown[] = [];
      for (const q of queries) replies.push(await this.run(s, q));
      let next: BranchCache;
      if (branch === 'block') {
        const tree = blockTree(replies[0], replies[1]);
        next = { tree, items: blockRootItems(tree) };
      } else if (branch === 'chardevs') {
        next = { items: chardevItems(replies[0]) };
      } else {
        next = { items: jobItems(replies[0]) };
      }
      if (this.caches.get(s.name) === c) c.branches.set(branch, next);
    } catch (err) {
      if (this.caches.get(s.name) === c) c.branches.set(branch, { ...(old ?? {}), error: errorText(err) });
    }
    this.refreshed.fire({ session: s.name, branch });
  }

  private async qomChildren(s: Session, c: SessionCache, branch: BranchId, path: string): Promise<ExplorerNode[]> {
    let cached = c.qom.get(path);
    if (!cached || cached.items === undefined || cached.error !== undefined) {
      if (this.busy(s)) {
        this.retryLater();
        if (!cached?.items) return [{ type: 'message', session: s.name, id: `qom:${path}/busy`, text: 'QEMU is busy with an in-band command; listed when it answers' }];
      } else {
        await this.once(c, `qom:${path}`, async () => {
          const old = c.qom.get(path);
          try {
            const items = qomItems(path, await this.run(s, qomQuery(path)));
            if (this.caches.get(s.name) === c) c.qom.set(path, { items });
          } catch (err) {
            if (this.caches.get(s.name) === c) c.qom.set(path, { ...(old?.items ? { items: old.items } : {}), error: errorText(err) });
          }
          this.refreshed.fire({ session: s.name, branch: 'qom' });
        });
        cached = c.qom.get(path);
      }
    }
    const out: ExplorerNode[] = (cached?.items ?? []).map((item) => ({ type: 'item', session: s.name, branch, item }));
    if (cached?.error && cached.error !== 'stale') out.unshift({ type: 'message', session: s.name, id: `qom:${path}/error`, text: `Could not list: ${cached.error}` });
    return out;
  }

  private async itemChildren(s: Session, branch: BranchId, item: ExplorerItem): Promise<ExplorerNode[]> {
    if (!item.expandable) return [];
    const c = this.cacheOf(s);
    if (item.kind === 'block-node') {
      const tree = c.branches.get('block')?.tree;
      return tree ? blockChildItems(tree, item).map((child) => ({ type: 'item', session: s.name, branch, item: child })) : [];
    }
    if ((item.kind === 'qom' || item.kind === 'object') && item.path) return this.qomChildren(s, c, branch, item.path);
    return [];
  }

  getParent(): undefined {
    return undefined;
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

function itemOf(node: unknown): { session: string; item: ExplorerItem } | undefined {
  const n = node as ExplorerNode | undefined;
  return n?.type === 'item' && n.item.kind !== 'more' ? { session: n.session, item: n.item } : undefined;
}

/** Where a pre-filled cell went. */
export interface NewCellResult {
  notebook: vscode.NotebookDocument;
  index: number;
}

/**
 * A new cell on an item, pre-filled with `command` (else the one picked from the item's list): in the active
 * .qmp notebook after its selected cell, or in a new untitled notebook on the item's session.
 */
export async function newCellOn(node: unknown, command?: string): Promise<NewCellResult | undefined> {
  const found = itemOf(node);
  if (!found) return undefined;
  const choices = cellCommands(found.item) ?? [];
  let chosen = command === undefined ? undefined : choices.find((c) => c.command === command);
  if (command !== undefined && !chosen) throw new Error(`"${command}" is not offered for ${found.item.label}`);
  if (!chosen) {
    const picked = await vscode.window.showQuickPick(choices.map((c) => ({ label: c.command, detail: c.detail, choice: c })),
      { title: `New cell on ${found.item.label}`, placeHolder: 'The command the cell runs' });
    chosen = picked?.choice;
  }
  if (!chosen) return undefined;
  const cell = new vscode.NotebookCellData(vscode.NotebookCellKind.Code, chosen.text, 'qmp');
  const editor = vscode.window.activeNotebookEditor;
  if (editor && editor.notebook.notebookType === notebookType) {
    const index = Math.min(editor.notebook.cellCount, (editor.selections[0]?.end ?? editor.notebook.cellCount));
    const edit = new vscode.WorkspaceEdit();
    edit.set(editor.notebook.uri, [vscode.NotebookEdit.insertCells(index, [cell])]);
    if (!(await vscode.workspace.applyEdit(edit))) throw new Error('The cell could not be added to the notebook.');
    const range = new vscode.NotebookRange(index, index + 1);
    editor.selections = [range];
    editor.revealRange(range);
    return { notebook: editor.notebook, index };
  }
  const data = toNotebookData({ profile: found.session, cells: [{ kind: 'code', language: 'qmp', source: chosen.text }] });
  const notebook = await vscode.workspace.openNotebookDocument(notebookType, data);
  await vscode.window.showNotebookDocument(notebook);
  return { notebook, index: 0 };
}

/**
 * The editor of the active cell: the active text editor when it is a cell's, else (the side bar has the focus)
 * the editor of the active notebook's selected cell.
 */
function activeCellEditor(): vscode.TextEditor | undefined {
  const active = vscode.window.activeTextEditor;
  if (active?.document.uri.scheme === 'vscode-notebook-cell') return active;
  const nb = vscode.window.activeNotebookEditor;
  const index = nb?.selections[0]?.start;
  const cell = nb && index !== undefined && index < nb.notebook.cellCount ? nb.notebook.cellAt(index) : undefined;
  return cell ? vscode.window.visibleTextEditors.find((e) => e.document === cell.document) : undefined;
}

/** The item's name into the active cell at its cursors (replacing what is selected); resolves with how many places. */
export async function insertNameOf(node: unknown): Promise<number> {
  const found = itemOf(node);
  if (!found) return 0;
  const editor = activeCellEditor();
  if (!editor) {
    void vscode.window.showInformationMessage(`Put the cursor in a notebook cell to insert "${found.item.name}" there.`);
    return 0;
  }
  const edit = new vscode.WorkspaceEdit();
  const selections = editor.selections.length ? editor.selections : [editor.selection];
  for (const sel of selections) edit.replace(editor.document.uri, sel, found.item.name);
  return (await vscode.workspace.applyEdit(edit)) ? selections.length : 0;
}

/** Registers the view and its commands; returns the provider (the host tests read it). */
export function registerExplorer(sessions: SessionManager): { explorer: QemuExplorer; disposable: vscode.Disposable } {
  const explorer = new QemuExplorer(sessions);
  const view = vscode.window.createTreeView(EXPLORER_VIEW, { treeDataProvider: explorer, showCollapseAll: true });
  explorer.attach(view);
  const disposable = vscode.Disposable.from(
    explorer, view,
    vscode.commands.registerCommand('qmp.explorer.refresh', () => explorer.refresh()),
    vscode.commands.registerCommand('qmp.explorer.copyName', async (node: unknown) => {
      const found = itemOf(node);
      if (!found) return;
      await vscode.env.clipboard.writeText(found.item.name);
      vscode.window.setStatusBarMessage(`Copied ${found.item.name}`, 3000);
    }),
    vscode.commands.registerCommand('qmp.explorer.insertName', (node: unknown) => insertNameOf(node)),
    vscode.commands.registerCommand('qmp.explorer.newCell', (node: unknown, command?: string) => newCellOn(node, typeof command === 'string' ? command : undefined)),
  );
  return { explorer, disposable };
}
