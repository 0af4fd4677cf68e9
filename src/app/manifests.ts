/**
 * The route step with its manifest transform: DASH→HLS paths on `dash.to_hls` routes,
 * then forwarding, then playlist checking and rewriting on `hls.enabled` routes; and the
 * direct-mode manifest endpoints under `/proxy/hls` and `/proxy/mpd`.
 * @module
 */
import { ProxyError } from "../errors/mod.ts";
import { rawPathOf } from "../net/mod.ts";
import {
  assertUnambiguousPath,
  buildClientResponse,
  type Forwarded,
  forwardToRoute,
  type RoutePlan,
} from "../routing/mod.ts";
import {
  type ConvertedPath,
  matchConvertedPath,
  serveDirectMpd,
  serveRouteDash,
} from "../stream/dash/mod.ts";
import {
  directModeResolver,
  handlesPlaylists,
  isPlaylistContentType,
  originPrefix,
  type ReferenceKind,
  serveDirectPlaylist,
  transformRoutePlaylist,
} from "../stream/hls/mod.ts";
import { checkCredentials } from "../policy/mod.ts";
import {
  fetchDirect,
  isAllowed,
  normaliseUrl,
  parseDirectRequest,
  upstreamHeaders,
} from "../stream/direct/mod.ts";
import type { BodyTally, RequestContext } from "./context.ts";

// Conditional and range headers would turn the manifest fetch into a 304 or a fragment.
const MANIFEST_FETCH_DROPPED = [
  "range",
  "if-range",
  "if-none-match",
  "if-modified-since",
  "if-match",
  "if-unmodified-since",
];

/** The key URI written for protected DASH content when DRM is on. */
export function clearKeyUri(ctx: RequestContext): ((kid: string) => string) | null {
  return ctx.plan.config.drm.enabled ? (kid) => `/keys/clearkey?kid=${kid}` : null;
}

/**
 * Forwards `request` to the route under the context's client facts; `tally` receives what
 * the upstream body did (the app counts it for bodies passed through unchanged).
 */
async function forward(
  ctx: RequestContext,
  route: RoutePlan,
  request: Request,
  tally: BodyTally = { bytes: 0, cancelled: false },
): Promise<Forwarded> {
  const forwarded = await forwardToRoute(request, route, {
    peerIp: ctx.peerIp,
    clientIp: ctx.clientIp,
    protocol: ctx.protocol,
    requestId: ctx.requestId,
    // Requests built here (the MPD of a conversion, the GET behind a HEAD) stop with the client.
    signal: ctx.signal,
    onBodyEnd: (end) => {
      tally.bytes = end.bytes;
      tally.cancelled = end.kind === "client_cancelled";
      // An origin that dies mid-body leaves the client with a cut-off body: `truncated`.
      if (end.kind === "failed") {
        ctx.outcome = end.failure.kind === "body_error"
          ? "truncated"
          : `upstream_${end.failure.kind}`;
      }
    },
  });
  ctx.upstreamMs = (ctx.upstreamMs ?? 0) + forwarded.upstreamMs;
  return forwarded;
}

/**
 * `/proxy/stream` links for cross-origin references: only for URLs its allowlist admits,
 * and only when it needs no credential (a playlist must never carry one it was not given).
 */
function directLink(
  ctx: RequestContext,
): ((url: string, kind: ReferenceKind) => string | null) | null {
  const direct = ctx.plan.direct;
  if (!direct || direct.apiPassword !== null || direct.bearerToken !== null) return null;
  const link = directModeResolver();
  return (url, kind) => {
    try {
      return isAllowed(direct.allowlist, normaliseUrl(new URL(url))) ? link(url, kind) : null;
    } catch {
      return null;
    }
  };
}

