// Parse once per document version. A `CellText` is one cell's text at one version; each kind of parse of it
// (a `qmp` cell's segments, one scan of each object and the one tree built from that scan, which the
// diagnostics, completion, hover, code actions, OOB hints, live values and named replies all read, as
// vscode-json-languageservice's features share one JSONDocument; the qmp-shell lines and words; the shell
// parser's JSON documents; the schema diagnostics) runs at most once and is handed to every feature that
// asks. The services take a CellText where they took the text (a plain string still works, parsed for that
// one call). `ParseCache` keeps the CellTexts of open documents by (document, version), bounded, for the
// VS Code adapter and the language server.
import { cursorObjects, scanCell, type CellScan, type ParsedObject } from './jsonCursor';
import { buildTree, type JsonParse } from '../format/validate';
import { shellLines, type ShellLine } from '../format/shellTokens';
import { parseCell, parseJsonCell } from '../format/cell';
import { parseShellCell } from '../format/shell';
import type { ParsedCell } from '../format/cellTypes';
import type { CellLanguage } from '../format/notebook';

/** One cell's text at one version, parsed at most once per kind. */
export class CellText {
  private scanMemo: CellScan | undefined;
  private objectsMemo: ParsedObject[] | undefined;
  private treesMemo: (JsonParse | undefined)[] | undefined;
  private linesMemo: ShellLine[] | undefined;
  /** Results computed from the parse and a few inputs (the schema, the compat policy…), by kind. */
  private readonly derived = new Map<string, { deps: readonly unknown[]; value: unknown }>();

  constructor(readonly text: string) {}

  /** The segments of a `qmp` cell and the one scan of each object: what the one tree is built from. */
  get scan(): CellScan {
    if (this.scanMemo === undefined) {
      parseStats.json++;
      this.scanMemo = scanCell(this.text);
    }
    return this.scanMemo;
  }

  /** The segments of a `qmp` cell (segments.ts). */
  get segments(): CellScan['segments'] {
    return this.scan.segments;
  }

  /** The JSON objects of a `qmp` cell: each one's root in the one tree, and the cursor's tokens (jsonCursor.ts). */
  get objects(): ParsedObject[] {
    this.objectsMemo ??= cursorObjects(this.text, this.scan, (k) => this.syntax(k));
    return this.objectsMemo;
  }

  /**
   * The one tree of segment `index` of a `qmp` cell with its syntax problems (validate.ts's buildTree), built
   * from the one scan at most once; undefined for a segment that is not an object.
   */
  syntax(index: number): JsonParse | undefined {
    const { scans } = this.scan;
    const trees = (this.treesMemo ??= new Array<JsonParse | undefined>(scans.length));
    const scan = scans[index];
    if (scan === undefined) return undefined;
    let tree = trees[index];
    if (tree === undefined) {
      parseStats.tree++;
      tree = trees[index] = buildTree(scan);
    }
    return tree;
  }

  /** The lines of a `qmp-shell` cell with their words (the one tokenizer, shellTokens.ts). */
  get shellLines(): ShellLine[] {
    if (this.linesMemo === undefined) {
      parseStats.shellLines++;
      this.linesMemo = shellLines(this.text);
    }
    return this.linesMemo;
  }

  /**
   * What the cell sends, expects and waits for (format/cell.ts's parseCell, without a schema), once; a `qmp`
   * cell's from its one tree, a `qmp-shell` cell's from its one run of the tokenizer.
   */
  commands(language: CellLanguage): ParsedCell {
    return this.memo(`cell:${language}`, [], () => (language === 'qmp' ? parseJsonCell(this.text, this)
      : language === 'qmp-shell' ? parseShellCell(this.text, undefined, undefined, this.shellLines) : parseCell(this.text, language)));
  }

  /**
   * `compute()`'s value, computed once for as long as `deps` stay the same objects (one entry per kind: new
   * deps replace the old value). For what depends on more than the text: diagnostics on the schema.
   */
  memo<T>(kind: string, deps: readonly unknown[], compute: () => T): T {
    const hit = this.derived.get(kind);
    if (hit !== undefined && hit.deps.length === deps.length && hit.deps.every((d, i) => d === deps[i])) return hit.value as T;
    const value = compute();
    this.derived.set(kind, { deps, value });
    return value;
  }
}

/** What the services accept as a cell: its text, or the CellText of its version. */
export type CellSource = string | CellText;

export function cellText(source: CellSource): CellText {
  return typeof source === 'string' ? new CellText(source) : source;
}

/**
 * How many parses ran, by kind (the parse-once tests count them; nothing else reads them). `json` counts scans
 * of a `qmp` cell (segments and tokens), `tree` the trees built from them (one per object segment);
 * `diagnose` counts schema diagnostics runs, `shell` the shell parser's runs for diagnostics and hints.
 */
export const parseStats = { json: 0, tree: 0, shellLines: 0, shell: 0, diagnose: 0 };

/** The CellTexts of open documents by (key, version): at most `max`, the least recently used dropped first. */
export class ParseCache {
  private readonly cells = new Map<string, { version: number; cell: CellText }>();

  constructor(readonly max = 512) {}

  /** The CellText of `key` (a document, or a document's cell) at `version`; a new one when either changed. */
  get(key: string, version: number, text: string): CellText {
    const hit = this.cells.get(key);
    this.cells.delete(key);
    const cell = hit !== undefined && hit.version === version && hit.cell.text === text ? hit.cell : new CellText(text);
    this.cells.set(key, { version, cell });
    if (this.cells.size > this.max) this.cells.delete(this.cells.keys().next().value as string);
    return cell;
  }

  /** Forgets a document (closed). Keys starting with `prefix` are dropped too (a document's cells). */
  forget(prefix: string): void {
    for (const k of [...this.cells.keys()]) if (k === prefix || k.startsWith(`${prefix}#`)) this.cells.delete(k);
  }

  get size(): number {
    return this.cells.size;
  }
}
