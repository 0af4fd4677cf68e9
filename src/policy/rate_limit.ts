/**
 * The IETF `RateLimit` / `RateLimit-Policy` response fields
 * (draft-ietf-httpapi-ratelimit-headers-11) of the token-bucket rate limiter, whose buckets
 * live in `state/` (in-process, or shared through Redis).
 * The buckets' memory bounds are described in `src/state/local.ts`.
 * @module
 */

export {
  /** The in-process token-bucket limiter (kept under its historical name). */
  LocalBucketStore as RateLimiter,
  type RateLimitDecision,
  type RateLimitSettings,
} from "../state/mod.ts";
import type { RateLimitDecision, RateLimitSettings } from "../state/mod.ts";

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
