// A small fixed-window counter: at most `limit` events per key per window.
// Used so that a flood of refused requests is summarised, not written per request.
export function createRateCounter(limit: number, windowMs: number, now: () => number = Date.now) {
  let windowStart = now();
  let counts = new Map<string, number>();
  let suppressed = 0;
  return {
    allow(key: string): boolean {
      const t = now();
      if (t - windowStart >= windowMs) {
        windowStart = t;
        counts = new Map();
        suppressed = 0;
      }
      const n = (counts.get(key) ?? 0) + 1;
      if (counts.size > 100_000 && n === 1) {
        suppressed += 1;
        return false;
      }
      counts.set(key, n);
      if (n > limit) suppressed += 1;
      return n <= limit;
    },
    suppressed: (): number => suppressed,
  };
}
