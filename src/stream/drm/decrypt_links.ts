/**
 * Decryption mode of the direct-mode manifests: the `key_id`/`key` query parameters
 * (MediaFlow's names, hex, comma-separated pairs), the `/proxy/decrypt/<name>` links that
 * replace init sections and segments, and the HLS playlist rewrite that drops the
 * `SAMPLE-AES(-CTR)` key tags the clear output no longer needs. Pure functions.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import type { InitReference } from "../dash/mod.ts";
import { bytesToHex, parseKeyBytes } from "../../secrets/mod.ts";
import {
  attributeValue,
  type DirectLinkOptions,
  directLinkTail,
  insecureReference,
  type ReferenceResolver,
  rewritePlaylist,
} from "../hls/mod.ts";

/** The decrypting endpoint. */
export const DECRYPT_PATH = "/proxy/decrypt";

/** The keys a decryption request carries. */
export interface DecryptKeys {
  /** Keys given as `key_id` + `key` pairs, by lower-case hex KID. */
  readonly requestKeys: ReadonlyMap<string, Uint8Array>;
  /** A lone `key` (no `key_id`): used whatever the content's KID. */
  readonly any: Uint8Array | null;
  /** The parameters exactly as given, repeated on every link. */
  readonly parameters: readonly (readonly [string, string])[];
}

/** Most keys one request may carry. */
const MAX_KEYS = 256;

function badKeys(message: string): ProxyError {
  return new ProxyError(400, "bad_request", message);
}

/**
 * Reads `key_id` and `key` from a request: `null` when neither is present (no decryption).
 * `key_id=a,b&key=x,y` pairs keys with KIDs (32 hex digits or base64url each); `key=x` alone
 * applies to any KID; `key_id=a` alone leaves the keys to the key lookup (secret store, key
 * servers). Throws 400 `bad_request` for malformed values or unequal counts.
 *
 * @example
 * ```ts
 * parseDecryptKeys(new URL("http://s/p?key_id=00112233445566778899aabbccddeeff&key=…"));
 * ```
 */
export function parseDecryptKeys(url: URL): DecryptKeys | null {
  const params = url.searchParams;
  const kidText = params.getAll("key_id").join(",");
  const keyText = params.getAll("key").join(",");
  if (!kidText && !keyText) return null;
  const parameters: [string, string][] = [];
  for (const [name, value] of params) {
    if (name === "key_id" || name === "key") parameters.push([name, value]);
  }
  if (!keyText) {
    if (!kidText.split(",").every((kid) => parseKeyBytes(kid))) {
      throw badKeys("key_id entries must be 32 hex digits or base64url of 16 bytes");
    }
    return { requestKeys: new Map(), any: null, parameters };
  }
  if (!kidText) {
    const any = parseKeyBytes(keyText);
    if (!any) throw badKeys("a key without key_id must be one 16-byte key");
    return { requestKeys: new Map(), any, parameters };
  }
  const kids = kidText.split(",");
  const values = keyText.split(",");
  if (kids.length !== values.length) throw badKeys("key_id and key must list as many entries");
  if (kids.length > MAX_KEYS) throw badKeys(`at most ${MAX_KEYS} keys per request`);
  const requestKeys = new Map<string, Uint8Array>();
  kids.forEach((text, i) => {
    const kid = parseKeyBytes(text);
    const key = parseKeyBytes(values[i]);
    if (!kid || !key) {
      throw badKeys("key_id and key entries must be 32 hex digits or base64url of 16 bytes");
    }
    requestKeys.set(bytesToHex(kid), key);
  });
  return { requestKeys, any: null, parameters };
}

/**
 * The key for `kid` (16 bytes): a pair of the request, its lone key, else what `lookup`
 * finds (the secret store and key servers). Throws 400 `key_unavailable` when none has it.
 *
 * @example
 * ```ts
 * const key = await keyForKid(keys, kid, async (k) => (await resolver.lookup([k])).get(hex));
 * ```
 */
export async function keyForKid(
  keys: DecryptKeys,
  kid: Uint8Array,
  lookup: (kid: Uint8Array) => Promise<Uint8Array | undefined>,
): Promise<Uint8Array> {
  const found = keys.requestKeys.get(bytesToHex(kid)) ?? keys.any ?? await lookup(kid);
  if (!found) {
    throw new ProxyError(400, "key_unavailable", "no key is known for the content's key ID");
  }
  return found;
}

// The segment extensions ffmpeg's HLS demuxer accepts for fMP4.
const FMP4_NAME = /\.(mp4|m4s|m4v|m4a|cmfv|cmfa|fmp4)$/i;

/** The file name shown in a decrypt link: the upstream one, `.mp4` appended when needed. */
function linkName(url: string): string {
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const name = path.slice(path.lastIndexOf("/") + 1).replace(/[^A-Za-z0-9._~-]/g, "_");
  return name === "" ? "segment.mp4" : FMP4_NAME.test(name) ? name : `${name}.mp4`;
}

