/**
 * The route step with its manifest transform: DASH→HLS paths on `dash.to_hls` routes,
 * then forwarding, then playlist checking and rewriting on `hls.enabled` routes; and the
 * direct-mode manifest endpoints under `/proxy/hls` and `/proxy/mpd`.
 * @module
 */
import { ProxyError } from "../errors/mod.ts";
import { copyHeaders, inMemoryBody, rawPathOf } from "../net/mod.ts";
import {
  appendVia,
  assertUnambiguousPath,
  buildClientResponse,
  claimResponse,
  forwardToRoute,
  joinUpstreamUrl,
  type RoutePlan,
} from "../routing/mod.ts";
import { type HttpCache, PARTIAL_OR_CONDITIONAL_HEADERS } from "../cache/mod.ts";
import {
  type ConvertedPath,
  matchConvertedPath,
  serveDirectMpd,
  serveRouteDash,
} from "../stream/dash/mod.ts";
import {
  directPlaylistOptions,
  handlesPlaylists,
  isPlaylistContentType,
  originPrefix,
  passesUntouched,
  serveDirectPlaylist,
  SignedLinkWriter,
  transformRoutePlaylist,
  variantChoice,
} from "../stream/hls/mod.ts";
import {
  applyResponseOverrides,
  parseResponseOverrides,
  type ResponseOverrides,
} from "../stream/direct/mod.ts";
import type { BodyTally, RequestContext } from "./context.ts";
import { clearKeyUri, directLink, forward } from "./upstream.ts";
import { prefetchSegments } from "./prefetch.ts";
import { manifestDecryption } from "./decrypt.ts";
import {
  admitDirectRequest,
  type DirectAccess,
  directManifestFetch,
  directManifestHeaders,
} from "./direct_access.ts";
import {
  answerFromOutput,
  looksLikePlaylistPath,
  serveCached,
  wholeObjectRequest,
} from "./cached.ts";

async function convertOnRoute(
  ctx: RequestContext,
  route: RoutePlan,
  match: ConvertedPath,
  cache: HttpCache | null,
): Promise<Response> {
  const headers = copyHeaders(ctx.request.headers);
  for (const name of PARTIAL_OR_CONDITIONAL_HEADERS) headers.delete(name);
  headers.set("accept-encoding", "identity");
  const mpdUrl = new URL(match.mpdPath + ctx.url.search, ctx.url);
  const mpdRequest = new Request(mpdUrl, { headers, signal: ctx.signal });
  const key = routeCacheKey(ctx, route, mpdUrl);
  const source = await fetchRouteSource(ctx, route, cache, mpdRequest, { key });
  const convert = (mpd: Response) => convertMpd(ctx, route, match, mpd, mpdUrl);
  // A live MPD is converted once per version of it, not once per viewer.
  const output = cache && source.cached && source.response.status === 200
    ? await cache.memoResponse(
      `dash ${ctx.plan.hash} ${ctx.protocol} ${JSON.stringify(match.which)} ${key}`,
      source.cached,
      convert,
    )
    : await convert(source.response);
  return buildClientResponse(await answerFromOutput(ctx.request, output));
}

