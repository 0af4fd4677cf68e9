/**
 * What the cache answers: the types of its face and the two ways a response leaves it
 * (built from a stored object, or passed on from upstream with a `Cache-Status`).
 * @module
 */
import { copyHeaders, NULL_BODY_STATUSES } from "../net/mod.ts";
import { appendCacheStatus, type CacheStatusMember, formatCacheStatus } from "./cache_status.ts";
import type { ResponseStore, StoredResponse } from "./entries.ts";
import type { ContentKind } from "./freshness.ts";
import { respondFromObject } from "./respond.ts";

/** What the cache did for a request (labels `sprox_cache_requests_total` and log lines). */
export type CacheOutcome =
  | "hit"
  | "stale"
  | "revalidated"
  | "miss"
  | "coalesced"
  | "uncacheable"
  | "bypass";

/** A request to answer through the cache. */
export interface ServeInput {
  /** The base key (e.g. route id and upstream URL); `Vary` variants are added to it. */
  readonly key: string;
  /** The client's request. */
  readonly request: Request;
  /** The object's kind for default TTLs; inferred from `Content-Type` or the path if absent. */
  readonly kind?: ContentKind;
}

/**
 * Sends a request upstream. The cache passes either the client's own request (requests it
 * does not handle) or a `GET` it built, without the client's `Range` and conditionals and
 * with its own validators, whose `signal` belongs to the cache: a coalesced exchange must
 * not end when the client that started it leaves, so the fetcher must abort on
 * `request.signal` only.
 */
export type UpstreamFetch = (request: Request) => Promise<Response>;

/** The answer to a request. */
export interface ServeResult {
  /** The response to send, `Cache-Status` included. */
  readonly response: Response;
  /** What the cache did (for the request's log line). */
  readonly outcome: CacheOutcome;
  /** Identifies the stored object answered (for memoising derived outputs); `null` if none. */
  readonly version: string | null;
}

/** Builds the answers of one cache (its `Cache-Status` name, its clock through the store). */
export class Answers {
  readonly #entries: ResponseStore;
  readonly #name: string;

  constructor(entries: ResponseStore, name: string) {
    this.#entries = entries;
    this.#name = name;
  }

  /** This cache's `Cache-Status` member. */
  status(member: CacheStatusMember): string {
    return formatCacheStatus(member, this.#name);
  }

  /** The answer from a stored response, with its current `Age`. */
  fromEntry(
    request: Request,
    entry: StoredResponse,
    outcome: CacheOutcome,
    member: CacheStatusMember,
  ): ServeResult {
    const response = respondFromObject(request, entry, {
      cacheStatus: this.status(member),
      ageSecs: this.#entries.ageOf(entry),
    });
    return { response, outcome, version: String(entry.id) };
  }

  /** An upstream response passed on as it came, with this cache's `Cache-Status`. */
  labelled(response: Response, member: CacheStatusMember, bodyless = false): Response {
    const headers = copyHeaders(response.headers);
    appendCacheStatus(headers, this.status(member));
    const noBody = bodyless || NULL_BODY_STATUSES.has(response.status);
    if (noBody) response.body?.cancel().catch(() => {});
    return new Response(noBody ? null : response.body, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  }
}
