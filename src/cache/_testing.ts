/**
 * Test support for the cache's tests: a counting loopback origin, a cache on a clock the
 * test moves, and a bounded `serve`.
 * @module
 */
import { type Origin, startOrigin } from "../../tests/_support/origins.ts";
import { withTimeout } from "../../tests/_support/timeout.ts";
import { HttpCache, type HttpCacheOptions, type ServeResult, type UpstreamFetch } from "./cache.ts";

/** How long one awaited step of a cache test may take. */
export const WAIT_MS = 5_000;

/** What the origin saw of one request. */
export interface Seen {
  readonly method: string;
  readonly path: string;
  readonly headers: Headers;
}

/** A loopback origin that records every request it answers. */
export interface CountingOrigin extends Origin {
  readonly seen: Seen[];
  /** Requests seen for `path` (all paths without one). */
  count(path?: string): number;
}

/** The time the cache and the origin agree on: real time plus what the test advanced. */
export interface TestClock {
  now(): number;
  advance(seconds: number): void;
}

/** A clock that follows real time until the test moves it forward. */
export function testClock(): TestClock {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (seconds) => offset += seconds * 1000 };
}

/**
 * Starts a counting origin; `handler` gets the request and its 1-based number for its path.
 * Responses carry a `Date` from `clock` (unless the handler set one), as an origin whose
 * clock moves with the cache's would.
 */
export async function countingOrigin(
  handler: (request: Request, n: number) => Response | Promise<Response>,
  clock?: TestClock,
): Promise<CountingOrigin> {
  const seen: Seen[] = [];
  const count = (path?: string) =>
    path === undefined ? seen.length : seen.filter((s) => s.path === path).length;
  const origin = await startOrigin(async (request) => {
    const path = new URL(request.url).pathname;
    seen.push({ method: request.method, path, headers: request.headers });
    const response = await handler(request, count(path));
    if (clock && !response.headers.has("date")) {
      response.headers.set("date", new Date(clock.now()).toUTCString());
    }
    return response;
  });
  return { ...origin, seen, count };
}

/** A cache whose clock the test advances. */
export interface TestCache {
  readonly cache: HttpCache;
  advance(seconds: number): void;
}

/** A cache on `clock` (a fresh one by default), with test-sized bounds. */
export function testCache(
  options: Partial<HttpCacheOptions> = {},
  clock: TestClock = testClock(),
): TestCache {
  const cache = new HttpCache({
    maxBytes: 8 * 1024 * 1024,
    maxObjectBytes: 1024 * 1024,
    defaultTtlSecs: { playlist: 2, segment: 300, other: 0 },
    now: clock.now,
    ...options,
  });
  return { cache, advance: clock.advance };
}

/** The fetcher every test uses: the request the cache built (or the client's), as is. */
export const upstream: UpstreamFetch = (request) => fetch(request);

/** Serves `path` of `origin` through `cache`, within {@linkcode WAIT_MS}. */
export function serve(
  cache: HttpCache,
  origin: Origin,
  path: string,
  init: RequestInit & { kind?: "playlist" | "segment" | "other" } = {},
  fetcher: UpstreamFetch = upstream,
): Promise<ServeResult> {
  const request = new Request(origin.url + path, init);
  return withTimeout(
    cache.serve({ key: path, request, kind: init.kind }, fetcher),
    WAIT_MS,
    `serve ${path}`,
  );
}

/** A result's body as text, within {@linkcode WAIT_MS}. */
export function text(result: ServeResult): Promise<string> {
  return withTimeout(result.response.text(), WAIT_MS, "body");
}

/** Waits until the cache has no upstream exchange in flight. */
export function settled(cache: HttpCache): Promise<void> {
  return withTimeout(cache.settled(), WAIT_MS, "the cache to settle");
}
