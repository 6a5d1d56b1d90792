/**
 * Request counters for the health page: console requests since start by status class, and the
 * mean and slowest response time over the last 1000 requests. Per process, in memory.
 */
export class RequestStats {
  readonly startedAt: number;
  total = 0;
  readonly byClass: Record<string, number> = { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 };
  private readonly recent: number[] = [];

  constructor(readonly now: () => number) {
    this.startedAt = now();
  }

  record(status: number, ms: number): void {
    this.total++;
    const k = `${Math.floor(status / 100)}xx`;
    if (k in this.byClass) this.byClass[k]!++;
    this.recent.push(ms);
    if (this.recent.length > 1000) this.recent.shift();
  }

  latency(): { mean: number; p95: number; max: number; n: number } {
    const n = this.recent.length;
    if (n === 0) return { mean: 0, p95: 0, max: 0, n };
    const sorted = [...this.recent].sort((a, b) => a - b);
    return {
      mean: sorted.reduce((s, x) => s + x, 0) / n,
      p95: sorted[Math.min(n - 1, Math.floor(n * 0.95))]!,
      max: sorted[n - 1]!,
      n,
    };
  }
}
