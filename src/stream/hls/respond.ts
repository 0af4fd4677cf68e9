/**
 * The transform step of the request path for playlists: recognise an upstream response
 * as a playlist, read it (bounded, decoded), rewrite it, and answer with a fresh
 * Content-Length.
 * @module
 */
import { bytesResponse, copyHeaders, inMemoryBody } from "../../net/mod.ts";
import { ProxyError } from "../../errors/mod.ts";
import { manifestTransformDuration, metricChildren } from "../../telemetry/mod.ts";
import {
  decodedBody,
  decodeManifestBytes,
  isAmbiguousContentType,
  isPlaylistContentType,
  peekStream,
  readManifestBytes,
  startsWithExtm3u,
} from "./body.ts";
import { neverPlaylist } from "./extensions.ts";
import type { ReferenceResolver } from "./resolve.ts";
import { checkPlaylist, rewritePlaylist } from "./rewrite.ts";
import { type OutputMemo, type PlaylistOutput, playlistOutput } from "./output_memo.ts";

/** The MIME type sProx answers playlists with (RFC 8216 §4). */
export const PLAYLIST_CONTENT_TYPE = "application/vnd.apple.mpegurl";

// Fields a generated body does not take from the upstream response: those describing the old
// bytes (they no longer hold once a body is rewritten), those set anew for the output (type,
// length, validators), and the origin's `Date` (often a second behind, it would age the output
// from before it existed).
const REPLACED_FIELDS = [
  "content-length",
  "content-encoding",
  "content-range",
  "accept-ranges",
  "etag",
  "last-modified",
  "transfer-encoding",
  "content-md5",
  "digest",
  "content-type",
  "date",
];
const NOT_KEPT = new Set(REPLACED_FIELDS);
// A live playlist's lifetime is set anew too.
const NOT_KEPT_LIVE = new Set([...REPLACED_FIELDS, "cache-control", "expires"]);

/** Options of {@linkcode textResponse}. */
export interface TextResponseOptions {
  /** The media type of the new body (default: the HLS playlist type). */
  readonly contentType?: string;
  /**
   * The response-header policy applied to the upstream headers. Default: keep them all
   * (route mode, whose route step then strips hop-by-hop fields); direct mode passes
   * `directResponseHeaders` of `src/routing/headers.ts`.
   */
  readonly headers?: (upstream: Headers) => Headers;
  /** `text` already encoded (the upstream bytes of an unchanged playlist): not encoded again. */
  readonly bytes?: Uint8Array;
  /** The body and its facts, worked out already (then `text` and `bytes` are not read). */
  readonly output?: PlaylistOutput;
}

/** The transform-duration histogram's child per kind (looked up once). */
export const transformDurationOf = metricChildren((kind) => manifestTransformDuration.labels(kind));

/**
 * A response carrying `text` as a playlist (or `contentType`), keeping the upstream's
 * status and the headers the policy keeps, except those describing the old bytes.
 *
 * @example
 * ```ts
 * return textResponse("#EXTM3U\n", upstream, { headers: directResponseHeaders });
 * ```
 */
export function textResponse(
  text: string,
  upstream: Response,
  options: TextResponseOptions = {},
): Response {
  // Body bytes are ArrayBuffer-backed (read from a stream, or encoded here).
  const output = options.output ?? playlistOutput(text, options.bytes);
  const kept = options.headers?.(upstream.headers) ?? upstream.headers;
  // Built in one pass over the upstream fields (a `Headers` edit scans the whole list, and a
  // dozen of them cost more than the pass): what is kept, then what is generated.
  // Registered as bytes: the client response and the log take it without a stream stage.
  const response = bytesResponse(output.bytes, { status: upstream.status });
  const headers = response.headers;
  const cap = output.liveCapSecs;
  const notKept = cap === null ? NOT_KEPT : NOT_KEPT_LIVE;
  kept.forEach((value, name) => {
    if (!notKept.has(name)) headers.append(name, value);
  });
  headers.append("content-type", options.contentType ?? PLAYLIST_CONTENT_TYPE);
  headers.append("content-length", String(output.bytes.byteLength));
  appendGeneratedValidators(headers, output);
  return response;
}

/**
 * Validators and lifetime of a generated playlist. The output is new content: its `ETag`
 * is computed from its own bytes, and the source's `Last-Modified` is not kept (a rewrite,
 * or a conversion from an MPD, changes without the source's date changing, and a stale
 * date lets browsers cache heuristically — a live playlist then freezes in the player).
 * A live media playlist (no `EXT-X-ENDLIST`) may be reused for half its target duration
 * at most (RFC 8216 §6.2.2 has clients reload it about every target duration); anything
 * else keeps the source's `Cache-Control`.
 */
function appendGeneratedValidators(headers: Headers, output: PlaylistOutput): void {
  headers.append("etag", `"${output.fingerprint}-${output.bytes.byteLength.toString(16)}"`);
  const cap = output.liveCapSecs;
  if (cap !== null) headers.append("cache-control", `max-age=${Math.max(1, Math.floor(cap))}`);
}

/** What {@linkcode playlistBody} found. */
export type PlaylistProbe =
  | {
    readonly playlist: true;
    /** The decoded body: a stream, or the bytes when they were already in memory. */
    readonly body: ReadableStream<Uint8Array> | Uint8Array | null;
  }
  | { readonly playlist: false; readonly response: Response };

