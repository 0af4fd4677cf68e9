/**
 * Stored responses over the byte-bounded store: keys with `Vary` variants, freshness as
 * configured, and how long each response is kept.
 *
 * Keys: `r\0<base>\0` for a response without `Vary`; `v\0<base>` for the `Vary` marker of a
 * base key (its field names and a generation); `r\0<base>\0<generation>\0name=value...` for
 * a variant. A new marker (other names, or after an invalidation) gets a new generation, so
 * the variants of the old one are unreachable and age out of the store. Memoised values use
 * `m\0<key>`.
 * @module
 */
import { hasValidator } from "./conditional.ts";
import type { Fill } from "./fill.ts";
import {
  type ContentKind,
  currentAgeSecs,
  type ExchangeTimes,
  type Freshness,
  type FreshnessDefaults,
  freshnessOf,
  retentionSecs,
  type Usability,
  usabilityOf,
} from "./freshness.ts";
import type { MemoEntry, MemoStore } from "./memo.ts";
import { cacheEvictions } from "./metrics.ts";
import { liveMpdCapSecs, livePlaylistCapSecs } from "./playlist.ts";
import { type CachedObject, headerBytes } from "./respond.ts";
import { type EntryInfo, SieveStore } from "./store.ts";

/** A response in the store. */
export interface StoredResponse extends CachedObject {
  readonly kind: "response";
  /** Identifies this object (its body); kept across `304` refreshes. */
  readonly id: number;
  readonly body: Fill;
  readonly length: number;
  readonly contentKind: ContentKind;
  readonly times: ExchangeTimes;
  readonly initialAgeSecs: number;
  readonly freshness: Freshness;
}

/** The `Vary` field names of a base key's responses; `generation` retires old variants. */
interface VaryMarker {
  readonly kind: "vary";
  readonly names: readonly string[];
  readonly generation: number;
}

type Entry = StoredResponse | VaryMarker | MemoEntry;

/** Options of {@linkcode ResponseStore}. */
export interface ResponseStoreOptions extends FreshnessDefaults {
  readonly maxBytes: number;
  readonly maxObjectBytes: number;
  /** How long a stale response with a validator is kept for revalidation (seconds). */
  readonly staleRetentionSecs: number;
  readonly now: () => number;
}

/** Bytes counted per entry beside its body and headers. */
const ENTRY_OVERHEAD = 256;
/** Room for headers above `maxObjectBytes` in an entry. */
const HEADER_ALLOWANCE = 64 * 1024;
const EXTM3U = new TextEncoder().encode("#EXTM3U");

function startsWithExtM3u(bytes: Uint8Array): boolean {
  const offset = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  return EXTM3U.every((b, i) => bytes[offset + i] === b);
}

/** Where a request's response is (or would be) stored. */
export interface Lookup {
  readonly key: string;
  /** The base key has a `Vary` marker (a miss is a `vary-miss`). */
  readonly marker: boolean;
}

/** The responses, `Vary` markers and memoised values of one cache. */
export class ResponseStore implements MemoStore {
  readonly #store: SieveStore<Entry>;
  readonly #defaults: FreshnessDefaults;
  readonly #staleRetentionSecs: number;
  readonly #now: () => number;
  #generation = 1;
  #closed = false;

