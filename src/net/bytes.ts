/**
 * Byte notations of keys, tokens and sealed values: hex and base64url (RFC 4648 §5).
 * @module
 */

/**
 * Hex to bytes; `undefined` when not an even run of hex digits.
 *
 * @example
 * ```ts
 * hexToBytes("00ff"); // Uint8Array [0, 255]
 * ```
 */
export function hexToBytes(hex: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * Bytes to lower-case hex.
 *
 * @example
 * ```ts
 * bytesToHex(Uint8Array.of(0, 255)); // "00ff"
 * ```
 */
export function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Bytes to base64url without padding (as EME ClearKey and URL tokens want it).
 *
 * @example
 * ```ts
 * bytesToBase64Url(Uint8Array.of(251, 255)); // "-_8"
 * ```
 */
export function bytesToBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * base64url (padding optional) to bytes; `undefined` when malformed.
 *
 * @example
 * ```ts
 * base64UrlToBytes("-_8"); // Uint8Array [251, 255]
 * ```
 */
export function base64UrlToBytes(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) return undefined;
  const stripped = text.replace(/=+$/, "");
  if (stripped.length % 4 === 1) return undefined;
  const b64 = stripped.replace(/-/g, "+").replace(/_/g, "/");
  try {
    const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}
