import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { ProxyError } from "../../errors/mod.ts";
import { answerLicenseRequest, type KeyLookup } from "./clearkey.ts";

const KID = "ABEiM0RVZneImaq7zN3u_w"; // 00112233445566778899aabbccddeeff
const KEY = new Uint8Array(16).fill(7);
const lookup: KeyLookup = (kid) => kid[0] === 0x00 && kid[15] === 0xff ? KEY : undefined;

Deno.test("answerLicenseRequest() returns only requested, known keys as oct JWKs", () => {
  assertEquals(
    answerLicenseRequest({ kids: [KID, "AAAAAAAAAAAAAAAAAAAAAA", KID], type: "temporary" }, lookup),
    { keys: [{ kty: "oct", kid: KID, k: "BwcHBwcHBwcHBwcHBwcHBw" }], type: "temporary" },
  );
});

Deno.test("answerLicenseRequest() accepts padded kids and echoes persistent-license", () => {
  const answer = answerLicenseRequest({ kids: [`${KID}==`], type: "persistent-license" }, lookup);
  assertEquals(answer.type, "persistent-license");
  assertEquals(answer.keys[0].kid, KID);
  assertEquals(answerLicenseRequest({ kids: [] }, lookup), { keys: [], type: "temporary" });
});

Deno.test("answerLicenseRequest() rejects malformed requests with 400", () => {
  for (
    const body of [
      null,
      "kids",
      [],
      {},
      { kids: "x" },
      { kids: [42] },
      { kids: ["!!"] },
      { kids: ["AAAA"] },
      { kids: [], type: 3 },
      { kids: [], type: "forever" },
      { kids: Array(257).fill(KID) },
    ]
  ) {
    throws(
      () => answerLicenseRequest(body, lookup),
      (e: unknown) => e instanceof ProxyError && e.status === 400,
      JSON.stringify(body)?.slice(0, 40),
    );
  }
});
