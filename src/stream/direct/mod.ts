/**
 * `/proxy/stream`: an allowlisted direct byte-range proxy guarded against private networks.
 *
 * The handler serves the endpoint; {@linkcode fetchDirect} fetches any URL under the same
 * rules (allowlist, SSRF guard with pinned connections, manual redirects, retries) for
 * callers such as manifest rewriting in direct mode; {@linkcode parseDirectRequest} reads
 * the `d` + `h_*` request contract.
 * @module
 */
export {
  type AllowRule,
  compileAllowlist,
  globToRegExp,
  isAllowed,
  type NormalisedUrl,
  normaliseUrl,
} from "./allowlist.ts";
export { type CompileDirectOptions, compileDirectStream, type DirectPlan } from "./compile.ts";
export { type DirectFetchOptions, type DirectFetchResult, fetchDirect } from "./fetch.ts";
export {
  checkDestination,
  type CheckedAddress,
  createResolver,
  type GuardOptions,
  type Resolver,
} from "./guard.ts";
export {
  compileContentTypes,
  type ContentTypePolicy,
  isContentTypeAllowed,
  mediaTypeOf,
  screenContentType,
} from "./content_type.ts";
export { type DirectRequestFacts, filterResponse, handleDirectStream } from "./handler.ts";
export {
  type DirectRequest,
  OVERRIDABLE_HEADERS,
  parseDirectRequest,
  PASSED_THROUGH_HEADERS,
  upstreamHeaders,
} from "./request.ts";
export {
  type AddressCategory,
  classifyAddress,
  isLocalhostName,
  parseHostLiteral,
} from "./ssrf.ts";
