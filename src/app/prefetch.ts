/**
 * Cache warm-up (the spec's "cache warm-up workers"): once a viewer is served a live media
 * playlist from a caching route, its newest segments are fetched into the cache in the
 * background, so the next viewers' segment requests are hits from the first one. Bounded:
 * at most `cache.prefetch_segments` segments per new version of a playlist (the prefetch
 * runs when the playlist's output is computed, which happens once per version), one at a
 * time, only for segments of the same route (never another host), and an object already
 * held or in flight costs one lookup.
 * @module
 */
import { playlistFacts } from "../cache/mod.ts";
import type { HttpCache } from "../cache/mod.ts";
import { log } from "../telemetry/mod.ts";

/** The newest `count` segment URIs of a live media playlist (none for VOD or multivariant). */
export function newestSegmentUris(text: string, count: number): string[] {
  const facts = playlistFacts(text);
  if (!facts.media || facts.ended || count <= 0) return [];
  const uris: string[] = [];
  let afterInf = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("#EXTINF:")) afterInf = true;
    else if (line !== "" && !line.startsWith("#") && afterInf) {
      uris.push(line);
      afterInf = false;
    }
  }
  return uris.slice(-count);
}

/** What a warm-up needs from the route step. */
export interface PrefetchTarget {
  readonly cache: HttpCache;
  /** The client URL the playlist was requested at (segments resolve against it). */
  readonly playlistUrl: URL;
  /** The upstream URL of the playlist (absolute segment URIs on it map back to the route). */
  readonly upstreamPlaylistUrl: URL;
  /** The cache key of a client URL on this route. */
  keyFor(url: URL): string;
  /** Forwards a request built by the cache to the route's origin. */
  fetch(request: Request): Promise<Response>;
  /** Headers for the prefetch requests (the client's Host, so keys match). */
  readonly headers: Headers;
}

/**
 * Fetches the newest `count` segments of `text` into the cache, in the background. Never
 * throws; failures are logged at debug level.
 */
export function prefetchSegments(text: string, count: number, target: PrefetchTarget): void {
  const uris = newestSegmentUris(text, count);
  if (uris.length === 0) return;
  const urls: URL[] = [];
  for (const uri of uris) {
    let upstream: URL;
    try {
      upstream = new URL(uri, target.upstreamPlaylistUrl);
    } catch {
      continue;
    }
    // Only segments on the route's own origin, mapped back to the path a client would ask.
    if (upstream.origin !== target.upstreamPlaylistUrl.origin) continue;
    const relative = new URL(uri, target.playlistUrl);
    if (relative.origin !== target.playlistUrl.origin) continue;
    urls.push(relative);
  }
  void (async () => {
    for (const url of urls) {
      try {
        const request = new Request(url, { headers: target.headers });
        const { response } = await target.cache.serve(
          { key: target.keyFor(url), request },
          target.fetch,
        );
        // Nobody reads it: the fill completes into the cache on its own.
        await response.body?.cancel().catch(() => {});
      } catch (error) {
        log("debug", "segment prefetch failed", { error: String(error) });
      }
    }
  })();
}
