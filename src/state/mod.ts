/**
 * Shared state: rate-limit buckets behind one interface, held in this process or in Redis
 * (`state.redis_url`) so that several instances enforce one limit; and secret values (ClearKey
 * keys added at run time) sealed with `tokens.aes_key` in the same Redis, so that every
 * instance serves them.
 * @module
 */
export {
  type BucketStore,
  decide,
  type RateLimitDecision,
  type RateLimitSettings,
} from "./buckets.ts";
export { LocalBucketStore } from "./local.ts";
export {
  leaseRedisClient,
  loadRedisDriver,
  REDIS_BUCKET_PREFIX,
  RedisBucketStore,
  type RedisLease,
} from "./redis.ts";
export {
  MAX_LISTED_KEYS,
  REDIS_KEY_PREFIX,
  RedisKeyStore,
  type SharedKeyEntry,
  type SharedKeyInfo,
} from "./keys.ts";
export { importSealKey, openValue, SEAL_PREFIX, sealValue } from "./keys_seal.ts";
export { FALLBACK_LOG_INTERVAL_MS, FallbackBucketStore, type FallbackOptions } from "./fallback.ts";
export {
  type BucketRequest,
  IsolateBucketStore,
  isolateBucketStore,
  shareBucketsThrough,
} from "./isolate.ts";
