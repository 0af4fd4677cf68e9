/**
 * End to end: a ClearKey (cenc-aes-ctr) fragmented MP4 made by ffmpeg, served through a
 * sProx route, played by ffmpeg with the key obtained the way an EME player obtains it —
 * the KID read from the media's `tenc` box, then a license request to `/keys/clearkey`.
 */
import {
  deepStrictEqual as assertEquals,
  notDeepStrictEqual,
  ok as assert,
} from "node:assert/strict";
import { deadline, freePort, startSprox, withTimeout } from "./_support/mod.ts";

const KID = "7f2b1c3d4e5f60718293a4b5c6d7e8f9";
const KEY = "3c1a9e7b5d2f40618c9ab7e6d5f4c3b2";

async function run(args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const out = await new Deno.Command("ffmpeg", {
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { ok: out.success, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Frame hashes only (no header comments, which name the input). */
function frames(framemd5: string): string[] {
  return framemd5.split("\n").filter((l) => l && !l.startsWith("#"));
}

/** The default KID of the first `tenc` box (ISO/IEC 23001-7 §8.2). */
function defaultKid(media: Uint8Array): Uint8Array {
  for (let i = 4; i + 28 <= media.length; i++) {
    if (
      media[i] === 0x74 && media[i + 1] === 0x65 && media[i + 2] === 0x6e && media[i + 3] === 0x63
    ) {
      // 'tenc' + version/flags (4) + reserved (1) + pattern (1) + isProtected (1) + IV size (1)
      return media.slice(i + 12, i + 28);
    }
  }
  throw new Error("no tenc box in the encrypted media");
}

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const hexOf = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const fromB64url = (text: string) =>
  Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

Deno.test("ffmpeg decodes a ClearKey fMP4 through sProx with the key from /keys/clearkey", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sprox-drm-" });
  const clear = `${dir}/clear.mp4`;
  const encrypted = `${dir}/encrypted.mp4`;
  // One GOP, so the fragmented output is one moof: ffmpeg 5.1's demuxer (Debian 12) cannot
  // read back the CENC sample info of its own later fragments ("Incorrect number of
  // samples in encryption info"), whatever key it is given.
  const fragmented = ["-movflags", "frag_keyframe+delay_moov"];
  const made = await run([
    "-v",
    "error",
    "-f",
    "lavfi",
    "-i",
    "testsrc=duration=2:size=160x120:rate=10",
    "-c:v",
    "libx264",
    "-pix_fmt",
    "yuv420p",
    "-g",
    "100",
    clear,
  ]);
  assert(made.ok, made.stderr);
  const locked = await run([
    "-v",
    "error",
    "-i",
    clear,
    "-c",
    "copy",
    "-encryption_scheme",
    "cenc-aes-ctr",
    "-encryption_key",
    KEY,
    "-encryption_kid",
    KID,
    ...fragmented,
    encrypted,
  ]);
  assert(locked.ok, locked.stderr);
  const media = await Deno.readFile(encrypted);
  assert(new TextDecoder().decode(media).includes("moof"), "the encrypted file is fragmented");

  const origin = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(media, { headers: { "content-type": "video/mp4" } }),
  );
  const port = freePort();
  const sprox = await startSprox(`routes:
  - id: vod
    listen: { host: "127.0.0.1", port: ${port} }
    host_patterns: ["127.0.0.1"]
    upstream: { origin: "http://127.0.0.1:${origin.addr.port}" }
secrets:
  clearkey:
    - { kid: "${KID}", key: "${KEY}" }
`);
  try {
    // The player's side of EME: KID from the media, license from the key server.
    const kid = defaultKid(media);
    assertEquals(hexOf(kid), KID);
    const response = await fetch(`http://127.0.0.1:${port}/keys/clearkey`, {
      method: "POST",
      body: JSON.stringify({ kids: [b64url(kid)], type: "temporary" }),
      signal: deadline(),
    });
    const answer = await response.json();
    assertEquals(answer.type, "temporary");
    assertEquals(answer.keys.length, 1);
    assertEquals(answer.keys[0].kid, b64url(kid));
    const key = hexOf(fromB64url(answer.keys[0].k));

    const reference = await run(["-v", "error", "-i", clear, "-f", "framemd5", "-"]);
    assert(reference.ok, reference.stderr);
    const played = await run([
      "-v",
      "error",
      "-decryption_key",
      key,
      "-i",
      `http://127.0.0.1:${port}/encrypted.mp4`,
      "-f",
      "framemd5",
      "-",
    ]);
    assert(played.ok, played.stderr);
    assertEquals(played.stderr.trim(), "", "no decode errors");
    assertEquals(frames(played.stdout).length, 20);
    assertEquals(frames(played.stdout), frames(reference.stdout));

    // Control: with a wrong key the same file does not decode to the same pictures.
    const wrong = await run([
      "-v",
      "quiet",
      "-decryption_key",
      "00".repeat(16),
      "-i",
      encrypted,
      "-f",
      "framemd5",
      "-",
    ]);
    notDeepStrictEqual(frames(wrong.stdout), frames(reference.stdout));
  } finally {
    await sprox.stop();
    await withTimeout(origin.shutdown(), 10_000, "the origin to shut down");
    await Deno.remove(dir, { recursive: true });
  }
});
