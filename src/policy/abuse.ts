/**
 * Credential-abuse blocking: a client that presents a wrong credential `maxFailures` times
 * within `windowSecs` is refused on every protected endpoint for `blockSecs`, whatever it
 * presents, so a password cannot be guessed faster than that.
 *
 * Memory: only clients with at least one failure are tracked, in two generations of maps
 * like the rate limiter's buckets (see `rate_limit.ts`). A generation rotates every
 * `max(windowSecs, blockSecs)`: an entry idle that long holds nothing any more (its failures
 * left the window, its block ended), so idle eviction loses nothing. When the current
 * generation reaches half of `maxTrackedClients` it rotates early, which keeps the total
 * under `maxTrackedClients`; under such pressure the least recently seen entries go first.
 * Each entry holds at most `maxFailures` timestamps.
 * @module
 */
import { parseIp } from "../net/mod.ts";

/** The tracker's knobs (from `auth_abuse.*`). */
export interface AuthAbuseSettings {
  /** Wrong credentials within the window that start a block. */
  readonly maxFailures: number;
  /** The sliding window failures are counted in. */
  readonly windowSecs: number;
  /** How long a block lasts. */
  readonly blockSecs: number;
  /** Upper bound of clients held at once (two generations of half each). */
  readonly maxTrackedClients: number;
}

/** What a failure did: `blockSecs` is set when this failure started a block. */
export interface FailureOutcome {
  /** Failures within the window, this one included. */
  readonly failures: number;
  /** Set when this failure started a block of that many seconds. */
  readonly blockSecs?: number;
}

interface ClientRecord {
  /** Limiter-clock milliseconds of the failures still in the window, oldest first. */
  failures: number[];
  /** When the block ends; 0 when not blocked. */
  blockedUntil: number;
}

/**
 * Failed-authentication counts and blocks per client key. The clock is injectable for tests.
 *
 * @example
 * ```ts
 * const tracker = new AuthFailureTracker({ maxFailures: 10, windowSecs: 60, blockSecs: 300, maxTrackedClients: 1e5 });
 * tracker.recordFailure("203.0.113.9"); // { failures: 1 }
 * tracker.blockedFor("203.0.113.9"); // 0
 * ```
 */
export class AuthFailureTracker {
  readonly settings: AuthAbuseSettings;
  #current = new Map<string, ClientRecord>();
  #previous = new Map<string, ClientRecord>();
  #rotatedAt: number;
  #now: () => number;
  #idleMs: number;
  #generationCap: number;

  constructor(settings: AuthAbuseSettings, options: { now?: () => number } = {}) {
    this.settings = settings;
    this.#now = options.now ?? (() => performance.now());
    this.#idleMs = Math.max(settings.windowSecs, settings.blockSecs) * 1000;
    this.#generationCap = Math.max(1, Math.floor(settings.maxTrackedClients / 2));
    this.#rotatedAt = this.#now();
  }

  /** Clients currently held. */
  get size(): number {
    return this.#current.size + this.#previous.size;
  }

  /**
   * Whole seconds left of `client`'s block, 0 when it is not blocked. Two map lookups and
   * no allocation: a client never seen costs nothing to check.
   */
  blockedFor(client: string): number {
    const now = this.#tick();
    const record = this.#find(client, now);
    if (!record || record.blockedUntil <= now) return 0;
    return Math.max(1, Math.ceil((record.blockedUntil - now) / 1000));
  }

  /** Counts one wrong credential of `client`; the failure that reaches the limit starts a block. */
  recordFailure(client: string): FailureOutcome {
    const now = this.#tick();
    let record = this.#find(client, now);
    if (!record) {
      record = { failures: [], blockedUntil: 0 };
      if (this.#current.size >= this.#generationCap) this.#rotate(now);
      this.#current.set(client, record);
    }
    if (record.blockedUntil > now) return { failures: record.failures.length };
    if (record.blockedUntil !== 0) {
      // The block is over: the client starts again with a clean slate.
      record.blockedUntil = 0;
      record.failures = [];
    }
    const windowStart = now - this.settings.windowSecs * 1000;
    while (record.failures.length > 0 && record.failures[0] <= windowStart) {
      record.failures.shift();
    }
    record.failures.push(now);
    const failures = record.failures.length;
    if (failures < this.settings.maxFailures) return { failures };
    record.failures = [];
    record.blockedUntil = now + this.settings.blockSecs * 1000;
    return { failures, blockSecs: this.settings.blockSecs };
  }

  #tick(): number {
    const now = this.#now();
    if (now - this.#rotatedAt >= this.#idleMs) this.#rotate(now);
    return now;
  }

  /** The record of `client`, moved back to the current generation when found in the previous. */
  #find(client: string, now: number): ClientRecord | undefined {
    let record = this.#current.get(client);
    if (record) return record;
    record = this.#previous.get(client);
    if (!record) return undefined;
    this.#previous.delete(client);
    if (this.#current.size >= this.#generationCap) this.#rotate(now);
    this.#current.set(client, record);
    return record;
  }

  /** The current generation becomes the previous one; the old previous one is dropped. */
  #rotate(now: number): void {
    this.#previous = this.#current;
    this.#current = new Map();
    this.#rotatedAt = now;
  }
}

/**
 * The key a client's failures are counted under: its IPv4 address, or the /64 network of
 * its IPv6 address (one end site holds at least a /64, so counting single IPv6 addresses
 * would let one attacker start over 2^64 times). Anything else is used as given.
 *
 * @example
 * ```ts
 * authAbuseKey("2001:db8:1:2:aaaa::1"); // "2001:db8:1:2::/64"
 * ```
 */
export function authAbuseKey(clientIp: string): string {
  const bytes = parseIp(clientIp);
  if (!bytes || bytes.length === 4) return clientIp;
  // An IPv4-mapped address (::ffff:a.b.c.d) is one IPv4 client.
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff &&
    bytes[11] === 0xff;
  if (mapped) return bytes.subarray(12).join(".");
  const words: string[] = [];
  for (let i = 0; i < 8; i += 2) words.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return `${words.join(":")}::/64`;
}
