/**
 * The upstream side shared by the route and manifest steps: forwarding under the client's
 * facts (with the body tally the app logs), the `/proxy/stream` links of cross-origin
 * references, and the ClearKey URI of protected DASH content.
 * @module
 */
import { type Forwarded, forwardToRoute, type RoutePlan } from "../routing/mod.ts";
import { directModeResolver, type ReferenceKind } from "../stream/hls/mod.ts";
import { isAllowed, normaliseUrl } from "../stream/direct/mod.ts";
import type { BodyTally, RequestContext } from "./context.ts";

/**
 * The key URI written for protected DASH content when DRM is on; `source` names the key
 * server the license endpoint asks for keys it lacks (a route's `drm.key_source`, or a
 * direct request's `key_source`).
 */
export function clearKeyUri(
  ctx: RequestContext,
  source: string | null = null,
): ((kid: string) => string) | null {
  if (!ctx.plan.config.drm.enabled) return null;
  const tail = source === null ? "" : `&source=${encodeURIComponent(source)}`;
  return (kid) => `/keys/clearkey?kid=${kid}${tail}`;
}

/**
 * Forwards `request` to the route under the context's client facts; `tally` receives what
 * the upstream body did (the app counts it for bodies passed through unchanged);
 * `passThrough` says which responses the caller hands to the client untouched (see
 * `ForwardOptions.passThrough`).
 */
export async function forward(
  ctx: RequestContext,
  route: RoutePlan,
  request: Request,
  tally: BodyTally = { bytes: 0, cancelled: false },
  passThrough?: (upstream: Response) => boolean,
): Promise<Forwarded> {
  const forwarded = await forwardToRoute(request, route, {
    peerIp: ctx.peerIp,
    clientIp: ctx.clientIp,
    protocol: ctx.protocol,
    requestId: ctx.requestId,
    url: request === ctx.request ? ctx.url : undefined,
    // Requests built here (the MPD of a conversion, the GET behind a HEAD) stop with the client.
    signal: ctx.signal,
    // Only where the edge pipes a body natively (not over sProx's HTTP/3).
    passThrough: ctx.nativePipe ? passThrough : undefined,
    onBodyEnd: (end) => {
      tally.bytes = end.bytes;
      tally.cancelled = end.kind === "client_cancelled";
      tally.piped = end.kind === "piped";
      // An origin that dies mid-body leaves the client with a cut-off body: `truncated`.
      if (end.kind === "failed") {
        ctx.outcome = end.failure.kind === "body_error"
          ? "truncated"
          : `upstream_${end.failure.kind}`;
      }
    },
  });
  ctx.upstreamMs = (ctx.upstreamMs ?? 0) + forwarded.upstreamMs;
  if (route.origins.length > 1) ctx.upstreamOrigin = forwarded.origin;
  return forwarded;
}

/**
 * `/proxy/stream` links for cross-origin references: only for URLs its allowlist admits,
 * and only when it needs no credential (a playlist must never carry one it was not given).
 */
export function directLink(
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
