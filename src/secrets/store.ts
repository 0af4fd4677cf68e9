/**
 * The in-memory secret store: values with a time to live, purged lazily on read and by a
 * periodic sweep, never serialised (no `toJSON` output, no inspectable values). With a shared
 * tier (`state.redis_url` and `tokens.aes_key`), keys added at run time are also sealed into
 * Redis for the other instances: see `shared.ts`.
 * @module
 */
import { SharedKeys, type SharedKeyTier } from "./shared.ts";
import type { SecretEntryInfo } from "./entry.ts";

export type { SecretEntryInfo };

/** How a store is built. */
export interface SecretStoreOptions {
  /** Lifetime of entries stored without their own TTL. */
  readonly defaultTtlSecs: number;
  /** Period of the background sweep; `0` disables it (lazy purge only). */
  readonly sweepIntervalMs?: number;
  /** Milliseconds clock; `Date.now` by default, a fake in tests. */
  readonly now?: () => number;
  /** The shared tier keys added at run time are written to and looked up in; closed with the store. */
  readonly shared?: SharedKeyTier;
}

/** One change of an entry that did not come from the configuration, as observers see it. */
export interface SecretStoreChange {
  readonly id: string;
  /** A copy of the new value (the observer's to keep or wipe); `null` when removed. */
  readonly value: Uint8Array | null;
  /** The entry's lifetime from now in seconds (`Infinity`: none); `null` when removed. */
  readonly ttlSecs: number | null;
  /** The entry's source (`runtime`, `shared`, `remote:<id>`, …). */
  readonly source: string;
}

/** Called with every change {@linkcode SecretStore.observe} reports. */
export type SecretStoreListener = (change: SecretStoreChange) => void;

interface Entry {
  value: Uint8Array;
  expiresAt: number;
  source: string;
}

/**
 * Secret bytes keyed by identifier, each with a time to live. Expired values are
 * overwritten with zeros when dropped.
 *
 * @example
 * ```ts
 * const store = new SecretStore({ defaultTtlSecs: 300 });
 * store.set("clearkey:00112233445566778899aabbccddeeff", key);
 * store.get("clearkey:00112233445566778899aabbccddeeff"); // a copy of key, until it expires
 * store.dispose();
 * ```
 */
export class SecretStore {
  #entries = new Map<string, Entry>();
  #defaultTtlMs: number;
  #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #listeners = new Set<SecretStoreListener>();
  /**
   * The shared key tier bound to this store (Redis, sealed with `tokens.aes_key`), or `null`
   * when keys stay in this process.
   */
  readonly shared: SharedKeys | null;