function convertMpd(
  ctx: RequestContext,
  route: RoutePlan,
  match: ConvertedPath,
  mpd: Response,
  mpdUrl: URL,
): Promise<Response> {
  const prefix = originPrefix(route.origin.href);
  return serveRouteDash(mpd, match.which, {
    routeId: route.id,
    origin: route.origin,
    hls: route.config.hls,
    dash: route.config.dash,
    clientProtocol: ctx.protocol,
    directLink: directLink(ctx),
    mpdUrl: joinUpstreamUrl(route.origin, mpdUrl).href,
    search: ctx.url.search,
    keyUri: clearKeyUri(ctx, route.config.drm.key_source),
    requestId: ctx.requestId,
    fetchRange: async (url, range) => {
      if (!url.startsWith(prefix)) {
        throw new ProxyError(502, "cross_origin_reference", "segment index is outside the route");
      }
      const request = new Request(new URL(`/${url.slice(prefix.length)}`, ctx.url), {
        headers: {
          host: ctx.request.headers.get("host") ?? ctx.url.host,
          range: `bytes=${range.offset}-${range.offset + range.length - 1}`,
          "accept-encoding": "identity",
        },
      });
      const { response } = await forward(ctx, route, request);
      if (response.status !== 206 && response.status !== 200) {
        await response.body?.cancel().catch(() => {});
        throw new ProxyError(502, "upstream_bad_response", "segment index could not be fetched");
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      return response.status === 200
        ? bytes.slice(range.offset, range.offset + range.length)
        : bytes;
    },
  });
}

/**
 * Forwards a request to its route, converting DASH→HLS paths and rewriting playlists
 * on routes configured for it.
 *
 * @example
 * ```ts
 * return await proxyRoute(ctx, route);
 * ```
 */
export async function proxyRoute(ctx: RequestContext, route: RoutePlan): Promise<Response> {
  // The path as the client sent it, before the URL parser resolved `..` or `%2e%2e`: an
  // ambiguous request is refused (403 ambiguous_path), never normalised and forwarded.
  // The joined upstream path is checked again by `joinUpstreamUrl`.
  assertUnambiguousPath(rawPathOf(ctx.request.url));
  const method = ctx.request.method;
  const cache = ctx.plan.cache.routeCaches(route.id) ? ctx.plan.cache.cache : null;
  if (route.config.dash.to_hls && (method === "GET" || method === "HEAD")) {
    const match = matchConvertedPath(ctx.url.pathname);
    if (match) return await convertOnRoute(ctx, route, match, cache);
  }
  const handles = handlesPlaylists(route.config.hls);
  if ((method === "GET" || method === "HEAD") && (cache || handles)) {
    return await getFromRoute(ctx, route, cache, handles);
  }
  const tally: BodyTally = { bytes: 0, cancelled: false };
  const forwarded = await forward(ctx, route, ctx.request, tally, passEverything);
  if (method !== "HEAD") ctx.bodyTally = tally;
  return buildClientResponse(forwarded.response);
}

/** The plain pass-through hands every upstream body to the client as it is. */
const passEverything = () => true;

/** The cache key of a route object: the route, the client's host and the request target. */
function routeCacheKey(
  ctx: RequestContext,
  route: RoutePlan,
  target = ctx.url,
  clientHost = ctx.request.headers.get("host") ?? ctx.url.host,
): string {
  const host = clientHost.toLowerCase();
  return `route ${route.id} ${host} ${target.pathname}${target.search}`;
}

/** A source fetched for a route: through the cache when it has one. */
interface RouteSource {
  readonly response: Response;
  /** The cache's answer (for memoising outputs by the source's version), if cached. */
  readonly cached?: Awaited<ReturnType<HttpCache["serve"]>>;
  /** The tally of an uncached body passed through. */
  readonly tally?: BodyTally;
}

async function fetchRouteSource(
  ctx: RequestContext,
  route: RoutePlan,
  cache: HttpCache | null,
  request: Request,
  options: {
    /** The cache key (the route object's by default). */
    readonly key?: string;
    /** Which uncached upstream responses go to the client untouched (`forward`'s). */
    readonly passThrough?: (upstream: Response) => boolean;
  } = {},
): Promise<RouteSource> {
  if (!cache) {
    const tally: BodyTally = { bytes: 0, cancelled: false };
    const forwarded = await forward(ctx, route, request, tally, options.passThrough);
    return { response: forwarded.response, tally };
  }
  const key = options.key ?? routeCacheKey(ctx, route);
  const cached = await serveCached(ctx, cache, { key, request }, async (upstream) => {
    // No client signal: a coalesced exchange outlives the client that started it.
    const forwarded = await forwardToRoute(upstream, route, {
      peerIp: ctx.peerIp,
      clientIp: ctx.clientIp,
      protocol: ctx.protocol,
      requestId: ctx.requestId,
    });
    ctx.upstreamMs = (ctx.upstreamMs ?? 0) + forwarded.upstreamMs;
    return forwarded.response;
  });
  return { response: cached.response, cached };
}

/** Starts the background warm-up of a live playlist's newest segments (bounded). */
function warmSegments(
  ctx: RequestContext,
  route: RoutePlan,
  cache: HttpCache,
  text: string,
  upstreamPlaylistUrl: URL,
): void {
  const headers = new Headers({ host: ctx.request.headers.get("host") ?? ctx.url.host });
  prefetchSegments(text, ctx.plan.cache.prefetchSegments, {
    cache,
    playlistUrl: ctx.url,
    upstreamPlaylistUrl,
    keyFor: (url) => routeCacheKey(ctx, route, url, headers.get("host")!),
    headers,
    fetch: async (upstream) =>
      (await forwardToRoute(upstream, route, {
        peerIp: ctx.peerIp,
        clientIp: ctx.clientIp,
        protocol: ctx.protocol,
        requestId: ctx.requestId,
      })).response,
  });
}

/** A 200 or 206 whose type names a playlist. */
function isPlaylistAnswer(response: Response): boolean {
  return (response.status === 200 || response.status === 206) &&
    isPlaylistContentType(response.headers.get("content-type"));
}

/**
 * `GET`/`HEAD` on a route that caches or handles playlists. A playlist is fetched whole
 * (never with the client's `Range` or conditionals), rewritten (memoised by the source's
 * version when cached), and the client's `Range` and conditionals are answered against the
 * output; other objects are answered as they are, from the cache when the route has one.
 */
async function getFromRoute(
  ctx: RequestContext,
  route: RoutePlan,
  cache: HttpCache | null,
  handles: boolean,
): Promise<Response> {
  const whole = handles && looksLikePlaylistPath(ctx.url.pathname);
  let source = await fetchRouteSource(
    ctx,
    route,
    cache,
    whole ? wholeObjectRequest(ctx.request) : ctx.request,
    {
      // A body the playlist step hands back unread goes to the client as it is.
      // (The URL's last segment decides, as it does for the upstream URL.)
      passThrough: whole ? undefined : (upstream) => passesUntouched(upstream, ctx.url.pathname),
    },
  );
  if (
    handles && !whole && isPlaylistAnswer(source.response) && ctx.request.method === "GET" &&
    source.response.status === 206
  ) {
    // A playlist at a path without its extension, asked for in part: fetch it whole.
    await source.response.body?.cancel().catch(() => {});
    source = await fetchRouteSource(ctx, route, cache, wholeObjectRequest(ctx.request));
  } else if (
    handles && !whole && ctx.request.method === "HEAD" &&
    isPlaylistAnswer(source.response)
  ) {
    // HEAD of a playlist answers the headers of the rewritten playlist (its length).
    source = await fetchRouteSource(ctx, route, cache, wholeObjectRequest(ctx.request));
  }
  const response = source.response;
  // Bytes in memory are a body: asking `body` of such a response would make a stream of them.
  const hasBody = inMemoryBody(response) !== undefined || response.body !== null;
  const transformable = handles && response.status === 200 && hasBody &&
    (whole || isPlaylistAnswer(response) || ctx.request.method === "GET");
  if (!transformable) {
    if (source.tally && ctx.request.method !== "HEAD") ctx.bodyTally = source.tally;
    const inMemory = source.cached ? inMemoryBody(response) : undefined;
    if (inMemory !== undefined) {
      // A small answer from memory: its headers were stored without hop-by-hop fields and
      // its bytes cannot fail part-way, so it goes out as it is (no copy, no stream stage).
      ctx.bodyTally = { bytes: inMemory.byteLength, cancelled: false };
      appendVia(response.headers);
      return response;
    }
    return buildClientResponse(response);
  }
  const upstreamUrl = joinUpstreamUrl(route.origin, ctx.url);
  const transform = (r: Response) =>
    transformRoutePlaylist(r, upstreamUrl.href, {
      routeId: route.id,
      origin: route.origin,
      hls: route.config.hls,
      clientProtocol: ctx.protocol,
      directLink: directLink(ctx),
      requestId: ctx.requestId,
      bytes: inMemoryBody(r),
    });
  let output: Response;
  if (cache && source.cached && isPlaylistAnswer(response)) {
    // Generated outputs depend on the plan (rewriting settings) and the listener's scheme.
    const key = `hls ${ctx.plan.hash} ${ctx.protocol} ${routeCacheKey(ctx, route)}`;
    const count = ctx.plan.cache.prefetchSegments;
    output = await cache.memoResponse(key, source.cached, async (r) => {
      // Computed once per version of the playlist: the moment to warm its newest segments.
      if (count > 0) warmSegments(ctx, route, cache, await r.clone().text(), upstreamUrl);
      return await transform(r);
    });
  } else {
    output = await transform(response);
  }
  if (!isPlaylistContentType(output.headers.get("content-type"))) {
    // Not a playlist after all: a body passed through unread keeps the forwarder's tally.
    if (output === response && source.tally && ctx.request.method !== "HEAD") {
      ctx.bodyTally = source.tally;
    }
    return buildClientResponse(output);
  }
  // A generated playlist: the client's Range and conditionals apply to it.
  const answered = await answerFromOutput(ctx.request, output);
  const held = inMemoryBody(answered);
  // Bytes in memory go out whole or not at all: counted without a stream stage.
  if (held !== undefined && ctx.request.method !== "HEAD") {
    ctx.bodyTally = { bytes: held.byteLength, cancelled: false };
  }
  // Built for this request (by the rewrite, or from a stored snapshot): made ready in place.
  return buildClientResponse(
    answered === output && output !== response ? claimResponse(answered) : answered,
  );
}

/** A response with `r_` / `x_headers` applied (copied when its headers are immutable). */
export function withResponseOverrides(
  response: Response,
  overrides: ResponseOverrides,
  segment: boolean,
): Response {
  const none = overrides.set.size === 0 && overrides.remove.size === 0 &&
    (!segment || overrides.propagate.size === 0);
  if (none) return response;
  const headers = copyHeaders(response.headers);
  applyResponseOverrides(headers, overrides, { segment });
  return new Response(response.body, { status: response.status, headers });
}

/**
 * Direct mode: `/proxy/hls/manifest.m3u8` (`kind` "hls"), `/proxy/hls/key_proxy/manifest.m3u8`
 * ("hls_keys": only key URIs go through sProx), `/proxy/mpd/manifest.m3u8` and
 * `/proxy/mpd/playlist.m3u8` ("mpd"), fetched under the `/proxy/stream` rules and credential
 * (or the signed URL of `access`).
 *
 * @example
 * ```ts
 * app.all("/proxy/hls/manifest.m3u8", (c) => serveDirectManifest(c.get("ctx"), "hls"));
 * ```
 */
export async function serveDirectManifest(
  ctx: RequestContext,
  kind: "hls" | "hls_keys" | "mpd",
  access: DirectAccess = { url: ctx.url, claims: null },
): Promise<Response> {
  ctx.route = "direct_manifest";
  const { direct, url, target, overrides } = await admitDirectRequest(ctx, access);
  const responseOverrides = parseResponseOverrides(url, direct.responseOverrides);
  const headers = directManifestHeaders(ctx, overrides);
  const keySource = requestKeySource(ctx, url);
  // `key_id`/`key`: segments through /proxy/decrypt, the playlist clear (no EXT-X-KEY).
  const decryption = manifestDecryption(ctx, url);
  const claims = access.claims;
  const keys = direct.tokens.keys;
  const generate = () => {
    // A request that came with a signed URL gets signed links (same expiry and address).
    const signed = claims && keys
      ? new SignedLinkWriter(keys, { exp: claims.exp, ip: claims.ip })
      : null;
    const options = {
      fetch: directManifestFetch(ctx, direct),
      headers,
      requestId: ctx.requestId,
      signed,
      // Outputs remembered per plan (a reload replaces these settings).
      memoScope: direct,
    };
    return kind === "mpd"
      ? serveDirectMpd(url, target, {
        ...options,
        keyUri: clearKeyUri(ctx, keySource),
        variants: variantChoice(url),
        decrypt: decryption?.mpd ?? null,
      })
      : serveDirectPlaylist(url, target, options, {
        ...directPlaylistOptions(url, kind === "hls_keys"),
        decrypt: decryption?.hls ?? null,
      });
  };
  const cache = ctx.plan.cache.directCaches ? ctx.plan.cache.cache : null;
  if (!cache) return withResponseOverrides(await generate(), responseOverrides, false);
  // The generated playlist is the cached object: one conversion per lifetime of the output
  // (a live one lives half its target duration), shared by every viewer of the same URL.
  // The whole query (and a signed URL's token, in the path) is the key: links carry the
  // query credential or signed URLs when the request came that way.
  const key = `direct-manifest ${ctx.plan.hash} ${ctx.url.pathname}${ctx.url.search}`;
  const result = await serveCached(ctx, cache, { key, request: ctx.request }, () => generate());
  return withResponseOverrides(result.response, responseOverrides, false);
}

/**
 * The key source a direct-mode request names (`key_source=<id>`, written into the ClearKey
 * URIs of protected DASH content); a name the configuration lacks is a 400.
 */
function requestKeySource(ctx: RequestContext, url: URL): string | null {
  const name = url.searchParams.get("key_source");
  if (name === null || name === "") return null;
  if (!ctx.plan.keys.hasSource(name)) {
    throw new ProxyError(400, "bad_request", "key_source names no configured key source");
  }
  return name;
}
