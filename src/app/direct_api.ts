/**
 * The direct-mode API in MediaFlow's shapes, in one place: which path serves what
 * (`locateDirectEndpoint`), signed URLs in place of the credential (`/_token_<t>/…` and
 * `?token=`), and the endpoints that are not manifests — `/proxy/stream` and its aliases,
 * the DASH segment endpoints, `/proxy/ip` and URL generation.
 *
 *   signed URL? → verify (abuse-counted) → the URL the endpoint runs with → endpoint
 *
 * Every endpoint fetches under the `/proxy/stream` rules (allowlist, SSRF guard, pinned
 * connections), whatever the URL came from.
 * @module
 */
import { ProxyError } from "../errors/mod.ts";
import { authorizeToken, checkCredentials } from "../policy/mod.ts";
import { serveDirectMpdSegment } from "../stream/dash/mod.ts";
import {
  type DirectEndpoint,
  type DirectPlan,
  generateUrl,
  handleDirectStream,
  locateDirectEndpoint,
  parseHeaderOverrides,
  parseResponseOverrides,
  readGenerateRequest,
} from "../stream/direct/mod.ts";
import { readBodyLimited } from "../stream/drm/mod.ts";
import type { RequestContext } from "./context.ts";
import { serveDecryptedSegment } from "./decrypt.ts";
import { type DirectAccess, directManifestFetch, directManifestHeaders } from "./direct_access.ts";
import { serveDirectManifest, withResponseOverrides } from "./manifests.ts";

/** Largest `/generate_url(s)` body. */
const MAX_GENERATE_BODY_BYTES = 1024 * 1024;

const NO_STORE = { "cache-control": "no-store" };

function enabled(ctx: RequestContext): DirectPlan {
  const direct = ctx.plan.direct;
  if (!direct) throw new ProxyError(404, "not_found", "/proxy/stream is not enabled");
  return direct;
}

function onlyGetAndHead(ctx: RequestContext): void {
  const method = ctx.request.method;
  if (method !== "GET" && method !== "HEAD") {
    throw new ProxyError(405, "method_not_allowed", "only GET and HEAD are allowed", {
      headers: { allow: "GET, HEAD" },
    });
  }
}

/**
 * The URL an endpoint runs with. Without a token: the request's own. With one: the
 * endpoint's path and the token's parameters only (the request's own query is not read, so
 * a signed URL cannot be pointed elsewhere); the token must name this endpoint.
 */
async function access(
  ctx: RequestContext,
  direct: DirectPlan,
  endpoint: DirectEndpoint,
  path: string,
  token: string | null,
): Promise<DirectAccess> {
  if (token === null) return { url: ctx.url, claims: null };
  const claims = await authorizeToken(ctx.request, token, direct.tokens.keys, {
    now: Date.now() / 1000,
    clientIp: ctx.clientIp,
  });
  if (claims.endpoint !== endpoint.canonical) {
    throw new ProxyError(403, "forbidden", "the signed URL is for another endpoint");
  }
  const url = new URL(path, ctx.url);
  for (const [key, value] of claims.params) {
    const name = key.toLowerCase();
    if (name !== "api_password" && name !== "token") url.searchParams.append(key, value);
  }
  return { url, claims };
}

/**
 * Serves a direct-mode endpoint at `path` (the request's path, or what follows a
 * `/_token_<t>` segment), with the signed URL `token` when the request carries one.
 *
 * @example
 * ```ts
 * app.all("/proxy/ip", (c) => serveDirectApi(c.get("ctx"), "/proxy/ip", null));
 * ```
 */
export async function serveDirectApi(
  ctx: RequestContext,
  path: string,
  token: string | null,
): Promise<Response> {
  const endpoint = locateDirectEndpoint(path);
  ctx.route = routeName(endpoint?.kind);
  if (!endpoint) throw new ProxyError(404, "not_found", "not found");
  const direct = enabled(ctx);
  const granted = await access(ctx, direct, endpoint, path, token);
  switch (endpoint.kind) {
    case "stream": {
      ctx.bytesMode = "direct";
      const cache = ctx.plan.cache.directCaches ? ctx.plan.cache.cache : null;
      return await handleDirectStream(direct, ctx.request, granted.url, ctx, cache, {
        authorized: granted.claims !== null,
        filename: endpoint.filename,
      });
    }
    case "hls":
    case "hls_keys":
    case "mpd":
      return await serveDirectManifest(ctx, endpoint.kind, granted);
    case "mpd_init":
    case "mpd_segment":
      return await serveMpdSegment(ctx, direct, endpoint.kind, granted);
    case "decrypt":
      return await serveDecryptedSegment(ctx, granted);
    case "ip":
      onlyGetAndHead(ctx);
      if (granted.claims === null) await requireCredential(ctx, direct);
      return Response.json({ ip: direct.publicIp }, { headers: NO_STORE });
  }
}

