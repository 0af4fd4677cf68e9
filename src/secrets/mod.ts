/**
 * Secrets: the in-memory TTL store and the ClearKey keys it holds.
 * @module
 */
export { type SecretEntryInfo, SecretStore, type SecretStoreOptions } from "./store.ts";
export {
  base64UrlToBytes,
  bytesToBase64Url,
  bytesToHex,
  CLEARKEY_PREFIX,
  type ClearKeyEntry,
  clearKeyId,
  hexToBytes,
  loadClearKeys,
} from "./clearkey.ts";
export { configuredSecretValues } from "./values.ts";
