/**
 * Sealing of secret values for the shared key tier: AES-256-GCM (WebCrypto) under
 * `tokens.aes_key`, a fresh random 96-bit IV per value (NIST SP 800-38D §8.2.2), and the
 * entry's identifier bound as additional authenticated data, so a sealed value copied to
 * another identifier fails authentication instead of handing out the wrong key.
 *
 * A sealed value is text: `v1.` then base64url (no padding) of IV (12 bytes) ‖ ciphertext ‖
 * tag (16 bytes).
 * @module
 */
import { base64UrlToBytes, bytesToBase64Url, hexToBytes } from "../net/mod.ts";

/** Version prefix of a sealed value; another prefix is refused. */
export const SEAL_PREFIX = "v1.";

/** Context of the additional authenticated data: a sealed value means nothing elsewhere. */
const AAD_CONTEXT = "sprox shared key v1\u0000";

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Imports the AES-256-GCM key of `tokens.aes_key` (64 hex digits) for sealing; not extractable.
 *
 * @example
 * ```ts
 * const key = await importSealKey("00".repeat(32));
 * ```
 */
export async function importSealKey(hex: string): Promise<CryptoKey> {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new TypeError("Cannot import the sealing key: expected 64 hex digits");
  }
  const bytes = hexToBytes(hex)!;
  try {
    return await crypto.subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"]);
  } finally {
    bytes.fill(0);
  }
}

function aad(id: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(AAD_CONTEXT + id);
}

/**
 * Seals `value` for the entry `id`.
 *
 * @example
 * ```ts
 * const sealed = await sealValue(key, "clearkey:00112233445566778899aabbccddeeff", bytes);
 * // "v1.…" — only openValue() with the same key and id gets bytes back
 * ```
 */
export async function sealValue(key: CryptoKey, id: string, value: Uint8Array): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: aad(id), tagLength: TAG_BYTES * 8 },
      key,
      value.slice(),
    ),
  );
  const out = new Uint8Array(IV_BYTES + ciphertext.length);
  out.set(iv);
  out.set(ciphertext, IV_BYTES);
  return SEAL_PREFIX + bytesToBase64Url(out);
}

/**
 * Opens a value sealed for `id`; `undefined` when it is malformed, sealed for another id,
 * altered, or sealed under another key (all the same to the caller: no such value).
 *
 * @example
 * ```ts
 * await openValue(key, "clearkey:00112233445566778899aabbccddeeff", sealed); // the bytes
 * await openValue(key, "clearkey:ffeeddccbbaa99887766554433221100", sealed); // undefined
 * ```
 */
export async function openValue(
  key: CryptoKey,
  id: string,
  sealed: string,
): Promise<Uint8Array | undefined> {
  if (!sealed.startsWith(SEAL_PREFIX)) return undefined;
  const bytes = base64UrlToBytes(sealed.slice(SEAL_PREFIX.length));
  if (bytes === undefined || bytes.length < IV_BYTES + TAG_BYTES) return undefined;
  try {
    const plain = await crypto.subtle.decrypt(
      {
        name: "AES-GCM",
        iv: bytes.slice(0, IV_BYTES),
        additionalData: aad(id),
        tagLength: TAG_BYTES * 8,
      },
      key,
      bytes.slice(IV_BYTES),
    );
    return new Uint8Array(plain);
  } catch {
    return undefined;
  }
}
