/**
 * Path ambiguity: whether a URL path could be read differently by an origin than by the
 * proxy matching it. Pure functions over strings.
 *
 * Servers disagree about paths: Tomcat and Jetty strip `;parameters` before resolving dot
 * segments (`/vod/..;/secret` is `/secret` to them), some decode twice (`%252e` → `.`),
 * some decode `%2F` into a separator or read `\` as `/`, some fold Unicode compatibility
 * forms (`．` → `.`). A proxy that checks the path one way and forwards it to a server that
 * reads it another way can be walked out of an allowed prefix. Instead of guessing each
 * origin's reading, paths with such forms are refused.
 * @module
 */

/** Why a path is ambiguous. */
export type PathAmbiguity =
  /** A segment that is `.` or `..` (or only dots and spaces), raw or percent-encoded. */
  | "dot_segment"
  /** A dot segment with `;parameters` (`..;x`, `.;`, `%2e%2e;`). */
  | "dot_segment_parameters"
  /** A percent-encoded `%` that forms an escape once decoded (`%252e`, `%25%32%65`). */
  | "double_encoding"
  /** `%2F` or `%5C`: a separator hidden from the first decoding. */
  | "encoded_separator"
  /** A raw `\` (read as `/` by Windows servers and the URL parser). */
  | "backslash"
  /** C0, DEL or C1 controls, raw or percent-encoded (`%00`, `%0d%0a`, `%C2%85`). */
  | "control_character"
  /** `%` not followed by two hex digits. */
  | "malformed_encoding"
  /** Percent-encoded bytes that are not strict UTF-8 (overlong `%C0%AE`, surrogates, cut). */
  | "invalid_utf8"
  /** A Unicode look-alike of `/`, `\`, `.` or `%` (`∕`, `⁄`, `／`, `．`, `․`, `。`, …). */
  | "lookalike";

/**
 * Characters that read as `/`, `\` or `.` to a human or to some normaliser but have no
 * compatibility decomposition, so the NFKC check below does not catch them.
 */
const LOOKALIKES: ReadonlySet<number> = new Set([
  0x2044, // FRACTION SLASH
  0x2215, // DIVISION SLASH
  0x29f8, // BIG SOLIDUS
  0x2571, // BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT
  0x2216, // SET MINUS
  0x29f5, // REVERSE SOLIDUS OPERATOR
  0x29f9, // BIG REVERSE SOLIDUS
  0x2572, // BOX DRAWINGS LIGHT DIAGONAL UPPER LEFT TO LOWER RIGHT
  0x3002, // IDEOGRAPHIC FULL STOP
  0xff61, // HALFWIDTH IDEOGRAPHIC FULL STOP
]);

