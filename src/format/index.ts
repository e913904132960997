// The pure `.qmp` notebook format: the file format (notebook.ts), cell parsing (cell.ts, shell.ts,
// segments.ts) and JSON text helpers (json.ts). Nothing here imports vscode.

export {
  parseNotebook, serializeNotebook, parseOutputs, renderOutputs, CODE_CELL_LANGUAGES, cellsStart,
  type NotebookData, type CellData, type CellLanguage, type CodeLanguage, type SavedOutput,
} from './notebook';
export { parseCell, parseJsonCell, parseHmpCell } from './cell';
export { parseShellCell, typeShellValue } from './shell';
export { shellLines, shellTokenAt, tokenizeShellLine, type ShellLine, type ShellLineTokens, type ShellToken } from './shellTokens';
export { segmentJsonCell, objectEnd, skipComment, type Segment, type SegmentKind } from './segments';
export { eventDataMatches } from './eventMatch';
export { formatOutputJson, minifyJson, inlineJson, OUTPUT_WIDTH } from './json';
export {
  DEFAULT_WAIT_TIMEOUT_MS, formatCellProblem, LineMap,
  type ValueKind, type ValueKindOracle, type CommandInput, type CommandItem, type ExpectItem, type WaitItem,
  type CellItem, type CellProblem, type ParsedCell,
} from './cellTypes';
export { decodeNotebookBytes, findInvalidUtf8, unreadOutputWarnings, type DecodedNotebook, type FormatWarning, type UnreadOutputsWarning } from './encoding';
export {
  findCellName, scanString, wholeReference, mayHoldReference, formatPath, NAME_RE,
  type CellName, type PathStep, type Reference, type ReferenceError, type Piece, type ScannedString,
} from './references';
