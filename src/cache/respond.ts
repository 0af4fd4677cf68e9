/**
 * Building a client's response from an object the cache holds or is filling: its
 * conditional headers answered (`304`, `412`), its `Range` answered (`206`, `416`), `HEAD`
 * without a body, `Age` and `Cache-Status` set. Each response gets its own reader.
 * @module
 */
import { bytesResponse, NULL_BODY_STATUSES, stripHopByHop } from "../net/mod.ts";
import { appendCacheStatus } from "./cache_status.ts";
import { evaluatePreconditions, notModifiedHeaders } from "./conditional.ts";
import type { Fill } from "./fill.ts";
import { contentRange, evaluateRange } from "./range.ts";

/** A response the cache holds or is filling. */
export interface CachedObject {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  /** The body, `null` for a response without one. */
  readonly body: Fill | null;
  /** The body's length when known (a complete object, or the declared `Content-Length`). */
  readonly length: number | null;
}

/** How {@linkcode respondFromObject} labels the response. */
export interface RespondOptions {
  /** This cache's `Cache-Status` member. */
  readonly cacheStatus: string;
  /** `Age` in seconds, or `null` to keep the object's own. */
  readonly ageSecs: number | null;
}

/**
 * The headers of a response as stored: hop-by-hop fields (and those `Connection` names)
 * removed (RFC 9111 §3.1).
 *
 * @example
 * ```ts
 * storedHeaders(new Headers({ connection: "x-a", "x-a": "1", etag: '"v"' })).has("x-a"); // false
 * ```
 */
export function storedHeaders(headers: Headers): Headers {
  return stripHopByHop(headers);
}

/** A rough size of a header set, for the store's byte accounting. */
export function headerBytes(headers: Headers): number {
  let bytes = 0;
  headers.forEach((value, name) => {
    bytes += name.length + value.length + 4;
  });
  return bytes;
}

/** The declared `Content-Length`, or `null` when absent or malformed. */
export function declaredLength(headers: Headers): number | null {
  const value = headers.get("content-length");
  return value !== null && /^\d{1,15}$/.test(value.trim()) ? Number(value) : null;
}

/**
 * The response for `request` from `object`. Preconditions are evaluated against `2xx`
 * objects (RFC 9110 §13.2.1); a `Range` is answered from a `200` of known length (a `GET`
 * only, §14.2), otherwise the whole object is sent. The body reader detaches when the
 * request's signal aborts.
 *
 * @example
 * ```ts
 * const response = respondFromObject(request, object, { cacheStatus: "sprox; hit", ageSecs: 3 });
 * ```
 */
export function respondFromObject(
  request: Request,
  object: CachedObject,
  options: RespondOptions,
): Response {
  const headers = new Headers(object.headers);
  if (options.ageSecs !== null) headers.set("age", String(Math.floor(options.ageSecs)));
  appendCacheStatus(headers, options.cacheStatus);
  const method = request.method;
  const status = object.status;
  if (status >= 200 && status < 300) {
    const precondition = evaluatePreconditions(method, request.headers, object.headers);
    if (precondition === "not-modified") {
      return new Response(null, { status: 304, headers: notModifiedHeaders(headers) });
    }
    if (precondition === "failed") {
      const failed = new Headers({ "content-length": "0" });
      appendCacheStatus(failed, options.cacheStatus);
      return new Response(null, { status: 412, headers: failed });
    }
  }
  const withBody = method !== "HEAD" && !NULL_BODY_STATUSES.has(status) && object.body !== null;
  const signal = request.signal;
  const length = object.length;
  if (status === 200 && length !== null) {
    headers.set("content-length", String(length));
    if (!headers.has("accept-ranges")) headers.set("accept-ranges", "bytes");
    const range = method === "GET"
      ? evaluateRange(request.headers, length, object.headers)
      : { kind: "full" as const };
    if (range.kind === "unsatisfiable") {
      const refused = new Headers({ "content-range": contentRange(length), "content-length": "0" });
      appendCacheStatus(refused, options.cacheStatus);
      return new Response(null, { status: 416, headers: refused });
    }
    if (range.kind === "partial") {
      headers.set("content-range", contentRange(length, range.start, range.end));
      headers.set("content-length", String(range.end - range.start + 1));
      const body = withBody
        ? object.body!.reader({ start: range.start, end: range.end + 1, signal })
        : null;
      return new Response(body, { status: 206, headers });
    }
  }
  const small = withBody ? smallBytes(object) : null;
  if (small !== null) {
    // A small complete object goes out as bytes: no stream stage per answer.
    return bytesResponse(small as Uint8Array<ArrayBuffer>, {
      status,
      statusText: object.statusText,
      headers,
    });
  }
  const body = withBody ? object.body!.reader({ signal }) : null;
  return new Response(body, { status, statusText: object.statusText, headers });
}

/** Objects up to this size are answered from a byte array rather than a stream. */
const SMALL_ANSWER_BYTES = 64 * 1024;

/** The bytes of a small, complete, retained object; `null` otherwise. */
function smallBytes(object: CachedObject): Uint8Array | null {
  const fill = object.body;
  if (fill === null || !fill.complete || fill.length > SMALL_ANSWER_BYTES) return null;
  try {
    return fill.bytes();
  } catch {
    return null; // Not retained (an object that is not stored).
  }
}
