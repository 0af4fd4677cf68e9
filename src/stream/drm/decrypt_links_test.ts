import { deepStrictEqual as assertEquals, rejects, throws } from "node:assert/strict";
import { ProxyError } from "../../errors/mod.ts";
import { directModeResolver } from "../hls/mod.ts";
import {
  decryptLink,
  keyForKid,
  parseDecryptKeys,
  parseInitRange,
  rewriteForDecryption,
} from "./decrypt_links.ts";

const KID = "00112233445566778899aabbccddeeff";
const KEY = "0f0e0d0c0b0a09080706050403020100";
const url = (query: string) => new URL(`http://s/proxy/mpd/manifest.m3u8?d=x&${query}`);
const bad = (e: unknown) =>
  e instanceof ProxyError && e.status === 400 && e.reason === "bad_request";

Deno.test("parseDecryptKeys() reads pairs, a lone key, a lone key_id, or nothing", () => {
  assertEquals(parseDecryptKeys(url("h_referer=r")), null);
  const pairs = parseDecryptKeys(url(`key_id=${KID},${KEY}&key=${KEY},${KID}`))!;
  assertEquals([...pairs.requestKeys.keys()], [KID, KEY]);
  assertEquals(pairs.requestKeys.get(KID)![0], 0x0f);
  assertEquals(pairs.parameters, [["key_id", `${KID},${KEY}`], ["key", `${KEY},${KID}`]]);
  // UUID-style key IDs and base64url keys are accepted.
  const uuid = "00112233-4455-6677-8899-aabbccddeeff";
  const b64 = parseDecryptKeys(url(`key_id=${uuid}&key=Dw4NDAsKCQgHBgUEAwIBAA`))!;
  assertEquals(b64.requestKeys.get(KID)?.[0], 0x0f);
  assertEquals(parseDecryptKeys(url(`key=${KEY}`))!.any?.[15], 0);
  const alone = parseDecryptKeys(url(`key_id=${KID}`))!;
  assertEquals([alone.requestKeys.size, alone.any], [0, null]);
  for (
    const query of [
      `key_id=${KID}&key=${KEY},${KEY}`,
      `key_id=${KID}&key=abc`,
      `key=${KEY},${KEY}`,
      `key_id=xyz`,
    ]
  ) {
    throws(() => parseDecryptKeys(url(query)), bad, query);
  }
});

Deno.test("keyForKid() prefers the request's pair, then a lone key, then the lookup", async () => {
  const kid = Uint8Array.from(KID.match(/../g)!, (h) => parseInt(h, 16));
  const other = new Uint8Array(16);
  const stored = new Uint8Array(16).fill(5);
  const pairs = parseDecryptKeys(url(`key_id=${KID}&key=${KEY}`))!;
  assertEquals((await keyForKid(pairs, kid, () => Promise.resolve(stored)))[0], 0x0f);
  assertEquals(await keyForKid(pairs, other, () => Promise.resolve(stored)), stored);
  const lone = parseDecryptKeys(url(`key=${KEY}`))!;
  assertEquals((await keyForKid(lone, other, () => Promise.resolve(undefined)))[0], 0x0f);
  await rejects(
    () => keyForKid(pairs, other, () => Promise.resolve(undefined)),
    (e: unknown) => e instanceof ProxyError && e.status === 400 && e.reason === "key_unavailable",
  );
});

Deno.test("decryptLink() writes /proxy/decrypt/<name> with init, range, overrides and keys", () => {
  const keys = parseDecryptKeys(url(`key_id=${KID}&key=${KEY}`))!;
  const options = {
    keys,
    secure: false,
    overrides: [["h_referer", "https://p.example/"]] as [string, string][],
    credential: "pw",
  };
  assertEquals(
    decryptLink("http://cdn.example/v/seg 1.php?t=1", {
      url: "http://cdn.example/v/file.mp4",
      range: { offset: 0, length: 812 },
    }, options),
    "/proxy/decrypt/seg_1.php.mp4?d=http%3A%2F%2Fcdn.example%2Fv%2Fseg%201.php%3Ft%3D1" +
      "&i=http%3A%2F%2Fcdn.example%2Fv%2Ffile.mp4&ir=812%400" +
      `&h_referer=https%3A%2F%2Fp.example%2F&key_id=${KID}&key=${KEY}&api_password=pw`,
  );
  assertEquals(
    decryptLink("https://cdn.example/v/init.m4s", null, { keys, secure: true }),
    `/proxy/decrypt/init.m4s?d=https%3A%2F%2Fcdn.example%2Fv%2Finit.m4s&key_id=${KID}&key=${KEY}`,
  );
  throws(
    () => decryptLink("http://cdn.example/v/init.m4s", null, { keys, secure: true }),
    (e: unknown) => e instanceof ProxyError && e.reason === "insecure_reference",
  );
  assertEquals(parseInitRange("812@0"), { length: 812, offset: 0 });
  assertEquals(parseInitRange(null), null);
  throws(() => parseInitRange("0@5"), bad);
  throws(() => parseInitRange("12-5"), bad);
});

Deno.test("rewriteForDecryption() links map and segments through /proxy/decrypt, drops sample keys", () => {
  const text = [
    "#EXTM3U",
    "#EXT-X-VERSION:7",
    '#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI="skd://k",KEYFORMAT="com.widevine"',
    '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="https://k.example/k"',
    '#EXT-X-MAP:URI="v.mp4",BYTERANGE="800@0"',
    "#EXTINF:2,",
    "#EXT-X-BYTERANGE:5000@800",
    "v.mp4",
    "#EXT-X-KEY:METHOD=NONE",
    "#EXTINF:2,",
    "sub/s2.m4s",
    "",
  ].join("\n");
  const out = rewriteForDecryption(text, {
    playlistUrl: "https://cdn.example/a/index.m3u8",
    resolve: directModeResolver(),
    link: (u, init) =>
      `D(${u}|${init ? `${init.url}|${init.range?.length}@${init.range?.offset}` : "-"})`,
  });
  assertEquals(
    out,
    [
      "#EXTM3U",
      "#EXT-X-VERSION:7",
      '#EXT-X-MAP:URI="D(https://cdn.example/a/v.mp4|-)",BYTERANGE="800@0"',
      "#EXTINF:2,",
      "#EXT-X-BYTERANGE:5000@800",
      "D(https://cdn.example/a/v.mp4|https://cdn.example/a/v.mp4|800@0)",
      "#EXT-X-KEY:METHOD=NONE",
      "#EXTINF:2,",
      "D(https://cdn.example/a/sub/s2.m4s|https://cdn.example/a/v.mp4|800@0)",
      "",
    ].join("\n"),
  );
  // MPEG-TS sample encryption is not CENC: its key tag and segments stay as they are.
  const ts = '#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI="https://k.example/k"\n#EXTINF:2,\ns.ts\n';
  assertEquals(
    rewriteForDecryption(ts, {
      playlistUrl: "https://cdn.example/a/index.m3u8",
      resolve: (u) => `R(${u})`,
      link: () => "never",
    }),
    '#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI="R(https://k.example/k)"\n#EXTINF:2,\nR(https://cdn.example/a/s.ts)\n',
  );
});
