/**
 * Byte ranges (RFC 9110 §14) answered from a complete stored object: one `bytes=` range
 * (`a-b`, `a-`, `-n`) becomes a `206`; a range past the end a `416`; several ranges are
 * answered with the whole object (`200`, which §14.2 allows: a server may ignore `Range`),
 * since players ask for one range at a time and multipart bodies would buy nothing.
 * @module
 */
import { parseEntityTag, strongMatch } from "./conditional.ts";
import { parseHttpDate } from "./freshness.ts";

/** How a request's `Range` applies to an object of known length. */
export type RangeDecision =
  | { readonly kind: "full" }
  | { readonly kind: "partial"; readonly start: number; readonly end: number }
  | { readonly kind: "unsatisfiable" };

const FULL: RangeDecision = { kind: "full" };

/** The shape of a `Range` header, before the object's length is known. */
export type RangeShape =
  | { readonly kind: "ignored" }
  | { readonly kind: "single"; readonly first: number | null }
  | { readonly kind: "multiple" };

function rangeSpecs(value: string): string[] | null {
  const match = /^\s*bytes\s*=(.*)$/i.exec(value);
  if (!match) return null;
  return match[1].split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/**
 * Classifies a `Range` header: `ignored` (another unit or bad syntax: the whole object is
 * answered), `single` with its first byte (`null` for a suffix range `-n`), or `multiple`.
 *
 * @example
 * ```ts
 * rangeShape("bytes=100-"); // { kind: "single", first: 100 }
 * ```
 */
export function rangeShape(value: string): RangeShape {
  const specs = rangeSpecs(value);
  if (!specs || specs.length === 0) return { kind: "ignored" };
  if (specs.length > 1) return { kind: "multiple" };
  const match = /^(\d*)-(\d*)$/.exec(specs[0]);
  if (!match || (match[1] === "" && match[2] === "")) return { kind: "ignored" };
  if (match[1] !== "" && match[2] !== "" && Number(match[2]) < Number(match[1])) {
    return { kind: "ignored" };
  }
  return { kind: "single", first: match[1] === "" ? null : Number(match[1]) };
}

/**
 * Applies a `Range` header to an object of `length` bytes (RFC 9110 §14.1.2): `full` when it
 * is absent, malformed or names several ranges; `unsatisfiable` when the range starts past
 * the end (or is a zero-length suffix); otherwise the inclusive `start`–`end`, clipped to
 * the object.
 *
 * @example
 * ```ts
 * parseRange("bytes=-100", 1000); // { kind: "partial", start: 900, end: 999 }
 * parseRange("bytes=1000-", 1000); // { kind: "unsatisfiable" }
 * ```
 */
export function parseRange(value: string, length: number): RangeDecision {
  const shape = rangeShape(value);
  if (shape.kind !== "single") return FULL;
  const spec = rangeSpecs(value)![0];
  const dash = spec.indexOf("-");
  const last = spec.slice(dash + 1);
  if (shape.first === null) {
    const suffix = Number(last);
    if (suffix === 0 || length === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, length - suffix), end: length - 1 };
  }
  if (shape.first >= length) return { kind: "unsatisfiable" };
  const end = last === "" ? length - 1 : Math.min(Number(last), length - 1);
  return { kind: "partial", start: shape.first, end };
}

/**
 * Whether an `If-Range` value still designates the stored object (RFC 9110 §13.1.5): an
 * entity tag by strong comparison, or a date equal to its `Last-Modified`.
 */
export function ifRangeMatches(value: string, stored: Headers): boolean {
  const trimmed = value.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith("W/")) {
    const etag = stored.get("etag");
    const a = parseEntityTag(trimmed);
    const b = etag === null ? null : parseEntityTag(etag);
    return a !== null && b !== null && strongMatch(a, b);
  }
  const date = parseHttpDate(trimmed);
  return date !== null && date === parseHttpDate(stored.get("last-modified"));
}

/**
 * Decides how to answer a request's `Range` from a stored object: an `If-Range` that no
 * longer matches makes it `full` (§13.1.5), otherwise {@linkcode parseRange}.
 *
 * @example
 * ```ts
 * evaluateRange(new Headers({ range: "bytes=0-9" }), 100, new Headers());
 * // { kind: "partial", start: 0, end: 9 }
 * ```
 */
export function evaluateRange(request: Headers, length: number, stored: Headers): RangeDecision {
  const range = request.get("range");
  if (range === null) return FULL;
  const ifRange = request.get("if-range");
  if (ifRange !== null && !ifRangeMatches(ifRange, stored)) return FULL;
  return parseRange(range, length);
}

/**
 * A `Content-Range` value for an inclusive range, or `bytes *\/length` without one.
 *
 * @example
 * ```ts
 * contentRange(1000, 0, 9); // "bytes 0-9/1000"
 * contentRange(1000); // "bytes *\/1000"
 * ```
 */
export function contentRange(length: number, start?: number, end?: number): string {
  return start === undefined || end === undefined
    ? `bytes */${length}`
    : `bytes ${start}-${end}/${length}`;
}
