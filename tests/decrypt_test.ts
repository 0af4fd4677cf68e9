/**
 * Server-side ClearKey decryption end to end: ffmpeg packages clear DASH and HLS fMP4, the
 * CENC packager of `scripts/packagers/cenc.ts` encrypts them as `cenc` and `cbcs` (checked
 * first against ffmpeg's own decryptor), sProx serves them decrypted through the direct-mode
 * manifests with `key_id`/`key`, and ffmpeg — given no key — decodes exactly the clear
 * frames. The `/proxy/decrypt` endpoint's answers and refusals are checked byte for byte.
 */
import assert from "node:assert/strict";
import {
  CENC_KEY as KEY,
  CENC_KID as KID,
  packageEncryptedContent,
} from "./_support/cenc_content.ts";
import { deadline, freePort, scratchDir, startSprox, withTimeout } from "./_support/mod.ts";
import { startMediaOrigin } from "./_support/media_origin.ts";

const SECONDS = 3;

async function ffmpeg(args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const out = await new Deno.Command("ffmpeg", {
    args: ["-hide_banner", "-nostdin", ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { ok: out.success, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Frame lines of `-f framemd5` (stream, dts, pts, duration, size, hash), no header. */
async function frames(input: string, key?: string): Promise<string[]> {
  const run = await ffmpeg([
    "-v",
    "error",
    ...(key ? ["-decryption_key", key] : []),
    "-i",
    input,
    "-map",
    "0",
    "-f",
    "framemd5",
    "-",
  ]);
  assert.ok(run.ok, `ffmpeg ${input}: ${run.stderr}`);
  assert.equal(run.stderr.trim(), "", "no decode errors");
  return run.stdout.split("\n").filter((l) => l && !l.startsWith("#"));
}

async function concat(paths: string[]): Promise<Uint8Array> {
  const parts = await Promise.all(paths.map((p) => Deno.readFile(p)));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

interface Content {
  readonly dir: string;
}

let prepared: Promise<Content> | undefined;

/** Clear DASH and HLS, and their cenc and cbcs encryptions, made once for the file. */
function content(): Promise<Content> {
  prepared ??= (async () => {
    const dir = await scratchDir();
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    await packageEncryptedContent(dir, SECONDS);
    return { dir };
  })();
  return prepared;
}

async function withSprox(
  fn: (base: string, origin: string, logs: () => string) => Promise<void>,
  extra = "",
): Promise<void> {
  const { dir } = await content();
  const origin = startMediaOrigin(dir);
  const port = freePort();
  const sprox = await startSprox(`
routes:
  - id: media
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}" }
direct_stream:
  allow_private_networks: true
  allowlist:
    - domain: "127.0.0.1"
      schemes: ["http"]
drm:
  decrypt_max_segment_bytes: 150000
rate_limit: { enabled: false }
${extra}`);
  try {
    await fn(`http://127.0.0.1:${port}`, `${origin.url}/content`, () => JSON.stringify(sprox.logs));
  } finally {
    await sprox.stop();
    await withTimeout(origin.close(), 10_000, "the media origin to close");
  }
}

Deno.test("the test packager's cenc and cbcs segments decode with ffmpeg's own decryptor", async () => {
  const { dir } = await content();
  // ffmpeg 5.1 reads the sample encryption of one fragment per file only (a demuxer bug with
  // later fragments), so each segment is checked with its init section alone.
  for (const scheme of ["cenc", "cbcs"]) {
    for (
      const [init, segment] of [["init-0.m4s", "chunk-0-00002.m4s"], [
        "init-1.m4s",
        "chunk-1-00001.m4s",
      ]]
    ) {
      const clear = `${dir}/check-clear.mp4`;
      const locked = `${dir}/check-${scheme}.mp4`;
      await Deno.writeFile(clear, await concat([`${dir}/dash/${init}`, `${dir}/dash/${segment}`]));
      await Deno.writeFile(
        locked,
        await concat([`${dir}/dash-${scheme}/${init}`, `${dir}/dash-${scheme}/${segment}`]),
      );
      const expected = await frames(clear);
      assert.ok(expected.length > 20, `${segment} has frames`);
      assert.deepEqual(await frames(locked, KEY), expected, `${scheme} ${segment}`);
      const wrong = await ffmpeg([
        "-v",
        "quiet",
        "-decryption_key",
        "00".repeat(16),
        "-i",
        locked,
        "-map",
        "0",
        "-f",
        "framemd5",
        "-",
      ]);
      assert.notDeepEqual(
        wrong.stdout.split("\n").filter((l) => l && !l.startsWith("#")),
        expected,
        "the segment is really encrypted",
      );
    }
  }
});

Deno.test("ffmpeg decodes decrypted DASH→HLS (cenc, cbcs) to the clear frames without a key", async () => {
  await withSprox(async (base, origin) => {
    const clear = await frames(
      `${base}/proxy/mpd/manifest.m3u8?d=${encodeURIComponent(`${origin}/dash/manifest.mpd`)}`,
    );
    assert.ok(clear.length >= SECONDS * 25 + SECONDS * 40, `clear frames: ${clear.length}`);
    for (const scheme of ["cenc", "cbcs"]) {
      const mpd = encodeURIComponent(`${origin}/dash-${scheme}/manifest.mpd`);
      const keys = `key_id=${KID}&key=${KEY}`;
      assert.deepEqual(
        await frames(`${base}/proxy/mpd/manifest.m3u8?d=${mpd}&${keys}`),
        clear,
        scheme,
      );
      // Without keys the same content stays encrypted: the frames differ.
      const locked = await ffmpeg([
        "-v",
        "quiet",
        "-i",
        `${base}/proxy/mpd/manifest.m3u8?d=${mpd}`,
        "-map",
        "0",
        "-f",
        "framemd5",
        "-",
      ]);
      assert.notDeepEqual(locked.stdout.split("\n").filter((l) => l && !l.startsWith("#")), clear);
    }
  });
});

Deno.test("decryption mode writes clear playlists: no EXT-X-KEY, init and segments via /proxy/decrypt", async () => {
  await withSprox(async (base, origin) => {
    const mpd = `${origin}/dash-cenc/manifest.mpd`;
    const keys = `key_id=${KID}&key=${KEY}`;
    const master = await fetch(
      `${base}/proxy/mpd/manifest.m3u8?d=${encodeURIComponent(mpd)}&${keys}`,
      { signal: deadline() },
    );
    assert.equal(master.status, 200);
    const masterText = await master.text();
    assert.ok(
      masterText.includes(
        `/proxy/mpd/playlist.m3u8?d=${
          encodeURIComponent(mpd)
        }&rendition=video-0&key_id=${KID}&key=${KEY}`,
      ),
      masterText,
    );
    const media = await fetch(
      `${base}/proxy/mpd/playlist.m3u8?d=${encodeURIComponent(mpd)}&rendition=video-0&${keys}`,
      { signal: deadline() },
    );
    assert.equal(media.status, 200);
    const text = await media.text();
    assert.ok(!text.includes("EXT-X-KEY"), text);
    const init = `${origin}/dash-cenc/init-0.m4s`;
    const d = (url: string) => encodeURIComponent(url);
    assert.ok(
      text.includes(`#EXT-X-MAP:URI="/proxy/decrypt/init-0.m4s?d=${d(init)}&${keys}"`),
      text,
    );
    assert.ok(
      text.includes(
        `\n/proxy/decrypt/chunk-0-00001.m4s?d=${d(`${origin}/dash-cenc/chunk-0-00001.m4s`)}&i=${
          d(init)
        }&${keys}\n`,
      ),
      text,
    );
    // Without keys the same MPD converts as before: the ClearKey tag, /proxy/stream links.
    const plain = await (await fetch(
      `${base}/proxy/mpd/playlist.m3u8?d=${encodeURIComponent(mpd)}&rendition=video-0`,
      { signal: deadline() },
    )).text();
    assert.ok(
      plain.includes(`#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI="/keys/clearkey?kid=${KID}"`),
      plain,
    );
    assert.ok(plain.includes(`\n/proxy/stream/chunk-0-00001.m4s?d=`), plain);

    // HLS: the SAMPLE-AES-CTR tag is dropped, the map and segments go through /proxy/decrypt.
    const hls = await (await fetch(
      `${base}/proxy/hls/manifest.m3u8?d=${d(`${origin}/hls-cenc/index.m3u8`)}&${keys}`,
      { signal: deadline() },
    )).text();
    assert.ok(!hls.includes("EXT-X-KEY"), hls);
    const hlsInit = `${origin}/hls-cenc/init.mp4`;
    assert.ok(
      hls.includes(`#EXT-X-MAP:URI="/proxy/decrypt/init.mp4?d=${d(hlsInit)}&${keys}"`),
      hls,
    );
    assert.ok(
      hls.includes(
        `\n/proxy/decrypt/seg000.m4s?d=${d(`${origin}/hls-cenc/seg000.m4s`)}&i=${
          d(hlsInit)
        }&${keys}\n`,
      ),
      hls,
    );
  });
});

Deno.test("ffmpeg decodes decrypted HLS (SAMPLE-AES-CTR cenc, SAMPLE-AES cbcs) to the clear frames", async () => {
  await withSprox(async (base, origin, logs) => {
    const clear = await frames(
      `${base}/proxy/hls/manifest.m3u8?d=${encodeURIComponent(`${origin}/hls/master.m3u8`)}`,
    );
    assert.ok(clear.length >= SECONDS * 25, `clear frames: ${clear.length}`);
    for (const scheme of ["cenc", "cbcs"]) {
      const master = encodeURIComponent(`${origin}/hls-${scheme}/master.m3u8`);
      assert.deepEqual(
        await frames(`${base}/proxy/hls/manifest.m3u8?d=${master}&key_id=${KID}&key=${KEY}`),
        clear,
        scheme,
      );
    }
    // Keys in URLs never reach the logs.
    assert.ok(logs().includes("/proxy/decrypt/"), "decrypt requests are logged");
    assert.ok(!logs().includes(KEY), "the content key is redacted in the logs");
  });
});

Deno.test("/proxy/decrypt answers init and media segments clear, same length, ranges kept", async () => {
  await withSprox(async (base, origin) => {
    const keys = `key_id=${KID}&key=${KEY}`;
    const d = (url: string) => encodeURIComponent(url);
    const { dir } = await content();
    // The init: encv → avc1, sinf blanked, same length.
    const lockedInit = await Deno.readFile(`${dir}/dash-cbcs/init-0.m4s`);
    const init = await fetch(
      `${base}/proxy/decrypt/init-0.m4s?d=${d(`${origin}/dash-cbcs/init-0.m4s`)}&${keys}`,
      {
        signal: deadline(),
      },
    );
    assert.equal(init.status, 200);
    assert.equal(init.headers.get("content-length"), String(lockedInit.length));
    const clearInit = new Uint8Array(await init.arrayBuffer());
    const latin = (b: Uint8Array) => new TextDecoder("latin1").decode(b);
    assert.equal(clearInit.length, lockedInit.length);
    for (const gone of ["encv", "sinf", "tenc", "schm", "frma"]) {
      assert.ok(!latin(clearInit).includes(gone), `${gone} is gone`);
    }
    // The sample entry takes its original format back where encv was.
    assert.equal(latin(clearInit).indexOf("avc1"), latin(lockedInit).indexOf("encv"));

    // A whole single-file stream decrypts; a Range of one of its fragments decrypts to the same
    // bytes, with the init given by range.
    const whole = await concat([
      `${dir}/dash-cenc/init-0.m4s`,
      `${dir}/dash-cenc/chunk-0-00001.m4s`,
      `${dir}/dash-cenc/chunk-0-00002.m4s`,
    ]);
    await Deno.writeFile(`${dir}/single-cenc.mp4`, whole);
    const single = `${origin}/single-cenc.mp4`;
    const all = await fetch(`${base}/proxy/decrypt/single.mp4?d=${d(single)}&${keys}`, {
      signal: deadline(),
    });
    assert.equal(all.status, 200);
    const allBytes = new Uint8Array(await all.arrayBuffer());
    assert.equal(allBytes.length, whole.length);
    const initLength = (await Deno.stat(`${dir}/dash-cenc/init-0.m4s`)).size;
    const first = (await Deno.stat(`${dir}/dash-cenc/chunk-0-00001.m4s`)).size;
    const start = initLength + first;
    const ranged = await fetch(
      `${base}/proxy/decrypt/single.mp4?d=${d(single)}&i=${d(single)}&ir=${initLength}@0&${keys}`,
      { headers: { range: `bytes=${start}-${whole.length - 1}` }, signal: deadline() },
    );
    assert.equal(ranged.status, 206, await ranged.clone().text());
    assert.equal(
      ranged.headers.get("content-range"),
      `bytes ${start}-${whole.length - 1}/${whole.length}`,
    );
    assert.equal(ranged.headers.get("etag"), null);
    assert.deepEqual(new Uint8Array(await ranged.arrayBuffer()), allBytes.subarray(start));
    // The decrypted sample data differs from the encrypted one: decryption really ran.
    assert.notDeepEqual(allBytes.subarray(start), whole.subarray(start));

    // An init file whose origin ignores the range, larger than the size bound: only the range
    // is read (the rest is never buffered), and the answer is the same.
    await Deno.writeFile(
      `${dir}/padded-cenc.mp4`,
      new Uint8Array([...whole, ...new Uint8Array(200_000)]),
    );
    const padded = `${origin}/padded-cenc.mp4?whole`;
    const fromWhole = await fetch(
      `${base}/proxy/decrypt/single.mp4?d=${d(single)}&i=${d(padded)}&ir=${initLength}@0&${keys}`,
      { headers: { range: `bytes=${start}-${whole.length - 1}` }, signal: deadline() },
    );
    assert.equal(fromWhole.status, 206, await fromWhole.clone().text());
    assert.deepEqual(new Uint8Array(await fromWhole.arrayBuffer()), allBytes.subarray(start));
  });
});

Deno.test("/proxy/decrypt refuses what it cannot decrypt with exact statuses", async () => {
  await withSprox(async (base, origin) => {
    const d = (url: string) => encodeURIComponent(url);
    const { dir } = await content();
    const segment = `${origin}/dash-cenc/chunk-0-00001.m4s`;
    const init = `${origin}/dash-cenc/init-0.m4s`;
    const get = async (query: string) => {
      const response = await fetch(`${base}/proxy/decrypt/x.m4s?${query}`, { signal: deadline() });
      return { status: response.status, body: await response.json() as Record<string, unknown> };
    };
    const expect = async (query: string, status: number, error: string, message: string) => {
      const got = await get(query);
      assert.equal(got.status, status, query);
      assert.equal(got.body.error, error, query);
      assert.equal(got.body.message, message, query);
    };
    await expect(`d=${d(segment)}&i=${d(init)}`, 400, "bad_request", "key_id or key is required");
    await expect(
      `d=${d(segment)}&i=${d(init)}&key_id=${KID}&key=zz`,
      400,
      "bad_request",
      "key_id and key entries must be 32 hex digits or base64url of 16 bytes",
    );
    await expect(
      `d=${d(segment)}&i=${d(init)}&key_id=${"00".repeat(16)}&key=${KEY}`,
      400,
      "key_unavailable",
      "no key is known for the content's key ID",
    );
    await expect(
      `d=${d(segment)}&key_id=${KID}&key=${KEY}`,
      502,
      "segment_invalid",
      "a fragment comes before any 'moov'",
    );
    await expect(
      `d=${d(`${origin}/dash-cenc/manifest.mpd`)}&key_id=${KID}&key=${KEY}`,
      502,
      "segment_invalid",
      "the body is not an fMP4 stream",
    );
    await expect(
      `d=${d(`${origin}/dash-cenc/missing.m4s`)}&i=${d(init)}&key_id=${KID}&key=${KEY}`,
      404,
      "not_found",
      "upstream has no such segment",
    );
    await expect(
      `d=${d(segment)}&i=${d(`${origin}/dash-cenc/chunk-0-00002.m4s`)}&key_id=${KID}&key=${KEY}`,
      502,
      "segment_invalid",
      "the init section has no 'moov' box",
    );
    // A fragment past drm.decrypt_max_segment_bytes (150000 here) is refused, not buffered.
    const big = await Deno.readFile(`${dir}/dash-cenc/chunk-0-00001.m4s`);
    const grown = new Uint8Array(big.length + 200_000);
    grown.set(big);
    const view = new DataView(grown.buffer);
    for (let at = 0; at < big.length;) {
      const size = view.getUint32(at);
      if (String.fromCharCode(...grown.subarray(at + 4, at + 8)) === "mdat") {
        view.setUint32(at, size + 200_000);
        break;
      }
      at += size;
    }
    await Deno.writeFile(`${dir}/big.m4s`, grown);
    await expect(
      `d=${d(`${origin}/big.m4s`)}&i=${d(init)}&key_id=${KID}&key=${KEY}`,
      502,
      "segment_too_large",
      "a media fragment exceeds the size bound",
    );
    // A lone key applies to any KID; the segment then decrypts.
    const lone = await fetch(
      `${base}/proxy/decrypt/x.m4s?d=${d(segment)}&i=${d(init)}&key=${KEY}`,
      {
        signal: deadline(),
      },
    );
    assert.equal(lone.status, 200);
    assert.equal((await lone.arrayBuffer()).byteLength, big.length);
  });
});

Deno.test("decryption takes keys from the secret store for key_id alone", async () => {
  await withSprox(
    async (base, origin) => {
      const d = (url: string) => encodeURIComponent(url);
      const query = `d=${d(`${origin}/dash-cbcs/chunk-0-00002.m4s`)}&i=${
        d(`${origin}/dash-cbcs/init-0.m4s`)
      }`;
      const stored = await fetch(`${base}/proxy/decrypt/x.m4s?${query}&key_id=${KID}`, {
        signal: deadline(),
      });
      assert.equal(stored.status, 200);
      const body = new Uint8Array(await stored.arrayBuffer());
      const { dir } = await content();
      const locked = await Deno.readFile(`${dir}/dash-cbcs/chunk-0-00002.m4s`);
      assert.equal(body.length, locked.length);
      assert.notDeepEqual(body, locked);
      // The same answer as with the key in the URL.
      const inline = await fetch(`${base}/proxy/decrypt/x.m4s?${query}&key_id=${KID}&key=${KEY}`, {
        signal: deadline(),
      });
      assert.deepEqual(new Uint8Array(await inline.arrayBuffer()), body);
    },
    `secrets:
  clearkey:
    - { kid: "${KID}", key: "${KEY}" }
`,
  );
});
