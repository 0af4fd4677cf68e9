import { parseMpd, multivariantPlaylist, segmentIndexRequests } from "./src/stream/dash/mod.ts";
const mpd = parseMpd(Deno.readTextFileSync("/tmp/rw/car.mpd"), "https://example.com/media/car.mpd");
console.log(multivariantPlaylist(mpd, { resolve: (u) => u, renditionUri: (n) => n + ".m3u8" }));
console.log(segmentIndexRequests(mpd, "video-1"));
