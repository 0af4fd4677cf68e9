import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { importSealKey, openValue, SEAL_PREFIX, sealValue } from "./keys_seal.ts";

const AES_KEY = "0f".repeat(32);
const OTHER_KEY = "f0".repeat(32);
const ID = "clearkey:00112233445566778899aabbccddeeff";
const VALUE = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);

function b64url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(
    atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)),
    (c) => c.charCodeAt(0),
  );
}

function toB64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

Deno.test("sealValue() round-trips through openValue() with the same key and id", async () => {
  const key = await importSealKey(AES_KEY);
  const sealed = await sealValue(key, ID, VALUE);
  assert(sealed.startsWith(SEAL_PREFIX), sealed);
  // IV (12) + ciphertext (16) + tag (16).
  assertEquals(b64url(sealed.slice(SEAL_PREFIX.length)).length, 44);
  assertEquals(await openValue(key, ID, sealed), VALUE);
});

Deno.test("sealValue() draws a fresh IV: sealing twice gives two different texts", async () => {
  const key = await importSealKey(AES_KEY);
  const a = await sealValue(key, ID, VALUE);
  const b = await sealValue(key, ID, VALUE);
  assert(a !== b);
  assert(a.slice(3, 19) !== b.slice(3, 19), "the IVs differ");
});

Deno.test("sealed text carries no form of the plaintext key", async () => {
  const key = await importSealKey(AES_KEY);
  const sealed = await sealValue(key, ID, VALUE);
  const hex = Array.from(VALUE, (b) => b.toString(16).padStart(2, "0")).join("");
  for (
    const form of [hex, hex.toUpperCase(), toB64url(VALUE), btoa(String.fromCharCode(...VALUE))]
  ) {
    assert(!sealed.includes(form.replace(/=+$/, "")), `plaintext form ${form} in ${sealed}`);
  }
});

Deno.test("openValue() refuses a sealed value moved to another id (AAD binds the id)", async () => {
  const key = await importSealKey(AES_KEY);
  const sealed = await sealValue(key, ID, VALUE);
  assertEquals(
    await openValue(key, "clearkey:ffeeddccbbaa99887766554433221100", sealed),
    undefined,
  );
  assertEquals(await openValue(key, `${ID} `, sealed), undefined);
});

Deno.test("openValue() refuses every single-bit change of the sealed bytes", async () => {
  const key = await importSealKey(AES_KEY);
  const sealed = await sealValue(key, ID, VALUE);
  const bytes = b64url(sealed.slice(SEAL_PREFIX.length));
  for (let i = 0; i < bytes.length; i++) {
    const tampered = bytes.slice();
    tampered[i] ^= 0x01;
    assertEquals(
      await openValue(key, ID, SEAL_PREFIX + toB64url(tampered)),
      undefined,
      `byte ${i} flipped was accepted`,
    );
  }
});

Deno.test("openValue() refuses another key, a truncated value, another version and junk", async () => {
  const key = await importSealKey(AES_KEY);
  const other = await importSealKey(OTHER_KEY);
  const sealed = await sealValue(key, ID, VALUE);
  assertEquals(await openValue(other, ID, sealed), undefined);
  assertEquals(await openValue(key, ID, sealed.slice(0, -4)), undefined);
  assertEquals(await openValue(key, ID, SEAL_PREFIX), undefined);
  assertEquals(await openValue(key, ID, `v2.${sealed.slice(SEAL_PREFIX.length)}`), undefined);
  assertEquals(await openValue(key, ID, "v1.not base64!"), undefined);
  assertEquals(await openValue(key, ID, sealed.slice(SEAL_PREFIX.length)), undefined);
});

Deno.test("importSealKey() refuses anything but 64 hex digits", async () => {
  for (const bad of ["", "00".repeat(31), "00".repeat(33), "zz".repeat(32)]) {
    let message = "";
    try {
      await importSealKey(bad);
    } catch (error) {
      message = (error as Error).message;
    }
    assertEquals(message, "Cannot import the sealing key: expected 64 hex digits");
  }
});
