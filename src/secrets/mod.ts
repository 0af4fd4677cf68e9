/**
 * Secrets: the in-memory TTL store (optionally backed by a shared tier in Redis), the ClearKey
 * keys it holds, and the key sources (the store, the shared tier, remote key servers) DRM keys
 * are looked up in.
 * @module
 */
export {
  type SecretEntryInfo,
  SecretStore,
  type SecretStoreChange,
  type SecretStoreListener,
  type SecretStoreOptions,
} from "./store.ts";
export {
  SHARED_HOLD_SECS,
  SHARED_SOURCE,
  type SharedKeys,
  type SharedKeyTier,
  type SharedWrite,
} from "./shared.ts";
export { base64UrlToBytes, bytesToBase64Url, bytesToHex, hexToBytes } from "../net/mod.ts";
export {
  CLEARKEY_PREFIX,
  type ClearKeyEntry,
  clearKeyId,
  type KeyListing,
  listHeldKeys,
  loadClearKeys,
  parseKeyBytes,
} from "./clearkey.ts";
export { configuredSecretValues } from "./values.ts";
export {
  type KeyLookupOptions,
  KeyResolver,
  type KeySourceConfig,
  RemoteKeySource,
  remoteSourceTag,
} from "./key_sources.ts";
