/** A counting limit with a FIFO queue: at most `max` holders at once, the rest wait their turn. */
export class Limit {
  private active = 0;
  private readonly waiting: { grant: () => void; fail: (err: Error) => void }[] = [];
  private closed: Error | undefined;

  constructor(readonly max: number) {}

  /** Holders now. */
  get size(): number {
    return this.active;
  }

  /**
   * Resolves with a release function once a place is free. A signal that aborts while waiting
   * rejects with its reason and gives the place up.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.closed) return Promise.reject(this.closed);
    if (this.active < this.max) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        this.active++;
        resolve(this.releaser());
      };
      const entry = {
        grant,
        fail: (err: Error): void => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason);
      };
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  /** Fails every waiter and every later acquire with `reason`: nothing waits for a closed limit. */
  close(reason: Error): void {
    this.closed = reason;
    for (const w of this.waiting.splice(0)) w.fail(reason);
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.waiting.shift()?.grant();
    };
  }
}