/** Paths made only of these characters need no decoding (the common case, checked fast). */
const PLAIN = /^[A-Za-z0-9\-_~!$&'()*+,=:@/.]*$/;
const HEX2 = /^[0-9A-Fa-f]{2}$/;
const ESCAPE = /%[0-9A-Fa-f]{2}/;
const DOTS = /^[. ]+$/;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Whether a code point at or above U+00A0 reads as `/`, `\`, `.` or `%`. */
function isLookalike(codePoint: number): boolean {
  if (LOOKALIKES.has(codePoint)) return true;
  return /[/\\.%]/.test(String.fromCodePoint(codePoint).normalize("NFKC"));
}

/** The path decoded once, or why it cannot be decoded unambiguously. */
type Decoded = { readonly text: string } | { readonly ambiguity: PathAmbiguity };

function decodeOnce(path: string): Decoded {
  if (!path.isWellFormed()) return { ambiguity: "invalid_utf8" };
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code === 0x25) {
      const hex = path.slice(i + 1, i + 3);
      if (!HEX2.test(hex)) return { ambiguity: "malformed_encoding" };
      const byte = parseInt(hex, 16);
      if (byte === 0x2f || byte === 0x5c) return { ambiguity: "encoded_separator" };
      if (byte < 0x20 || byte === 0x7f) return { ambiguity: "control_character" };
      bytes.push(byte);
      i += 2;
    } else if (code === 0x5c) return { ambiguity: "backslash" };
    else if (code < 0x20 || code === 0x7f) return { ambiguity: "control_character" };
    else if (code < 0x80) bytes.push(code);
    else {
      const char = String.fromCodePoint(path.codePointAt(i)!);
      bytes.push(...encoder.encode(char));
      i += char.length - 1;
    }
  }
  try {
    return { text: utf8.decode(new Uint8Array(bytes)) };
  } catch {
    return { ambiguity: "invalid_utf8" };
  }
}

/** The checks that need the decoded text: escapes left after one decoding, look-alikes, dots. */
function classifyDecoded(decoded: string): PathAmbiguity | null {
  if (ESCAPE.test(decoded)) return "double_encoding";
  for (const char of decoded) {
    const codePoint = char.codePointAt(0)!;
    if (codePoint < 0x80) continue;
    if (codePoint < 0xa0) return "control_character";
    if (isLookalike(codePoint)) return "lookalike";
  }
  for (const segment of decoded.split("/")) {
    // Servers that strip `;parameters` first (Tomcat, Jetty) see only the part before `;`.
    const semicolon = segment.indexOf(";");
    const core = semicolon === -1 ? segment : segment.slice(0, semicolon);
    if (core.includes(".") && DOTS.test(core)) {
      return semicolon === -1 ? "dot_segment" : "dot_segment_parameters";
    }
  }
  return null;
}

/**
 * Classifies a URL path (as sent on the wire: percent-encoded, or raw as a client typed
 * it): `null` when every server reads it the same way, else the first ambiguity found.
 * Legitimate encodings pass: `%20`, `%2B`, UTF-8 letters (`caf%C3%A9`), single-encoded
 * unreserved characters (`%76od`), `;parameters` on ordinary segments, empty segments.
 *
 * @example
 * ```ts
 * classifyPath("/vod/caf%C3%A9.m3u8"); // null
 * classifyPath("/vod/..;/secret"); // "dot_segment_parameters"
 * classifyPath("/vod/%252e%252e/secret"); // "double_encoding"
 * ```
 */
export function classifyPath(path: string): PathAmbiguity | null {
  if (PLAIN.test(path) && !path.startsWith(".") && !path.includes("/.")) return null;
  const decoded = decodeOnce(path);
  return "ambiguity" in decoded ? decoded.ambiguity : classifyDecoded(decoded.text);
}

/**
 * The path of an absolute URL exactly as written (before the URL parser resolves dot
 * segments, turns `\` into `/` or percent-encodes anything): the text between the
 * authority and the query or fragment. Leading and trailing C0 controls and spaces are
 * dropped as the URL parser drops them.
 *
 * @example
 * ```ts
 * rawPathOf("https://cdn.example/vod/../secret?x=1"); // "/vod/../secret"
 * rawPathOf("http:\\\\cdn.example\\vod"); // "\\vod"
 * ```
 */
export function rawPathOf(url: string): string {
  // deno-lint-ignore no-control-regex
  const text = url.replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, "");
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(text);
  let i = scheme ? scheme[0].length : 0;
  // http(s) authorities follow any number of `/` or `\` (WHATWG URL, special schemes).
  while (text[i] === "/" || text[i] === "\\") i++;
  while (i < text.length && !"/\\?#".includes(text[i])) i++;
  let end = i;
  while (end < text.length && text[end] !== "?" && text[end] !== "#") end++;
  return text.slice(i, end);
}

/**
 * A short, client-safe description of an ambiguity, for error messages.
 *
 * @example
 * ```ts
 * describePathAmbiguity("double_encoding"); // "double percent-encoding"
 * ```
 */
export function describePathAmbiguity(kind: PathAmbiguity): string {
  return DESCRIPTIONS[kind];
}

const DESCRIPTIONS: Readonly<Record<PathAmbiguity, string>> = {
  dot_segment: "dot segment",
  dot_segment_parameters: "dot segment with parameters",
  double_encoding: "double percent-encoding",
  encoded_separator: "encoded path separator",
  backslash: "backslash",
  control_character: "control character",
  malformed_encoding: "malformed percent-encoding",
  invalid_utf8: "invalid UTF-8",
  lookalike: "look-alike of a path separator or dot",
};
