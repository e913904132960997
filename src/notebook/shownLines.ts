// Which cells' status lines the window may be showing, so that a change to any other cell's line tells it
// nothing (src/notebook/cellActivity.ts). Pure: no vscode.
//
// The window asks a status bar provider for the line of each cell it shows, and asks them all again whenever
// the provider says something changed. Told on every change during a Run All (each cell goes queued → running
// → done), it asked again, several times a second, for every cell on screen (one message each way per cell),
// although the cells that changed were thousands of rows below what it showed. A cell the window has not asked
// about since it was last told is not on screen: when it comes into view, the window asks for it and gets its
// line as it is then. So only a change to a cell asked about since the last telling needs one.

/** How many cells asked about between two tellings are remembered; past it the window is told anyway (bounded). */
const MAX_ASKED = 2_000;

export class ShownLines<Cell> {
  /** The cells the window asked about since it was last told (it shows those, or showed them a moment ago). */
  private readonly asked = new Set<Cell>();
  /** A change to a cell asked about came since the last telling: the window must be told. */
  private due = false;

  /** The window asked for the cell's line (it shows the cell). */
  noteAsked(cell: Cell): void {
    if (this.asked.size >= MAX_ASKED && !this.asked.has(cell)) this.due = true;
    else this.asked.add(cell);
  }

  /** The cell's line changed; true when the window must be told (it may show the cell). */
  changed(cell: Cell): boolean {
    if (this.asked.has(cell)) this.due = true;
    return this.due;
  }

  /** Whether the window may show any of `cells` (a line that counts the seconds needs it told every second). */
  showsAny(cells: Iterable<Cell>): boolean {
    for (const c of cells) if (this.asked.has(c)) return true;
    return false;
  }

  /** Whether a change since the last telling needs one. */
  get isDue(): boolean {
    return this.due;
  }

  /** The window is being told: it asks again for the cells it shows, which are remembered afresh. */
  told(): void {
    this.asked.clear();
    this.due = false;
  }
}
