/**
 * ClearKey keys in the secret store: identifiers are `clearkey:<kid as 32 lower-case hex>`,
 * values the 16 key bytes. Conversions between the hex of configuration and the
 * base64url (no padding) of W3C EME ClearKey.
 * @module
 */
import { base64UrlToBytes, bytesToBase64Url, bytesToHex, hexToBytes } from "../net/mod.ts";
import type { SecretStore } from "./store.ts";

/** Identifier prefix of ClearKey entries. */
export const CLEARKEY_PREFIX = "clearkey:";

/** One configured ClearKey pair (`secrets.clearkey[]`, `SPROX_CLEARKEY_KEYS`). */
export interface ClearKeyEntry {
  /** 32 hex digits. */
  readonly kid: string;
  /** 32 hex digits. */
  readonly key: string;
  readonly ttl_secs: number | null;
}

/**
 * A ClearKey key id or key as people write it: 32 hex digits (dashes allowed, as in UUIDs) or
 * base64url of 16 bytes, surrounding blanks ignored; `undefined` otherwise.
 *
 * @example
 * ```ts
 * parseKeyBytes("00112233-4455-6677-8899-aabbccddeeff")?.length; // 16
 * parseKeyBytes("ABEiM0RVZneImaq7zN3u_w")?.length; // 16
 * ```
 */
export function parseKeyBytes(text: string): Uint8Array | undefined {
  const trimmed = text.trim();
  const hex = /^[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}$/.test(trimmed)
    ? trimmed.replaceAll("-", "")
    : null;
  const bytes = hex !== null ? hexToBytes(hex) : base64UrlToBytes(trimmed);
  return bytes?.length === 16 ? bytes : undefined;
}

/** The store identifier of a key id. */
export function clearKeyId(kid: Uint8Array): string {
  return `${CLEARKEY_PREFIX}${bytesToHex(kid)}`;
}

/**
 * Loads configured ClearKey pairs into the store (later entries for the same kid win). A
 * pair without its own `ttl_secs` lives as long as the configuration: the store's default
 * TTL is for keys added at run time. Returns how many were loaded.
 *
 * @example
 * ```ts
 * loadClearKeys(store, config.secrets.clearkey);
 * ```
 */
export function loadClearKeys(store: SecretStore, entries: readonly ClearKeyEntry[]): number {
  let loaded = 0;
  for (const entry of entries) {
    const kid = hexToBytes(entry.kid);
    const key = hexToBytes(entry.key);
    if (!kid || !key) continue; // The schema validated both; defensive only.
    store.set(clearKeyId(kid), key, { ttlSecs: entry.ttl_secs ?? Infinity });
    key.fill(0);
    loaded++;
  }
  return loaded;
}

/** One key the store holds, as the key listings show it (never its value). */
export interface KeyListing {
  /** The prefix of the store identifier (`clearkey`), `secret` without one. */
  readonly kind: string;
  /** The identifier without its prefix (a ClearKey kid in hex). */
  readonly id: string;
  /** A ClearKey kid in base64url (EME's form). */
  readonly kid?: string;
  readonly source: string;
  /** Seconds left; `null` for a key that lives as long as the configuration. */
  readonly expires_in_secs: number | null;
}

/**
 * The identifiers `store` holds, with their sources and remaining lifetimes; with a shared
 * tier, every instance's keys added at run time (Redis) too. What `/keys` and
 * `GET /admin/keys` list.
 *
 * @example
 * ```ts
 * const keys = await listHeldKeys(store); // [{ kind: "clearkey", id: "0011…", kid: "ABE…", … }]
 * ```
 */
export async function listHeldKeys(store: SecretStore): Promise<KeyListing[]> {
  const entries = store.shared ? await store.shared.list() : store.list();
  const now = store.now();
  return entries.map(({ id, expiresAt, source }) => {
    const colon = id.indexOf(":");
    const kind = colon > 0 ? id.slice(0, colon) : "secret";
    const hex = id.slice(colon + 1);
    const kid = kind === "clearkey" ? hexToBytes(hex) : undefined;
    return {
      kind,
      id: hex,
      ...(kid ? { kid: bytesToBase64Url(kid) } : {}),
      source,
      expires_in_secs: expiresAt === Infinity
        ? null
        : Math.max(0, Math.ceil((expiresAt - now) / 1000)),
    };
  });
}
