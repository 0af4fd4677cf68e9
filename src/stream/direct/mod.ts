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
export {
  type CompileDirectOptions,
  compileDirectStream,
  type DirectPlan,
  type TokenPlan,
} from "./compile.ts";
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
export {
  contentDisposition,
  type DirectRequestFacts,
  type DirectStreamOptions,
  filterResponse,
  handleDirectStream,
} from "./handler.ts";
export {
  type DirectRequest,
  type DirectRequestOptions,
  OVERRIDABLE_HEADERS,
  parseDestination,
  parseDirectRequest,
  parseHeaderOverrides,
  PASSED_THROUGH_HEADERS,
  requiredDestination,
  upstreamHeaders,
} from "./request.ts";
export {
  applyResponseOverrides,
  NO_RESPONSE_OVERRIDES,
  parseResponseOverrides,
  type ResponseOverridePolicy,
  type ResponseOverrides,
} from "./response_overrides.ts";
export {
  type AddressCategory,
  classifyAddress,
  isLocalhostName,
  parseHostLiteral,
} from "./ssrf.ts";
export { type DirectEndpoint, type DirectEndpointKind, locateDirectEndpoint } from "./endpoints.ts";
export {
  type GenerateCommon,
  type GenerateItem,
  type GenerateRequest,
  generateUrl,
  MAX_GENERATED_URLS,
  readGenerateRequest,
} from "./generate.ts";
