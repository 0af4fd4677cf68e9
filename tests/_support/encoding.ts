/**
 * The tests' own hex and base64url (RFC 4648 §5, no padding), written apart from sProx's so
 * that what a test expects is not computed by the code under test.
 * @module
 */

/** Hex (an even run of digits) to bytes. */
export function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
}

/** Bytes to base64url without padding. */
export function b64urlOfBytes(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** base64url (padding optional) to bytes. */
export function bytesOfB64url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  return Uint8Array.from(atob(b64 + "=".repeat((4 - b64.length % 4) % 4)), (c) => c.charCodeAt(0));
}

/** A hex key id or key as EME ClearKey writes it (base64url). */
export function b64url(hex: string): string {
  return b64urlOfBytes(hexBytes(hex));
}

/** A base64url key id or key as hex. */
export function hexOfB64url(text: string): string {
  return Array.from(bytesOfB64url(text), (b) => b.toString(16).padStart(2, "0")).join("");
}
