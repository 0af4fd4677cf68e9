/**
 * Metrics of the HTTP cache, on the process-global registry.
 * @module
 */
import client from "prom-client";
import { registry } from "../telemetry/mod.ts";

/** Requests the cache answered, by outcome (`hit`, `miss`, `coalesced`, ..., `error`). */
export const cacheRequests: client.Counter<"outcome"> = new client.Counter({
  name: "sprox_cache_requests_total",
  help: "Requests through the HTTP cache, by outcome.",
  labelNames: ["outcome"] as const,
  registers: [registry],
});

/** Requests that joined another request's upstream exchange instead of making their own. */
export const cacheCoalesced: client.Counter = new client.Counter({
  name: "sprox_cache_coalesced_total",
  help: "Requests that joined an in-flight upstream request for the same object.",
  registers: [registry],
});

/** Revalidations of stale objects, by result (`not_modified`, `modified`, `error`). */
export const cacheRevalidations: client.Counter<"result"> = new client.Counter({
  name: "sprox_cache_revalidations_total",
  help: "Revalidations of stale cached objects, by result (not_modified, modified, error).",
  labelNames: ["result"] as const,
  registers: [registry],
});

/** Objects removed from the cache, by reason (`capacity`, `expired`, `invalidated`). */
export const cacheEvictions: client.Counter<"reason"> = new client.Counter({
  name: "sprox_cache_evictions_total",
  help: "Objects removed from the cache, by reason (capacity, expired, invalidated).",
  labelNames: ["reason"] as const,
  registers: [registry],
});

/** What a live cache reports for the size gauges. */
export interface CacheSize {
  readonly bytes: number;
  readonly size: number;
}

const live = new Set<CacheSize>();

function total(pick: (size: CacheSize) => number): number {
  let sum = 0;
  for (const cache of live) sum += pick(cache);
  return sum;
}

/** Bytes held by every live cache (read at scrape time). */
export const cacheBytes: client.Gauge = new client.Gauge({
  name: "sprox_cache_bytes",
  help: "Bytes held by the HTTP cache (bodies, headers and memoised outputs).",
  registers: [registry],
  collect() {
    this.set(total((c) => c.bytes));
  },
});

/** Entries held by every live cache (read at scrape time). */
export const cacheObjects: client.Gauge = new client.Gauge({
  name: "sprox_cache_objects",
  help: "Entries held by the HTTP cache (responses, Vary markers and memoised outputs).",
  registers: [registry],
  collect() {
    this.set(total((c) => c.size));
  },
});

/**
 * Counts `cache` in the size gauges until the returned function is called.
 *
 * @example
 * ```ts
 * const untrack = trackCacheSize(store);
 * untrack(); // when the cache is closed
 * ```
 */
export function trackCacheSize(cache: CacheSize): () => void {
  live.add(cache);
  return () => void live.delete(cache);
}
