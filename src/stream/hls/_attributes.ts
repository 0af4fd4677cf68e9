/**
 * Locating quoted-string attributes in an HLS attribute list (RFC 8216 §4.2) without
 * reserialising the line.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";

/** Where one attribute value sits in a tag line. */
export interface AttributeSpan {
  readonly name: string;
  /** Offset of the first character of the value (after the opening quote if quoted). */
  readonly start: number;
  /** Offset just past the value (at the closing quote if quoted). */
  readonly end: number;
  readonly quoted: boolean;
}

/**
 * Scans the attribute list that starts at `from` in `line` and returns the span of every
 * attribute whose name is in `wanted`. Quoted strings may contain commas; an unterminated
 * quoted string is malformed input.
 *
 * @example
 * ```ts
 * const [uri] = findAttributes('#EXT-X-MAP:URI="init.mp4"', 11, new Set(["URI"]));
 * ```
 */
export function findAttributes(
  line: string,
  from: number,
  wanted: ReadonlySet<string>,
): AttributeSpan[] {
  const spans: AttributeSpan[] = [];
  let i = from;
  const n = line.length;
  while (i < n) {
    while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
    const eq = line.indexOf("=", i);
    if (eq < 0) break;
    const name = line.slice(i, eq).trim();
    let start = eq + 1;
    let end: number;
    let quoted = false;
    if (line.charCodeAt(start) === 34 /* " */) {
      quoted = true;
      start++;
      end = line.indexOf('"', start);
      if (end < 0) {
        throw new ProxyError(502, "manifest_invalid", "playlist has an unterminated quoted string");
      }
      i = line.indexOf(",", end + 1);
    } else {
      const comma = line.indexOf(",", start);
      end = comma < 0 ? n : comma;
      i = comma;
    }
    if (wanted.has(name)) spans.push({ name, start, end, quoted });
    if (i < 0) break;
    i++;
  }
  return spans;
}

/**
 * The value of attribute `name` in a tag line's attribute list (quotes removed), or
 * `undefined` when the line has none: a name inside another attribute's quoted value is not
 * taken for one.
 *
 * @example
 * ```ts
 * attributeValue('#EXT-X-MAP:URI="a,BYTERANGE=1",BYTERANGE="720@0"', "BYTERANGE"); // "720@0"
 * ```
 */
export function attributeValue(line: string, name: string): string | undefined {
  const colon = line.indexOf(":");
  if (colon < 0) return undefined;
  const [span] = findAttributes(line, colon + 1, new Set([name]));
  return span ? line.slice(span.start, span.end) : undefined;
}
