/**
 * The HTTP cache: stored responses answered under RFC 9111, concurrent misses coalesced
 * into one upstream request whose body every joiner reads as it streams, stale responses
 * revalidated (in the background within `stale-while-revalidate`) or served when the origin
 * fails (`stale-if-error`), and derived values memoised by source version.
 * @module
 */
import {
  Answers,
  type CacheOutcome,
  type ServeInput,
  type ServeResult,
  type UpstreamFetch,
} from "./answer.ts";
import type { ForwardReason } from "./cache_status.ts";
import { ResponseStore } from "./entries.ts";
import { Flights } from "./flights.ts";
import { type ContentKind, requestPolicyOf } from "./freshness.ts";
import {
  type MemoOptions,
  MemoTable,
  responseFromSnapshot,
  snapshotBytes,
  snapshotResponse,
} from "./memo.ts";
import { cacheRequests, trackCacheSize } from "./metrics.ts";
import { livePlaylistCapSecs } from "./playlist.ts";
import { rangeShape } from "./range.ts";

export type { CacheOutcome, ServeInput, ServeResult, UpstreamFetch };

/** Options of {@linkcode HttpCache}. */
export interface HttpCacheOptions {
  /** Bytes held at most (bodies, headers and memoised values). */
  readonly maxBytes: number;
  /** Bodies larger than this stream through uncached. */
  readonly maxObjectBytes: number;
  /** Lifetime of `200` responses without explicit freshness, by kind (seconds). */
  readonly defaultTtlSecs: Readonly<Record<ContentKind, number>>;
  /** `stale-while-revalidate` for responses that carry none (seconds, default 0). */
  readonly staleWhileRevalidateSecs?: number;
  /** `stale-if-error` for responses that carry none (seconds, default 0). */
  readonly staleIfErrorSecs?: number;
  /** How long a stale response with a validator is kept for revalidation (default 60 s). */
  readonly staleRetentionSecs?: number;
  /** The name in `Cache-Status` (default `sprox`). */
  readonly name?: string;
  /** The clock (milliseconds); `Date.now` by default. */
  readonly now?: () => number;
}

const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

function checkPositive(name: string, value: number): void {
  if (!(value > 0)) {
    throw new RangeError(
      `Cannot create the cache: '${name}' must be > 0: current value is ${value}`,
    );
  }
}

/**
 * An in-memory HTTP cache with request coalescing.
 *
 * @example
 * ```ts
 * const cache = new HttpCache({
 *   maxBytes: 256 << 20,
 *   maxObjectBytes: 16 << 20,
 *   defaultTtlSecs: { playlist: 2, segment: 300, other: 0 },
 * });
 * const { response, outcome } = await cache.serve(
 *   { key: `tv ${upstreamUrl}`, request },
 *   (upstream) => fetch(upstream),
 * );
 * ```
 */
export class HttpCache {
  readonly #entries: ResponseStore;
  readonly #answers: Answers;
  readonly #flights: Flights;
  readonly #memo: MemoTable;
  readonly #maxObjectBytes: number;
  readonly #closed = new AbortController();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #untrack: () => void;
  readonly #now: () => number;

