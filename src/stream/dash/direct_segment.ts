/**
 * MediaFlow's DASH segment endpoints in direct mode: `/proxy/mpd/init.mp4?init_url=…` answers
 * an initialization section, `/proxy/mpd/segment.mp4?init_url=…&segment_url=…` a media
 * segment preceded by its initialization section (as MediaFlow serves them to players that
 * want self-contained fragments; `use_map=true` leaves the init section out). Both are
 * fetched under the `/proxy/stream` rules, and answered with the `mime_type` the request
 * names, which the content-type allowlist must admit.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { copyHeaders, readBounded } from "../../net/mod.ts";
import { CONTENT_SAFETY_HEADERS } from "../../routing/mod.ts";
import {
  type ContentTypePolicy,
  isContentTypeAllowed,
  mediaTypeOf,
  requiredDestination,
  screenContentType,
} from "../direct/mod.ts";
import type { DirectFetch } from "../hls/mod.ts";

/** Path of the init-section endpoint. */
export const DIRECT_MPD_INIT_PATH = "/proxy/mpd/init.mp4";
/** Path of the media-segment endpoint. */
export const DIRECT_MPD_SEGMENT_PATH = "/proxy/mpd/segment.mp4";

/** The largest initialization section read into memory (they are a few KiB). */
export const MAX_INIT_BYTES = 4 * 1024 * 1024;

/** What the segment endpoints need. */
export interface DirectSegmentOptions {
  readonly fetch: DirectFetch;
  /** Upstream request headers, without the client's range and conditionals. */
  readonly headers: Headers;
  readonly contentTypes: ContentTypePolicy;
  readonly method: "GET" | "HEAD";
}

const BYTE_RANGE = /^(\d{1,15})-(\d{1,15})?$/;
const TRUE = /^(true|1|yes)$/i;

function byteRange(url: URL, name: string): string | null {
  const value = url.searchParams.get(name);
  if (value === null || value === "") return null;
  const match = BYTE_RANGE.exec(value.trim());
  if (!match || (match[2] !== undefined && Number(match[2]) < Number(match[1]))) {
    throw new ProxyError(400, "bad_request", `${name} must be a byte range such as 0-1023`);
  }
  return `bytes=${value.trim()}`;
}

function mimeType(url: URL, policy: ContentTypePolicy): string {
  const value = url.searchParams.get("mime_type");
  const type = value === null ? null : mediaTypeOf(value);
  if (type === null) {
    throw new ProxyError(
      400,
      "bad_request",
      "query parameter mime_type (a media type) is required",
    );
  }
  if (!isContentTypeAllowed(policy, type)) {
    throw new ProxyError(400, "bad_request", `mime_type ${type.slice(0, 100)} is not allowed`);
  }
  return type;
}

/**
 * The bytes `[offset, offset + length)` of a body (to the end when `length` is null): for an
 * origin that answered a range request with the whole object (`200`).
 */
export function sliceBody(
  body: ReadableStream<Uint8Array> | null,
  offset: number,
  length: number | null,
): ReadableStream<Uint8Array> | null {
  if (body === null) return null;
  let position = 0;
  const end = length === null ? Infinity : offset + length;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        const from = Math.max(offset - position, 0);
        const to = Math.min(end - position, chunk.byteLength);
        position += chunk.byteLength;
        if (to > from) controller.enqueue(chunk.subarray(from, to));
        if (position >= end) controller.terminate();
      },
    }),
  );
}

async function fetchPart(
  options: DirectSegmentOptions,
  target: URL,
  range: string | null,
): Promise<Response> {
  const headers = new Headers(options.headers);
  if (range !== null) headers.set("range", range);
  const fetched = (await options.fetch(target, headers)).response;
  const asked = range === null ? null : /^bytes=(\d+)-(\d*)$/.exec(range);
  const response = fetched.status === 200 && asked ? wholeToRange(fetched, asked) : fetched;
  if (response.status !== 200 && response.status !== 206) {
    await response.body?.cancel().catch(() => {});
    throw response.status === 404 || response.status === 410
      ? new ProxyError(404, "not_found", "upstream has no such segment")
      : new ProxyError(
        502,
        "upstream_bad_response",
        `upstream answered ${response.status} for the segment`,
      );
  }
  return screenContentType(response, options.contentTypes);
}

