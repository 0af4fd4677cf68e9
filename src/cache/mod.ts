/**
 * The HTTP cache and request coalescing.
 *
 * {@linkcode HttpCache} is the face: `serve` answers a request from memory, from an upstream
 * exchange already in flight for the same object, or by fetching it once, under RFC 9111
 * (freshness, validation, `Vary`, `Range`, `stale-while-revalidate`, `stale-if-error`) with a
 * `Cache-Status` header (RFC 9211); `memo`/`memoResponse` cache outputs derived from a source
 * by the source's version. The pure RFC rules it is built on are exported too.
 *
 * @example
 * ```ts
 * const cache = new HttpCache({
 *   maxBytes: 256 << 20,
 *   maxObjectBytes: 16 << 20,
 *   defaultTtlSecs: { playlist: 2, segment: 300, other: 0 },
 *   staleWhileRevalidateSecs: 2,
 *   staleIfErrorSecs: 30,
 * });
 * // One call per place: the fetcher forwards the request the cache hands it, aborting on
 * // that request's signal (not the client's), and returns the upstream response.
 * const { response, outcome } = await cache.serve(
 *   { key: `${route.id} ${upstreamUrl}`, request: ctx.request },
 *   (upstream) => forwardToRoute(upstream, route, facts).then((f) => f.response),
 * );
 * ```
 * @module
 */
export {
  type CacheOutcome,
  HttpCache,
  type HttpCacheOptions,
  type ServeInput,
  type ServeResult,
  type UpstreamFetch,
} from "./cache.ts";
export { type CacheControl, parseCacheControl } from "./cache_control.ts";
export {
  appendCacheStatus,
  CACHE_STATUS_NAME,
  type CacheStatusMember,
  formatCacheStatus,
  type ForwardReason,
} from "./cache_status.ts";
export {
  evaluatePreconditions,
  mergeNotModified,
  notModifiedHeaders,
  PARTIAL_OR_CONDITIONAL_HEADERS,
  type PreconditionResult,
  revalidationHeaders,
  selectsForUpdate,
} from "./conditional.ts";
export {
  type ContentKind,
  currentAgeSecs,
  type ExchangeTimes,
  type Freshness,
  type FreshnessDefaults,
  freshnessOf,
  initialAgeSecs,
  type NotStorableReason,
  notStorableReason,
  type RequestFacts,
  type RequestPolicy,
  requestPolicyOf,
  type ResponseFacts,
  type Usability,
  usabilityOf,
} from "./freshness.ts";
export { type MemoOptions } from "./memo.ts";
export {
  contentKindOf,
  livePlaylistCapSecs,
  type PlaylistFacts,
  playlistFacts,
} from "./playlist.ts";
export { contentRange, evaluateRange, parseRange, type RangeDecision } from "./range.ts";

export {
  cacheBytes,
  cacheCoalesced,
  cacheEvictions,
  cacheObjects,
  cacheRequests,
  cacheRevalidations,
} from "./metrics.ts";
