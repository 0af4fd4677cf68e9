/**
 * Resolving playlist references against the playlist's upstream URL (RFC 3986 §5), with a
 * string fast path for the common cases (plain relative names such as `seg-00042.ts`, and
 * absolute URLs already in serialised form) and the URL parser for everything else.
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
export type ReferenceResolver =
  & ((absoluteUrl: string, kind: ReferenceKind, line?: string) => string)
  & {
    /**
     * Optional shortcut: for a directory URL `directory` (ending in `/`), a string `mapped`
     * such that the resolver returns `mapped + name` for `directory + name`, whatever the
     * kind and line, for every plain relative `name` (see
     * {@linkcode isPlainRelativeReference}); null when there is no such string. Lets the
     * rewriter write the references of a directory by one concatenation each.
     */
    readonly directoryMapping?: (directory: string) => string | null;
  };

/**
 * `resolve` with a {@linkcode ReferenceResolver.directoryMapping} shortcut.
 *
 * @example
 * ```ts
 * const identity = withDirectoryMapping((url) => url, (directory) => directory);
 * ```
 */
export function withDirectoryMapping(
  resolve: (absoluteUrl: string, kind: ReferenceKind, line?: string) => string,
  directoryMapping: (directory: string) => string | null,
): ReferenceResolver {
  return Object.assign(resolve, { directoryMapping });
}

/** A playlist URL prepared once for resolving many references. */
export interface ReferenceBase {
  /** The URL as given (the URL parser reads it again for references it resolves). */
  readonly href: string;
  /** The URL up to and including the last `/` of its path (no query). */
  readonly directory: string;
}

// Playlists are fetched again and again from the same URLs (live playlists every target
// duration): their directories are kept, a bounded number of them, keyed by the URL without
// its query (which often holds a per-client token that need not be kept).
const DIRECTORIES = new Map<string, string>();
const MAX_DIRECTORIES = 512;

/**
 * Prepares an absolute http(s) URL as a base for {@linkcode resolveReference}.
 *
 * @example
 * ```ts
 * const base = referenceBase("https://cdn.example/live/index.m3u8?token=1");
 * ```
 */
export function referenceBase(url: string): ReferenceBase {
  // For http(s) URLs the first `?` or `#` ends the path, wherever it is.
  let cut = url.length;
  const q = url.indexOf("?");
  const h = url.indexOf("#");
  if (q >= 0) cut = q;
  if (h >= 0 && h < cut) cut = h;
  const key = url.slice(0, cut);
  let directory = DIRECTORIES.get(key);
  if (directory === undefined) {
    const bare = new URL(key).href;
    directory = bare.slice(0, bare.lastIndexOf("/") + 1);
    if (DIRECTORIES.size >= MAX_DIRECTORIES) DIRECTORIES.delete(DIRECTORIES.keys().next().value!);
    DIRECTORIES.set(key, directory);
  }
  return { href: url, directory };
}

// Character classes of the fast path, by char code: 1 = allowed in a path (RFC 3986
// unreserved, sub-delims, `@`, `%`, `/`), 2 = allowed only in a query (`:`, `?`). Other
// characters (`\`, `'`, `"`, space, `#`, `<`, non-ASCII, ...) are normalised or
// percent-encoded by the URL parser, so such references take the slow path.
const CHAR_CLASS: Uint8Array = (() => {
  const table = new Uint8Array(128);
  const path = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&()*+,;=@%/";
  for (let i = 0; i < path.length; i++) table[path.charCodeAt(i)] = 1;
  table[58 /* : */] = 2;
  table[63 /* ? */] = 2;
  return table;
})();

/**
 * True when `reference` is a relative path (with an optional query) that the URL parser
 * would append to the base directory unchanged: no scheme, no authority, no leading `/`,
 * no dot-segment (`.`, `..`, or their percent-encoded forms), only characters it keeps.
 *
 * @example
 * ```ts
 * isPlainRelativeReference("v/seg-1.ts?t=1"); // true
 * isPlainRelativeReference("../seg-1.ts"); // false
 * ```
 */
export function isPlainRelativeReference(reference: string): boolean {
  return isPlainRelative(reference, 0);
}

function isPlainRelative(reference: string, from: number): boolean {
  const n = reference.length;
  if (n === from) return false;
  const first = reference.charCodeAt(from);
  if (first === 47 /* / */ || first === 63 /* ? */) return false;
  let segment = from;
  let i = from;
  for (; i < n; i++) {
    const c = reference.charCodeAt(i);
    if (c === 47 /* / */) {
      if (isDotSegment(reference, segment, i)) return false;
      segment = i + 1;
      continue;
    }
    if (c >= 128) return false;
    const k = CHAR_CLASS[c];
    if (k === 1) continue;
    if (c !== 63 /* ? */) return false;
    break;
  }
  if (isDotSegment(reference, segment, i)) return false;
  // The query keeps every character of both classes as it is.
  for (i++; i < n; i++) {
    const c = reference.charCodeAt(i);
    if (c >= 128 || CHAR_CLASS[c] === 0) return false;
  }
  return true;
}

/** `.`, `..`, `%2e`, `.%2E`, ... (WHATWG URL's single- and double-dot path segments). */
function isDotSegment(text: string, start: number, end: number): boolean {
  let dots = 0;
  let i = start;
  while (i < end && dots < 3) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) i++;
    else if (
      c === 37 /* % */ && i + 2 < end && text.charCodeAt(i + 1) === 50 /* 2 */ &&
      (text.charCodeAt(i + 2) | 0x20) === 101 /* e */
    ) {
      i += 3;
    } else return false;
    dots++;
  }
  return i === end && dots > 0 && dots < 3;
}

const HTTP_PREFIX = "http://";
const HTTPS_PREFIX = "https://";

/**
 * True when `reference` is an absolute http(s) URL already as the URL parser serialises it:
 * lower-case scheme, a lower-case host of plain labels that cannot be read as an IPv4
 * address (last label starts with a letter) or an IDNA label (`xn--`), no port, no
 * credentials, a path and query of kept characters without dot-segments, no fragment.
 */
function isPlainAbsolute(reference: string): boolean {
  let i: number;
  if (reference.startsWith(HTTPS_PREFIX)) i = HTTPS_PREFIX.length;
  else if (reference.startsWith(HTTP_PREFIX)) i = HTTP_PREFIX.length;
  else return false;
  const n = reference.length;
  let label = i;
  for (; i < n; i++) {
    const c = reference.charCodeAt(i);
    if (c === 46 /* . */ || c === 47 /* / */) {
      if (i === label) return false;
      if (
        i - label >= 4 && reference.charCodeAt(label + 2) === 45 &&
        reference.charCodeAt(label + 3) === 45
      ) {
        return false; // `xn--` (and other `??--`) labels: left to the IDNA rules.
      }
      if (c === 47) break;
      label = i + 1;
      continue;
    }
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45)) return false;
  }
  if (i >= n) return false; // no path: the parser adds `/`
  const last = reference.charCodeAt(label);
  if (!(last >= 97 && last <= 122)) return false;
  return i + 1 === n || isPlainRelative(reference, i + 1);
}

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
  if (isPlainRelative(reference, 0)) return base.directory + reference;
  if (isPlainAbsolute(reference)) return reference;
  return resolveWithParser(base, reference);
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

function resolveWithParser(base: ReferenceBase, reference: string): string | null {
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
