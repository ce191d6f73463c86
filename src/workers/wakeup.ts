// The stage runtime's waits: a wait that a wake() ends early. The claim loop sleeps on one (new work: a NOTIFY,
// a retry scheduled, a due backoff) and on another for a free slot.

/** A wait that a wake() ends early; a wake() with nobody waiting is kept for the next wait. */
export class Wakeup {
  private pending = false;
  private resolve: (() => void) | undefined;

  wake(): void {
    if (this.resolve) {
      const resolve = this.resolve;
      this.resolve = undefined;
      resolve();
    } else {
      this.pending = true;
    }
  }

  /** Forgets a pending wake (just before a claim, which sees everything committed until then). */
  clear(): void {
    this.pending = false;
  }

  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.resolve = undefined;
        resolve();
      }, ms);
      this.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
