/**
 * The two ways sProx writes references into playlists it serves: route mode (paths under
 * the route's origin become `base_url` + the remaining path) and direct mode (everything
 * goes back through `/proxy/hls/manifest.m3u8` and `/proxy/stream`).
 * @module
 */
import { MEDIA_EXTENSIONS } from "./extensions.ts";
import { ProxyError } from "../../errors/mod.ts";
import { type ReferenceKind, type ReferenceResolver, withDirectoryMapping } from "./resolve.ts";
import type { SignedLinkWriter } from "./signed_links.ts";

// File names made only of these need no percent-encoding (a subset of what
// encodeURIComponent leaves alone) and are shown as they are.
const SAFE_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";
const SAFE_NAME_CHAR: Uint8Array = new Uint8Array(128).map((_, c) =>
  SAFE_CHARACTERS.includes(String.fromCharCode(c)) ? 1 : 0
);
const UNSAFE_NAME = /[^A-Za-z0-9._~-]/g;

/**
 * The file name shown in a `/proxy/stream/<name>` link: the upstream one, with `.ts`
 * appended when its extension is not a media one (`.dash`, `.php`, none). ffmpeg accepts
 * `.ts` for both MPEG-TS and ISO BMFF segments. The names of one playlist mostly share an
 * extension: the last media extension seen is compared in place (no slice, no set lookup).
 */
function linkNamer(): (name: string) => string {
  let known = "";
  return (name) => {
    if (name === "") return name;
    const dot = name.lastIndexOf(".");
    if (known.length > 0 && name.length - dot - 1 === known.length && dot >= 0) {
      let i = 0;
      while (i < known.length && name.charCodeAt(dot + 1 + i) === known.charCodeAt(i)) i++;
      if (i === known.length) return name;
    }
    const extension = dot < 0 ? "" : name.slice(dot + 1);
    if (MEDIA_EXTENSIONS.has(extension)) {
      known = extension;
      return name;
    }
    // Lower case is the common spelling: lower-case a copy only when that is not it.
    return MEDIA_EXTENSIONS.has(extension.toLowerCase()) ? name : `${name}.ts`;
  };
}

function isSafeName(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 127 || SAFE_NAME_CHAR[c] === 0) return false;
  }
  return true;
}

/** Which references of a playlist go back through sProx. */
export type ProxiedReferences =
  /** Every reference (the default). */
  | "all"
  /** Keys, and nested playlists so that their keys are reached; segments stay upstream. */
  | "keys"
  /** None: references are written as absolute upstream URLs. */
  | "none";

/** What a direct-mode link carries besides the destination. */
export interface DirectLinkOptions {
  /** Prepended to `/proxy/...`; empty for root-relative links (the default). */
  readonly prefix?: string;
  /**
   * Parameters exactly as the client gave them, repeated on every link: the `h_<name>`
   * request-header overrides and the `rp_*` / `x_headers` response overrides.
   */
  readonly overrides?: readonly (readonly [string, string])[];
  /** Parameters repeated on nested playlist links only (`key_url`). */
  readonly playlistParameters?: readonly (readonly [string, string])[];
  /** The `api_password` query credential, carried only when the client sent it that way. */
  readonly credential?: string | null;
  /** Where nested playlists go; defaults to `/proxy/hls/manifest.m3u8`. */
  readonly playlistPath?: string;
  /** Which references go through sProx; `all` by default. */
  readonly proxy?: ProxiedReferences;
  /**
   * The request came with a signed URL: every link is a signed URL minted by this writer
   * (same expiry and address), never a query credential.
   */
  readonly signed?: SignedLinkWriter | null;
}

