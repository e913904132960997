// The pure part of the QMP reply renderer (the webview side is src/render/webview/renderer.ts): what a reply
// looks like as a tree (entries, summaries, the path to copy) and as a table (when an array holds objects of
// one shape: query-block, query-named-block-nodes, query-cpus-fast, query-jobs, qom-list), and how a column
// sorts. Runs in Node (tested under test/unit) and in the notebook's webview; imports nothing. Every function is
// linear in what it looks at (sorting: n log n).

/** The mime type of the renderer's output item: `{ command, return }` of a successful reply. */
export const replyMime = 'application/vnd.qmp.reply+json';

/** What the notebook glue puts in the renderer's item. */
export interface ReplyData {
  /** The command that was run (`query-block`), when known. */
  command?: string;
  /** The reply's `return` value. */
  return: unknown;
  /**
   * For x-debug-query-block-graph: query-named-block-nodes' reply (the cell's own, or one the controller asked
   * right after), whose driver, file name and size the graph's nodes show.
   */
  named?: unknown;
}

export type Segment = string | number;

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * The path of a value inside the reply, as JavaScript would write it from `return`: `return[0].inserted.file`,
 * `return[2]["node-name"]` (QMP's names have dashes, so they are quoted).
 */
export function pathString(path: readonly Segment[], root = 'return'): string {
  let out = root;
  for (const s of path) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (identifier.test(s)) out += `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

export type ValueKind = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null';

export function kindOf(v: unknown): ValueKind {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number' || typeof v === 'bigint') return 'number';
  return 'boolean';
}

/** One child of an object or array, as a line of the tree. */
export interface TreeEntry {
  key: Segment;
  path: Segment[];
  value: unknown;
  kind: ValueKind;
  /** Whether it opens (an object or array with something in it). */
  expandable: boolean;
  /** The text on its line: a scalar as JSON, a container as `{…} 3 keys` / `[…] 10 items`. */
  summary: string;
}

const SUMMARY_MAX = 120;

/** The line a value shows when closed (scalars as JSON, cut at 120 characters). */
export function summary(v: unknown): string {
  const kind = kindOf(v);
  if (kind === 'array') {
    const n = (v as unknown[]).length;
    return n === 0 ? '[]' : `[…] ${n} item${n === 1 ? '' : 's'}`;
  }
  if (kind === 'object') {
    const n = Object.keys(v as object).length;
    return n === 0 ? '{}' : `{…} ${n} key${n === 1 ? '' : 's'}`;
  }
  const text = kind === 'null' ? 'null' : JSON.stringify(v) ?? String(v);
  return text.length > SUMMARY_MAX ? `${text.slice(0, SUMMARY_MAX - 1)}…` : text;
}

/** The children of a value (none for scalars), each with its path. Only one level: the tree opens lazily. */
export function entries(v: unknown, path: readonly Segment[] = []): TreeEntry[] {
  const kind = kindOf(v);
  const pairs: [Segment, unknown][] = kind === 'array' ? (v as unknown[]).map((x, i) => [i, x])
    : kind === 'object' ? Object.entries(v as Record<string, unknown>) : [];
  return pairs.map(([key, value]) => {
    const k = kindOf(value);
    const expandable = (k === 'array' && (value as unknown[]).length > 0) || (k === 'object' && Object.keys(value as object).length > 0);
    return { key, path: [...path, key], value, kind: k, expandable, summary: summary(value) };
  });
}

/** An array of like objects, as rows and columns. */
export interface Table {
  columns: string[];
  /** The rows' objects, in the reply's order. */
  rows: Record<string, unknown>[];
  /** Each row's cells as text (an absent member is ''), column by column. */
  cells: string[][];
}

/** Columns beyond this make a table no one reads: such an array stays a tree. */
export const MAX_COLUMNS = 24;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The text of a cell: strings as they are, other scalars as JSON, containers compact and cut at 80. */
export function cellText(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

/** Members that name a row, shown first when present (QEMU lists query-named-block-nodes' node-name ninth). */
export const LEADING = ['node-name', 'device', 'id', 'name', 'qom-path', 'cpu-index', 'type', 'drv', 'status', 'file'];

/**
 * The table of an array of like objects, or undefined when it is not one: not an array, empty, an element that
 * is not an object, more than MAX_COLUMNS distinct members, or no member that every row has (objects of
 * different shapes). Columns: the naming members of LEADING that occur, then the members every row has in the
 * first row's order, then the others in the order they first appear.
 */
export function tableOf(v: unknown): Table | undefined {
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const seen = new Map<string, number>();
  for (const row of v) {
    if (!isRecord(row)) return undefined;
    for (const k in row) {
      if (!Object.prototype.hasOwnProperty.call(row, k)) continue;
      seen.set(k, (seen.get(k) ?? 0) + 1);
      if (seen.size > MAX_COLUMNS) return undefined;
    }
  }
  const all = [...seen.keys()];
  const common = all.filter((k) => seen.get(k) === v.length);
  if (common.length === 0) return undefined;
  const lead = LEADING.filter((k) => seen.has(k));
  const rest = [...common, ...all.filter((k) => seen.get(k) !== v.length)].filter((k) => !lead.includes(k));
  const columns = [...lead, ...rest];
  const rows = v as Record<string, unknown>[];
  const cells = rows.map((row) => columns.map((c) => cellText(row[c])));
  return { columns, rows, cells };
}

export type Direction = 'ascending' | 'descending';

/** A rank for mixed values: numbers, then booleans, then strings, then containers, then absent. */
function rank(v: unknown): number {
  if (typeof v === 'number' || typeof v === 'bigint') return 0;
  if (typeof v === 'boolean') return 1;
  if (typeof v === 'string') return 2;
  if (v === undefined || v === null) return 4;
  return 3;
}

/**
 * The order of the table's rows sorted on a column (indexes into `rows`): numbers by value, strings by code
 * unit with numbers inside them compared as numbers (`cpu10` after `cpu9`), stable (equal rows keep the reply's
 * order). Absent values go last in both directions.
 */
export function sortOrder(table: Table, column: string, direction: Direction = 'ascending'): number[] {
  const col = table.columns.indexOf(column);
  if (col < 0) return table.rows.map((_, i) => i);
  const sign = direction === 'ascending' ? 1 : -1;
  const keys = table.rows.map((row) => row[column]);
  const ranks = keys.map(rank);
  const order = table.rows.map((_, i) => i);
  order.sort((a, b) => {
    const ra = ranks[a] as number;
    const rb = ranks[b] as number;
    if (ra !== rb) return ra === 4 ? 1 : rb === 4 ? -1 : sign * (ra - rb);
    if (ra === 4) return a - b;
    const c = compareValues(keys[a], keys[b], ra, table.cells[a]?.[col] ?? '', table.cells[b]?.[col] ?? '');
    return c !== 0 ? sign * c : a - b;
  });
  return order;
}

function compareValues(x: unknown, y: unknown, r: number, tx: string, ty: string): number {
  if (r === 0) return Number(x) - Number(y);
  if (r === 1) return Number(x) - Number(y);
  return naturalCompare(r === 2 ? (x as string) : tx, r === 2 ? (y as string) : ty);
}

/** Strings compared with runs of digits as numbers (`node2` < `node10`), else by code unit. Linear. */
export function naturalCompare(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    if (isDigit(ca) && isDigit(cb)) {
      let ei = i;
      while (ei < a.length && isDigit(a.charCodeAt(ei))) ei++;
      let ej = j;
      while (ej < b.length && isDigit(b.charCodeAt(ej))) ej++;
      // Compare the runs without leading zeros: longer is larger, else digit by digit.
      let si = i;
      while (si < ei - 1 && a.charCodeAt(si) === 48) si++;
      let sj = j;
      while (sj < ej - 1 && b.charCodeAt(sj) === 48) sj++;
      if (ei - si !== ej - sj) return (ei - si) - (ej - sj);
      for (let k = 0; k < ei - si; k++) {
        const d = a.charCodeAt(si + k) - b.charCodeAt(sj + k);
        if (d !== 0) return d;
      }
      i = ei;
      j = ej;
      continue;
    }
    if (ca !== cb) return ca - cb;
    i++;
    j++;
  }
  return (a.length - i) - (b.length - j);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