/** A `200` answer to a range request, cut to the range asked for. */
function wholeToRange(response: Response, asked: RegExpExecArray): Response {
  const offset = Number(asked[1]);
  const length = asked[2] === "" ? null : Number(asked[2]) - offset + 1;
  const headers = copyHeaders(response.headers);
  const total = Number(headers.get("content-length") ?? NaN);
  headers.delete("content-length");
  if (Number.isSafeInteger(total)) {
    const size = Math.max(0, Math.min(length ?? Infinity, total - offset));
    headers.set("content-length", String(size));
  }
  return new Response(sliceBody(response.body, offset, length), { status: 200, headers });
}

/** The init section, read whole (bounded). */
function readInit(response: Response): Promise<Uint8Array<ArrayBuffer>> {
  return readBounded(
    response.body,
    MAX_INIT_BYTES,
    () => new ProxyError(502, "upstream_bad_response", "initialization section is too large"),
    Number(response.headers.get("content-length") ?? NaN),
  );
}

/** The init bytes, then the segment's body as it streams. */
function prepend(init: Uint8Array, body: ReadableStream<Uint8Array> | null) {
  const reader = body?.getReader();
  let sentInit = init.byteLength === 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!sentInit) {
        sentInit = true;
        controller.enqueue(init);
        return;
      }
      const next = await reader?.read();
      if (!next || next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel(reason) {
      return reader?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * Serves `/proxy/mpd/init.mp4` (`kind` "init") or `/proxy/mpd/segment.mp4` ("segment").
 * Protected content (`key_id`/`key`) needs server-side decryption, which these endpoints do
 * not do: such a request is a 400 rather than encrypted bytes labelled as clear ones.
 *
 * @example
 * ```ts
 * return await serveDirectMpdSegment(url, "segment", { fetch, headers, contentTypes, method: "GET" });
 * ```
 */
export async function serveDirectMpdSegment(
  url: URL,
  kind: "init" | "segment",
  options: DirectSegmentOptions,
): Promise<Response> {
  if (url.searchParams.has("key_id") || url.searchParams.has("key")) {
    throw new ProxyError(400, "bad_request", "server-side decryption is not available");
  }
  const type = mimeType(url, options.contentTypes);
  const initUrl = requiredDestination(url, "init_url");
  const initRange = byteRange(url, "init_range");
  const headers = new Headers({ "content-type": type, "cache-control": "no-cache" });
  for (const [name, value] of Object.entries(CONTENT_SAFETY_HEADERS)) headers.set(name, value);
  if (kind === "init") {
    const init = await readInit(await fetchPart(options, initUrl, initRange));
    headers.set("content-length", String(init.byteLength));
    return new Response(options.method === "HEAD" ? null : init, { status: 200, headers });
  }
  const segmentUrl = requiredDestination(url, "segment_url");
  const segmentRange = byteRange(url, "segment_range");
  const withInit = !TRUE.test(url.searchParams.get("use_map") ?? "");
  const init = withInit
    ? await readInit(await fetchPart(options, initUrl, initRange))
    : new Uint8Array();
  const segment = await fetchPart(options, segmentUrl, segmentRange);
  const length = Number(segment.headers.get("content-length") ?? NaN);
  if (Number.isSafeInteger(length)) {
    headers.set("content-length", String(init.byteLength + length));
  }
  if (options.method === "HEAD") {
    await segment.body?.cancel().catch(() => {});
    return new Response(null, { status: 200, headers });
  }
  return new Response(prepend(init, segment.body), { status: 200, headers });
}
