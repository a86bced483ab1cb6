/**
 * Gathers items that several producers hand over one at a time into batches, handled one batch at
 * a time, in the order the items came: a batch takes what arrived within `windowMs` of its first
 * item, or, while a batch is being handled, everything that arrives meanwhile. So an idle
 * consumer waits at most `windowMs` for company, and a busy one handles larger batches the busier
 * it is.
 */
export class BatchGatherer<T> {
  private pending: { readonly item: T; readonly done: () => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private handling = false;

  /** `handle` must not reject: it settles each item itself (a rejection is only swallowed). */
  constructor(
    private readonly windowMs: number,
    private readonly handle: (items: readonly T[]) => Promise<void>,
  ) {}

  /** Resolves once the batch that took `item` has been handled. */
  add(item: T): Promise<void> {
    return new Promise((done) => {
      this.pending.push({ item, done });
      if (!this.handling && this.timer === null) {
        this.timer = setTimeout(() => {
          this.timer = null;
          void this.flush();
        }, this.windowMs);
      }
    });
  }

  /**
   * Handles the pending items, then whatever arrived meanwhile, until none is left: a loop, so
   * that a consumer that never goes idle does not build an ever longer chain of promises.
   */
  private async flush(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.handling = true;
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.handle(batch.map((entry) => entry.item));
      } catch {
        // `handle` settles its items; nothing is left to do here.
      }
      for (const entry of batch) entry.done();
    }
    this.handling = false;
  }
}
