/**
 * DRM: the `/keys` listing and the W3C EME ClearKey endpoint.
 * @module
 */
export {
  answerLicenseRequest,
  type ClearKeyJwk,
  clearKeyJwks,
  type ClearKeyLicense,
  handleClearKey,
  handleKeysList,
  type KeyEndpointOptions,
  type KeyLookup,
  MAX_LICENSE_REQUEST_BYTES,
  readBodyLimited,
} from "./clearkey.ts";
