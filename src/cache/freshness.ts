/**
 * RFC 9111 freshness as pure functions over headers and clocks: may a response be stored
 * by a shared cache (§3), how long is it fresh (§4.2.1), how old is it (§4.2.3), may it be
 * served stale (RFC 5861), and which client request directives the edge honours.
 * @module
 */
import { type CacheControl, parseCacheControl } from "./cache_control.ts";

/** What an object is, for the default TTLs of origins that send no freshness. */
export type ContentKind = "playlist" | "segment" | "other";

/** The configured defaults freshness falls back on. */
export interface FreshnessDefaults {
  /** Lifetime of a `200`/`203` response without explicit freshness, by kind (seconds). */
  readonly defaultTtlSecs: Readonly<Record<ContentKind, number>>;
  /** `stale-while-revalidate` for responses that carry none (seconds). */
  readonly staleWhileRevalidateSecs: number;
  /** `stale-if-error` for responses that carry none (seconds). */
  readonly staleIfErrorSecs: number;
}

/** Why a response is not stored. */
export type NotStorableReason =
  | "method"
  | "status"
  | "no-store"
  | "private"
  | "authorization"
  | "set-cookie"
  | "vary-star"
  | "no-freshness";

/**
 * Statuses heuristically cacheable (RFC 9110 §15.1), except 206: a partial response is
 * never stored (a range is answered from a complete object instead).
 */
const CACHEABLE_BY_DEFAULT: ReadonlySet<number> = new Set([
  200,
  203,
  204,
  300,
  301,
  308,
  404,
  405,
  410,
  414,
  501,
]);

/** Statuses the configured default TTLs apply to (others need explicit freshness). */
const DEFAULT_TTL_STATUSES: ReadonlySet<number> = new Set([200, 203]);

/** The request with the facts storability needs. */
export interface RequestFacts {
  /** The request method. */
  readonly method: string;
  /** The request's header fields. */
  readonly headers: Headers;
}

/** The response with the facts storability and freshness need. */
export interface ResponseFacts {
  /** The response status. */
  readonly status: number;
  /** The response's header fields. */
  readonly headers: Headers;
}

const MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";
const IMF_FIXDATE = /^[A-Z][a-z]{2}, (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC850_DATE = /^[A-Z][a-z]+, (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME_DATE = /^[A-Z][a-z]{2} ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

function utc(
  year: number,
  month: string,
  day: string,
  h: string,
  m: string,
  s: string,
): number | null {
  const index = MONTHS.indexOf(month);
  if (index % 3 !== 0) return null;
  const ms = Date.UTC(year, index / 3, Number(day), Number(h), Number(m), Number(s));
  return Number.isNaN(ms) ? null : ms;
}

/**
 * An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms,
 * all UTC) as milliseconds, or `null` when absent or invalid (`Expires: 0` is invalid, so
 * it means "already expired").
 *
 * @example
 * ```ts
 * parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"); // 784111777000
 * parseHttpDate("0"); // null
 * ```
 */
export function parseHttpDate(value: string | null): number | null {
  if (value === null) return null;
  const text = value.trim();
  let m = IMF_FIXDATE.exec(text);
  if (m) return utc(Number(m[3]), m[2], m[1], m[4], m[5], m[6]);
  m = RFC850_DATE.exec(text);
  if (m) {
    // A two-digit year more than 50 years in the future means the past century (§5.6.7).
    const now = new Date().getUTCFullYear();
    let year = Math.floor(now / 100) * 100 + Number(m[3]);
    if (year > now + 50) year -= 100;
    return utc(year, m[2], m[1], m[4], m[5], m[6]);
  }
  m = ASCTIME_DATE.exec(text);
  if (m) return utc(Number(m[6]), m[1], m[2].trim(), m[3], m[4], m[5]);
  return null;
}

/** The lower-cased field names of a `Vary` header (`["*"]` for `Vary: *`). */
export function varyNames(headers: Headers): readonly string[] {
  const value = headers.get("vary");
  if (value === null) return [];
  const names = value.split(",").map((n) => n.trim().toLowerCase()).filter((n) => n !== "");
  return names.includes("*") ? ["*"] : [...new Set(names)].sort();
}

/**
 * Why a shared cache must not store `response` to `request` (RFC 9111 §3), or `null` when it
 * may. Beyond the RFC, sProx refuses responses that set cookies (a cookie is one client's
 * state), stores no `5xx` (a transient failure would outlive its cause) and no `206`/`304`
 * (only complete objects are stored).
 *
 * @example
 * ```ts
 * const response = { status: 200, headers: new Headers({ "cache-control": "private" }) };
 * notStorableReason({ method: "GET", headers: new Headers() }, response); // "private"
 * ```
 */
export function notStorableReason(
  request: RequestFacts,
  response: ResponseFacts,
): NotStorableReason | null {
  if (request.method !== "GET") return "method";
  const status = response.status;
  if (status < 200 || (status >= 500 && status !== 501) || status === 206 || status === 304) {
    return "status";
  }
  const cc = parseCacheControl(response.headers.get("cache-control"));
  if (cc.noStore) return "no-store";
  if (cc.private) return "private";
  // §3.5: a request with credentials may only be stored when the origin says it is shareable.
  if (
    request.headers.has("authorization") &&
    !(cc.public || cc.sMaxAge !== undefined || cc.mustRevalidate)
  ) return "authorization";
  if (response.headers.has("set-cookie")) return "set-cookie";
  if (varyNames(response.headers)[0] === "*") return "vary-star";
  const explicit = cc.public || cc.maxAge !== undefined || cc.sMaxAge !== undefined ||
    response.headers.has("expires");
  if (!explicit && !CACHEABLE_BY_DEFAULT.has(status)) return "no-freshness";
  return null;
}

/** How long a stored response is fresh, and how long it may be served stale. */
export interface Freshness {
  /** Freshness lifetime in seconds (RFC 9111 §4.2.1). */
  readonly lifetimeSecs: number;
  /** Seconds past its lifetime it may be served while revalidating in the background. */
  readonly staleWhileRevalidateSecs: number;
  /** Seconds past its lifetime it may be served when the origin fails. */
  readonly staleIfErrorSecs: number;
  /** `no-cache`: stored, but never used without a successful revalidation. */
  readonly alwaysRevalidate: boolean;
  /** The lifetime is a configured default, not the origin's. */
  readonly heuristic: boolean;
}

/**
 * The freshness of a response: lifetime from `s-maxage`, else `max-age`, else `Expires` −
 * `Date` (RFC 9111 §4.2.1; a missing `Date` counts as the time the response arrived, an
 * invalid `Expires` as already expired), else the configured default TTL for the kind (the
 * only heuristic used, and only for `200`/`203` or `public` responses). Stale windows come
 * from the response's `stale-while-revalidate`/`stale-if-error` (RFC 5861), else from the
 * defaults; `no-cache`, `must-revalidate` and `proxy-revalidate` forbid serving stale
 * (§4.2.4), and `s-maxage` (which implies `proxy-revalidate`, §5.2.2.10) keeps only the
 * windows the origin states explicitly.
 *
 * @example
 * ```ts
 * const headers = new Headers({ "cache-control": "max-age=10, stale-while-revalidate=5" });
 * const f = freshnessOf({ status: 200, headers }, "segment", defaults, Date.now());
 * f.lifetimeSecs; // 10
 * ```
 */
export function freshnessOf(
  response: ResponseFacts,
  kind: ContentKind,
  defaults: FreshnessDefaults,
  responseTimeMs: number,
): Freshness {
  const headers = response.headers;
  const cc = parseCacheControl(headers.get("cache-control"));
  let lifetimeSecs: number;
  let heuristic = false;
  if (cc.sMaxAge !== undefined) lifetimeSecs = cc.sMaxAge;
  else if (cc.maxAge !== undefined) lifetimeSecs = cc.maxAge;
  else if (headers.has("expires")) {
    const expires = parseHttpDate(headers.get("expires"));
    const date = parseHttpDate(headers.get("date")) ?? responseTimeMs;
    lifetimeSecs = expires === null ? 0 : Math.max(0, Math.floor((expires - date) / 1000));
  } else if (DEFAULT_TTL_STATUSES.has(response.status) || cc.public) {
    lifetimeSecs = Math.max(0, defaults.defaultTtlSecs[kind]);
    heuristic = true;
  } else lifetimeSecs = 0;
  return { lifetimeSecs, heuristic, alwaysRevalidate: cc.noCache, ...staleWindows(cc, defaults) };
}

function staleWindows(
  cc: CacheControl,
  defaults: FreshnessDefaults,
): { staleWhileRevalidateSecs: number; staleIfErrorSecs: number } {
  if (cc.noCache || cc.mustRevalidate || cc.proxyRevalidate) {
    return { staleWhileRevalidateSecs: 0, staleIfErrorSecs: 0 };
  }
  const fallback = cc.sMaxAge === undefined;
  return {
    staleWhileRevalidateSecs: cc.staleWhileRevalidate ??
      (fallback ? Math.max(0, defaults.staleWhileRevalidateSecs) : 0),
    staleIfErrorSecs: cc.staleIfError ?? (fallback ? Math.max(0, defaults.staleIfErrorSecs) : 0),
  };
}

/** When a response was requested and received (milliseconds on the cache's clock). */
export interface ExchangeTimes {
  /** When the request was sent (`request_time`). */
  readonly requestTimeMs: number;
  /** When the response head arrived (`response_time`). */
  readonly responseTimeMs: number;
}

/**
 * The corrected initial age in seconds (RFC 9111 §4.2.3): the larger of the apparent age
 * (`response_time − Date`) and the `Age` header plus the response delay.
 *
 * @example
 * ```ts
 * const headers = new Headers({ age: "10", date: new Date(1_000_000).toUTCString() });
 * initialAgeSecs(headers, { requestTimeMs: 1_000_000, responseTimeMs: 1_002_000 }); // 12
 * ```
 */
export function initialAgeSecs(
  headers: Headers,
  times: ExchangeTimes,
  options: { heuristic?: boolean } = {},
): number {
  const ageText = headers.get("age")?.trim();
  const ageValue = ageText && /^\d+$/.test(ageText) ? Number(ageText) : 0;
  // A lifetime sProx chose itself (a configured default TTL, the live-playlist cap) runs
  // from arrival: the origin's `Date`, lagging by up to a second through its own clock
  // caching, would otherwise end a one-second playlist lifetime on arrival.
  const date = options.heuristic
    ? times.responseTimeMs
    : parseHttpDate(headers.get("date")) ?? times.responseTimeMs;
  // `Date` has one-second resolution: the part of a second after it is not age (else a
  // response dated 12:00:00 arriving at 12:00:00.9 would be 0.9 s old, and a live
  // playlist's one-second lifetime would end at once).
  const apparentAge = Math.floor(Math.max(0, times.responseTimeMs - date) / 1000);
  const responseDelay = Math.max(0, times.responseTimeMs - times.requestTimeMs) / 1000;
  return Math.max(apparentAge, ageValue + responseDelay);
}

/**
 * The current age in seconds (RFC 9111 §4.2.3): corrected initial age plus resident time.
 *
 * @example
 * ```ts
 * currentAgeSecs(12, 1_002_000, 1_005_000); // 15
 * ```
 */
export function currentAgeSecs(initialAge: number, responseTimeMs: number, nowMs: number): number {
  return initialAge + Math.max(0, nowMs - responseTimeMs) / 1000;
}

/** What a stored response of a given age may be used for. */
export interface Usability {
  /** Servable without contacting the origin. */
  readonly fresh: boolean;
  /** Stale, but servable while a background revalidation runs. */
  readonly staleWhileRevalidate: boolean;
  /** Stale, but servable when the origin fails. */
  readonly staleIfError: boolean;
  /** Remaining freshness in seconds (negative once stale), for `Cache-Status: ttl`. */
  readonly ttlSecs: number;
}

/**
 * Classifies a stored response at `ageSecs`: fresh while `lifetime > age` (§4.2), then
 * inside its stale windows (RFC 5861 §3, §4). A `no-cache` response is never fresh.
 *
 * @example
 * ```ts
 * const u = usabilityOf({ lifetimeSecs: 10, staleWhileRevalidateSecs: 5, staleIfErrorSecs: 0,
 *   alwaysRevalidate: false, heuristic: false }, 12);
 * u.staleWhileRevalidate; // true
 * ```
 */
export function usabilityOf(freshness: Freshness, ageSecs: number): Usability {
  const ttlSecs = freshness.lifetimeSecs - ageSecs;
  const staleness = -ttlSecs;
  const usable = !freshness.alwaysRevalidate;
  return {
    fresh: usable && ttlSecs > 0,
    staleWhileRevalidate: usable && ttlSecs <= 0 && staleness < freshness.staleWhileRevalidateSecs,
    staleIfError: usable && ttlSecs <= 0 && staleness < freshness.staleIfErrorSecs,
    ttlSecs,
  };
}

/**
 * Seconds after its generation a stored response stops being worth keeping: the end of its
 * longest stale window, or, when it has a validator (`ETag`, `Last-Modified`), `keepSecs`
 * past its lifetime so a later request revalidates it (a `304`) instead of refetching it.
 *
 * @example
 * ```ts
 * retentionSecs(freshness, true, 60); // lifetime + max(stale windows, 60)
 * ```
 */
export function retentionSecs(
  freshness: Freshness,
  hasValidator: boolean,
  keepSecs: number,
): number {
  return freshness.lifetimeSecs + Math.max(
    freshness.alwaysRevalidate ? 0 : freshness.staleWhileRevalidateSecs,
    freshness.alwaysRevalidate ? 0 : freshness.staleIfErrorSecs,
    hasValidator ? keepSecs : 0,
  );
}

/** The client request directives the edge honours. */
export interface RequestPolicy {
  /** `only-if-cached`: answer from the cache or with `504` (RFC 9111 §5.2.1.7). */
  readonly onlyIfCached: boolean;
}

/**
 * The client's request directives as the edge applies them: only `only-if-cached` is
 * honoured. `no-cache`, `no-store`, `max-age`, `max-stale`, `min-fresh` and
 * `Pragma: no-cache` are ignored: a shared edge in front of an origin serves what the origin
 * allowed, and a player's reload must not turn into an origin request per viewer.
 *
 * @example
 * ```ts
 * requestPolicyOf(new Headers({ "cache-control": "only-if-cached" })).onlyIfCached; // true
 * ```
 */
export function requestPolicyOf(headers: Headers): RequestPolicy {
  return { onlyIfCached: parseCacheControl(headers.get("cache-control")).onlyIfCached };
}