function queryTail(pairs: readonly (readonly [string, string])[] | undefined): string {
  let tail = "";
  for (const [name, value] of pairs ?? []) {
    tail += `&${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
  }
  return tail;
}

/** The `&h_x=…&api_password=…` tail shared by every link of one playlist. */
export function directLinkTail(options: DirectLinkOptions): string {
  let tail = queryTail(options.overrides);
  if (options.credential) tail += `&api_password=${encodeURIComponent(options.credential)}`;
  return tail;
}

/**
 * Direct mode: nested playlists come back through `/proxy/hls/manifest.m3u8`, segments,
 * keys, init sections and data through `/proxy/stream/<file name>`, each carrying the same
 * overrides and query credential, or, for a request that came with a signed URL, as signed
 * URLs of their own. `proxy` narrows which references are rewritten at all.
 *
 * @example
 * ```ts
 * const resolve = directModeResolver({ overrides: [["h_referer", "https://p.example/"]] });
 * resolve("https://cdn.example/a/seg1.ts", "media");
 * // "/proxy/stream/seg1.ts?d=https%3A…&h_referer=…"
 * ```
 */
export function directModeResolver(options: DirectLinkOptions = {}): ReferenceResolver {
  const proxy = options.proxy ?? "all";
  if (proxy === "none") return withDirectoryMapping((url) => url, (directory) => directory);
  const inner = options.signed ? signedResolver(options, options.signed) : queryResolver(options);
  if (proxy === "all") return inner;
  return (url, kind) => kind === "key" || kind === "playlist" ? inner(url, kind) : url;
}

/** Links carrying signed URLs: `/_token_<t>/proxy/…`, the parameters inside the token. */
function signedResolver(options: DirectLinkOptions, signed: SignedLinkWriter): ReferenceResolver {
  const playlistPath = options.playlistPath ?? "/proxy/hls/manifest.m3u8";
  const carried = options.overrides ?? [];
  const forPlaylists = [...carried, ...(options.playlistParameters ?? [])];
  const linkName = linkNamer();
  return (url: string, kind: ReferenceKind) => {
    if (kind === "playlist") return signed.link(playlistPath, [["d", url], ...forPlaylists]);
    const q = url.indexOf("?");
    const end = q < 0 ? url.length : q;
    const name = url.slice(url.lastIndexOf("/", end) + 1, end);
    const shown = linkName(isSafeName(name) ? name : name.replace(UNSAFE_NAME, "_"));
    return signed.link("/proxy/stream", [["d", url], ...carried], shown || null);
  };
}

/** Links carrying the destination and the parameters in their query. */
function queryResolver(options: DirectLinkOptions): ReferenceResolver {
  const prefix = options.prefix ?? "";
  const tail = directLinkTail(options);
  const playlistTail = tail + queryTail(options.playlistParameters);
  const playlist = `${prefix}${options.playlistPath ?? "/proxy/hls/manifest.m3u8"}?d=`;
  const stream = `${prefix}/proxy/stream`;
  const streamWithName = `${stream}/`;
  const streamWithoutName = `${stream}?d=`;
  const linkName = linkNamer();
  // Most references of a playlist share a directory and a query (a token): each is encoded
  // once, with the parameters that follow it, and only the file name per reference.
  let directory = "";
  let encodedDirectory = "";
  let query = "";
  let queryAndTail = tail;
  let queryAndPlaylistTail = playlistTail;
  return (url: string, kind: ReferenceKind) => {
    const q = url.indexOf("?");
    const end = q < 0 ? url.length : q;
    const slash = url.lastIndexOf("/", end) + 1;
    if (slash !== directory.length || url.slice(0, slash) !== directory) {
      directory = url.slice(0, slash);
      encodedDirectory = encodeURIComponent(directory);
    }
    if (q < 0) {
      if (query !== "") {
        query = "";
        queryAndTail = tail;
        queryAndPlaylistTail = playlistTail;
      }
    } else if (url.length - q !== query.length || url.slice(q) !== query) {
      query = url.slice(q);
      const encodedQuery = encodeURIComponent(query);
      queryAndTail = encodedQuery + tail;
      queryAndPlaylistTail = encodedQuery + playlistTail;
    }
    const name = url.slice(slash, end);
    const safe = isSafeName(name);
    const encodedName = safe ? name : encodeURIComponent(name);
    if (kind === "playlist") {
      return playlist + encodedDirectory + encodedName + queryAndPlaylistTail;
    }
    // `/proxy/stream/<file name>`: players that check segment extensions (ffmpeg's HLS
    // demuxer) see the upstream file's own extension.
    const shown = linkName(safe ? name : name.replace(UNSAFE_NAME, "_"));
    return (shown ? streamWithName + shown + "?d=" : streamWithoutName) + encodedDirectory +
      encodedName + queryAndTail;
  };
}

/** Route-mode settings, taken from the route's `hls` block and the direct stream plan. */
export interface RouteLinkOptions {
  /** The route's upstream origin (its path is the base the route serves). */
  readonly origin: string;
  /** Where the origin's paths are published; `null` publishes them root-relative. */
  readonly baseUrl: string | null;
  /** What happens to a reference outside the route's origin. */
  readonly crossOrigin: "direct_stream" | "keep" | "refuse";
  /**
   * Direct-mode links for cross-origin references, or `null` for a URL `/proxy/stream`
   * would not serve (disabled, not allowlisted, credential required).
   */
  readonly directLink?: ((url: string, kind: ReferenceKind) => string | null) | null;
}

// Route origins and base URLs come from the plan: a few distinct strings, each parsed once
// rather than on every playlist request.
const PREFIXES = new Map<string, string>();
const MAX_PREFIXES = 1024;

function remember(key: string, value: string): string {
  if (PREFIXES.size >= MAX_PREFIXES) PREFIXES.delete(PREFIXES.keys().next().value!);
  PREFIXES.set(key, value);
  return value;
}

/** The origin URL as a prefix ending in `/`, for string comparisons on resolved hrefs. */
export function originPrefix(origin: string): string {
  const key = `o ${origin}`;
  const known = PREFIXES.get(key);
  if (known !== undefined) return known;
  const url = new URL(origin);
  url.search = "";
  url.hash = "";
  return remember(key, url.href.endsWith("/") ? url.href : `${url.href}/`);
}

/** Where `base_url` publishes origin paths, serialised by the URL parser and ending in `/`. */
function publishedPrefix(baseUrl: string | null): string {
  if (baseUrl === null) return "/";
  const key = `b ${baseUrl}`;
  const known = PREFIXES.get(key);
  if (known !== undefined) return known;
  // Serialised by the URL parser, so nothing unsafe in a playlist line can come from it.
  const base = new URL(baseUrl).href;
  return remember(key, base.endsWith("/") ? base : `${base}/`);
}

/**
 * Route mode: a reference under the route's origin becomes `base_url` + the remaining path
 * (query kept); any other reference follows `cross_origin`.
 *
 * @example
 * ```ts
 * const resolve = routeModeResolver({
 *   origin: "https://origin.example/vod",
 *   baseUrl: "https://cdn.example/hls/",
 *   crossOrigin: "refuse",
 * });
 * resolve("https://origin.example/vod/a/seg1.ts", "media"); // "https://cdn.example/hls/a/seg1.ts"
 * ```
 */
export function routeModeResolver(options: RouteLinkOptions): ReferenceResolver {
  const prefix = originPrefix(options.origin);
  const published = publishedPrefix(options.baseUrl);
  const resolve = (url: string, kind: ReferenceKind) => {
    if (url.slice(0, prefix.length) === prefix) return published + url.slice(prefix.length);
    switch (options.crossOrigin) {
      case "keep":
        return url;
      case "direct_stream": {
        const link = options.directLink?.(url, kind) ?? null;
        if (link !== null) return link;
        break;
      }
    }
    throw new ProxyError(
      502,
      "cross_origin_reference",
      "playlist references a host this route does not proxy",
    );
  };
  return withDirectoryMapping(
    resolve,
    (directory) => directory.startsWith(prefix) ? published + directory.slice(prefix.length) : null,
  );
}