  /** Creates an empty cache; throws a `RangeError` for a non-positive bound. */
  constructor(options: HttpCacheOptions) {
    checkPositive("max_bytes", options.maxBytes);
    checkPositive("max_object_bytes", options.maxObjectBytes);
    const now = options.now ?? Date.now;
    this.#now = now;
    this.#maxObjectBytes = Math.min(options.maxObjectBytes, options.maxBytes);
    this.#entries = new ResponseStore({
      maxBytes: options.maxBytes,
      maxObjectBytes: this.#maxObjectBytes,
      defaultTtlSecs: options.defaultTtlSecs,
      staleWhileRevalidateSecs: options.staleWhileRevalidateSecs ?? 0,
      staleIfErrorSecs: options.staleIfErrorSecs ?? 0,
      staleRetentionSecs: options.staleRetentionSecs ?? 60,
      now,
    });
    this.#answers = new Answers(this.#entries, options.name ?? "sprox");
    this.#flights = new Flights({
      entries: this.#entries,
      answers: this.#answers,
      maxObjectBytes: this.#maxObjectBytes,
      signal: this.#closed.signal,
      track: (work) => this.#track(work),
      now,
    });
    this.#memo = new MemoTable(this.#entries);
    this.#untrack = trackCacheSize(this.#entries);
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#entries.bytes;
  }

  /** Entries held (responses, `Vary` markers, memoised values). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Answers `input.request` from the cache, from an upstream exchange already in flight for
   * the same object, or by calling `fetch` (once per object, however many requests wait).
   * Methods other than `GET`/`HEAD` are forwarded as they are (a successful unsafe method
   * invalidates the key, RFC 9111 §4.4). A failure before the response head is thrown to
   * every request that waited on it, unless a stale response may stand in.
   *
   * @example
   * ```ts
   * const { response, outcome } = await cache.serve({ key, request }, (r) => fetch(r));
   * ```
   */
  async serve(input: ServeInput, fetch: UpstreamFetch): Promise<ServeResult> {
    try {
      const result = await this.#serve(input, fetch);
      cacheRequests.labels(result.outcome).inc();
      return result;
    } catch (error) {
      cacheRequests.labels("error").inc();
      throw error;
    }
  }

  /**
   * Memoises `compute()` under `key` for one `version` of its source (a
   * {@linkcode ServeResult.version}); concurrent calls for the same key and version share
   * one computation, and a new version replaces the old. A `null` version is not memoised.
   *
   * @example
   * ```ts
   * const model = await cache.memo(`mpd ${key}`, source.version, () => parseMpd(text));
   * ```
   */
  memo<T>(
    key: string,
    version: string | null,
    compute: () => Promise<T>,
    options?: MemoOptions<T>,
  ): Promise<T> {
    return this.#memo.get(key, version, compute, options);
  }

  /**
   * A transformed response memoised by its source's version: `transform(source.response)`
   * runs once per version of the source (a rewritten playlist, a DASH→HLS conversion) and
   * its output is answered again from memory until the source changes. When the output is
   * already held, the source body is cancelled unread. Serve the source for a request
   * without `Range` or conditionals, so that it is the whole object.
   *
   * @example
   * ```ts
   * const source = await cache.serve({ key: mpdKey, request: mpdRequest }, fetchUpstream);
   * const playlist = await cache.memoResponse(`hls ${mpdKey} ${variant}`, source, convert);
   * ```
   */
  async memoResponse(
    key: string,
    source: ServeResult,
    transform: (response: Response) => Promise<Response>,
  ): Promise<Response> {
    if (source.version === null) return await transform(source.response);
    let computed = false;
    const snapshot = await this.#memo.get(key, source.version, async () => {
      computed = true;
      return await snapshotResponse(await transform(source.response));
    }, {
      bytes: snapshotBytes,
      // A generated live playlist lives at most half its target duration, like its source.
      expiresAt: (value) => {
        const cap = value.body ? livePlaylistCapSecs(new TextDecoder().decode(value.body)) : null;
        return cap === null ? Infinity : this.#now() + cap * 1000;
      },
    });
    if (!computed) await source.response.body?.cancel().catch(() => {});
    const response = responseFromSnapshot(snapshot);
    // The answer's cache facts are this request's (the source's), not the first computation's.
    response.headers.delete("age");
    response.headers.delete("cache-status");
    const status = source.response.headers.get("cache-status");
    if (status !== null) response.headers.set("cache-status", status);
    return response;
  }

  /** Removes what is stored for a base key (all its `Vary` variants). */
  invalidate(key: string): void {
    this.#entries.invalidate(key);
  }

  /**
   * Resolves once no upstream exchange is in flight: every fill ended, every background
   * revalidation done (for draining at shutdown, and for tests).
   */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** Drops everything and aborts upstream exchanges in flight. */
  close(): void {
    this.#closed.abort();
    this.#entries.close();
    this.#untrack();
  }

  #track(work: Promise<unknown>): void {
    this.#pending.add(work);
    work.finally(() => this.#pending.delete(work)).catch(() => {});
  }

  async #serve(input: ServeInput, fetch: UpstreamFetch): Promise<ServeResult> {
    const request = input.request;
    const method = request.method;
    if (method !== "GET" && method !== "HEAD") {
      const response = await fetch(request);
      if (!SAFE_METHODS.has(method) && response.status < 400) this.invalidate(input.key);
      const labelled = this.#answers.labelled(response, { fwd: "method" });
      return { response: labelled, outcome: "bypass", version: null };
    }
    const lookup = this.#entries.lookup(input.key, request.headers);
    const entry = this.#entries.response(lookup.key);
    if (entry) {
      const usability = this.#entries.usability(entry);
      const ttl = usability.ttlSecs;
      if (usability.fresh) {
        return this.#answers.fromEntry(request, entry, "hit", { hit: true, ttl });
      }
      if (usability.staleWhileRevalidate) {
        this.#flights.revalidateInBackground(lookup.key, input, entry, fetch);
        const detail = "stale-while-revalidate";
        return this.#answers.fromEntry(request, entry, "stale", { hit: true, ttl, detail });
      }
    }
    if (requestPolicyOf(request.headers).onlyIfCached) {
      const headers = new Headers({ "content-length": "0" });
      headers.set("cache-status", this.#answers.status({ detail: "only-if-cached" }));
      const response = new Response(null, { status: 504, headers });
      return { response, outcome: "miss", version: null };
    }
    if (!entry && method === "GET" && this.#rangeBypasses(request)) {
      const response = this.#answers.labelled(await fetch(request), {
        fwd: "bypass",
        detail: "range",
      });
      return { response, outcome: "bypass", version: null };
    }
    const fwd: ForwardReason = entry ? "stale" : lookup.marker ? "vary-miss" : "uri-miss";
    return await this.#flights.joinOrLead(lookup.key, input, entry, fwd, fetch);
  }

  /**
   * A range not worth fetching the whole object for: a suffix (the object's size is
   * unknown), several ranges, or one starting past `max_object_bytes` (the object could not
   * be stored anyway). It is forwarded as it is.
   */
  #rangeBypasses(request: Request): boolean {
    const range = request.headers.get("range");
    if (range === null) return false;
    const shape = rangeShape(range);
    if (shape.kind === "ignored") return false;
    return shape.kind === "multiple" || shape.first === null ||
      shape.first >= this.#maxObjectBytes;
  }
}
