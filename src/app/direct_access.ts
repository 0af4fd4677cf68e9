/**
 * How a direct-mode request reaches an endpoint (its own credential, or a verified signed
 * URL), the admission every direct GET/HEAD endpoint shares, and the fetch and upstream
 * headers of direct-mode manifests and segments. Below both the manifest and the decrypt
 * endpoints, which use it.
 * @module
 */
import { PARTIAL_OR_CONDITIONAL_HEADERS } from "../cache/mod.ts";
import { ProxyError } from "../errors/mod.ts";
import { checkCredentials, type TokenClaims } from "../policy/mod.ts";
import {
  type DirectPlan,
  fetchDirect,
  parseDirectRequest,
  upstreamHeaders,
} from "../stream/direct/mod.ts";
import type { RequestContext } from "./context.ts";

/**
 * How a direct-mode request reached its endpoint: the URL it runs with (the request's own,
 * or the path and parameters of a signed URL) and the verified token, if any.
 */
export interface DirectAccess {
  readonly url: URL;
  /** The signed URL's claims; null when the request is checked for the API credential. */
  readonly claims: TokenClaims | null;
}

/** A direct-mode request admitted to a GET/HEAD endpoint: its plan, URL and destination. */
export interface AdmittedDirectRequest {
  readonly direct: DirectPlan;
  readonly url: URL;
  readonly target: URL;
  readonly overrides: ReadonlyMap<string, string>;
}

/**
 * The first steps every direct-mode GET/HEAD endpoint shares: `/proxy/stream` enabled, the
 * method, the credential (unless a verified signed URL stands for it), and the destination
 * and header overrides parsed under the direct rules.
 */
export async function admitDirectRequest(
  ctx: RequestContext,
  access: DirectAccess,
): Promise<AdmittedDirectRequest> {
  const direct = ctx.plan.direct;
  if (!direct) throw new ProxyError(404, "not_found", "/proxy/stream is not enabled");
  const method = ctx.request.method;
  if (method !== "GET" && method !== "HEAD") {
    throw new ProxyError(405, "method_not_allowed", "only GET and HEAD are allowed", {
      headers: { allow: "GET, HEAD" },
    });
  }
  const url = access.url;
  if (access.claims === null) {
    await checkCredentials(ctx.request, url, {
      apiPassword: direct.apiPassword,
      bearerToken: direct.bearerToken,
    });
  }
  const { target, overrides } = parseDirectRequest(url, {
    extraOverridable: direct.extraOverridable,
  });
  return { direct, url, target, overrides };
}

/** The fetch of direct-mode manifests and segments: the `/proxy/stream` rules, timed. */
export function directManifestFetch(ctx: RequestContext, direct: DirectPlan) {
  return async (url: URL, requestHeaders: Headers) => {
    const result = await fetchDirect(direct, url, {
      headers: requestHeaders,
      signal: ctx.signal,
    });
    ctx.upstreamMs = (ctx.upstreamMs ?? 0) + Math.round(result.upstreamMs);
    return { response: result.response, finalUrl: result.finalUrl };
  };
}

/**
 * Upstream request headers of a direct-mode manifest or segment: the caller's allowlisted
 * headers and `h_` overrides, without range and conditionals.
 */
export function directManifestHeaders(
  ctx: RequestContext,
  overrides: ReadonlyMap<string, string>,
): Headers {
  const headers = upstreamHeaders(ctx.request.headers, overrides);
  for (const name of PARTIAL_OR_CONDITIONAL_HEADERS) headers.delete(name);
  return headers;
}
