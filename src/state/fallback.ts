/**
 * A shared bucket store with a local one behind it, for when the shared one is unreachable.
 *
 * It fails open to local limiting, not to unlimited and not closed: refusing every request
 * while Redis is down would turn a cache outage into a full proxy outage, and letting every
 * request through would drop the limit exactly when something is already wrong. With the
 * local buckets each instance still enforces the limit on its own, so a fleet of N instances
 * admits at most N times the limit until Redis answers again.
 * @module
 */
import { log, stateFallbacks } from "../telemetry/mod.ts";
import type { BucketStore, RateLimitDecision, RateLimitSettings } from "./buckets.ts";

/** At most one warning per this many milliseconds while the shared store keeps failing. */
export const FALLBACK_LOG_INTERVAL_MS = 10_000;

/** Options of {@linkcode FallbackBucketStore}. */
export interface FallbackOptions {
  /** Whether `sprox_state_fallback_total` is counted (`telemetry.enabled`). */
  readonly countMetrics?: boolean;
}

/**
 * Takes from `shared`; when it errors or times out, takes from `local` for that request,
 * counts `sprox_state_fallback_total` and logs a warning at most once per 10 s.
 *
 * @example
 * ```ts
 * const store = new FallbackBucketStore(new RedisBucketStore(url, settings), new LocalBucketStore(settings));
 * ```
 */
export class FallbackBucketStore implements BucketStore {
  readonly settings: RateLimitSettings;
  readonly shared: BucketStore & { close(): void };
  readonly local: BucketStore;
  #countMetrics: boolean;
  #loggedAt = -Infinity;

  constructor(
    shared: BucketStore & { close(): void },
    local: BucketStore,
    options: FallbackOptions = {},
  ) {
    this.settings = shared.settings;
    this.shared = shared;
    this.local = local;
    this.#countMetrics = options.countMetrics ?? true;
  }

  /** Spends one token from the shared bucket, or from the local one when that fails. */
  async take(key: string): Promise<RateLimitDecision> {
    try {
      return await this.shared.take(key);
    } catch (error) {
      if (this.#countMetrics) stateFallbacks.inc();
      const now = performance.now();
      if (now - this.#loggedAt >= FALLBACK_LOG_INTERVAL_MS) {
        this.#loggedAt = now;
        log("warn", "shared state unreachable; rate limiting with local buckets", {
          error: error instanceof Error ? error.message : String(error),
        });
      }
      return await this.local.take(key);
    }
  }

  /** Releases the shared store's connection. */
  close(): void {
    this.shared.close();
  }
}
