/**
 * A token-bucket rate limiter per client key, with bounded memory, and the IETF
 * `RateLimit` / `RateLimit-Policy` response fields (draft-ietf-httpapi-ratelimit-headers-11).
 *
 * Memory: buckets live in one `Map` kept in least-recently-used order (a touched key is
 * moved to the end), so idle buckets are evicted from the front in O(1) amortised time,
 * and the map never holds more than `maxTrackedClients` buckets. Evicting a bucket that has
 * been idle for at least `burst / rate` seconds loses nothing: it had refilled completely.
 * @module
 */

/** The limiter's knobs (from `rate_limit.*`). */
export interface RateLimitSettings {
  /** Tokens added per second. */
  readonly requestsPerSecond: number;
  /** Bucket capacity: how many requests may arrive at once. */
  readonly burst: number;
  /** Upper bound of buckets held at once; the least recently used one is evicted first. */
  readonly maxTrackedClients: number;
  /** Buckets untouched for this long are evicted. */
  readonly idleEvictSecs: number;
}

/** The outcome of one request against its bucket. */
export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Whole tokens left after this request. */
  readonly remaining: number;
  /** Seconds until the bucket is full again (`t` of the `RateLimit` field). */
  readonly resetSecs: number;
  /** When refused: whole seconds until one token is available (`Retry-After`). */
  readonly retryAfterSecs: number;
}

interface Bucket {
  tokens: number;
  /** Milliseconds (limiter clock) of the last refill. */
  updated: number;
}

/**
 * Token buckets keyed by client. The clock is injectable for tests.
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter({ requestsPerSecond: 10, burst: 20, maxTrackedClients: 1e5, idleEvictSecs: 60 });
 * limiter.take("ip:203.0.113.9").allowed; // true
 * ```
 */
export class RateLimiter {
  readonly settings: RateLimitSettings;
  #buckets = new Map<string, Bucket>();
  #now: () => number;
  #idleMs: number;

  constructor(settings: RateLimitSettings, options: { now?: () => number } = {}) {
    this.settings = settings;
    this.#now = options.now ?? (() => performance.now());
    this.#idleMs = settings.idleEvictSecs * 1000;
  }

  /** Buckets currently held. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Spends one token of `key`'s bucket if there is one. */
  take(key: string): RateLimitDecision {
    const now = this.#now();
    const { requestsPerSecond: rate, burst } = this.settings;
    let bucket = this.#buckets.get(key);
    if (bucket) {
      this.#buckets.delete(key);
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updated) / 1000) * rate);
      bucket.updated = now;
    } else {
      bucket = { tokens: burst, updated: now };
    }
    this.#buckets.set(key, bucket);
    this.#evict(now);

    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    const remaining = Math.floor(bucket.tokens);
    return {
      allowed,
      remaining,
      resetSecs: Math.ceil((burst - bucket.tokens) / rate),
      retryAfterSecs: allowed ? 0 : Math.max(1, Math.ceil((1 - bucket.tokens) / rate)),
    };
  }

  /** Drops idle buckets from the front (least recently used), then enforces the cap. */
  #evict(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.updated < this.#idleMs) break;
      this.#buckets.delete(key);
    }
    while (this.#buckets.size > this.settings.maxTrackedClients) {
      const oldest = this.#buckets.keys().next().value as string;
      this.#buckets.delete(oldest);
    }
  }
}

/** The policy name sProx advertises in the rate-limit fields. */
export const RATE_LIMIT_POLICY_NAME = "sprox";

/**
 * The `RateLimit-Policy` and `RateLimit` field values (draft-ietf-httpapi-ratelimit-headers-11
 * §3 and §4): the quota `q` is the burst, the window `w` the seconds a full bucket takes to
 * refill; `r` the tokens left and `t` the seconds until the bucket is full again.
 *
 * @example
 * ```ts
 * rateLimitFields({ requestsPerSecond: 10, burst: 20, maxTrackedClients: 1, idleEvictSecs: 1 },
 *   { allowed: true, remaining: 19, resetSecs: 1, retryAfterSecs: 0 });
 * // { policy: '"sprox";q=20;w=2', limit: '"sprox";r=19;t=1' }
 * ```
 */
export function rateLimitFields(
  settings: RateLimitSettings,
  decision: RateLimitDecision,
): { policy: string; limit: string } {
  const window = Math.max(1, Math.ceil(settings.burst / settings.requestsPerSecond));
  const name = `"${RATE_LIMIT_POLICY_NAME}"`;
  return {
    policy: `${name};q=${settings.burst};w=${window}`,
    limit: `${name};r=${decision.remaining};t=${decision.resetSecs}`,
  };
}
