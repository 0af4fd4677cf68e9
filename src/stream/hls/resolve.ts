/**
 * Resolving playlist references against the playlist's upstream URL (RFC 3986 §5), with a
 * string fast path for the common case of plain relative names such as `seg-00042.ts`.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";

/** What a reference points at; decides where it is routed in direct mode. */
export type ReferenceKind = "playlist" | "media" | "key" | "data";

/**
 * Maps an absolute upstream URL to the string written into the output playlist, or throws
 * a {@linkcode ProxyError} to refuse the whole playlist. What it returns must be a
 * serialised URL (no `"`, CR or LF), as URL serialisation and percent-encoding give.
 * `line` is the playlist line the reference sits on (its tag, or the URI line), when the
 * rewriter knows it; references are resolved in line order.
 */
export type ReferenceResolver = (absoluteUrl: string, kind: ReferenceKind, line?: string) => string;

/** A playlist URL prepared once for resolving many references. */
export interface ReferenceBase {
  readonly href: string;
  /** The URL up to and including the last `/` of its path (no query). */
  readonly directory: string;
}

/**
 * Prepares an absolute http(s) URL as a base for {@linkcode resolveReference}.
 *
 * @example
 * ```ts
 * const base = referenceBase("https://cdn.example/live/index.m3u8?token=1");
 * ```
 */
export function referenceBase(url: string): ReferenceBase {
  const parsed = new URL(url);
  parsed.search = "";
  parsed.hash = "";
  const href = new URL(url).href;
  const directory = parsed.href.slice(0, parsed.href.lastIndexOf("/") + 1);
  return { href, directory };
}

// A relative reference made only of unreserved/sub-delim characters (no scheme, no
// authority, no fragment) resolves by plain concatenation onto the directory, unless it
// holds a dot-segment.
const SIMPLE_RELATIVE =
  /^[A-Za-z0-9\-._~!$&()*+,;=@%][A-Za-z0-9\-._~!$&()*+,;=@%/]*(?:\?[A-Za-z0-9\-._~!$&()*+,;=:@%/?]*)?$/;
// An absolute http(s) URL already in the form the URL parser would serialise it to.
const SIMPLE_ABSOLUTE =
  /^https?:\/\/[a-z0-9-]+(?:\.[a-z0-9-]+)*\/[A-Za-z0-9\-._~!$&()*+,;=@%/]*(?:\?[A-Za-z0-9\-._~!$&()*+,;=:@%/?]*)?$/;
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$|\?)/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/**
 * Resolves `reference` against `base`. Returns `null` for references that are not http(s)
 * (`data:`, `skd://`, …), which are left untouched.
 *
 * @example
 * ```ts
 * resolveReference(referenceBase("https://a.example/v/index.m3u8"), "seg1.ts");
 * // "https://a.example/v/seg1.ts"
 * ```
 */
export function resolveReference(base: ReferenceBase, reference: string): string | null {
  if (SIMPLE_RELATIVE.test(reference)) {
    const mayHoldDots = reference.charCodeAt(0) === 46 || reference.includes("/.");
    if (!mayHoldDots || !DOT_SEGMENT.test(reference)) return base.directory + reference;
  } else if (SIMPLE_ABSOLUTE.test(reference) && !DOT_SEGMENT.test(reference)) {
    return reference;
  }
  const scheme = SCHEME.exec(reference);
  if (scheme) {
    const s = scheme[0].toLowerCase();
    if (s !== "http:" && s !== "https:") return null;
  }
  let resolved: URL;
  try {
    resolved = new URL(reference, base.href);
  } catch (error) {
    throw new ProxyError(502, "manifest_invalid", "playlist holds an unparseable URI", {
      cause: error,
    });
  }
  if (resolved.protocol !== "http:" && resolved.protocol !== "https:") return null;
  if (resolved.username || resolved.password) {
    throw new ProxyError(502, "manifest_invalid", "playlist holds a URI with credentials");
  }
  resolved.hash = "";
  return resolved.href;
}
