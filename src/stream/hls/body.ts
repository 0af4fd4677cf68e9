/**
 * Recognising playlists and reading manifest bodies: content-encoding removed, size bound
 * enforced on the decoded bytes, UTF-8 required.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { readBounded } from "../../net/mod.ts";
import { toProxyError, UpstreamFailure } from "../../routing/mod.ts";

const PLAYLIST_TYPES = new Set([
  "application/vnd.apple.mpegurl",
  "application/x-mpegurl",
  "application/mpegurl",
  "audio/mpegurl",
  "audio/x-mpegurl",
]);

const AMBIGUOUS_TYPES = new Set([
  "",
  "text/plain",
  "application/octet-stream",
  "binary/octet-stream",
]);

/** The media type without parameters, lower-cased. */
export function mediaType(contentType: string | null): string {
  return (contentType ?? "").split(";")[0].trim().toLowerCase();
}

/**
 * True for the HLS playlist media types (RFC 8216 §4).
 *
 * @example
 * ```ts
 * isPlaylistContentType("application/vnd.apple.mpegurl; charset=utf-8"); // true
 * ```
 */
export function isPlaylistContentType(contentType: string | null): boolean {
  return PLAYLIST_TYPES.has(mediaType(contentType));
}

/**
 * True when a content type says too little to rule a playlist out (none, octet-stream,
 * any `text/*` as misconfigured servers send), so the body's first bytes are sniffed.
 */
export function isAmbiguousContentType(contentType: string | null): boolean {
  const type = mediaType(contentType);
  return AMBIGUOUS_TYPES.has(type) || type.startsWith("text/");
}

const EXTM3U = [0x23, 0x45, 0x58, 0x54, 0x4d, 0x33, 0x55];

/**
 * True when `bytes` begin with `#EXTM3U`, after an optional UTF-8 byte order mark.
 *
 * @example
 * ```ts
 * startsWithExtm3u(new TextEncoder().encode("#EXTM3U\n")); // true
 * ```
 */
export function startsWithExtm3u(bytes: Uint8Array): boolean {
  const skip = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  if (bytes.length < skip + EXTM3U.length) return false;
  return EXTM3U.every((b, i) => bytes[skip + i] === b);
}

/**
 * Reads the first bytes of a stream (at least `want`, unless it ends first) and returns
 * them with a stream that still yields every byte.
 */
export async function peekStream(
  stream: ReadableStream<Uint8Array>,
  want: number,
): Promise<{ head: Uint8Array; body: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  while (size < want) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    size += value.byteLength;
  }
  const head = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    head.set(p, at);
    at += p.byteLength;
  }
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (head.byteLength) controller.enqueue(head);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { head, body };
}

const FORMATS: Record<string, string> = {
  gzip: "gzip",
  "x-gzip": "gzip",
  deflate: "deflate",
  br: "brotli",
};

/** True when bytes begin like manifest text: a BOM, whitespace, `#` or `<`. */
function looksLikeText(head: Uint8Array): boolean {
  const first = head[0];
  return first === 0xef || first === 0x23 || first === 0x3c || first === 0x20 ||
    first === 0x09 || first === 0x0a || first === 0x0d;
}

/**
 * The body of `response` with its `Content-Encoding` (gzip, deflate, br) removed. Deno's
 * fetch already decompresses bodies while keeping the header, so a body that begins like
 * manifest text is taken as decoded. Throws 502 `manifest_invalid` for an unknown encoding.
 *
 * @example
 * ```ts
 * const text = await readManifest(await decodedBody(response), 16 * 1024 * 1024);
 * ```
 */
export async function decodedBody(
  response: Response,
): Promise<ReadableStream<Uint8Array> | null> {
  const body = response.body;
  if (body === null) return null;
  const encoding = (response.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  if (encoding === "" || encoding === "identity") return body;
  const format = FORMATS[encoding];
  if (!format) {
    await body.cancel().catch(() => {});
    throw new ProxyError(502, "manifest_invalid", "manifest has an unsupported encoding");
  }
  const { head, body: whole } = await peekStream(body, 1);
  if (head.byteLength === 0 || looksLikeText(head)) return whole;
  const encoded = whole as ReadableStream<Uint8Array<ArrayBuffer>>;
  return encoded.pipeThrough(new DecompressionStream(format as CompressionFormat));
}

// Decoding without `stream` keeps no state between calls, so one decoder serves all.
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Reads a decoded manifest body whole, refusing more than `limit` bytes (502
 * `manifest_too_large`) and bytes that are not UTF-8 or fail to decompress (502
 * `manifest_invalid`); an upstream body that stalls or fails is its upstream error (504
 * `upstream_read_timeout`, 502 `upstream_error`).
 *
 * @example
 * ```ts
 * const text = await readManifest(decodedBody(response), 16 * 1024 * 1024);
 * ```
 */
export async function readManifest(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<string> {
  return (await readManifestBytes(body, limit)).text;
}

/**
 * {@linkcode readManifest}, also giving the bytes the text was decoded from (they are what
 * encoding the text gives back: the decoder is strict and keeps a byte order mark).
 *
 * @example
 * ```ts
 * const { bytes, text } = await readManifestBytes(body, 16 * 1024 * 1024);
 * ```
 */
export async function readManifestBytes(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<{ bytes: Uint8Array; text: string }> {
  let bytes: Uint8Array;
  try {
    bytes = await readBounded(
      body,
      limit,
      () => new ProxyError(502, "manifest_too_large", `manifest exceeds ${limit} bytes`),
    );
  } catch (error) {
    if (error instanceof ProxyError) throw error;
    // The upstream stalled or failed mid-body: said as such (504 read timeout, 502 upstream
    // error), not as an invalid manifest.
    if (error instanceof UpstreamFailure) throw toProxyError(error);
    throw new ProxyError(502, "manifest_invalid", "manifest body could not be read", {
      cause: error,
    });
  }
  return decodeManifestBytes(bytes, limit);
}

/**
 * A manifest body already in memory, under the same rules as {@linkcode readManifestBytes}:
 * at most `limit` bytes (502 `manifest_too_large`), UTF-8 (502 `manifest_invalid`).
 *
 * @example
 * ```ts
 * const { text } = decodeManifestBytes(new TextEncoder().encode("#EXTM3U\n"), 1024);
 * ```
 */
export function decodeManifestBytes(
  bytes: Uint8Array,
  limit: number,
): { bytes: Uint8Array; text: string } {
  if (bytes.byteLength > limit) {
    throw new ProxyError(502, "manifest_too_large", `manifest exceeds ${limit} bytes`);
  }
  try {
    return { bytes, text: UTF8.decode(bytes) };
  } catch (error) {
    throw new ProxyError(502, "manifest_invalid", "manifest is not UTF-8 text", { cause: error });
  }
}