/** What decrypt links carry besides the destination. */
export interface DecryptLinkOptions extends DirectLinkOptions {
  readonly keys: DecryptKeys;
  /** The manifest came over HTTPS: an `http://` media URL would downgrade the upstream leg. */
  readonly secure: boolean;
}

/**
 * A link through the decrypting endpoint: `/proxy/decrypt/<name>?d=<url>[&i=<init
 * url>[&ir=<length>@<offset>]]` with the request's overrides, query credential and keys.
 * `init` is the init section a media segment needs (null for the init itself).
 *
 * @example
 * ```ts
 * decryptLink("https://cdn.example/v/seg-1.m4s", { url: "https://cdn.example/v/init.mp4", range: null }, options);
 * // "/proxy/decrypt/seg-1.m4s?d=https%3A…&i=https%3A…&key_id=…&key=…"
 * ```
 */
export function decryptLink(
  url: string,
  init: InitReference | null,
  options: DecryptLinkOptions,
): string {
  for (const checked of init ? [url, init.url] : [url]) {
    if (options.secure && checked.startsWith("http:")) throw insecureReference(checked);
  }
  const params: [string, string][] = [["d", url]];
  if (init) {
    params.push(["i", init.url]);
    if (init.range) params.push(["ir", `${init.range.length}@${init.range.offset}`]);
  }
  const carried = [...(options.overrides ?? []), ...options.keys.parameters];
  const name = linkName(url);
  if (options.signed) return options.signed.link(DECRYPT_PATH, [...params, ...carried], name);
  const query = params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
  const tail = directLinkTail({ overrides: carried, credential: options.credential });
  return `${options.prefix ?? ""}${DECRYPT_PATH}/${name}?${query}${tail}`;
}

/** Reads `ir` (`<length>@<offset>`) of a decrypt request. */
export function parseInitRange(text: string | null): { offset: number; length: number } | null {
  if (text === null) return null;
  const match = /^(\d{1,15})@(\d{1,15})$/.exec(text);
  if (!match || Number(match[1]) === 0) {
    throw new ProxyError(400, "bad_request", "ir must be <length>@<offset>");
  }
  return { length: Number(match[1]), offset: Number(match[2]) };
}

/** `BYTERANGE="<n>[@<o>]"` of an `EXT-X-MAP` line. */
function mapRange(line: string): { offset: number; length: number } | null {
  const match = /^(\d+)(?:@(\d+))?$/.exec(attributeValue(line, "BYTERANGE") ?? "");
  return match ? { length: Number(match[1]), offset: Number(match[2] ?? 0) } : null;
}

const SAMPLE_KEY = /^\s*#EXT-X-(?:SESSION-)?KEY:.*METHOD=(SAMPLE-AES-CTR|SAMPLE-AES)\s*(?:,|$)/;

/**
 * Rewrites an HLS playlist for decryption: `EXT-X-MAP` sections and the segments (and
 * parts) after one go through {@linkcode decryptLink}; every other reference through
 * `resolve`. `SAMPLE-AES-CTR` key tags are dropped, and `SAMPLE-AES` ones too except in a
 * media playlist without `EXT-X-MAP` (MPEG-TS sample encryption, which is not CENC and
 * stays as it is).
 *
 * @example
 * ```ts
 * const out = rewriteForDecryption(text, { playlistUrl, resolve, link: (u, i) => decryptLink(u, i, options) });
 * ```
 */
export function rewriteForDecryption(
  text: string,
  options: {
    readonly playlistUrl: string;
    readonly resolve: ReferenceResolver;
    readonly link: (url: string, init: InitReference | null) => string;
  },
): string {
  let current: InitReference | null = null;
  const resolve: ReferenceResolver = (url, kind, line = "") => {
    if (kind !== "media") return options.resolve(url, kind, line);
    const tag = line.trimStart();
    if (tag.startsWith("#EXT-X-MAP:") || /^#EXT-X-PRELOAD-HINT:.*TYPE=MAP/.test(tag)) {
      if (tag.startsWith("#EXT-X-MAP:")) current = { url, range: mapRange(tag) };
      return options.link(url, null);
    }
    return current ? options.link(url, current) : options.resolve(url, kind, line);
  };
  const out = rewritePlaylist(text, { playlistUrl: options.playlistUrl, resolve });
  const fragmented = /^\s*#EXT-X-MAP:/m.test(text);
  const media = /^\s*#EXTINF:/m.test(text);
  return out.split("\n").filter((line) => {
    const match = SAMPLE_KEY.exec(line);
    if (!match) return true;
    return match[1] === "SAMPLE-AES" && media && !fragmented;
  }).join("\n");
}
