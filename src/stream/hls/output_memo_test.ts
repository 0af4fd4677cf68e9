import assert from "node:assert/strict";
import {
  OUTPUT_MEMO_MAX_BYTES,
  OUTPUT_MEMO_MAX_KEYS,
  OutputMemo,
  playlistOutput,
} from "./output_memo.ts";

const encode = (text: string) => new TextEncoder().encode(text);

Deno.test("OutputMemo finds an output only for the same scope, key and source bytes", () => {
  const memo = new OutputMemo();
  const scope = {};
  const source = encode("#EXTM3U\nseg1.ts\n");
  const output = playlistOutput("#EXTM3U\nhttps://cdn/seg1.ts\n");
  assert.equal(memo.keep(scope, "k", source, output), output);
  assert.equal(memo.find(scope, "k", encode("#EXTM3U\nseg1.ts\n")), output);
  assert.equal(memo.find(scope, "k", encode("#EXTM3U\nseg2.ts\n")), undefined, "same length");
  assert.equal(memo.find(scope, "k", encode("#EXTM3U\nseg1.ts")), undefined, "a prefix");
  assert.equal(memo.find(scope, "other", source), undefined);
  assert.equal(memo.find({}, "k", source), undefined, "another plan");
  // Unaligned views compare byte by byte.
  const padded = new Uint8Array(source.byteLength + 1);
  padded.set(source, 1);
  assert.equal(memo.find(scope, "k", padded.subarray(1)), output);
  // The caller's buffer changing later does not change what was kept.
  source[8] = 0x78;
  assert.equal(memo.find(scope, "k", encode("#EXTM3U\nseg1.ts\n")), output);
});

Deno.test("OutputMemo keeps one version per key and stays within its key and byte bounds", () => {
  const memo = new OutputMemo();
  const scope = {};
  const v1 = playlistOutput("one");
  const v2 = playlistOutput("two");
  memo.keep(scope, "k", encode("a"), v1);
  memo.keep(scope, "k", encode("b"), v2);
  assert.equal(memo.find(scope, "k", encode("a")), undefined);
  assert.equal(memo.find(scope, "k", encode("b")), v2);
  assert.deepEqual(memo.size, { keys: 1, bytes: 1 + 3 });
  for (let i = 0; i < OUTPUT_MEMO_MAX_KEYS + 10; i++) memo.keep(scope, `n${i}`, encode("x"), v1);
  assert.equal(memo.size.keys, OUTPUT_MEMO_MAX_KEYS);
  assert.equal(memo.find(scope, "n0", encode("x")), undefined, "least recently used out first");
  assert.equal(memo.find(scope, `n${OUTPUT_MEMO_MAX_KEYS + 9}`, encode("x")), v1);
  // Bytes, across plans: 1 MiB sources push the oldest out; nothing over the bound is kept.
  const big = new Uint8Array(1024 * 1024);
  const bigScope = {};
  for (let i = 0; i < 20; i++) memo.keep({}, `b${i}`, big, v1);
  for (let i = 0; i < 40; i++) memo.keep(bigScope, `b${i}`, big, v1);
  assert.ok(memo.size.bytes <= OUTPUT_MEMO_MAX_BYTES, String(memo.size.bytes));
  assert.equal(memo.find(scope, `n${OUTPUT_MEMO_MAX_KEYS + 9}`, encode("x")), undefined);
  assert.equal(memo.find(bigScope, "b0", big), undefined);
  assert.equal(memo.find(bigScope, "b39", big), v1);
  const huge = new Uint8Array(OUTPUT_MEMO_MAX_BYTES);
  memo.keep(bigScope, "huge", huge, v1);
  assert.equal(memo.find(bigScope, "huge", huge), undefined);
});

Deno.test("playlistOutput() fingerprints the bytes and caps only live media playlists", () => {
  const live = playlistOutput("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\na.ts\n");
  const vod = playlistOutput(
    "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\na.ts\n#EXT-X-ENDLIST\n",
  );
  assert.equal(live.liveCapSecs, 3);
  assert.equal(vod.liveCapSecs, null);
  assert.match(live.fingerprint, /^[0-9a-f]{16}$/);
  assert.notEqual(live.fingerprint, vod.fingerprint);
  assert.equal(new TextDecoder().decode(vod.bytes).endsWith("#EXT-X-ENDLIST\n"), true);
});

Deno.test("OutputMemo keeps an unchanged playlist once, apart from the caller's buffer", () => {
  const memo = new OutputMemo();
  const scope = {};
  const source = encode("#EXTM3U\n#EXT-X-ENDLIST\n");
  const unchanged = playlistOutput("#EXTM3U\n#EXT-X-ENDLIST\n", source);
  assert.equal(unchanged.bytes, source);
  memo.keep(scope, "k", source, unchanged);
  assert.deepEqual(memo.size, { keys: 1, bytes: source.byteLength });
  const hit = memo.find(scope, "k", encode("#EXTM3U\n#EXT-X-ENDLIST\n"))!;
  source.fill(0x20);
  assert.equal(new TextDecoder().decode(hit.bytes), "#EXTM3U\n#EXT-X-ENDLIST\n");
  assert.equal(hit.fingerprint, unchanged.fingerprint);
});

Deno.test("OutputMemo takes a decoded source too: the same text only, weighed at two bytes a character", () => {
  const memo = new OutputMemo();
  const scope = {};
  const output = playlistOutput("#EXTM3U\n/proxy/stream/seg1.ts\n");
  memo.keep(scope, "k", "#EXTM3U\nseg1.ts\n", output);
  assert.equal(memo.find(scope, "k", "#EXTM3U\nseg1.ts\n"), output);
  assert.equal(memo.find(scope, "k", "#EXTM3U\nseg2.ts\n"), undefined, "same length");
  assert.equal(memo.find(scope, "k", encode("#EXTM3U\nseg1.ts\n")), undefined, "not its bytes");
  assert.deepEqual(memo.size, { keys: 1, bytes: 16 * 2 + output.bytes.byteLength });
  // A text too big for the bound (at two bytes a character) is not kept.
  const huge = "x".repeat(OUTPUT_MEMO_MAX_BYTES / 2);
  memo.keep(scope, "huge", huge, playlistOutput("y"));
  assert.equal(memo.find(scope, "huge", huge), undefined);
});