/**
 * True when {@linkcode playlistBody} hands `response` back as it is without reading its body
 * (not a 200 with a body; a type that is neither a playlist's nor ambiguous; or an ambiguous
 * type at a URL that is never a playlist). Decided on the status and headers alone.
 *
 * @example
 * ```ts
 * const segment = new Response("x", { headers: { "content-type": "video/mp2t" } });
 * passesUntouched(segment, "https://o.example/v/seg1.ts"); // true
 * ```
 */
export function passesUntouched(response: Response, url?: string): boolean {
  // Bytes held in memory are a body; asking `body` would make a stream of them.
  if (response.status !== 200 || (inMemoryBody(response) === undefined && response.body === null)) {
    return true;
  }
  const type = response.headers.get("content-type");
  if (isPlaylistContentType(type)) return false;
  return !isAmbiguousContentType(type) || (url !== undefined && neverPlaylist(url));
}

/**
 * Decides whether an upstream response is a playlist: a 200 with a playlist media type,
 * or with an uninformative one (none, text/plain, octet-stream) whose decoded body starts
 * with `#EXTM3U` (read from `bytes` when the caller holds the body in memory already) — unless `url` ends with an extension that is never a playlist
 * (`seg1.ts`, `key.bin`): that response comes back as it is, its body untouched (sniffing
 * would put every segment's bytes through a stream stage). A sniffed non-playlist comes
 * back as an equivalent response.
 *
 * @example
 * ```ts
 * const probe = await playlistBody(upstream);
 * if (!probe.playlist) return probe.response;
 * ```
 */
export async function playlistBody(
  response: Response,
  url?: string,
  bytes?: Uint8Array,
): Promise<PlaylistProbe> {
  if (passesUntouched(response, url)) return { playlist: false, response };
  const type = response.headers.get("content-type");
  if (bytes !== undefined && !response.headers.has("content-encoding")) {
    // The body is in memory already: decided on its bytes, without a stream (and a body that
    // is not a playlist stays untouched in `response`).
    if (isPlaylistContentType(type)) return { playlist: true, body: bytes };
    return startsWithExtm3u(bytes.subarray(0, 16))
      ? { playlist: true, body: bytes }
      : { playlist: false, response };
  }
  if (isPlaylistContentType(type)) return { playlist: true, body: await decodedBody(response) };
  const encoded = (response.headers.get("content-encoding") ?? "identity") !== "identity";
  const decoded = encoded ? (await decodedBody(response))! : response.body!;
  const { head, body } = await peekStream(decoded, 16);
  if (startsWithExtm3u(head)) return { playlist: true, body };
  const headers = copyHeaders(response.headers);
  if (encoded) {
    headers.delete("content-encoding");
    headers.delete("content-length");
  }
  return {
    playlist: false,
    response: new Response(body, { status: response.status, headers }),
  };
}

/** What rewriting one playlist response needs. */
export interface PlaylistResponseOptions {
  /** The absolute upstream URL the playlist came from. */
  readonly playlistUrl: string;
  readonly resolve: ReferenceResolver;
  readonly maxBytes: number;
  /** Run the resolver over every reference (to check them) but answer the original bytes. */
  readonly checkOnly?: boolean;
  /**
   * Where outputs are remembered, and under what: `scope` is replaced by a reload, `key`
   * names everything the resolver depends on besides the plan (see `output_memo.ts`).
   */
  readonly memo?: { readonly outputs: OutputMemo; readonly scope: object; readonly key: string };
}

/**
 * Reads and rewrites a playlist body and answers it with the upstream's status and
 * cache headers and a recomputed Content-Length.
 *
 * @example
 * ```ts
 * const probe = await playlistBody(upstream);
 * if (probe.playlist) return await rewritePlaylistResponse(upstream, probe.body, options);
 * ```
 */
export async function rewritePlaylistResponse(
  upstream: Response,
  body: ReadableStream<Uint8Array> | Uint8Array | null,
  options: PlaylistResponseOptions,
): Promise<Response> {
  const declared = Number(upstream.headers.get("content-length") ?? NaN);
  if (declared > options.maxBytes && !upstream.headers.has("content-encoding")) {
    if (body instanceof ReadableStream) await body.cancel().catch(() => {});
    throw new ProxyError(502, "manifest_too_large", `manifest exceeds ${options.maxBytes} bytes`);
  }
  const type = isPlaylistContentType(upstream.headers.get("content-type"))
    ? upstream.headers.get("content-type")!
    : PLAYLIST_CONTENT_TYPE;
  const memo = options.memo;
  let read: { bytes: Uint8Array; text: string } | undefined;
  const source = body instanceof Uint8Array
    ? body
    : (read = await readManifestBytes(body, options.maxBytes)).bytes;
  // The same source under the same key and plan: the output a rewrite would give again.
  const known = memo?.outputs.find(memo.scope, memo.key, source);
  if (known !== undefined) return textResponse("", upstream, { contentType: type, output: known });
  const { bytes, text } = read ?? decodeManifestBytes(source, options.maxBytes);
  const started = performance.now();
  const rewrite = { playlistUrl: options.playlistUrl, resolve: options.resolve };
  // Checking builds nothing; an unchanged playlist is answered with the bytes as they came.
  let out = text;
  if (options.checkOnly) checkPlaylist(text, rewrite);
  else out = rewritePlaylist(text, rewrite);
  transformDurationOf("hls_rewrite").observe((performance.now() - started) / 1000);
  const output = playlistOutput(out, out === text ? bytes : undefined);
  memo?.outputs.keep(memo.scope, memo.key, bytes, output);
  return textResponse(out, upstream, { contentType: type, output });
}
