/**
 * The `/proxy/stream` content-type allowlist: which upstream media types may be served
 * under sProx's origin. A direct destination is third-party content; served as
 * `text/html` or `image/svg+xml` from sProx's host it would run script in sProx's origin.
 * @module
 */
import { bytesResponse, copyHeaders, inMemoryBody } from "../../net/mod.ts";
import { ProxyError } from "../../errors/mod.ts";

/** The compiled `direct_stream.allowed_content_types`. */
export interface ContentTypePolicy {
  /** `*\/*` was listed: every well-formed media type passes. */
  readonly any: boolean;
  /** Top-level types listed as `type/*`, lower-case. */
  readonly types: ReadonlySet<string>;
  /** Exact `type/subtype` entries, lower-case. */
  readonly exact: ReadonlySet<string>;
}

/** A `type/subtype` of RFC 9110 §8.3.1 (token characters), case-insensitive. */
const MEDIA_TYPE = /^([a-z0-9!#$%&'*+.^_`|~-]+)\/([a-z0-9!#$%&'*+.^_`|~-]+)$/;

/**
 * Compiles the configured patterns (`type/subtype`, `type/*` or `*\/*`; validated by the
 * schema).
 *
 * @example
 * ```ts
 * const policy = compileContentTypes(["video/*", "application/vnd.apple.mpegurl"]);
 * ```
 */
export function compileContentTypes(patterns: readonly string[]): ContentTypePolicy {
  const types = new Set<string>();
  const exact = new Set<string>();
  let any = false;
  for (const pattern of patterns.map((p) => p.trim().toLowerCase())) {
    if (pattern === "*/*") any = true;
    else if (pattern.endsWith("/*")) types.add(pattern.slice(0, -2));
    else exact.add(pattern);
  }
  return { any, types, exact };
}

/**
 * The essence (`type/subtype`, lower-case, parameters dropped) of a `Content-Type` value,
 * or null when it is not one well-formed media type (a list such as
 * `video/mp4, text/html` is not).
 *
 * @example
 * ```ts
 * mediaTypeOf("Video/MP2T; charset=binary"); // "video/mp2t"
 * mediaTypeOf("text/html, video/mp4"); // null
 * ```
 */
export function mediaTypeOf(value: string): string | null {
  const essence = value.split(";", 1)[0].trim().toLowerCase();
  return MEDIA_TYPE.test(essence) ? essence : null;
}

/**
 * Whether a well-formed media type essence is admitted by the policy.
 *
 * @example
 * ```ts
 * isContentTypeAllowed(compileContentTypes(["video/*"]), "video/mp4"); // true
 * ```
 */
export function isContentTypeAllowed(policy: ContentTypePolicy, essence: string): boolean {
  if (policy.any || policy.exact.has(essence)) return true;
  return policy.types.has(essence.slice(0, essence.indexOf("/")));
}

/**
 * The content-type step of `/proxy/stream`, before any body byte is read. `204` and `304`
 * pass as they are. A response without `Content-Type` passes labelled
 * `application/octet-stream`, so no browser sniffs a type for it. A `2xx` of a refused type →
 * `403 content_type_denied`; any other status keeps its status and headers but loses the
 * body (a `416` or `404` page must not become content either). The upstream body is
 * cancelled, not read.
 *
 * @example
 * ```ts
 * const screened = screenContentType(upstream, plan.contentTypes);
 * ```
 */
export function screenContentType(upstream: Response, policy: ContentTypePolicy): Response {
  if (upstream.status === 204 || upstream.status === 304) return upstream;
  const value = upstream.headers.get("content-type");
  if (value === null) {
    const headers = copyHeaders(upstream.headers);
    headers.set("content-type", "application/octet-stream");
    const bytes = inMemoryBody(upstream);
    if (bytes !== undefined) return bytesResponse(bytes, { status: upstream.status, headers });
    return new Response(upstream.body, { status: upstream.status, headers });
  }
  const essence = mediaTypeOf(value);
  if (essence !== null && isContentTypeAllowed(policy, essence)) return upstream;
  upstream.body?.cancel().catch(() => {});
  if (upstream.status >= 200 && upstream.status < 300) {
    throw new ProxyError(
      403,
      "content_type_denied",
      essence === null
        ? "upstream content type is not a valid media type"
        : `upstream content type ${essence.slice(0, 100)} is not allowed`,
    );
  }
  const headers = copyHeaders(upstream.headers);
  headers.delete("content-type");
  headers.delete("content-length");
  return new Response(null, { status: upstream.status, headers });
}
