// An idle wait that work can cut short: background loops (push dispatch,
// bulk jobs) sleep until their poll interval passes or wake() is called.
// The timer does not keep the process alive.
export interface Waker {
  /** Resolves after `ms`, or sooner when wake() is called. */
  sleep(ms: number): Promise<void>;
  /** Ends every current sleep now. */
  wake(): void;
}

export function createWaker(): Waker {
  const sleepers = new Set<() => void>();
  return {
    sleep(ms) {
      return new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          sleepers.delete(done);
          resolve();
        };
        const t = setTimeout(done, ms);
        t.unref();
        sleepers.add(done);
      });
    },
    wake() {
      for (const done of [...sleepers]) done();
    },
  };
}
