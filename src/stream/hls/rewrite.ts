/**
 * A line-based HLS playlist rewriter (RFC 8216 and the HLS 2nd edition draft): only URI
 * references change; every other byte (unknown tags, comments, blank lines, order, line
 * endings) is kept as it came.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { findAttributes } from "./_attributes.ts";
import {
  isPlainRelativeReference,
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
 * True for the characters `String.prototype.trim` removes (ECMAScript WhiteSpace and
 * LineTerminator), so that a line's reference is found without slicing and trimming it.
 */
function isBlank(c: number): boolean {
  if (c > 32 && c < 160) return false;
  return c === 32 || (c >= 9 && c <= 13) || c === 160 || c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f ||
    c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/** True when `text` holds `#EXT-X-` at `at` (compared by char code: no call, no slice). */
function isTagPrefix(text: string, at: number): boolean {
  return text.charCodeAt(at + 4) === 45 /* - */ && text.charCodeAt(at + 6) === 45 &&
    text.charCodeAt(at + 5) === 88 /* X */ && text.charCodeAt(at + 1) === 69 /* E */ &&
    text.charCodeAt(at + 2) === 88 /* X */ && text.charCodeAt(at + 3) === 84 /* T */;
}
const STREAM_INF = "EXT-X-STREAM-INF";

/**
 * An incremental rewriter: feed text chunks with {@linkcode PlaylistRewriter.push} (lines may
 * span chunks), then {@linkcode PlaylistRewriter.finish}. Each call returns output text.
 *
 * One scan over the text: unchanged spans are copied as they are (slices of the input, no
 * per-line strings), and new strings are built only for references that change.
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
  /** The resolver's mapping of the base directory: unknown until a reference needs it. */
  #mapped: string | null | undefined = undefined;
  #checkOnly: boolean;

  /**
   * `checkOnly`: run the resolver over every reference (so that it may refuse the playlist)
   * but build no output ({@linkcode checkPlaylist}).
   */
  constructor(options: RewriteOptions, checkOnly = false) {
    this.#base = referenceBase(options.playlistUrl);
    this.#resolve = options.resolve;
    this.#checkOnly = checkOnly;
  }

  /** Rewrites every complete line of `chunk` (plus what was pending) and returns it. */
  push(chunk: string): string {
    if (chunk.indexOf("\0") >= 0) {
      throw new ProxyError(502, "manifest_invalid", "playlist holds a NUL byte");
    }
    const text = this.#pending.length === 0 ? chunk : this.#pending + chunk;
    const last = text.lastIndexOf("\n");
    if (last < 0) {
      this.#pending = text;
      return "";
    }
    this.#pending = last + 1 === text.length ? "" : text.slice(last + 1);
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

  /**
   * Rewrites `text[0, end)`: copies everything up to each changed reference as one slice
   * and writes the new reference in its place.
   */
  #lines(text: string, end: number): string {
    let out = "";
    let cursor = 0;
    let start = 0;
    // Where the next `:` is, searched once per stretch of text rather than once per tag
    // line, so that lines without one cost no rescans.
    let colon = -1;
    while (start < end && !this.#sawHeader) {
      let nl = text.indexOf("\n", start);
      if (nl < 0 || nl > end) nl = end;
      this.#header(text, start, nl);
      start = nl + 1;
    }
    while (start < end) {
      let nl = text.indexOf("\n", start);
      if (nl < 0 || nl > end) nl = end;
      if (start === nl) {
        start = nl + 1;
        continue;
      }
      // Tags are found after leading blanks too, as sloppy generators indent them.
      let first = start;
      let c = text.charCodeAt(first);
      while ((c === 32 || c === 9) && first < nl) c = text.charCodeAt(++first);
      if (c === 35 /* # */ && first < nl) {
        if (isTagPrefix(text, first)) {
          if (colon < first) {
            colon = text.indexOf(":", first);
            if (colon < 0) colon = text.length;
          }
          const replaced = this.#tagLine(text, start, first, colon < nl ? colon : -1, nl);
          if (replaced !== null) {
            out += text.slice(cursor, start) + replaced;
            cursor = nl;
          }
        }
        start = nl + 1;
        continue;
      }
      // A URI line: the reference is the line without the blanks around it.
      let from = first;
      while (from < nl && isBlank(text.charCodeAt(from))) from++;
      let to = nl;
      while (to > from && isBlank(text.charCodeAt(to - 1))) to--;
      if (from < to) {
        const kind: ReferenceKind = this.#variantNext ? "playlist" : "media";
        this.#variantNext = false;
        const written = this.#write(text.slice(from, to), kind, text, start, nl);
        if (written !== null) {
          out += text.slice(cursor, from) + written;
          cursor = to;
        }
      }
      start = nl + 1;
    }
    return cursor === 0 && end === text.length ? text : out + text.slice(cursor, end);
  }

  /** Checks a line before `#EXTM3U`: blank lines (and a byte order mark) may precede it. */
  #header(text: string, start: number, end: number): void {
    const raw = text.slice(start, end);
    const line = (raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw).trim();
    if (line === "") return;
    if (!line.startsWith("#EXTM3U")) {
      throw new ProxyError(502, "manifest_invalid", "playlist does not start with #EXTM3U");
    }
    this.#sawHeader = true;
  }

  /**
   * The replacement for the `#EXT-X-` tag line `text[start, end)` (its `#` at `first`, its
   * first `:` at `colon`, or -1), or null when it stays as it is.
   */
  #tagLine(
    text: string,
    start: number,
    first: number,
    colon: number,
    end: number,
  ): string | null {
    if (colon < 0) {
      if (text.slice(first + 1, end).trimEnd() === STREAM_INF) this.#variantNext = true;
      return null;
    }
    const tag = text.slice(first + 1, colon);
    const names = ATTRIBUTE_NAMES.get(tag);
    if (names === undefined) {
      if (tag === STREAM_INF) this.#variantNext = true;
      return null;
    }
    return this.#tag(text.slice(start, end), tag, colon - start + 1, names);
  }

  #tag(raw: string, tag: string, from: number, names: ReadonlySet<string>): string | null {
    const spans = findAttributes(raw, from, names);
    if (spans.length === 0) return null;
    const kinds = URI_TAGS.get(tag)!;
    let out = "";
    let cursor = 0;
    for (const span of spans) {
      const value = raw.slice(span.start, span.end);
      const written = this.#write(value.trim(), kinds.get(span.name)!, raw, 0, raw.length);
      if (written === null) continue;
      out += raw.slice(cursor, span.start) + written;
      cursor = span.end;
    }
    return cursor === 0 ? null : out + raw.slice(cursor);
  }

  /**
   * What `reference` (on the line `text[start, end)`) is written as, or null when it stays.
   * Plain relative names under a directory the resolver maps as a whole cost one
   * concatenation; everything else is resolved and handed to the resolver.
   */
  #write(
    reference: string,
    kind: ReferenceKind,
    text: string,
    start: number,
    end: number,
  ): string | null {
    if (isPlainRelativeReference(reference)) {
      if (this.#mapped === undefined) {
        this.#mapped = this.#resolve.directoryMapping?.(this.#base.directory) ?? null;
      }
      if (this.#mapped !== null) return this.#checkOnly ? null : this.#mapped + reference;
      const out = this.#resolve(this.#base.directory + reference, kind, text.slice(start, end));
      return this.#checkOnly ? null : out;
    }
    const absolute = resolveReference(this.#base, reference);
    if (absolute === null) return null;
    const out = this.#resolve(absolute, kind, text.slice(start, end));
    return this.#checkOnly ? null : out;
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

/**
 * Checks a whole playlist without rewriting it: the same refusals as
 * {@linkcode rewritePlaylist} with the same resolver, and no output built.
 *
 * @example
 * ```ts
 * checkPlaylist(text, { playlistUrl, resolve: guardInsecure(identity, guard) });
 * ```
 */
export function checkPlaylist(text: string, options: RewriteOptions): void {
  const rewriter = new PlaylistRewriter(options, true);
  rewriter.push(text);
  rewriter.finish();
}
