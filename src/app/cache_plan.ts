/**
 * The plan's cache: one {@linkcode HttpCache} for every route and direct mode that use it,
 * kept across reloads while the `cache:` block is unchanged (a reload must not empty the
 * cache of a live event), rebuilt when it changes.
 * @module
 */
import { HttpCache } from "../cache/mod.ts";
import type { Config } from "../config/mod.ts";

/** The compiled cache of a plan. */
export interface CachePlan {
  /** The cache, or `null` when no route and not direct mode use it. */
  readonly cache: HttpCache | null;
  /** The `cache:` block it was built from (JSON), to decide reuse on reload. */
  readonly signature: string;
  /** Whether a route caches (its `cache.enabled`, else `cache.enabled`). */
  routeCaches(routeId: string): boolean;
  /** Whether `/proxy/stream` and the direct manifests cache. */
  readonly directCaches: boolean;
  /** Segments of a watched live playlist to fetch ahead (0 = none). */
  readonly prefetchSegments: number;
  /** Closes the cache unless a newer plan took it over. */
  dispose(): void;
}

/**
 * Builds the cache of `config`, taking over `previous`'s when its block is unchanged.
 *
 * @example
 * ```ts
 * const cache = compileCache(config, previousPlan?.cache);
 * ```
 */
export function compileCache(config: Config, previous?: CachePlan): CachePlan {
  const block = config.cache;
  const routes = new Map(
    config.routes.map((r) => [r.id, r.cache.enabled ?? block.enabled] as const),
  );
  const directCaches = config.direct_stream !== null &&
    (config.direct_stream.cache.enabled ?? block.enabled);
  const used = directCaches || [...routes.values()].some(Boolean);
  const signature = JSON.stringify(block);
  let cache: HttpCache | null = null;
  if (used) {
    if (previous?.cache && previous.signature === signature) {
      cache = previous.cache;
      handedOver.add(previous);
    } else {
      cache = new HttpCache({
        maxBytes: block.max_bytes,
        maxObjectBytes: block.max_object_bytes,
        defaultTtlSecs: block.default_ttl_secs,
        staleWhileRevalidateSecs: block.stale_while_revalidate_secs,
        staleIfErrorSecs: block.stale_if_error_secs,
        staleRetentionSecs: block.stale_retention_secs,
      });
    }
  }
  const plan: CachePlan = {
    cache,
    signature,
    routeCaches: (routeId) => cache !== null && (routes.get(routeId) ?? false),
    directCaches: cache !== null && directCaches,
    prefetchSegments: block.prefetch_segments,
    dispose() {
      if (!handedOver.has(plan)) cache?.close();
    },
  };
  return plan;
}

/** Plans whose cache a newer plan took over (their dispose leaves it open). */
const handedOver = new WeakSet<CachePlan>();
