// Coalesces items (cell outputs) into batches: at most one flush per `intervalMs`, and at once when
// `maxItems` are waiting, so a flood of events becomes a few UI updates instead of one per event. Pure: the
// controller flushes into vscode's appendOutput, the bench counts flushes.

export class Batcher<T> {
  private items: T[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private chain: Promise<void> = Promise.resolve();

  /**
   * `flush` is called with each batch, strictly one after another (a batch starts after the previous one's
   * promise settled); its errors are swallowed.
   */
  constructor(private readonly flush: (items: T[]) => PromiseLike<void> | void, private readonly intervalMs = 50,
    private readonly maxItems = 500) {}

  push(item: T): void {
    this.items.push(item);
    if (this.items.length >= this.maxItems) this.drain();
    else this.timer ??= setTimeout(() => this.drain(), this.intervalMs);
  }

  /** Chains one more task after the batches so far (e.g. clearing outputs before the first batch). */
  then(task: () => PromiseLike<void> | void): void {
    this.chain = this.chain.then(task).then(undefined, () => undefined);
  }

  private drain(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.items.length === 0) return;
    const batch = this.items;
    this.items = [];
    this.chain = this.chain.then(() => this.flush(batch)).then(undefined, () => undefined);
  }

  /** Flushes what is waiting and resolves when every batch so far has been handed over. */
  async settle(): Promise<void> {
    this.drain();
    await this.chain;
  }

  /** Drops what is waiting; batches already started still finish. */
  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.items = [];
  }
}
