/**
 * Response-header overrides of direct mode, in MediaFlow's shapes: `r_<name>=<value>` sets
 * a header on this response, `rp_<name>=<value>` on the segments a playlist links to (and
 * on `/proxy/stream` itself), `x_headers=a,b` removes upstream headers. Only names of the
 * operator's `direct_stream.response_header_overrides` may be set, and a `content-type`
 * value must be one the content-type allowlist admits. Pure.
 * @module
 */
import { ProxyError } from "../../errors/mod.ts";
import { COPIED_RESPONSE_HEADERS } from "../../routing/mod.ts";
import { type ContentTypePolicy, isContentTypeAllowed, mediaTypeOf } from "./content_type.ts";

/** The validated response overrides of one request. */
export interface ResponseOverrides {
  /** `r_<name>`: set on the response of this request. */
  readonly set: ReadonlyMap<string, string>;
  /** `rp_<name>`: set on segment responses, and carried on every link of a playlist. */
  readonly propagate: ReadonlyMap<string, string>;
  /** `x_headers`: upstream headers removed from this response (lower-case names). */
  readonly remove: ReadonlySet<string>;
  /** The `rp_*` and `x_headers` parameters exactly as given, to repeat on links. */
  readonly carried: readonly (readonly [string, string])[];
}

/** What may be overridden. */
export interface ResponseOverridePolicy {
  /** Header names `r_`/`rp_` may set (lower-case). */
  readonly settable: ReadonlySet<string>;
  readonly contentTypes: ContentTypePolicy;
}

/** No overrides. */
export const NO_RESPONSE_OVERRIDES: ResponseOverrides = {
  set: new Map(),
  propagate: new Map(),
  remove: new Set(),
  carried: [],
};

const FIELD_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

/** Upstream headers `x_headers` can take away; sProx's own headers stay. */
const REMOVABLE: ReadonlySet<string> = new Set(COPIED_RESPONSE_HEADERS);

function bad(message: string): ProxyError {
  return new ProxyError(400, "bad_override", message);
}

function readOverride(
  key: string,
  value: string,
  prefix: string,
  policy: ResponseOverridePolicy,
): [string, string] {
  const name = key.slice(prefix.length).toLowerCase().replaceAll("_", "-");
  if (!FIELD_NAME.test(name)) throw bad(`response override "${key}" is not a header name`);
  if (!policy.settable.has(name)) throw bad(`response override "${name}" is not allowed`);
  if (!FIELD_VALUE.test(value)) throw bad(`response override "${name}" has an invalid value`);
  const trimmed = value.trim();
  if (name === "content-type") {
    const type = mediaTypeOf(trimmed);
    if (type === null || !isContentTypeAllowed(policy.contentTypes, type)) {
      throw bad(`response override content-type ${type ?? "(invalid)"} is not allowed`);
    }
  }
  return [name, trimmed];
}

/**
 * Reads `r_*`, `rp_*` and `x_headers` of a direct-mode request URL.
 *
 * @example
 * ```ts
 * parseResponseOverrides(new URL("http://s/proxy/stream?d=x&rp_content-type=video%2Fmp2t"), policy)
 *   .propagate.get("content-type"); // "video/mp2t"
 * ```
 */
export function parseResponseOverrides(
  url: URL,
  policy: ResponseOverridePolicy,
): ResponseOverrides {
  const set = new Map<string, string>();
  const propagate = new Map<string, string>();
  const remove = new Set<string>();
  const carried: [string, string][] = [];
  let any = false;
  for (const [key, value] of url.searchParams) {
    const lower = key.toLowerCase();
    if (lower.startsWith("rp_")) {
      const [name, text] = readOverride(key, value, "rp_", policy);
      if (propagate.has(name)) throw bad(`response override "${name}" is given twice`);
      propagate.set(name, text);
      carried.push([key, value]);
      any = true;
    } else if (lower.startsWith("r_")) {
      const [name, text] = readOverride(key, value, "r_", policy);
      if (set.has(name)) throw bad(`response override "${name}" is given twice`);
      set.set(name, text);
      any = true;
    } else if (lower === "x_headers") {
      for (const part of value.split(",")) {
        const name = part.trim().toLowerCase();
        if (name === "") continue;
        if (!FIELD_NAME.test(name)) throw bad(`x_headers names "${name}", not a header name`);
        remove.add(name);
      }
      carried.push([key, value]);
      any = true;
    }
  }
  return any ? { set, propagate, remove, carried } : NO_RESPONSE_OVERRIDES;
}

/**
 * Applies overrides to the (mutable) headers of a response sProx built: removals first
 * (only upstream headers sProx copies; its own safety, CORS and framing headers stay), then
 * `rp_*` when this response is a segment, then `r_*`.
 *
 * @example
 * ```ts
 * applyResponseOverrides(response.headers, overrides, { segment: true });
 * ```
 */
export function applyResponseOverrides(
  headers: Headers,
  overrides: ResponseOverrides,
  options: { readonly segment: boolean },
): void {
  for (const name of overrides.remove) {
    if (REMOVABLE.has(name)) headers.delete(name);
  }
  if (options.segment) {
    for (const [name, value] of overrides.propagate) headers.set(name, value);
  }
  for (const [name, value] of overrides.set) headers.set(name, value);
}
