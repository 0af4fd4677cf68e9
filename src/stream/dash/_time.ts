/**
 * ISO 8601 durations and date-times as they appear in MPD attributes (ISO/IEC 23009-1
 * §5.3.1.2 uses xs:duration and xs:dateTime).
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";

const DURATION =
  /^(-)?P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * Parses an xs:duration into seconds (years as 365 days, months as 30 days, as
 * mpd-parser does). Throws 502 `manifest_invalid` for anything else.
 *
 * @example
 * ```ts
 * parseDuration("PT1M30.5S"); // 90.5
 * ```
 */
export function parseDuration(value: string): number {
  const m = DURATION.exec(value.trim());
  if (!m || value.trim() === "P" || value.trim().endsWith("T")) {
    throw new ProxyError(502, "manifest_invalid", "MPD holds an invalid duration");
  }
  const n = (i: number) => (m[i] ? Number(m[i]) : 0);
  const seconds = n(2) * 31536000 + n(3) * 2592000 + n(4) * 86400 + n(5) * 3600 + n(6) * 60 +
    n(7);
  return m[1] ? -seconds : seconds;
}

/**
 * Parses an xs:dateTime into epoch milliseconds; a value without a zone is taken as UTC.
 *
 * @example
 * ```ts
 * parseDateTime("1970-01-01T00:00:10Z"); // 10000
 * ```
 */
export function parseDateTime(value: string): number {
  const text = value.trim();
  const zoned = /(?:Z|[+-]\d\d:?\d\d)$/i.test(text) ? text : `${text}Z`;
  const ms = Date.parse(zoned);
  if (Number.isNaN(ms)) {
    throw new ProxyError(502, "manifest_invalid", "MPD holds an invalid date-time");
  }
  return ms;
}
