/**
 * The face of rate-limit buckets, whichever store holds them: this process
 * ({@linkcode LocalBucketStore}) or Redis, shared by every instance ({@linkcode RedisBucketStore}).
 * @module
 */

/** The limiter's knobs (from `rate_limit.*`). */
export interface RateLimitSettings {
  /** Tokens added per second. */
  readonly requestsPerSecond: number;
  /** Bucket capacity: how many requests may arrive at once. */
  readonly burst: number;
  /** Upper bound of buckets held at once (two generations of half each). */
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

/**
 * A store of token buckets keyed by client. The local store answers synchronously (no I/O
 * on the hot path); a shared store answers with a promise.
 */
export interface BucketStore {
  /** The limit every bucket of this store enforces. */
  readonly settings: RateLimitSettings;
  /** Spends one token of `key`'s bucket if there is one. */
  take(key: string): RateLimitDecision | Promise<RateLimitDecision>;
}

/**
 * The decision for a bucket holding `tokens` after this request: the same arithmetic for
 * every store, so a shared bucket answers with the fields a local one would.
 *
 * @example
 * ```ts
 * decide({ requestsPerSecond: 10, burst: 5, maxTrackedClients: 1, idleEvictSecs: 1 }, true, 4);
 * // { allowed: true, remaining: 4, resetSecs: 1, retryAfterSecs: 0 }
 * ```
 */
export function decide(
  settings: RateLimitSettings,
  allowed: boolean,
  tokens: number,
): RateLimitDecision {
  const { requestsPerSecond: rate, burst } = settings;
  return {
    allowed,
    remaining: Math.floor(tokens),
    resetSecs: Math.ceil((burst - tokens) / rate),
    retryAfterSecs: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / rate)),
  };
}
