import assert from "node:assert/strict";
import { newestSegmentUris } from "./prefetch.ts";

const LIVE = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n" +
  "#EXTINF:2,\na.ts\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00Z\n#EXTINF:2,\nb.ts\n" +
  "#EXTINF:2,\nhttps://o.example/c.ts\n";

Deno.test("newestSegmentUris takes the last N media URIs of a live playlist only", () => {
  assert.deepEqual(newestSegmentUris(LIVE, 2), ["b.ts", "https://o.example/c.ts"]);
  assert.deepEqual(newestSegmentUris(LIVE, 10), ["a.ts", "b.ts", "https://o.example/c.ts"]);
  assert.deepEqual(newestSegmentUris(LIVE, 0), []);
  assert.deepEqual(newestSegmentUris(LIVE + "#EXT-X-ENDLIST\n", 2), [], "VOD: nothing to warm");
  assert.deepEqual(
    newestSegmentUris("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n", 2),
    [],
    "a multivariant playlist has no segments",
  );
});
