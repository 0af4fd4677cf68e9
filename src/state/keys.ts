/**
 * Secret values in Redis, shared by every sProx instance that names the same server
 * (`state.redis_url`) and holds the same `tokens.aes_key`.
 *
 * Only sealed values reach Redis (AES-256-GCM under `tokens.aes_key`, the identifier bound as
 * additional authenticated data: see `keys_seal.ts`); an entry's time to live is the Redis
 * key's own (`SET … PX`), so Redis drops it when it expires. A value Redis holds that does not
 * open with this instance's key (another `AES_KEY`, altered, moved to another identifier) is
 * treated as missing. Commands throw when Redis fails; the caller decides what to fall back to.
 * @module
 */
import type { Redis } from "ioredis";
import { log } from "../telemetry/mod.ts";
import { importSealKey, openValue, sealValue } from "./keys_seal.ts";
import { leaseRedisClient, type RedisLease } from "./redis.ts";

/** Prefix of the secret entries in Redis (`sprox:key:clearkey:<hex kid>`). */
export const REDIS_KEY_PREFIX = "sprox:key:";

/** The shared key set's generation (see {@linkcode RedisKeyStore.generation}). */
export const REDIS_GENERATION_KEY = "sprox:keyset";

/** Prefix of the marks of recent removals (`sprox:removed:clearkey:<hex kid>`). */
export const REDIS_REMOVED_PREFIX = "sprox:removed:";

/**
 * How long a removal's mark lasts: longer than any instance takes to reconnect and write back
 * after an outage (its reconnection backoff tops at 2 s).
 */
export const REMOVAL_MARK_MS = 60_000;

/** KEYS[1] the entry, KEYS[2] its removal mark; ARGV sealed value, TTL in ms ("" for none). */
const PUT_IF_ABSENT_SCRIPT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local ok
if ARGV[2] == '' then
  ok = redis.call('SET', KEYS[1], ARGV[1], 'NX')
else
  ok = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
end
if ok then return 1 end
return 0
`;

/** At most one "unreadable" warning per this many milliseconds. */
const UNREADABLE_LOG_INTERVAL_MS = 10_000;

/** Most identifiers one {@linkcode RedisKeyStore.list} answers. */
export const MAX_LISTED_KEYS = 1000;

/** One value read back from Redis. */
export interface SharedKeyEntry {
  /** The opened value (the caller wipes it when done). */
  readonly value: Uint8Array;
  /** Milliseconds the entry has left in Redis; `Infinity` when it has no TTL. */
  readonly ttlMs: number;
}

/** One identifier held in Redis, without its value. */
export interface SharedKeyInfo {
  readonly id: string;
  /** Milliseconds the entry has left; `Infinity` when it has no TTL. */
  readonly ttlMs: number;
}

/** A glob (`SCAN MATCH`) matching exactly the keys that start with `prefix`. */
function matchPrefix(prefix: string): string {
  return prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`) + "*";
}

/**
 * The values of a transaction's replies (`MULTI … EXEC`, as ioredis answers it); throws when
 * Redis aborted it or a command in it failed.
 */
