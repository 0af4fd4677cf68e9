/**
 * Secrets: the in-memory TTL store, the ClearKey keys it holds, and the key sources
 * (the store, remote key servers) DRM keys are looked up in.
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
export {
  type KeyLookupOptions,
  KeyResolver,
  type KeySourceConfig,
  RemoteKeySource,
  remoteSourceTag,
} from "./key_sources.ts";
