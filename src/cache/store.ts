/**
 * A byte-bounded in-memory store with SIEVE eviction (Zhang et al., NSDI '24): one FIFO
 * queue, a "visited" bit per entry and a hand that moves from the oldest entry towards the
 * newest, clearing set bits and evicting the first entry whose bit is clear. An entry read
 * again after insertion survives one pass of the hand; an entry never read again (a
 * one-hit wonder, or a live segment whose viewers have all moved on) is evicted the first
 * time the hand reaches it. Every operation is O(1) amortised; nothing moves on a hit.
 * @module
 */

/** Why an entry left the store. */
export type RemovalReason = "capacity" | "expired" | "replaced" | "invalidated";

/** Options of {@linkcode SieveStore}. */
export interface StoreOptions<V> {
  /** Total bytes held at most. */
  readonly maxBytes: number;
  /** Entries larger than this are refused. */
  readonly maxObjectBytes: number;
  /** The clock entries expire by (milliseconds); `Date.now` by default. */
  readonly now?: () => number;
  /** Called for every entry that leaves the store, with the reason. */
  readonly onRemove?: (key: string, value: V, reason: RemovalReason) => void;
}

/** Size and lifetime of an entry. */
export interface EntryInfo {
  readonly bytes: number;
  /** When the entry expires on the store's clock (`Infinity`: never). */
  readonly expiresAt: number;
}

interface Node<V> {
  readonly key: string;
  readonly value: V;
  readonly bytes: number;
  readonly expiresAt: number;
  visited: boolean;
  newer: Node<V> | null;
  older: Node<V> | null;
}

/** Entries examined for expiry on each insertion. */
const SWEEP_STEPS = 2;

/**
 * A map of string keys to values, bounded by the sum of the entries' byte sizes. Expired
 * entries are removed when read, when the hand reaches them, and by a sweep that examines
 * two entries per insertion (so expired objects do not sit in memory until capacity runs
 * out).
 *
 * @example
 * ```ts
 * const store = new SieveStore<Uint8Array>({ maxBytes: 1 << 20, maxObjectBytes: 1 << 16 });
 * store.set("a", new Uint8Array(10), { bytes: 10, expiresAt: Date.now() + 60_000 });
 * store.get("a")?.length; // 10
 * ```
 */
export class SieveStore<V> {
  readonly #map = new Map<string, Node<V>>();
  readonly #maxBytes: number;
  readonly #maxObjectBytes: number;
  readonly #now: () => number;
  readonly #onRemove?: (key: string, value: V, reason: RemovalReason) => void;
  #newest: Node<V> | null = null;
  #oldest: Node<V> | null = null;
  #hand: Node<V> | null = null;
  #sweep: Node<V> | null = null;
  #bytes = 0;

  constructor(options: StoreOptions<V>) {
    this.#maxBytes = options.maxBytes;
    this.#maxObjectBytes = Math.min(options.maxObjectBytes, options.maxBytes);
    this.#now = options.now ?? Date.now;
    this.#onRemove = options.onRemove;
  }

  /** Bytes held by the entries. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Number of entries. */
  get size(): number {
    return this.#map.size;
  }

  /** The value for `key` (marking it visited), or `undefined` when absent or expired. */
  get(key: string): V | undefined {
    const node = this.#map.get(key);
    if (!node) return undefined;
    if (node.expiresAt <= this.#now()) {
      this.#remove(node, "expired");
      return undefined;
    }
    node.visited = true;
    return node.value;
  }

  /** Whether `key` is present (expired entries included; nothing is marked). */
  has(key: string): boolean {
    return this.#map.has(key);
  }

  /**
   * Stores `value` under `key`, replacing any previous entry and evicting until it fits.
   * Returns `false` (and stores nothing, dropping the previous entry) when the entry is
   * larger than `maxObjectBytes`.
   */
  set(key: string, value: V, info: EntryInfo): boolean {
    const existing = this.#map.get(key);
    if (existing) this.#remove(existing, "replaced");
    if (info.bytes > this.#maxObjectBytes) return false;
    const now = this.#now();
    while (this.#bytes + info.bytes > this.#maxBytes && this.#oldest) this.#evictOne(now);
    const node: Node<V> = {
      key,
      value,
      bytes: info.bytes,
      expiresAt: info.expiresAt,
      visited: false,
      newer: null,
      older: this.#newest,
    };
    if (this.#newest) this.#newest.newer = node;
    this.#newest = node;
    this.#oldest ??= node;
    this.#map.set(key, node);
    this.#bytes += info.bytes;
    this.#sweepExpired(now);
    return true;
  }

  /** Removes `key`; returns whether it was present. */
  delete(key: string, reason: RemovalReason = "invalidated"): boolean {
    const node = this.#map.get(key);
    if (!node) return false;
    this.#remove(node, reason);
    return true;
  }

  /** Removes every entry (reported as `invalidated`). */
  clear(): void {
    while (this.#oldest) this.#remove(this.#oldest, "invalidated");
  }

  /** The keys from the oldest insertion to the newest (for tests and diagnostics). */
  keys(): string[] {
    const keys: string[] = [];
    for (let node = this.#oldest; node; node = node.newer) keys.push(node.key);
    return keys;
  }

  /** SIEVE: the first entry from the hand on whose visited bit is clear (or that expired). */
  #evictOne(now: number): void {
    let node = this.#hand ?? this.#oldest;
    while (node) {
      if (node.expiresAt <= now || !node.visited) {
        this.#hand = node.newer;
        this.#remove(node, node.expiresAt <= now ? "expired" : "capacity");
        return;
      }
      node.visited = false;
      node = node.newer ?? this.#oldest;
    }
  }

  #sweepExpired(now: number): void {
    for (let i = 0; i < SWEEP_STEPS && this.#oldest; i++) {
      const node: Node<V> = this.#sweep ?? this.#oldest;
      this.#sweep = node.newer;
      if (node.expiresAt <= now) this.#remove(node, "expired");
    }
  }

  #remove(node: Node<V>, reason: RemovalReason): void {
    if (this.#hand === node) this.#hand = node.newer;
    if (this.#sweep === node) this.#sweep = node.newer;
    if (node.older) node.older.newer = node.newer;
    else this.#oldest = node.newer;
    if (node.newer) node.newer.older = node.older;
    else this.#newest = node.older;
    node.newer = node.older = null;
    this.#map.delete(node.key);
    this.#bytes -= node.bytes;
    this.#onRemove?.(node.key, node.value, reason);
  }
}