function transactionValues(replies: [Error | null, unknown][] | null): unknown[] {
  if (!replies) throw new Error("Redis aborted the transaction");
  return replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

/** A lifetime in seconds as `SET … PX` milliseconds (at least 1). */
function pxOf(ttlSecs: number): number {
  return Math.max(1, Math.ceil(ttlSecs * 1000));
}

function ttlOf(pttl: unknown): number {
  return typeof pttl === "number" && pttl >= 0 ? pttl : Infinity;
}

/**
 * Sealed secret values in Redis with their TTL, over the connection of `url` shared with the
 * other stores naming it.
 *
 * @example
 * ```ts
 * const keys = new RedisKeyStore("redis://127.0.0.1:6379", config.tokens.aes_key!);
 * await keys.put("clearkey:00112233445566778899aabbccddeeff", key, 3600);
 * (await keys.get("clearkey:00112233445566778899aabbccddeeff"))?.value; // key
 * keys.close();
 * ```
 */
export class RedisKeyStore {
  #lease: RedisLease;
  #client: Redis;
  #key: Promise<CryptoKey>;
  #loggedAt = -Infinity;

  constructor(url: string, aesKeyHex: string) {
    this.#key = importSealKey(aesKeyHex);
    // An import failure surfaces on first use; never as an unhandled rejection before it.
    this.#key.catch(() => {});
    this.#lease = leaseRedisClient(url);
    this.#client = this.#lease.client;
  }

  /**
   * Stores `value` sealed under `id` for `ttlSecs` (`Infinity`: no TTL), replacing any; true
   * when Redis held a value for `id` before (one round trip: `SET … GET`).
   */
  async put(id: string, value: Uint8Array, ttlSecs: number): Promise<boolean> {
    const sealed = await sealValue(await this.#key, id, value);
    const key = REDIS_KEY_PREFIX + id;
    const previous = Number.isFinite(ttlSecs)
      ? await this.#client.set(key, sealed, "PX", pxOf(ttlSecs), "GET")
      : await this.#client.set(key, sealed, "GET");
    return previous !== null;
  }

  /** The value of `id` and its remaining TTL (one round trip); `undefined` when absent or unreadable. */
  async get(id: string): Promise<SharedKeyEntry | undefined> {
    const key = REDIS_KEY_PREFIX + id;
    const [sealed, pttl] = transactionValues(await this.#client.multi().get(key).pttl(key).exec());
    if (typeof sealed !== "string") return undefined;
    const value = await openValue(await this.#key, id, sealed);
    if (!value) {
      this.#warnUnreadable(id);
      return undefined;
    }
    return { value, ttlMs: ttlOf(pttl) };
  }

  /**
   * Stores `value` sealed under `id` for `ttlSecs` only when Redis holds nothing under `id` and
   * `id` was not removed in the last {@linkcode REMOVAL_MARK_MS} (one script, run atomically);
   * true when written. A write-back of a copy thus never undoes a removal another instance made
   * just before it.
   */
  async putIfAbsent(id: string, value: Uint8Array, ttlSecs: number): Promise<boolean> {
    const sealed = await sealValue(await this.#key, id, value);
    const ttl = Number.isFinite(ttlSecs) ? String(pxOf(ttlSecs)) : "";
    const written = await this.#client.eval(
      PUT_IF_ABSENT_SCRIPT,
      2,
      REDIS_KEY_PREFIX + id,
      REDIS_REMOVED_PREFIX + id,
      sealed,
      ttl,
    );
    return written === 1;
  }

  /** Whether the connection is up and commands can be sent now. */
  get ready(): boolean {
    return this.#client.status === "ready";
  }

  /**
   * Calls `listener` each time the connection becomes ready (the first connect and every
   * reconnect); returns the function that unsubscribes it.
   */
  onReady(listener: () => void): () => void {
    this.#client.on("ready", listener);
    return () => {
      this.#client.off("ready", listener);
    };
  }

  /** Calls `listener` each time the connection closes; returns the function that unsubscribes it. */
  onClose(listener: () => void): () => void {
    this.#client.on("close", listener);
    return () => {
      this.#client.off("close", listener);
    };
  }

  /**
   * The generation of the shared key set: a random value kept in Redis under
   * {@linkcode REDIS_GENERATION_KEY} (no TTL), created by the first instance that finds it
   * missing (one round trip: `SET … NX`, then `GET`). A new value means Redis lost its data since
   * (a restart without persistence, a flush); a Redis restarted with its data keeps it.
   */
  async generation(): Promise<string> {
    const [, value] = transactionValues(
      await this.#client.multi()
        .set(REDIS_GENERATION_KEY, crypto.randomUUID(), "NX")
        .get(REDIS_GENERATION_KEY)
        .exec(),
    );
    if (typeof value !== "string") throw new Error("the key set generation is missing");
    return value;
  }

  /** Removes `id`; true when Redis held it. */
  async delete(id: string): Promise<boolean> {
    // One round trip: the removal, and its mark for REMOVAL_MARK_MS (see `putIfAbsent`).
    const [count] = transactionValues(
      await this.#client.multi()
        .del(REDIS_KEY_PREFIX + id)
        .set(REDIS_REMOVED_PREFIX + id, "1", "PX", REMOVAL_MARK_MS)
        .exec(),
    );
    return (count as number) > 0;
  }

  /**
   * Identifiers starting with `prefix` and their remaining TTL, at most
   * {@linkcode MAX_LISTED_KEYS} (`SCAN`, never `KEYS`: Redis keeps serving others meanwhile).
   */
  async list(prefix = ""): Promise<SharedKeyInfo[]> {
    const ids: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await this.#client.scan(
        cursor,
        "MATCH",
        matchPrefix(REDIS_KEY_PREFIX + prefix),
        "COUNT",
        500,
      );
      cursor = next;
      for (const key of keys) {
        if (ids.length < MAX_LISTED_KEYS) ids.push(key.slice(REDIS_KEY_PREFIX.length));
      }
    } while (cursor !== "0" && ids.length < MAX_LISTED_KEYS);
    if (ids.length === 0) return [];
    const pipeline = this.#client.pipeline();
    for (const id of ids) pipeline.pttl(REDIS_KEY_PREFIX + id);
    const replies = (await pipeline.exec()) ?? [];
    const out: SharedKeyInfo[] = [];
    replies.forEach(([error, pttl], i) => {
      if (error) throw error;
      // -2: expired between the scan and now.
      if (pttl !== -2) out.push({ id: ids[i], ttlMs: ttlOf(pttl) });
    });
    return [...new Map(out.map((e) => [e.id, e])).values()];
  }

  /** Releases the connection. */
  close(): void {
    this.#lease.release();
  }

  #warnUnreadable(id: string): void {
    const now = performance.now();
    if (now - this.#loggedAt < UNREADABLE_LOG_INTERVAL_MS) return;
    this.#loggedAt = now;
    log("warn", "shared key unreadable with this AES_KEY; treated as missing", { id });
  }
}
