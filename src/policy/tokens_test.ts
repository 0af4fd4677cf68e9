import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { base64UrlToBytes, bytesToBase64Url } from "../net/mod.ts";
import {
  SEALED_TOKEN_VERSION,
  SIGNED_TOKEN_VERSION,
  tokenAddress,
  type TokenClaims,
  TokenKeys,
} from "./tokens.ts";

const AES = "0f".repeat(32);
const SIGNING = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
const NOW = 1_700_000_000;
const DESTINATION = "https://cdn.example/vod/secret-title/movie.mp4";

const CLAIMS: TokenClaims = {
  endpoint: "/proxy/stream",
  params: [["d", DESTINATION], ["h_referer", "https://player.example/"]],
  exp: NOW + 60,
  ip: null,
};

const sealed = TokenKeys.from({ aesKey: AES, signingSecret: null })!;
const signed = TokenKeys.from({ aesKey: null, signingSecret: SIGNING })!;
const both = TokenKeys.from({ aesKey: AES, signingSecret: SIGNING })!;

Deno.test("TokenKeys.from() is null without key material and seals when an AES key is set", () => {
  assertEquals(TokenKeys.from({ aesKey: null, signingSecret: null }), null);
  assertEquals(sealed.issuing, "sealed");
  assertEquals(signed.issuing, "signed");
  assertEquals(both.issuing, "sealed");
});

Deno.test("a sealed token round-trips and does not reveal its destination", async () => {
  const token = await sealed.issue(CLAIMS);
  const bytes = base64UrlToBytes(token)!;
  assertEquals(bytes[0], SEALED_TOKEN_VERSION);
  const text = new TextDecoder("latin1").decode(bytes);
  assert(!text.includes("cdn.example") && !text.includes("secret-title"), text);
  assertEquals(await sealed.verify(token, { now: NOW, clientIp: "198.51.100.7" }), CLAIMS);
  // Two seals of the same claims differ (random IV), and both open.
  const again = await sealed.issue(CLAIMS);
  assert(again !== token);
  assertEquals(await sealed.open(again), CLAIMS);
});

Deno.test("a signed token round-trips and carries its version byte", async () => {
  const token = await signed.issue({ ...CLAIMS, ip: "203.0.113.9" });
  assertEquals(base64UrlToBytes(token)![0], SIGNED_TOKEN_VERSION);
  assertEquals(await signed.verify(token, { now: NOW, clientIp: "203.0.113.9" }), {
    ...CLAIMS,
    ip: "203.0.113.9",
  });
});

Deno.test("changing any one byte of a token refuses it (sealed and signed)", async () => {
  for (const keys of [sealed, signed]) {
    const token = await keys.issue(CLAIMS);
    const bytes = base64UrlToBytes(token)!;
    for (let i = 0; i < bytes.length; i++) {
      const tampered = bytes.slice();
      tampered[i] ^= 0x01;
      assertEquals(await keys.open(bytesToBase64Url(tampered)), undefined, `byte ${i}`);
    }
    // Truncated and extended tokens are refused too.
    assertEquals(await keys.open(bytesToBase64Url(bytes.slice(0, -1))), undefined);
    assertEquals(await keys.open(bytesToBase64Url(new Uint8Array([...bytes, 0]))), undefined);
  }
});

Deno.test("a token is refused at its expiry second and after, accepted before", async () => {
  const token = await sealed.issue(CLAIMS);
  assertEquals(await sealed.verify(token, { now: CLAIMS.exp - 1, clientIp: "1.2.3.4" }), CLAIMS);
  assertEquals(await sealed.verify(token, { now: CLAIMS.exp, clientIp: "1.2.3.4" }), undefined);
  assertEquals(await sealed.verify(token, { now: CLAIMS.exp + 1, clientIp: "1.2.3.4" }), undefined);
});

Deno.test("an address-bound token opens only for that client (IPv4-mapped is the same)", async () => {
  const token = await both.issue({ ...CLAIMS, ip: "203.0.113.9" });
  const at = (clientIp: string) => both.verify(token, { now: NOW, clientIp });
  assert(await at("203.0.113.9"));
  assert(await at("::ffff:203.0.113.9"));
  assertEquals(await at("203.0.113.10"), undefined);
  assertEquals(await at("2001:db8::1"), undefined);
  assertEquals(await at("not an address"), undefined);
  const v6 = await both.issue({ ...CLAIMS, ip: "2001:db8::1" });
  assert(await both.verify(v6, { now: NOW, clientIp: "2001:DB8:0::1" }));
  assertEquals(await both.verify(v6, { now: NOW, clientIp: "2001:db8::2" }), undefined);
});

Deno.test("a token replayed within its lifetime is accepted every time (bearer capability)", async () => {
  const token = await signed.issue(CLAIMS);
  for (let i = 0; i < 3; i++) {
    assertEquals(await signed.verify(token, { now: NOW + i, clientIp: "1.2.3.4" }), CLAIMS);
  }
});

Deno.test("tokens of another key, of a format without a key, or malformed are refused", async () => {
  const otherAes = TokenKeys.from({ aesKey: "1f".repeat(32), signingSecret: null })!;
  const otherSigning = TokenKeys.from({
    aesKey: null,
    signingSecret: btoa(String.fromCharCode(...new Uint8Array(32).fill(8))),
  })!;
  const sealedToken = await sealed.issue(CLAIMS);
  const signedToken = await signed.issue(CLAIMS);
  assertEquals(await otherAes.open(sealedToken), undefined);
  assertEquals(await otherSigning.open(signedToken), undefined);
  assertEquals(await signed.open(sealedToken), undefined, "no AES key: sealed refused");
  assertEquals(await sealed.open(signedToken), undefined, "no signing key: signed refused");
  assert(await both.open(sealedToken));
  assert(await both.open(signedToken));
  for (const bad of ["", "!!!", "A", "AwAAAA", "x".repeat(20000)]) {
    assertEquals(await both.open(bad), undefined, bad.slice(0, 10));
  }
  // A correct MAC over a payload that is not the token shape is still refused.
  const hmac = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(32).fill(7),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  for (const payload of ['{"e":"x","q":[],"exp":1}', '{"e":"/a","q":[[1,2]],"exp":1}', "[]"]) {
    const body = new Uint8Array([SIGNED_TOKEN_VERSION, ...new TextEncoder().encode(payload)]);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", hmac, body));
    assertEquals(await signed.open(bytesToBase64Url(new Uint8Array([...body, ...mac]))), undefined);
  }
});

Deno.test("tokenAddress() canonicalises addresses and refuses anything else", () => {
  assertEquals(tokenAddress(" 203.0.113.9 "), "203.0.113.9");
  assertEquals(tokenAddress("2001:DB8:0:0::1"), "2001:db8::1");
  assertEquals(tokenAddress("example.com"), undefined);
});
