/**
 * Memoisation of derived values by key and source version, with coalescing: the manifest
 * layer caches a rewritten playlist or a DASH→HLS conversion per version of its source, so a
 * live MPD is parsed once per version, not once per viewer. Values live in the cache's
 * byte-bounded store beside the responses; a key holds one version at a time.
 * @module
 */
import { cacheCoalesced } from "./metrics.ts";
import { headerBytes } from "./respond.ts";
import type { EntryInfo } from "./store.ts";

/** A memoised value in the store. */
export interface MemoEntry {
  readonly kind: "memo";
  readonly version: string;
  readonly value: unknown;
}

/** Options of a memoised computation. */
export interface MemoOptions<T> {
  /** The value's size in bytes, for the store's bound (strings and byte arrays are measured). */
  readonly bytes?: (value: T) => number;
  /**
   * When the value stops being answered even if its source's version stands (store clock
   * time); absent: for as long as the version stands. A live playlist generated from a
   * source that revalidates with `304` must still be regenerated (its window moves).
   */
  readonly expiresAt?: (value: T) => number;
}

/** A response read whole, to be answered again any number of times. */
export interface ResponseSnapshot {
  /** The response's status. */
  readonly status: number;
  /** The response's status text. */
  readonly statusText: string;
  /** The response's header fields, in order. */
  readonly headers: readonly (readonly [string, string])[];
  /** The whole body, or `null` for a response without one. */
  readonly body: Uint8Array | null;
}

/** Reads a response whole into a {@linkcode ResponseSnapshot}. */
export async function snapshotResponse(response: Response): Promise<ResponseSnapshot> {
  const body = response.body === null ? null : await response.bytes();
  return {
    status: response.status,
    statusText: response.statusText,
    headers: [...response.headers],
    body,
  };
}

/** A new response with a snapshot's status, headers and body. */
export function responseFromSnapshot(snapshot: ResponseSnapshot): Response {
  return new Response(snapshot.body?.slice() ?? null, {
    status: snapshot.status,
    statusText: snapshot.statusText,
    headers: snapshot.headers as [string, string][],
  });
}

/** The size of a snapshot, for the store's bound. */
export function snapshotBytes(snapshot: ResponseSnapshot): number {
  return (snapshot.body?.byteLength ?? 0) +
    headerBytes(new Headers(snapshot.headers as [string, string][]));
}

function estimateBytes(value: unknown): number {
  if (typeof value === "string") return value.length * 2;
  if (value instanceof Uint8Array) return value.byteLength;
  // Unmeasured objects count as 1 KiB; callers with large values pass `bytes`.
  return 1024;
}

/** The part of the cache's store the memo table uses. */
export interface MemoStore {
  get(key: string): unknown;
  set(key: string, value: MemoEntry, info: EntryInfo): boolean;
}

/** Per-entry overhead counted beside the value. */
const ENTRY_OVERHEAD = 128;

/**
 * The memo table over a store: values by key and version, one computation per key and
 * version at a time.
 */
export class MemoTable {
  readonly #store: MemoStore;
  readonly #running = new Map<string, Promise<unknown>>();

  constructor(store: MemoStore) {
    this.#store = store;
  }

  /**
   * The value for `key` at `version`: the stored one when its version matches, else the
   * result of `compute` (joined by concurrent callers for the same key and version, and
   * stored unless it throws). A `null` version computes without storing.
   */
  async get<T>(
    key: string,
    version: string | null,
    compute: () => Promise<T>,
    options: MemoOptions<T> = {},
  ): Promise<T> {
    if (version === null) return await compute();
    const storeKey = `m\0${key}`;
    const held = this.#store.get(storeKey) as MemoEntry | undefined;
    if (held?.kind === "memo" && held.version === version) return held.value as T;
    const runKey = `${storeKey}\0${version}`;
    const running = this.#running.get(runKey);
    if (running) {
      cacheCoalesced.inc();
      return await running as T;
    }
    const run = (async () => {
      try {
        const value = await compute();
        const bytes = (options.bytes ?? estimateBytes)(value) + key.length + ENTRY_OVERHEAD;
        const entry: MemoEntry = { kind: "memo", version, value };
        this.#store.set(storeKey, entry, {
          bytes,
          expiresAt: options.expiresAt?.(value) ?? Infinity,
        });
        return value;
      } finally {
        this.#running.delete(runKey);
      }
    })();
    this.#running.set(runKey, run);
    return await run;
  }
}
