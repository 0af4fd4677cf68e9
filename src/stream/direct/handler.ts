/**
 * The `/proxy/stream` handler: method → credentials → request contract → fetch under the
 * direct rules → content-type screen → response filter → stream.
 * @module
 */
import { type HttpCache, PARTIAL_OR_CONDITIONAL_HEADERS } from "../../cache/mod.ts";
import { ProxyError } from "../../errors/mod.ts";
import { bytesResponse, inMemoryBody } from "../../net/mod.ts";
import { checkCredentials } from "../../policy/mod.ts";
import { directResponseHeaders } from "../../routing/mod.ts";
import type { DirectPlan } from "./compile.ts";
import { screenContentType } from "./content_type.ts";
import { fetchDirect } from "./fetch.ts";
import { directBytes, directRequests, outcomeOf } from "./metrics.ts";
import { parseDirectRequest, upstreamHeaders } from "./request.ts";
import { applyResponseOverrides, parseResponseOverrides } from "./response_overrides.ts";

/** What the handler reports back for the request log and the shared byte counter. */
export interface DirectRequestFacts {
  upstreamMs?: number;
  /** What the cache did, when direct mode caches. */
  cache?: string;
  /** `truncated` when the upstream body failed after the response started. */
  outcome?: string;
  /** Bytes passed on and whether the client went away (the app adds no second stage). */
  bodyTally?: { bytes: number; cancelled: boolean };
}

/**
 * Builds the client response from an upstream response: the direct-mode header policy
 * (`directResponseHeaders`: allowlisted headers plus `nosniff` and a sandboxing CSP),
 * `Accept-Ranges: bytes` when the upstream did not say, and a 502 for a 206 without
 * `Content-Range` (the client could not place the bytes).
 *
 * @example
 * ```ts
 * const response = filterResponse(await fetch(url), "GET");
 * ```
 */
export function filterResponse(upstream: Response, method: string): Response {
  if (upstream.status === 206 && !upstream.headers.has("content-range")) {
    upstream.body?.cancel().catch(() => {});
    throw new ProxyError(502, "upstream_bad_response", "upstream sent 206 without Content-Range");
  }
  const headers = directResponseHeaders(upstream.headers);
  if (!headers.has("accept-ranges")) headers.set("accept-ranges", "bytes");
  const bodyless = method === "HEAD" || upstream.status === 304 || upstream.status === 204;
  // A body read whole stays bytes (asking for `body` would make a stream of it).
  const bytes = bodyless ? undefined : inMemoryBody(upstream);
  if (bytes !== undefined) return bytesResponse(bytes, { status: upstream.status, headers });
  if (bodyless) upstream.body?.cancel().catch(() => {});
  return new Response(bodyless ? null : upstream.body, { status: upstream.status, headers });
}

/** How one `/proxy/stream` request was reached. */
export interface DirectStreamOptions {
  /** The request carried a verified signed URL: no other credential is asked for. */
  readonly authorized?: boolean;
  /**
   * The file name of `/proxy/stream/<file name>` (percent-decoded), answered as
   * `Content-Disposition: inline` so players and downloads show it.
   */
  readonly filename?: string | null;
}