  constructor(options: SecretStoreOptions) {
    this.shared = options.shared ? new SharedKeys(this, options.shared) : null;
    this.#defaultTtlMs = options.defaultTtlSecs * 1000;
    this.#now = options.now ?? Date.now;
    const interval = options.sweepIntervalMs ??
      Math.min(60_000, Math.max(1000, this.#defaultTtlMs / 2));
    if (interval > 0) {
      const timer = setInterval(() => this.sweep(), interval);
      // The sweep must never keep the process alive (validate, shutdown).
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /**
   * Stores `value` (copied) for `ttlSecs` (`Infinity`: until removed), or the default TTL;
   * `source` says where it came from (`config` by default). Observers hear of every source
   * but `config`, unless `notify` is false.
   */
  set(
    id: string,
    value: Uint8Array,
    options: { ttlSecs?: number | null; source?: string; notify?: boolean } = {},
  ): void {
    const ttlMs = options.ttlSecs ? options.ttlSecs * 1000 : this.#defaultTtlMs;
    const source = options.source ?? "config";
    this.#drop(id);
    this.#entries.set(id, { value: value.slice(), expiresAt: this.#now() + ttlMs, source });
    if (source !== "config" && options.notify !== false) {
      this.#notify(() => ({ id, value: value.slice(), ttlSecs: ttlMs / 1000, source }));
    }
  }

  /**
   * Calls `listener` after every `set` and `delete` of an entry whose source is not `config`
   * (keys added at run time, copies of shared keys, keys cached from key servers): the
   * identifier, a copy of the new value or `null`, the lifetime and the source. Expiry and
   * `dispose` are not reported (every holder expires entries on its own clock). A listener
   * that throws is ignored. Returns the function that unsubscribes it.
   *
   * @example
   * ```ts
   * const stop = store.observe(({ id, value, ttlSecs, source }) => replicate(id, value, ttlSecs, source));
   * stop();
   * ```
   */
  observe(listener: SecretStoreListener): () => void {
    // A wrapper per subscription: the same function observing twice is two subscriptions.
    const subscription: SecretStoreListener = (change) => listener(change);
    this.#listeners.add(subscription);
    return () => {
      this.#listeners.delete(subscription);
    };
  }

  /** The identifier's lifetime and source, without its value; `undefined` when absent or expired. */
  info(id: string): SecretEntryInfo | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#drop(id);
      return undefined;
    }
    return { id, expiresAt: entry.expiresAt, source: entry.source };
  }

  /**
   * Copies the live entries of `source` from `other` (the store of the plan a reload
   * replaces) with their expiry; entries already here are kept. Returns how many were copied.
   */
  adopt(other: SecretStore, source: string): number {
    const now = this.#now();
    let copied = 0;
    for (const [id, entry] of other.#entries) {
      if (entry.source !== source || entry.expiresAt <= now || this.#entries.has(id)) continue;
      this.#entries.set(id, { ...entry, value: entry.value.slice() });
      copied++;
    }
    if (this.shared && other.shared) this.shared.adopt(other.shared);
    return copied;
  }

  /** A copy of the value, or `undefined` when absent or expired (expired ones are purged). */
  get(id: string): Uint8Array | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#drop(id);
      return undefined;
    }
    return entry.value.slice();
  }

  /**
   * Removes an entry; true when it existed. Observers hear of it when its source was not
   * `config`, unless `notify` is false.
   */
  delete(id: string, options: { notify?: boolean } = {}): boolean {
    const source = this.#entries.get(id)?.source;
    if (!this.#drop(id)) return false;
    if (source !== undefined && source !== "config" && options.notify !== false) {
      this.#notify(() => ({ id, value: null, ttlSecs: null, source }));
    }
    return true;
  }

  /** Identifiers of live entries (no values), optionally those starting with `prefix`. */
  list(prefix = ""): SecretEntryInfo[] {
    this.sweep();
    const out: SecretEntryInfo[] = [];
    for (const [id, entry] of this.#entries) {
      if (id.startsWith(prefix)) {
        out.push({ id, expiresAt: entry.expiresAt, source: entry.source });
      }
    }
    return out;
  }

  /** Live entries. */
  get size(): number {
    this.sweep();
    return this.#entries.size;
  }

  /** The store clock, for computing remaining lifetimes. */
  now(): number {
    return this.#now();
  }

  /** Purges every expired entry; returns how many were dropped. */
  sweep(): number {
    const now = this.#now();
    let dropped = 0;
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAt <= now && this.#drop(id)) dropped++;
    }
    return dropped;
  }

  /** Stops the sweep, wipes every value and releases the shared tier. */
  dispose(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
    this.shared?.close();
    for (const id of [...this.#entries.keys()]) this.#drop(id);
  }

  /** Serialises to a count only: values and identifiers never leave through JSON. */
  toJSON(): { entries: number } {
    return { entries: this.#entries.size };
  }

  /** `console.log(store)` shows a count, never values. */
  [Symbol.for("Deno.customInspect")](): string {
    return `SecretStore { entries: ${this.#entries.size} }`;
  }

  #notify(change: () => SecretStoreChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change());
      } catch {
        // An observer's failure is its own; the store's change stands.
      }
    }
  }

  #drop(id: string): boolean {
    const entry = this.#entries.get(id);
    if (!entry) return false;
    entry.value.fill(0);
    return this.#entries.delete(id);
  }
}