async function convertOnRoute(
  ctx: RequestContext,
  route: RoutePlan,
  match: ConvertedPath,
): Promise<Response> {
  const headers = new Headers(ctx.request.headers);
  for (const name of MANIFEST_FETCH_DROPPED) headers.delete(name);
  headers.set("accept-encoding", "identity");
  const mpdRequest = new Request(new URL(match.mpdPath + ctx.url.search, ctx.url), { headers });
  const upstream = await forward(ctx, route, mpdRequest);
  const prefix = originPrefix(route.origin.href);
  const converted = await serveRouteDash(upstream.response, match.which, {
    routeId: route.id,
    origin: route.origin,
    hls: route.config.hls,
    dash: route.config.dash,
    clientProtocol: ctx.protocol,
    directLink: directLink(ctx),
    mpdUrl: upstream.upstreamUrl.href,
    search: ctx.url.search,
    keyUri: clearKeyUri(ctx),
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
  return buildClientResponse(converted);
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
  if (route.config.dash.to_hls && (method === "GET" || method === "HEAD")) {
    const match = matchConvertedPath(ctx.url.pathname);
    if (match) return await convertOnRoute(ctx, route, match);
  }
  const tally: BodyTally = { bytes: 0, cancelled: false };
  let forwarded = await forward(ctx, route, ctx.request, tally);
  const handles = handlesPlaylists(route.config.hls);
  if (
    method === "HEAD" && handles && forwarded.response.status === 200 &&
    isPlaylistContentType(forwarded.response.headers.get("content-type"))
  ) {
    // HEAD of a playlist answers the headers of the rewritten playlist (its length).
    const get = new Request(ctx.request.url, { headers: ctx.request.headers });
    forwarded = await forward(ctx, route, get, tally);
  } else if (method !== "GET" || !handles) {
    if (method !== "HEAD") ctx.bodyTally = tally;
    return buildClientResponse(forwarded.response);
  }
  const response = await transformRoutePlaylist(forwarded.response, forwarded.upstreamUrl.href, {
    routeId: route.id,
    origin: route.origin,
    hls: route.config.hls,
    clientProtocol: ctx.protocol,
    directLink: directLink(ctx),
    requestId: ctx.requestId,
  });
  // A body passed through unread keeps the forwarder's tally; a rewritten one is counted
  // by the app as it leaves.
  if (response === forwarded.response) ctx.bodyTally = tally;
  return buildClientResponse(response);
}

/**
 * Direct mode: `/proxy/hls/manifest.m3u8` (`kind` "hls"), `/proxy/mpd/manifest.m3u8` and
 * `/proxy/mpd/playlist.m3u8` ("mpd"), fetched under the `/proxy/stream` rules and credential.
 *
 * @example
 * ```ts
 * app.all("/proxy/hls/manifest.m3u8", (c) => serveDirectManifest(c.get("ctx"), "hls"));
 * ```
 */
export async function serveDirectManifest(
  ctx: RequestContext,
  kind: "hls" | "mpd",
): Promise<Response> {
  ctx.route = "direct_manifest";
  const direct = ctx.plan.direct;
  if (!direct) throw new ProxyError(404, "not_found", "/proxy/stream is not enabled");
  const method = ctx.request.method;
  if (method !== "GET" && method !== "HEAD") {
    throw new ProxyError(405, "method_not_allowed", "only GET and HEAD are allowed", {
      headers: { allow: "GET, HEAD" },
    });
  }
  await checkCredentials(ctx.request, ctx.url, {
    apiPassword: direct.apiPassword,
    bearerToken: direct.bearerToken,
  });
  const { target, overrides } = parseDirectRequest(ctx.url);
  const headers = upstreamHeaders(ctx.request.headers, overrides);
  for (const name of MANIFEST_FETCH_DROPPED) headers.delete(name);
  const fetch = async (url: URL, requestHeaders: Headers) => {
    const result = await fetchDirect(direct, url, {
      headers: requestHeaders,
      signal: ctx.signal,
    });
    ctx.upstreamMs = (ctx.upstreamMs ?? 0) + Math.round(result.upstreamMs);
    return { response: result.response, finalUrl: result.finalUrl };
  };
  const options = { fetch, headers, requestId: ctx.requestId };
  return kind === "hls"
    ? await serveDirectPlaylist(ctx.url, target, options)
    : await serveDirectMpd(ctx.url, target, { ...options, keyUri: clearKeyUri(ctx) });
}
