// Turns offsets inside a cell into FILE:LINE:COL positions of the notebook file. Cells are found in the file
// text by their source, in order, starting where the previous cell ended; a cell whose source does not occur
// verbatim (the format escaped something) falls back to a position the caller knows, or to no position.

/** 1-based line and column (in UTF-16 code units, as editors count) of offsets in one text: the one line index. */
export { LineIndex } from '../format/cellTypes';
import { LineIndex as LineIndexClass } from '../format/cellTypes';
import { cellsStart, notebookBodyText } from '../format/notebook';

type LineIndexType = LineIndexClass;

/**
 * The offset of each source in `fileText`, searching forward from the end of the previous one, or undefined
 * for a source that is empty or not found verbatim. Sources must be given in file order.
 */
export function findSourceOffsets(fileText: string, sources: readonly string[], start = 0): Array<number | undefined> {
  let from = start;
  return sources.map((source) => {
    if (source === '') return undefined;
    const at = fileText.indexOf(source, from);
    if (at < 0) return undefined;
    from = at + source.length;
    return at;
  });
}

/**
 * The one cell locator of the CLI: the offset of each cell's source in the notebook's body text (as the
 * format reads it: no BOM, CRLF as LF only when every line is CRLF), and the 1-based line of each. `check`,
 * `run` and `test` all use it, so they agree on every file, mixed line endings included.
 */
export function locateCells(fileText: string, sources: readonly string[]): { body: string; index: LineIndexType; offsets: Array<number | undefined>; lines: Array<number | undefined> } {
  const body = notebookBodyText(fileText);
  const index = new LineIndexClass(body);
  // The cells come after the front matter: a cell `---` is not the front matter's fence.
  const offsets = findSourceOffsets(body, sources, cellsStart(body));
  return { body, index, offsets, lines: offsets.map((at) => (at === undefined ? undefined : index.position(at).line)) };
}
