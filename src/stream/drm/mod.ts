/**
 * DRM: the `/keys` listing, the W3C EME ClearKey endpoint, and server-side decryption of
 * CENC (`cenc`, `cbcs`) fMP4 into clear fMP4 (`/proxy/decrypt`, the `key_id`/`key`
 * decryption mode of the direct-mode manifests).
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
  type LicenseRequest,
  MAX_LICENSE_REQUEST_BYTES,
  readBodyLimited,
  readLicenseRequest,
} from "./clearkey.ts";
export { decryptFragments, type InitInfo, readInit } from "./cenc/mod.ts";
export {
  DECRYPT_PATH,
  type DecryptKeys,
  decryptLink,
  type DecryptLinkOptions,
  keyForKid,
  parseDecryptKeys,
  parseInitRange,
  rewriteForDecryption,
} from "./decrypt_links.ts";
export {
  type DecryptFetch,
  decryptRequests,
  decryptResponse,
  type DecryptResponseOptions,
  decryptUpstreamHeaders,
  fetchInitInfo,
  InitMemo,
  type InitSource,
} from "./decrypt_endpoint.ts";
