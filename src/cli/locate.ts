// Turns offsets inside a cell into FILE:LINE:COL positions of the notebook file. Cells are found in the file
// text by their source, in order, starting where the previous cell ended; a cell whose source does not occur
// verbatim (the format escaped something) falls back to a position the caller knows, or to no position.

/** 1-based line and column (in UTF-16 code units, as editors count) of offsets in one text: the one line index. */
export { LineIndex } from '../notebook/format/cellTypes';

/**
 * The offset of each source in `fileText`, searching forward from the end of the previous one, or undefined
 * for a source that is empty or not found verbatim. Sources must be given in file order.
 */
export function findSourceOffsets(fileText: string, sources: readonly string[]): Array<number | undefined> {
  let from = 0;
  return sources.map((source) => {
    if (source === '') return undefined;
    const at = fileText.indexOf(source, from);
    if (at < 0) return undefined;
    from = at + source.length;
    return at;
  });
}
