/**
 * The route step with its manifest transform: DASH→HLS paths on `dash.to_hls` routes,
 * then forwarding, then playlist rewriting on `hls.rewrite_playlist_urls` routes.
 * @module
 */
import { ProxyError } from "../errors/mod.ts";
import {
  buildClientResponse,
  type Forwarded,
  forwardToRoute,
  type RoutePlan,
} from "../routing/mod.ts";
import { type ConvertedPath, matchConvertedPath, serveRouteDash } from "../stream/dash/mod.ts";
import {
  handlesPlaylists,
  originPrefix,
  type ReferenceKind,
  transformRoutePlaylist,
} from "../stream/hls/mod.ts";
import type { RequestContext } from "./context.ts";

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

/** Forwards `request` to the route under the context's client facts. */
async function forward(
  ctx: RequestContext,
  route: RoutePlan,
  request: Request,
): Promise<Forwarded> {
  const forwarded = await forwardToRoute(request, route, {
    peerIp: ctx.peerIp,
    clientIp: ctx.clientIp,
    protocol: ctx.protocol,
    requestId: ctx.requestId,
    onBodyEnd: (end) => {
      if (end.kind === "failed") ctx.outcome = `upstream_${end.failure.kind}`;
    },
  });
  ctx.upstreamMs = (ctx.upstreamMs ?? 0) + forwarded.upstreamMs;
  return forwarded;
}

/** `/proxy/stream` links for cross-origin references, when that endpoint would serve them. */
function directLink(
  _ctx: RequestContext,
): ((url: string, kind: ReferenceKind) => string | null) | null {
  return null;
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
  const method = ctx.request.method;
  if (route.config.dash.to_hls && (method === "GET" || method === "HEAD")) {
    const match = matchConvertedPath(ctx.url.pathname);
    if (match) return await convertOnRoute(ctx, route, match);
  }
  const forwarded = await forward(ctx, route, ctx.request);
  if (method !== "GET" || !handlesPlaylists(route.config.hls)) {
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
  return buildClientResponse(response);
}