/** The log and metric label of a direct-mode endpoint. */
function routeName(kind: DirectEndpoint["kind"] | undefined): string {
  switch (kind) {
    case "stream":
      return "direct_stream";
    case "mpd_init":
    case "mpd_segment":
      return "direct_segment";
    case "ip":
      return "direct_ip";
    case "decrypt":
      return "direct_decrypt";
    default:
      return "direct_manifest";
  }
}

function requireCredential(
  ctx: RequestContext,
  direct: DirectPlan,
  url: URL = ctx.url,
  presented: { apiPassword?: string | null } = {},
): Promise<void> {
  return checkCredentials(ctx.request, url, {
    apiPassword: direct.apiPassword,
    bearerToken: direct.bearerToken,
  }, presented);
}

async function serveMpdSegment(
  ctx: RequestContext,
  direct: DirectPlan,
  kind: "mpd_init" | "mpd_segment",
  granted: DirectAccess,
): Promise<Response> {
  onlyGetAndHead(ctx);
  const url = granted.url;
  if (granted.claims === null) await requireCredential(ctx, direct, url);
  ctx.bytesMode = "direct";
  const overrides = parseHeaderOverrides(url, { extraOverridable: direct.extraOverridable });
  const responseOverrides = parseResponseOverrides(url, direct.responseOverrides);
  const response = await serveDirectMpdSegment(
    url,
    kind === "mpd_init" ? "init" : "segment",
    {
      fetch: directManifestFetch(ctx, direct),
      headers: directManifestHeaders(ctx, overrides),
      contentTypes: direct.contentTypes,
      method: ctx.request.method as "GET" | "HEAD",
    },
  );
  return withResponseOverrides(response, responseOverrides, true);
}

/** The path `/generate_url` answers under, and the legacy one; `/generate_urls` for many. */
export const GENERATE_PATHS = {
  one: "/generate_url",
  many: "/generate_urls",
  legacy: "/generate_encrypted_or_encoded_url",
} as const;

/**
 * `POST /generate_url`, `/generate_urls` and `/generate_encrypted_or_encoded_url`: sProx URLs
 * (plain, or signed when the body asks for it) for MediaFlow-style requests. Behind the
 * direct-mode credential, which the body's `api_password` may carry.
 *
 * @example
 * ```ts
 * app.all("/generate_url", (c) => serveGenerateUrl(c.get("ctx"), "one"));
 * ```
 */
export async function serveGenerateUrl(
  ctx: RequestContext,
  kind: keyof typeof GENERATE_PATHS,
): Promise<Response> {
  ctx.route = "generate_url";
  const direct = enabled(ctx);
  if (ctx.request.method !== "POST") {
    throw new ProxyError(405, "method_not_allowed", "only POST is allowed", {
      headers: { allow: "POST" },
    });
  }
  const body = await readBodyLimited(ctx.request, MAX_GENERATE_BODY_BYTES).catch(() => {
    throw new ProxyError(400, "bad_request", "the body must be JSON of at most 1 MiB");
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new ProxyError(400, "bad_request", "the body must be JSON");
  }
  const presented = typeof parsed === "object" && parsed !== null &&
      typeof (parsed as Record<string, unknown>).api_password === "string"
    ? (parsed as Record<string, string>).api_password
    : null;
  await requireCredential(ctx, direct, ctx.url, { apiPassword: presented });
  const request = readGenerateRequest(parsed, kind === "many");
  const now = Date.now() / 1000;
  const urls = await Promise.all(
    request.items.map((item) => generateUrl(item, request.common, direct, now)),
  );
  const answer = kind === "many"
    ? { urls }
    : kind === "legacy"
    ? { encoded_url: urls[0] }
    : { url: urls[0] };
  return Response.json(answer, { headers: NO_STORE });
}
