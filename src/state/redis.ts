/**
 * Token buckets in Redis, shared by every sProx instance that names the same server
 * (`state.redis_url`).
 *
 * One request costs one round trip: an `EVALSHA` of a small Lua script that refills, spends
 * and stores the bucket atomically (Redis runs a script without interleaving other
 * commands), so two instances spending the same bucket at once cannot both take its last
 * token. The refill clock is the Redis server's `TIME`, not each instance's: instances'
 * clocks may disagree, the server's is one. A bucket's key expires once it would have
 * refilled completely, so idle buckets cost no memory and dropping them loses nothing.
 * @module
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import {
  type BucketStore,
  decide,
  type RateLimitDecision,
  type RateLimitSettings,
} from "./buckets.ts";

/**
 * KEYS[1] the bucket; ARGV rate (tokens/s), burst, TTL (ms). Returns {allowed (0|1),
 * tokens left as a string}: a Lua number would be truncated to an integer in the reply.
 */
const TAKE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(b[1])
local updated = tonumber(b[2])
if tokens == nil or updated == nil then
  tokens = burst
  updated = now
end
tokens = math.min(burst, tokens + math.max(0, now - updated) / 1000 * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {allowed, tostring(tokens)}
`;

const TAKE_SHA = createHash("sha1").update(TAKE_SCRIPT).digest("hex");

/** Prefix of the bucket keys in Redis, so a shared server can hold other data too. */
export const REDIS_BUCKET_PREFIX = "sprox:rl:";

/** How long a command waits for Redis before the caller falls back. */
const COMMAND_TIMEOUT_MS = 50;

/**
 * Token buckets held in Redis. A command fails at once while the connection is down (no
 * queue) and after 50 ms when Redis is slow; the client reconnects in the background.
 *
 * @example
 * ```ts
 * const store = new RedisBucketStore("redis://127.0.0.1:6379", settings);
 * const decision = await store.take("ip:203.0.113.9");
 * store.close();
 * ```
 */
export class RedisBucketStore implements BucketStore {
  readonly settings: RateLimitSettings;
  #client: Redis;
  #lease: RedisLease;
  #ttlMs: number;

  constructor(url: string, settings: RateLimitSettings) {
    this.settings = settings;
    // A full bucket is indistinguishable from a missing one, and a bucket is full again
    // burst / rate seconds after its last request; one more second covers clock rounding.
    this.#ttlMs = Math.ceil((settings.burst / settings.requestsPerSecond) * 1000) + 1000;
    this.#lease = leaseRedisClient(url);
    this.#client = this.#lease.client;
  }

  /** Spends one token of `key`'s shared bucket: one round trip. */
  async take(key: string): Promise<RateLimitDecision> {
    const { requestsPerSecond, burst } = this.settings;
    const args = [REDIS_BUCKET_PREFIX + key, requestsPerSecond, burst, this.#ttlMs];
    let reply: unknown;
    try {
      reply = await this.#client.evalsha(TAKE_SHA, 1, ...args);
    } catch (error) {
      // The first request after a Redis restart loads the script; later ones send its hash.
      if (!String(error).includes("NOSCRIPT")) throw error;
      reply = await this.#client.eval(TAKE_SCRIPT, 1, ...args);
    }
    const [allowed, tokens] = reply as [number, string];
    return decide(this.settings, allowed === 1, Number(tokens));
  }

  /** Releases the connection (closed, and reconnecting stopped, once no store uses it). */
  close(): void {
    this.#lease.release();
  }
}

/** One Redis connection used by the stores of one URL; {@linkcode RedisLease.release} once. */
export interface RedisLease {
  readonly client: Redis;
  /** Gives the connection back; the last release closes it. */
  release(): void;
}

const clients = new Map<string, { client: Redis; users: number }>();

/** The Redis client library, loaded only by a configuration that names a Redis server. */
let driver: typeof Redis | undefined;

/**
 * Loads the Redis client library (once). A plan whose configuration sets `state.redis_url`
 * needs it before it is compiled; without Redis, the process never loads it.
 */
export async function loadRedisDriver(): Promise<void> {
  driver ??= (await import("ioredis")).Redis;
}

/**
 * The connection to `url`, shared by every store (buckets, keys) of every plan naming it: one
 * client per URL, closed when its last user releases it. A reload's new plan takes its lease
 * before the old plan releases its own, so the connection survives the reload. Commands fail
 * at once while the connection is down (no queue) and after 50 ms when Redis is slow; the
 * client reconnects in the background.
 *
 * @example
 * ```ts
 * const lease = leaseRedisClient("redis://127.0.0.1:6379");
 * await lease.client.ping();
 * lease.release();
 * ```
 */
export function leaseRedisClient(url: string): RedisLease {
  let shared = clients.get(url);
  if (!shared) {
    if (driver === undefined) throw new Error("the Redis client library is not loaded");
    const client = new driver(url, {
      enableOfflineQueue: false,
      commandTimeout: COMMAND_TIMEOUT_MS,
      maxRetriesPerRequest: 0,
      connectTimeout: 1000,
      retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
    });
    // Failures reach the caller through the rejected commands (which fall back and log);
    // the connection's own error events would only repeat them.
    client.on("error", () => {});
    shared = { client, users: 0 };
    clients.set(url, shared);
  }
  const entry = shared;
  entry.users++;
  let released = false;
  return {
    client: entry.client,
    release(): void {
      if (released) return;
      released = true;
      if (--entry.users > 0) return;
      entry.client.disconnect();
      if (clients.get(url) === entry) clients.delete(url);
    },
  };
}
