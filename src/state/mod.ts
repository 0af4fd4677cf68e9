/**
 * Shared state: rate-limit buckets behind one interface, held in this process or in Redis
 * (`state.redis_url`) so that several instances enforce one limit.
 * @module
 */
export {
  type BucketStore,
  decide,
  type RateLimitDecision,
  type RateLimitSettings,
} from "./buckets.ts";
export { LocalBucketStore } from "./local.ts";
export { REDIS_BUCKET_PREFIX, type RedisBucketOptions, RedisBucketStore } from "./redis.ts";
export { FALLBACK_LOG_INTERVAL_MS, FallbackBucketStore, type FallbackOptions } from "./fallback.ts";
