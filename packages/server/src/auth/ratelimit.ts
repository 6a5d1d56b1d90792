/**
 * In-memory token-bucket rate limits, one bucket per key (an endpoint id, a client IP), per
 * process: with several server processes each enforces its own share, which is enough to stop
 * a runaway agent or a password-guessing client. Buckets refill continuously at `perMinute`
 * tokens a minute up to `perMinute`; idle full buckets are dropped so the map stays small.
 */
import type { ServerContext } from "../context.js";
import { ServerError } from "../error.js";

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for `key`: 0 when allowed, else the seconds until a token is available. */
  take(key: string): number {
    if (this.perMinute <= 0) return 0; // 0 disables the limit
    const t = this.now();
    this.sweep(t);
    const rate = this.perMinute / 60_000;
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: this.perMinute, at: t };
      this.buckets.set(key, b);
    } else {
      // a clock that steps backwards refills nothing (and takes nothing away)
      b.tokens = Math.min(this.perMinute, b.tokens + Math.max(0, t - b.at) * rate);
      b.at = Math.max(t, b.at);
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / rate / 1000));
  }

  /** Like take, but throws SERVER_RATE_LIMITED (429 with Retry-After). */
  check(key: string, what: string): void {
    const wait = this.take(key);
    if (wait > 0)
      throw new ServerError("SERVER_RATE_LIMITED", `too many ${what} requests; retry in ${wait} s`, {
        retryAfter: wait,
      });
  }

  private sweep(t: number): void {
    if (t - this.lastSweep < 60_000 || this.buckets.size < 1024) return;
    this.lastSweep = t;
    for (const [k, b] of this.buckets)
      if (b.tokens + (t - b.at) * (this.perMinute / 60_000) >= this.perMinute) this.buckets.delete(k);
  }
}

export interface Limiters {
  /** Per endpoint id on /api/v1 routes with a key. */
  endpoint: RateLimiter;
  /** Per client IP on enrolment. */
  enroll: RateLimiter;
  /** Per client IP on password login (API and console). */
  login: RateLimiter;
}

const perContext = new WeakMap<ServerContext, Limiters>();

/** The process's limiters for this server (created on first use). */
export function limiters(ctx: ServerContext): Limiters {
  let l = perContext.get(ctx);
  if (!l) {
    const n = ctx.config.rateLimitPerMinute;
    const now = () => ctx.now();
    // password guessing gets a tighter budget than agents
    l = {
      endpoint: new RateLimiter(n, now),
      enroll: new RateLimiter(n, now),
      login: new RateLimiter(n > 0 ? Math.min(n, 30) : 0, now),
    };
    perContext.set(ctx, l);
  }
  return l;
}
