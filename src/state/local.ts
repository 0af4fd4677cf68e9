/**
 * The in-process token buckets: one per client key, with bounded memory.
 *
 * Memory: buckets live in two generations of maps. Every `idleEvictSecs` (checked as
 * requests arrive; no timer) the current generation becomes the previous one and the old
 * previous one is dropped whole; a bucket touched while in the previous generation moves
 * back to the current one. So a bucket is dropped after between one and two idle periods
 * without a request, every operation is O(1) (no map is ever iterated), and when the
 * current generation reaches half of `maxTrackedClients` it rotates early, which keeps the
 * total under `maxTrackedClients`. Dropping a bucket idle for at least `burst / rate`
 * seconds loses nothing: it had refilled completely.
 * @module
 */

import {
  type BucketStore,
  decide,
  type RateLimitDecision,
  type RateLimitSettings,
} from "./buckets.ts";

interface Bucket {
  tokens: number;
  /** Milliseconds (limiter clock) of the last refill. */
  updated: number;
}

/**
 * Token buckets keyed by client, in this process. The clock is injectable for tests.
 *
 * @example
 * ```ts
 * const limiter = new LocalBucketStore({ requestsPerSecond: 10, burst: 20, maxTrackedClients: 1e5, idleEvictSecs: 60 });
 * limiter.take("ip:203.0.113.9").allowed; // true
 * ```
 */
export class LocalBucketStore implements BucketStore {
  readonly settings: RateLimitSettings;
  #current = new Map<string, Bucket>();
  #previous = new Map<string, Bucket>();
  #rotatedAt: number;
  #now: () => number;
  #idleMs: number;
  #generationCap: number;

  constructor(settings: RateLimitSettings, options: { now?: () => number } = {}) {
    this.settings = settings;
    this.#now = options.now ?? (() => performance.now());
    this.#idleMs = settings.idleEvictSecs * 1000;
    this.#generationCap = Math.max(1, Math.floor(settings.maxTrackedClients / 2));
    this.#rotatedAt = this.#now();
  }

  /** Buckets currently held. */
  get size(): number {
    return this.#current.size + this.#previous.size;
  }

  /** Spends one token of `key`'s bucket if there is one (synchronously: no I/O). */
  take(key: string): RateLimitDecision {
    const now = this.#now();
    if (now - this.#rotatedAt >= this.#idleMs) this.#rotate(now);
    const { requestsPerSecond: rate, burst } = this.settings;
    let bucket = this.#current.get(key);
    if (!bucket) {
      bucket = this.#previous.get(key);
      if (bucket) this.#previous.delete(key);
      else bucket = { tokens: burst, updated: now };
      if (this.#current.size >= this.#generationCap) this.#rotate(now);
      this.#current.set(key, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updated) / 1000) * rate);
    bucket.updated = now;

    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    return decide(this.settings, allowed, bucket.tokens);
  }

  /** The current generation becomes the previous one; the old previous one is dropped. */
  #rotate(now: number): void {
    this.#previous = this.#current;
    this.#current = new Map();
    this.#rotatedAt = now;
  }
}