/**
 * `Content-Disposition: inline` naming `name` (RFC 6266): an ASCII `filename` (anything else
 * replaced by `_`) and, when the name is not plain ASCII, the exact `filename*` (RFC 8187).
 *
 * @example
 * ```ts
 * contentDisposition("Movie (2024).mkv"); // 'inline; filename="Movie (2024).mkv"'
 * ```
 */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const plain = `inline; filename="${ascii}"`;
  if (ascii === name) return plain;
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${plain}; filename*=UTF-8''${encoded}`;
}

/**
 * Serves one `/proxy/stream` request.
 *
 * @example
 * ```ts
 * app.on(["GET", "HEAD"], "/proxy/stream", (c) => handleDirectStream(direct, c.req.raw, url, facts));
 * ```
 */
export async function handleDirectStream(
  direct: DirectPlan,
  request: Request,
  url: URL,
  facts: DirectRequestFacts,
  cache: HttpCache | null = null,
  options: DirectStreamOptions = {},
): Promise<Response> {
  try {
    if (request.method !== "GET" && request.method !== "HEAD") {
      throw new ProxyError(405, "method_not_allowed", "only GET and HEAD are allowed", {
        headers: { allow: "GET, HEAD" },
      });
    }
    if (!options.authorized) {
      await checkCredentials(request, url, {
        apiPassword: direct.apiPassword,
        bearerToken: direct.bearerToken,
      });
    }
    const { target, overrides } = parseDirectRequest(url, {
      extraOverridable: direct.extraOverridable,
    });
    const responseOverrides = parseResponseOverrides(url, direct.responseOverrides);
    const finish = (response: Response) => {
      if (options.filename) {
        response.headers.set("content-disposition", contentDisposition(options.filename));
      }
      applyResponseOverrides(response.headers, responseOverrides, { segment: true });
      const bytes = inMemoryBody(response);
      if (bytes !== undefined && !response.headers.has("content-length")) {
        // Removed by `x_headers`: the runtime gives a body in memory its length; a stream
        // goes out without one.
        return new Response(ReadableStream.from([bytes]), {
          status: response.status,
          headers: response.headers,
        });
      }
      return response;
    };
    // An override that makes the upstream answer partial or conditional bypasses the cache.
    if (cache && !PARTIAL_OR_CONDITIONAL_HEADERS.some((name) => overrides.has(name))) {
      const served = await serveThroughCache(direct, cache, request, target, overrides, facts);
      directRequests.labels("ok").inc();
      return finish(served);
    }
    const tally = { bytes: 0, cancelled: false };
    const { response, upstreamMs } = await fetchDirect(direct, target, {
      headers: upstreamHeaders(request.headers, overrides),
      method: request.method as "GET" | "HEAD",
      onBytes: (n) => {
        tally.bytes += n;
        directBytes.inc(n);
      },
      onCancel: () => tally.cancelled = true,
      // The client's signal: the exchange (and its retries) stop when the client goes away.
      signal: request.signal,
      onBodyError: () => facts.outcome = "truncated",
    });
    facts.upstreamMs = Math.round(upstreamMs);
    const screened = screenContentType(response, direct.contentTypes);
    const filtered = filterResponse(screened, request.method);
    if (request.method !== "HEAD") facts.bodyTally = tally;
    directRequests.labels("ok").inc();
    return finish(filtered);
  } catch (error) {
    const reason = error instanceof ProxyError ? error.reason : "internal";
    directRequests.labels(outcomeOf(reason)).inc();
    throw error;
  }
}

/** Response fields the cache adds, kept through the direct-mode header policy. */
const CACHE_FIELDS = ["cache-status", "age"];

/**
 * `/proxy/stream` through the cache: the object is keyed by its destination and the header
 * overrides that shape the upstream request (the credential is checked before, and is not
 * part of the object). The content-type screen runs on the upstream response before it is
 * stored, so a refused type reaches every joiner as the same 403.
 */
async function serveThroughCache(
  direct: DirectPlan,
  cache: HttpCache,
  request: Request,
  target: URL,
  overrides: ReadonlyMap<string, string>,
  facts: DirectRequestFacts,
): Promise<Response> {
  const key = `direct ${target.href} ${JSON.stringify([...overrides].sort())}`;
  const result = await cache.serve({ key, request }, async (upstream) => {
    const { response, upstreamMs } = await fetchDirect(direct, target, {
      headers: upstreamHeaders(upstream.headers, overrides),
      method: upstream.method as "GET" | "HEAD",
      onBytes: (n) => directBytes.inc(n),
      // The cache's signal: a coalesced exchange outlives the client that started it.
      signal: upstream.signal,
    });
    facts.upstreamMs = Math.round(upstreamMs);
    return screenContentType(response, direct.contentTypes);
  });
  facts.cache = result.outcome;
  const filtered = filterResponse(result.response, request.method);
  for (const name of CACHE_FIELDS) {
    const value = result.response.headers.get(name);
    if (value !== null) filtered.headers.set(name, value);
  }
  return filtered;
}
