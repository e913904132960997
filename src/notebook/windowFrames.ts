// What the extension host tells the window about running cells (an execution's start, its outputs, its end) is
// released in frames: at once when nothing was released for a frame's length, else together with everything else
// that came meanwhile, at the end of that frame. VS Code's extension host writes every message of one turn of its
// event loop as one frame of the connection to the window (compressed once, in a remote or web window), and the
// window handles them together; a Run All's cells finish one QEMU reply apart, each in its own turn, so without
// frames every cell costs the window (and the connection's compression) three messages on their own, and a Run All
// took 3-4 times as long as a controller that hands VS Code all its cells in one turn (test/host/scale.test.ts).
// The cell's times are the engine's (start and end are given their own timestamps), so a frame's wait shows in
// no duration. A frame, once released, stays open until the end of that turn of the event loop: what the released
// callers do next in the same turn (a cell's end after its outputs) joins it instead of waiting for the next frame.
// Pure: no vscode; the controller (controller.ts) awaits turn() before each call to the window.

export class WindowFrames {
  private waiting: Array<() => void> = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private last = -Infinity;
  /** A frame was released in this turn of the event loop (until `endOfTurn` runs): calls join it at once. */
  private open = false;

  /**
   * `intervalMs`: a frame's length; `busy`: whether a stream of cells is on its way to the window now (while it
   * is not, as for one cell run by itself, nothing waits: frames would only delay what the user waits to see);
   * `now`: a monotonic clock in ms.
   */
  constructor(private readonly intervalMs = 50, private readonly busy: () => boolean = () => true,
    private readonly now: () => number = () => performance.now(),
    private readonly endOfTurn: (f: () => void) => void = (f) => { setImmediate(f); }) {
    if (!(intervalMs >= 0)) throw new RangeError(`invalid frame length ${intervalMs}`);
  }

  /**
   * Resolves when the caller may talk to the window: at once (a resolved promise: the caller goes on in this turn)
   * while a frame released in this turn is open, or when nothing waits and either no frame was released within
   * the last `intervalMs` or the window is not busy (that opens a frame); else at the end of the current frame, in
   * the order of the calls, all in one turn.
   */
  turn(): Promise<void> {
    if (this.open) return Promise.resolve();
    const t = this.now();
    if (this.timer === undefined && (t - this.last >= this.intervalMs || !this.busy())) {
      this.opened(t);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      this.timer ??= setTimeout(() => this.release(), Math.max(0, this.last + this.intervalMs - t));
    });
  }

  /** How many callers wait for the current frame's end. */
  get pending(): number {
    return this.waiting.length;
  }

  /** Releases the waiting callers now (nothing waits for the rest of the frame): when the runs end. */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.release();
  }

  /** A frame goes out now: open for the rest of this turn. */
  private opened(t: number): void {
    this.last = t;
    if (this.open) return;
    this.open = true;
    this.endOfTurn(() => { this.open = false; });
  }

  private release(): void {
    this.timer = undefined;
    this.opened(this.now());
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }
}
