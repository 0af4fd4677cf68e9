/**
 * URL generation in MediaFlow's shape (`/generate_url`, `/generate_urls`): a client hands
 * sProx a destination, its request and response headers and options, and gets back the
 * sProx URL that plays it — a plain URL with query parameters, or a signed, expiring URL
 * (`/_token_<t>/…`) that carries them sealed or signed and stands in for the credential.
 *
 * Every URL is checked as sProx will check it when it is used (the same parsers: `d`, `h_*`,
 * `r_*`, `rp_*`, `x_headers`), and its destination against the allowlist, so a URL that
 * would be refused is never handed out.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { bytesToBase64Url } from "../../net/mod.ts";
import { tokenAddress } from "../../policy/mod.ts";
import { isAllowed, normaliseUrl } from "./allowlist.ts";
import type { DirectPlan } from "./compile.ts";
import { locateDirectEndpoint } from "./endpoints.ts";
import { parseDestination, parseHeaderOverrides } from "./request.ts";
import { parseResponseOverrides } from "./response_overrides.ts";

/** Most URLs one `/generate_urls` request may ask for. */
export const MAX_GENERATED_URLS = 1000;

/** One URL to generate (the fields of one MediaFlow `GenerateUrlRequest`). */
export interface GenerateItem {
  readonly endpoint: string;
  readonly destinationUrl: string | null;
  readonly queryParams: readonly (readonly [string, string])[];
  readonly requestHeaders: readonly (readonly [string, string])[];
  readonly responseHeaders: readonly (readonly [string, string])[];
  readonly propagateResponseHeaders: readonly (readonly [string, string])[];
  readonly removeResponseHeaders: readonly string[];
  readonly filename: string | null;
  readonly base64EncodeDestination: boolean;
}

/** What several URLs share. */
export interface GenerateCommon {
  /** Where sProx is reached (`mediaflow_proxy_url`), as an absolute http(s) URL. */
  readonly baseUrl: string;
  /** The credential in the body (`api_password` at the top level): asks for signed URLs. */
  readonly apiPassword: string | null;
  /** Seconds the signed URLs live (`expiration`). */
  readonly expiration: number | null;
  /** The one client address the signed URLs are for (`ip`), canonical. */
  readonly ip: string | null;
}

/** A parsed `/generate_url` or `/generate_urls` body. */
export interface GenerateRequest {
  readonly common: GenerateCommon;
  readonly items: readonly GenerateItem[];
}

function bad(message: string): ProxyError {
  return new ProxyError(400, "bad_request", message);
}

function record(value: unknown, name: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw bad(`'${name}' must be an object`);
  return value as Record<string, unknown>;
}

/** An object of scalar values as ordered pairs (numbers and booleans written as text). */
function pairs(value: unknown, name: string): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, item] of Object.entries(record(value, name))) {
    if (item === null || item === undefined || item === "") continue;
    if (typeof item !== "string" && typeof item !== "number" && typeof item !== "boolean") {
      throw bad(`'${name}.${key.slice(0, 40)}' must be a string`);
    }
    out.push([key, String(item)]);
  }
  return out;
}

function optionalString(value: unknown, name: string): string | null {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value !== "string") throw bad(`'${name}' must be a string`);
  return value;
}

function readItem(body: Record<string, unknown>): GenerateItem {
  const remove = body.remove_response_headers ?? [];
  if (!Array.isArray(remove) || remove.some((n) => typeof n !== "string")) {
    throw bad("'remove_response_headers' must be a list of header names");
  }
  return {
    endpoint: optionalString(body.endpoint, "endpoint") ?? "/proxy/stream",
    destinationUrl: optionalString(body.destination_url, "destination_url"),
    queryParams: pairs(body.query_params, "query_params"),
    requestHeaders: pairs(body.request_headers, "request_headers"),
    responseHeaders: pairs(body.response_headers, "response_headers"),
    propagateResponseHeaders: pairs(body.propagate_response_headers, "propagate_response_headers"),
    removeResponseHeaders: remove as string[],
    filename: optionalString(body.filename, "filename"),
    base64EncodeDestination: body.base64_encode_destination === true,
  };
}

function readCommon(body: Record<string, unknown>): GenerateCommon {
  const base = optionalString(body.mediaflow_proxy_url, "mediaflow_proxy_url");
  let baseUrl: URL;
  try {
    baseUrl = new URL(base ?? "");
  } catch {
    throw bad("'mediaflow_proxy_url' must be the absolute http(s) URL of this server");
  }
  if (baseUrl.protocol !== "http:" && baseUrl.protocol !== "https:") {
    throw bad("'mediaflow_proxy_url' must be the absolute http(s) URL of this server");
  }
  baseUrl.search = "";
  baseUrl.hash = "";
  const expiration = body.expiration ?? null;
  if (expiration !== null && (!Number.isSafeInteger(expiration) || (expiration as number) < 1)) {
    throw bad("'expiration' must be a whole number of seconds");
  }
  const ipText = optionalString(body.ip, "ip");
  const ip = ipText === null ? null : tokenAddress(ipText);
  if (ip === undefined) throw bad("'ip' must be an IP address");
  return {
    baseUrl: baseUrl.href.replace(/\/+$/, ""),
    apiPassword: optionalString(body.api_password, "api_password"),
    expiration: expiration as number | null,
    ip,
  };
}

