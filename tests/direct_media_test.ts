/**
 * Players through `/proxy/stream`: ffprobe and ffmpeg read MP4 files served by nginx, one
 * with the index up front (`+faststart`) and one with the index at the end, which the
 * demuxer can only reach by seeking (range requests).
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { freePort, scratchDir, startSprox } from "./_support/mod.ts";
import { directConfig, startNginx, streamUrl } from "./_support/direct.ts";

const SECONDS = 4;

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const output = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, out: decode(output.stdout), err: decode(output.stderr) };
}

async function makeMp4(path: string, faststart: boolean): Promise<void> {
  const made = await run("ffmpeg", [
    "-v",
    "error",
    "-f",
    "lavfi",
    "-i",
    `testsrc=size=320x240:rate=25:duration=${SECONDS}`,
    "-f",
    "lavfi",
    "-i",
    `sine=frequency=440:duration=${SECONDS}`,
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-c:a",
    "aac",
    "-shortest",
    ...(faststart ? ["-movflags", "+faststart"] : []),
    "-y",
    path,
  ]);
  assertEquals(made.code, 0, made.err);
}

Deno.test("ffprobe and ffmpeg play MP4s through /proxy/stream, seeking by range", async () => {
  const root = await scratchDir();
  await Deno.mkdir(`${root}/media`);
  await makeMp4(`${root}/media/fast.mp4`, true);
  await makeMp4(`${root}/media/tail.mp4`, false);
  const nginx = await startNginx(root);
  const port = freePort();
  const sprox = await startSprox(directConfig(
    port,
    `direct_stream:
  allow_private_networks: true
  allowlist:
    - { domain: "media.test", schemes: [http], paths: ["/media/*.mp4"] }
  hosts:
    "media.test": ["127.0.0.1"]
`,
  ));
  try {
    for (const name of ["fast.mp4", "tail.mp4"]) {
      const url = streamUrl(port, `http://media.test:${nginx.port}/media/${name}`);
      const probe = await run("ffprobe", [
        "-v",
        "error",
        "-show_entries",
        "format=duration",
        "-of",
        "default=noprint_wrappers=1:nokey=1",
        url,
      ]);
      assertEquals(probe.code, 0, probe.err);
      assertEquals(probe.err, "");
      const duration = Number(probe.out.trim());
      assert(Math.abs(duration - SECONDS) < 0.2, `${name}: duration ${duration}`);

      const decode = await run("ffmpeg", ["-v", "error", "-i", url, "-f", "null", "-"]);
      assertEquals(decode.code, 0, decode.err);
      assertEquals(decode.err, "", `${name}: decode errors`);
    }
    // The file without faststart keeps its index at the end: ffprobe had to seek.
    const ranged = sprox.logs.filter((l) => l.msg === "request" && l.status === 206);
    assert(ranged.length > 0, "no range request was served");
    const errors = sprox.logs.filter((l) => l.msg === "request" && Number(l.status) >= 400);
    assertEquals(errors, []);
  } finally {
    await sprox.stop();
    await nginx.stop();
  }
});