  constructor(options: ResponseStoreOptions) {
    this.#defaults = {
      defaultTtlSecs: options.defaultTtlSecs,
      staleWhileRevalidateSecs: options.staleWhileRevalidateSecs,
      staleIfErrorSecs: options.staleIfErrorSecs,
    };
    this.#staleRetentionSecs = options.staleRetentionSecs;
    this.#now = options.now;
    this.#store = new SieveStore<Entry>({
      maxBytes: options.maxBytes,
      maxObjectBytes: options.maxObjectBytes + HEADER_ALLOWANCE,
      now: options.now,
      onRemove: (_key, _value, reason) => {
        if (reason !== "replaced" && !this.#closed) cacheEvictions.labels(reason).inc();
      },
    });
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#store.bytes;
  }

  /** Entries held. */
  get size(): number {
    return this.#store.size;
  }

  /** The key a request's response lives under, after its base key's `Vary` marker. */
  lookup(base: string, headers: Headers): Lookup {
    const marker = this.#store.get(`v\0${base}`);
    if (marker?.kind !== "vary") return { key: `r\0${base}\0`, marker: false };
    let key = `r\0${base}\0${marker.generation}`;
    for (const name of marker.names) {
      const value = headers.get(name) ?? "";
      key += `\0${name}=${value.split(",").map((v) => v.trim()).join(",")}`;
    }
    return { key, marker: true };
  }

  /** The stored response under `key`, if any. */
  response(key: string): StoredResponse | undefined {
    const entry = this.#store.get(key);
    return entry?.kind === "response" ? entry : undefined;
  }

  /** Records the `Vary` names of a base key's new response; returns the request's key. */
  setVary(base: string, names: readonly string[], headers: Headers): string {
    const markerKey = `v\0${base}`;
    if (this.#closed) return this.lookup(base, headers).key;
    if (names.length === 0) this.#store.delete(markerKey, "replaced");
    else {
      const marker = this.#store.get(markerKey);
      if (marker?.kind !== "vary" || marker.names.join() !== names.join()) {
        const fresh: VaryMarker = { kind: "vary", names, generation: this.#generation++ };
        const bytes = ENTRY_OVERHEAD + base.length + names.join().length;
        this.#store.set(markerKey, fresh, { bytes, expiresAt: Infinity });
      }
    }
    return this.lookup(base, headers).key;
  }

  /** The current age of a stored response in seconds. */
  ageOf(entry: StoredResponse): number {
    return currentAgeSecs(entry.initialAgeSecs, entry.times.responseTimeMs, this.#now());
  }

  /** What a stored response may be used for now. */
  usability(entry: StoredResponse): Usability {
    return usabilityOf(entry.freshness, this.ageOf(entry));
  }

  /**
   * The freshness of a response under the configured defaults; with its complete `body`,
   * a live HLS media playlist is capped at half its target duration.
   */
  freshnessFor(
    object: { readonly status: number; readonly headers: Headers },
    kind: ContentKind,
    times: ExchangeTimes,
    body: Fill | null,
  ): Freshness {
    const freshness = freshnessOf(object, kind, this.#defaults, times.responseTimeMs);
    if (kind !== "playlist" || body === null || !body.complete || body.length === 0) {
      return freshness;
    }
    const bytes = body.bytes();
    const text = new TextDecoder().decode(
      bytes.subarray(0, startsWithExtM3u(bytes) ? undefined : 4096),
    );
    const cap = startsWithExtM3u(bytes) ? livePlaylistCapSecs(text) : liveMpdCapSecs(text);
    return cap === null || cap >= freshness.lifetimeSecs
      ? freshness
      : { ...freshness, lifetimeSecs: cap };
  }

  /**
   * Seconds a response is worth keeping from now (≤ 0: not at all): to the end of its
   * freshness and stale windows, or longer for revalidation when it has a validator. A
   * `no-cache` response without a validator is never worth keeping (it could not be used).
   */
  keepSecs(freshness: Freshness, headers: Headers, initialAgeSecs: number): number {
    const validator = hasValidator(headers);
    if (freshness.alwaysRevalidate && !validator) return 0;
    return retentionSecs(freshness, validator, this.#staleRetentionSecs) - initialAgeSecs;
  }

  /** Stores a response for as long as it is worth keeping; returns whether it was. */
  put(key: string, entry: StoredResponse): boolean {
    const keepSecs = this.keepSecs(entry.freshness, entry.headers, entry.initialAgeSecs);
    if (this.#closed) return false;
    if (keepSecs <= 0) {
      this.#store.delete(key, "replaced");
      return false;
    }
    return this.#store.set(key, entry, {
      bytes: entry.length + headerBytes(entry.headers) + ENTRY_OVERHEAD,
      expiresAt: entry.times.responseTimeMs + keepSecs * 1000,
    });
  }

  /** Removes an entry (an invalidation unless told otherwise). */
  delete(key: string, reason: "invalidated" | "replaced" = "invalidated"): void {
    this.#store.delete(key, reason);
  }

  /** Removes what is stored for a base key: its plain entry and (by retiring the marker) its variants. */
  invalidate(base: string): void {
    this.#store.delete(`v\0${base}`);
    this.#store.delete(`r\0${base}\0`);
  }

  /** A memoised value's entry (the memo table's view of the store). */
  get(key: string): unknown {
    return this.#store.get(key);
  }

  /** Stores a memoised value. */
  set(key: string, value: MemoEntry, info: EntryInfo): boolean {
    return !this.#closed && this.#store.set(key, value, info);
  }

  /** Drops everything (not counted as evictions); nothing is stored from now on. */
  close(): void {
    this.#closed = true;
    this.#store.clear();
  }
}