/**
 * Reads a `/generate_url` body (`urls` absent) or a `/generate_urls` body (`urls`: the
 * items, sharing `mediaflow_proxy_url`, `api_password`, `expiration` and `ip`).
 *
 * @example
 * ```ts
 * readGenerateRequest({ mediaflow_proxy_url: "https://sprox.example", destination_url: url }, false);
 * ```
 */
export function readGenerateRequest(body: unknown, many: boolean): GenerateRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw bad("the body must be a JSON object");
  }
  const fields = body as Record<string, unknown>;
  const common = readCommon(fields);
  if (!many) return { common, items: [readItem(fields)] };
  if (!Array.isArray(fields.urls) || fields.urls.length === 0) {
    throw bad("'urls' must be a non-empty list");
  }
  if (fields.urls.length > MAX_GENERATED_URLS) {
    throw bad(`'urls' may hold at most ${MAX_GENERATED_URLS} entries`);
  }
  return { common, items: fields.urls.map((item) => readItem(record(item, "urls[]"))) };
}

/** Parameters that never go into a URL sProx generates (credentials belong elsewhere). */
const NEVER_CARRIED = new Set(["token"]);

/**
 * The query parameters of one item, in the order a MediaFlow client would write them:
 * `d`, the extra parameters, `h_*`, `r_*`, `rp_*`, `x_headers`.
 */
function itemParameters(item: GenerateItem, destination: string | null): [string, string][] {
  const params: [string, string][] = [];
  if (destination !== null) params.push(["d", destination]);
  for (const [key, value] of item.queryParams) {
    if (NEVER_CARRIED.has(key.toLowerCase()) || (key === "d" && destination !== null)) continue;
    params.push([key, value]);
  }
  for (const [name, value] of item.requestHeaders) {
    params.push([name.toLowerCase().startsWith("h_") ? name : `h_${name}`, value]);
  }
  for (const [name, value] of item.responseHeaders) {
    params.push([name.toLowerCase().startsWith("r_") ? name : `r_${name}`, value]);
  }
  for (const [name, value] of item.propagateResponseHeaders) {
    params.push([name.toLowerCase().startsWith("rp_") ? name : `rp_${name}`, value]);
  }
  if (item.removeResponseHeaders.length > 0) {
    params.push(["x_headers", item.removeResponseHeaders.join(",")]);
  }
  return params;
}

/**
 * The sProx URL of one item. Signed when the body asked for it (`api_password` at its top
 * level, or `expiration`, or `ip`); `now` is unix seconds.
 */
export async function generateUrl(
  item: GenerateItem,
  common: GenerateCommon,
  direct: DirectPlan,
  now: number,
): Promise<string> {
  const endpoint = locateDirectEndpoint(item.endpoint);
  if (!endpoint) throw bad(`'endpoint' names no sProx endpoint: ${item.endpoint.slice(0, 100)}`);
  const filename = item.filename ?? endpoint.filename;
  if (filename !== null && endpoint.canonical !== "/proxy/stream") {
    throw bad("'filename' is only for the /proxy/stream endpoint");
  }
  let destination: URL | null = null;
  if (item.destinationUrl !== null) {
    destination = parseDestination(item.destinationUrl, "destination_url");
    if (!isAllowed(direct.allowlist, normaliseUrl(destination))) {
      throw new ProxyError(403, "allowlist_denied", "destination is not allowlisted");
    }
  }
  const plain = itemParameters(item, destination?.href ?? null);
  // Checked exactly as the request will be: an override sProx would refuse is refused now.
  const probe = new URL(`http://sprox${endpoint.canonical}`);
  for (const [key, value] of plain) probe.searchParams.append(key, value);
  if (
    destination === null && endpoint.kind !== "mpd_init" && endpoint.kind !== "mpd_segment" &&
    endpoint.kind !== "ip"
  ) {
    throw bad("'destination_url' is required for this endpoint");
  }
  parseHeaderOverrides(probe, { extraOverridable: direct.extraOverridable });
  parseResponseOverrides(probe, direct.responseOverrides);
  const shown = filename === null ? "" : `/${encodeURIComponent(filename)}`;
  const signed = common.apiPassword !== null || common.expiration !== null || common.ip !== null;
  if (!signed) {
    const query = plain.map(([key, value], i) =>
      `${i === 0 ? "?" : "&"}${encodeURIComponent(key)}=${
        encodeURIComponent(
          key === "d" && item.base64EncodeDestination
            ? bytesToBase64Url(new TextEncoder().encode(value))
            : value,
        )
      }`
    ).join("");
    return `${common.baseUrl}${endpoint.canonical}${shown}${query}`;
  }
  const keys = direct.tokens.keys;
  if (!keys) throw bad("signed URLs are not configured on this server (AES_KEY or SIGNING_SECRET)");
  const lifetime = common.expiration ?? direct.tokens.defaultTtlSecs;
  if (lifetime > direct.tokens.maxTtlSecs) {
    throw bad(`'expiration' may be at most ${direct.tokens.maxTtlSecs} seconds`);
  }
  const token = await keys.issue({
    endpoint: endpoint.canonical,
    params: plain.filter(([key]) => key.toLowerCase() !== "api_password"),
    exp: Math.floor(now) + lifetime,
    ip: common.ip,
  });
  return `${common.baseUrl}/_token_${token}${endpoint.canonical}${shown}`;
}
