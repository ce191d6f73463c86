// The stage runtime's work slots: at most `size` units work at once. A unit claimed ahead waits here, in claim
// order, for a unit to end its work; when the runner stops, the waiting units are told at once (no slot), so
// they give their tokens back instead of starting.
export class WorkSlots {
  private used = 0;
  private closed = false;
  private readonly waiting: ((slot: boolean) => void)[] = [];

  constructor(private readonly size: number) {}

  /** Units working now (holding a slot). */
  get working(): number {
    return this.used;
  }

  /** Resolves true with a slot (give it back with release()), or false once the slots are closed. */
  take(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.used < this.size) {
      this.used += 1;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Gives a slot back: to the first waiting unit, if any. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next(true);
    else this.used -= 1;
  }

  /** No slot from now on: every waiting unit and every later take() gets false. */
  close(): void {
    this.closed = true;
    for (const resolve of this.waiting.splice(0)) resolve(false);
  }
}
