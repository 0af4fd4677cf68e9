/**
 * A line-based HLS playlist rewriter (RFC 8216 and the HLS 2nd edition draft): only URI
 * references change; every other byte (unknown tags, comments, blank lines, order, line
 * endings) is kept as it came.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { findAttributes } from "./_attributes.ts";
import {
  type ReferenceBase,
  referenceBase,
  type ReferenceKind,
  type ReferenceResolver,
  resolveReference,
} from "./resolve.ts";

/** Tags whose quoted-string attributes carry URIs, and what each URI points at. */
export const URI_TAGS: ReadonlyMap<string, ReadonlyMap<string, ReferenceKind>> = new Map([
  ["EXT-X-KEY", new Map([["URI", "key"]])],
  ["EXT-X-SESSION-KEY", new Map([["URI", "key"]])],
  ["EXT-X-MAP", new Map([["URI", "media"]])],
  ["EXT-X-MEDIA", new Map([["URI", "playlist"]])],
  ["EXT-X-I-FRAME-STREAM-INF", new Map([["URI", "playlist"]])],
  ["EXT-X-PART", new Map([["URI", "media"]])],
  ["EXT-X-PRELOAD-HINT", new Map([["URI", "media"]])],
  ["EXT-X-RENDITION-REPORT", new Map([["URI", "playlist"]])],
  ["EXT-X-SESSION-DATA", new Map([["URI", "data"]])],
  ["EXT-X-CONTENT-STEERING", new Map([["SERVER-URI", "data"]])],
  // HLS interstitials (HLS 2nd edition, appendix D).
  ["EXT-X-DATERANGE", new Map([["X-ASSET-URI", "playlist"], ["X-ASSET-LIST", "data"]])],
] as [string, ReadonlyMap<string, ReferenceKind>][]);

const ATTRIBUTE_NAMES: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  [...URI_TAGS].map(([tag, attrs]) => [tag, new Set(attrs.keys())]),
);

/** What a rewrite needs: where the playlist came from and how to write references. */
export interface RewriteOptions {
  /** The absolute upstream URL the playlist was fetched from (after redirects). */
  readonly playlistUrl: string;
  readonly resolve: ReferenceResolver;
}

/**
 * An incremental rewriter: feed text chunks with {@linkcode PlaylistRewriter.push} (lines may
 * span chunks), then {@linkcode PlaylistRewriter.finish}. Each call returns output text.
 *
 * @example
 * ```ts
 * const rewriter = new PlaylistRewriter({ playlistUrl, resolve });
 * const out = rewriter.push("#EXTM3U\n#EXTINF:4,\nseg1.ts\n") + rewriter.finish();
 * ```
 */
export class PlaylistRewriter {
  #base: ReferenceBase;
  #resolve: ReferenceResolver;
  #pending = "";
  #sawHeader = false;
  #variantNext = false;

  constructor(options: RewriteOptions) {
    this.#base = referenceBase(options.playlistUrl);
    this.#resolve = options.resolve;
  }

  /** Rewrites every complete line of `chunk` (plus what was pending) and returns it. */
  push(chunk: string): string {
    if (chunk.indexOf("\0") >= 0) {
      throw new ProxyError(502, "manifest_invalid", "playlist holds a NUL byte");
    }
    const text = this.#pending + chunk;
    const last = text.lastIndexOf("\n");
    if (last < 0) {
      this.#pending = text;
      return "";
    }
    this.#pending = text.slice(last + 1);
    return this.#lines(text, last + 1);
  }

  /** Rewrites what remains and checks the playlist was one. */
  finish(): string {
    const rest = this.#pending;
    this.#pending = "";
    const out = rest.length ? this.#lines(rest, rest.length) : "";
    if (!this.#sawHeader) {
      throw new ProxyError(502, "manifest_invalid", "playlist does not start with #EXTM3U");
    }
    return out;
  }

  /** Copies unchanged lines as spans of `text`; only rewritten lines are rebuilt. */
  #lines(text: string, end: number): string {
    let out = "";
    let cursor = 0;
    let start = 0;
    while (start < end) {
      let nl = text.indexOf("\n", start);
      if (nl < 0 || nl > end) nl = end;
      const replaced = this.#line(text, start, nl);
      if (replaced !== null) {
        out += text.slice(cursor, start) + replaced;
        cursor = nl;
      }
      start = nl + 1;
    }
    return out + text.slice(cursor, end);
  }

  /** The replacement for the line `text[start, end)`, or null when it stays as it is. */
  #line(text: string, start: number, end: number): string | null {
    if (!this.#sawHeader) {
      const raw = text.slice(start, end);
      const line = (raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw).trim();
      if (line === "") return null;
      if (!line.startsWith("#EXTM3U")) {
        throw new ProxyError(502, "manifest_invalid", "playlist does not start with #EXTM3U");
      }
      this.#sawHeader = true;
      return null;
    }
    if (start === end) return null;
    // Tags are found after leading blanks too, as sloppy generators indent them.
    let first = start;
    while (first < end && (text.charCodeAt(first) === 32 || text.charCodeAt(first) === 9)) first++;
    if (text.charCodeAt(first) === 35 /* # */) {
      if (!text.startsWith("#EXT-X-", first)) return null;
      const raw = text.slice(start, end);
      const colon = raw.indexOf(":");
      const from = first - start + 1;
      const tag = colon < 0 ? raw.slice(from).trimEnd() : raw.slice(from, colon);
      if (tag === "EXT-X-STREAM-INF") {
        this.#variantNext = true;
        return null;
      }
      const names = ATTRIBUTE_NAMES.get(tag);
      return names && colon > 0 ? this.#tag(raw, tag, colon + 1, names) : null;
    }
    const raw = text.slice(start, end);
    const body = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const trimmed = body.trim();
    if (trimmed === "") return null;
    const kind: ReferenceKind = this.#variantNext ? "playlist" : "media";
    this.#variantNext = false;
    const absolute = resolveReference(this.#base, trimmed);
    if (absolute === null) return null;
    if (trimmed.length === body.length) {
      return this.#write(absolute, kind, raw) + raw.slice(body.length);
    }
    const at = body.indexOf(trimmed);
    return raw.slice(0, at) + this.#write(absolute, kind, raw) + raw.slice(at + trimmed.length);
  }

  #tag(raw: string, tag: string, from: number, names: ReadonlySet<string>): string | null {
    const spans = findAttributes(raw, from, names);
    if (spans.length === 0) return null;
    const kinds = URI_TAGS.get(tag)!;
    let out = "";
    let cursor = 0;
    for (const span of spans) {
      const value = raw.slice(span.start, span.end);
      const absolute = resolveReference(this.#base, value.trim());
      if (absolute === null) continue;
      out += raw.slice(cursor, span.start) + this.#write(absolute, kinds.get(span.name)!, raw);
      cursor = span.end;
    }
    return out + raw.slice(cursor);
  }

  #write(absolute: string, kind: ReferenceKind, line: string): string {
    return this.#resolve(absolute, kind, line);
  }
}

/**
 * Rewrites a whole playlist. Throws {@linkcode ProxyError} 502 `manifest_invalid` for input
 * that is not a playlist, and whatever the resolver throws for refused references.
 *
 * @example
 * ```ts
 * const out = rewritePlaylist(text, {
 *   playlistUrl: "https://cdn.example/v/index.m3u8",
 *   resolve: directModeResolver(),
 * });
 * ```
 */
export function rewritePlaylist(text: string, options: RewriteOptions): string {
  const rewriter = new PlaylistRewriter(options);
  return rewriter.push(text) + rewriter.finish();
}
