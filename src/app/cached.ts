/**
 * The cache step of the request path: route mode and direct mode answer `GET`/`HEAD` through
 * the plan's {@linkcode HttpCache} when they use it, and generated playlists (rewritten HLS,
 * DASH→HLS) are memoised by the version of their source. The client's own `Range` and
 * conditionals are answered against what is sent: the object for media, the generated
 * output for playlists — a `Range` never reaches the origin for a playlist, so it never
 * steps around rewriting or the cross-origin policy.
 * @module
 */
import { copyHeaders } from "../net/mod.ts";
import {
  contentRange,
  evaluatePreconditions,
  evaluateRange,
  type HttpCache,
  notModifiedHeaders,
  PARTIAL_OR_CONDITIONAL_HEADERS,
  type ServeResult,
} from "../cache/mod.ts";
import type { RequestContext } from "./context.ts";

/**
 * `request` as a whole-object `GET` (no `Range`, no conditionals): what a generated
 * output must be computed from.
 */
export function wholeObjectRequest(request: Request): Request {
  const partial = PARTIAL_OR_CONDITIONAL_HEADERS.some((name) => request.headers.has(name));
  // Already a whole-object GET: no copy.
  if (!partial && request.method === "GET") return request;
  const headers = copyHeaders(request.headers);
  for (const name of PARTIAL_OR_CONDITIONAL_HEADERS) headers.delete(name);
  return new Request(request.url, { method: "GET", headers, signal: request.signal });
}

/** Whether a request names a playlist by its extension (before anything is fetched). */
export function looksLikePlaylistPath(pathname: string): boolean {
  return /\.m3u8?$/i.test(pathname);
}

/**
 * Serves `request` through the cache, recording the outcome on the context for the log
 * line. `fetch` forwards the request the cache hands it (aborting on that request's signal:
 * a coalesced exchange outlives the client that started it).
 */
export async function serveCached(
  ctx: RequestContext,
  cache: HttpCache,
  input: { key: string; request: Request },
  fetch: (request: Request) => Promise<Response>,
): Promise<ServeResult> {
  const result = await cache.serve(input, fetch);
  ctx.cache = result.outcome;
  return result;
}

/**
 * Answers the client's request from a generated output (a complete, small response): its
 * conditionals (`304`, `412`) and a single `Range` (`206`, `416`) as RFC 9110 says, `HEAD`
 * without a body.
 */
export async function answerFromOutput(request: Request, output: Response): Promise<Response> {
  const status = output.status;
  if (status < 200 || status >= 300) return output;
  // Read in place; copied only for an answer that changes them (a range).
  const stored = output.headers;
  const precondition = evaluatePreconditions(request.method, request.headers, stored);
  if (precondition === "not-modified") {
    await output.body?.cancel().catch(() => {});
    return new Response(null, { status: 304, headers: notModifiedHeaders(stored) });
  }
  if (precondition === "failed") {
    await output.body?.cancel().catch(() => {});
    return new Response(null, { status: 412, headers: { "content-length": "0" } });
  }
  if (request.method !== "GET" || status !== 200 || !request.headers.has("range")) {
    if (request.method === "HEAD") {
      await output.body?.cancel().catch(() => {});
      return new Response(null, { status, headers: stored });
    }
    return output;
  }
  const headers = copyHeaders(stored);
  const bytes = new Uint8Array(await output.arrayBuffer());
  const range = evaluateRange(request.headers, bytes.byteLength, headers);
  headers.set("accept-ranges", "bytes");
  if (range.kind === "unsatisfiable") {
    return new Response(null, {
      status: 416,
      headers: { "content-range": contentRange(bytes.byteLength), "content-length": "0" },
    });
  }
  if (range.kind === "partial") {
    headers.set("content-range", contentRange(bytes.byteLength, range.start, range.end));
    headers.set("content-length", String(range.end - range.start + 1));
    return new Response(bytes.slice(range.start, range.end + 1), { status: 206, headers });
  }
  headers.set("content-length", String(bytes.byteLength));
  return new Response(bytes, { status: 200, headers });
}
