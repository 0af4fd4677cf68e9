/**
 * URLs in MediaFlow Proxy's shapes, as addons (MediaFusion, AIOStreams) and IPTV players send
 * them today, against a running sProx and a loopback origin: the credential in the query or
 * a header, `d` plain or base64, `h_` / `r_` / `rp_` / `x_headers`, the HLS options, the
 * extra endpoints (`/proxy/hls/segment.<ext>`, `/proxy/hls/key_proxy/…`, `profile_id`,
 * `/proxy/mpd/init.mp4` and `segment.mp4`, `/proxy/ip`), `/proxy/stream/<file name>`, URL
 * generation and signed URLs in the path and in `?token=`.
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { deadline, freePort, type SproxProcess, startSprox } from "./_support/mod.ts";
import { directConfig, type Origin, startOrigin } from "./_support/direct.ts";
import { b64urlOfBytes } from "./_support/encoding.ts";

const PASSWORD = "mf-compat-password";
const PUBLIC_IP = "198.51.100.7";
const AES_KEY = "5a".repeat(32);
const KEY_BYTES = new Uint8Array(16).fill(0x42);

const MASTER = `#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360
v360/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720
v720/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080
v1080/index.m3u8
`;

const MEDIA = `#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:4
#EXT-X-KEY:METHOD=AES-128,URI="key.bin"
#EXTINF:4,
seg1.ts
#EXT-X-ENDLIST
`;

const MPD = `<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT4S" minBufferTime="PT2S">
  <Period>
    <AdaptationSet contentType="video" mimeType="video/mp4">
      <SegmentTemplate timescale="1" duration="2" startNumber="1" initialization="init-$RepresentationID$.mp4" media="seg-$RepresentationID$-$Number$.m4s"/>
      <Representation id="v1" bandwidth="1000000" codecs="avc1.4d401f" width="1280" height="720"/>
      <Representation id="v2" bandwidth="3000000" codecs="avc1.64001f" width="1920" height="1080"/>
    </AdaptationSet>
  </Period>
</MPD>
`;

function serveMedia(request: Request): Response {
  const path = new URL(request.url).pathname;
  const typed = (body: BodyInit, type: string, extra: Record<string, string> = {}) =>
    new Response(body, { headers: { "content-type": type, ...extra } });
  switch (path) {
    case "/media/movie.mp4":
      return typed("MOVIE-BYTES", "video/mp4", {
        "content-disposition": 'attachment; filename="x"',
      });
    case "/media/fake.png":
      return typed("TS-IN-PNG", "image/png", { "cache-control": "max-age=60" });
    case "/media/hls/master.m3u8":
      return typed(MASTER, "application/vnd.apple.mpegurl");
    case "/media/hls/v720/index.m3u8":
      return typed(MEDIA, "application/vnd.apple.mpegurl");
    case "/media/hls/v720/seg1.ts":
      return typed("SEGMENT-1", "video/mp2t");
    case "/media/hls/v720/key.bin":
    case "/media/hls/other.key":
      return typed(KEY_BYTES, "application/octet-stream");
    case "/media/dash/manifest.mpd":
      return typed(MPD, "application/dash+xml");
    case "/media/dash/init-v1.mp4":
      return typed("INIT-V1|", "video/mp4");
    case "/media/dash/seg-v1-1.m4s":
      return typed("SEG-V1-1", "video/mp4");
    default:
      return new Response("no", { status: 404 });
  }
}

interface Fixture {
  readonly sprox: SproxProcess;
  readonly origin: Origin;
  readonly base: string;
  readonly media: string;
}

async function start(): Promise<Fixture> {
  const origin = startOrigin(serveMedia);
  const port = freePort();
  const sprox = await startSprox(directConfig(
    port,
    `tokens: { aes_key: "${AES_KEY}" }
direct_stream:
  api_password: "${PASSWORD}"
  public_ip: "${PUBLIC_IP}"
  allow_private_networks: true
  allowlist:
    - { domain: "media.test", schemes: [http], paths: ["/media/**"] }
  hosts:
    "media.test": ["127.0.0.1"]`,
  ));
  return {
    sprox,
    origin,
    base: `http://127.0.0.1:${port}`,
    media: `http://media.test:${origin.port}/media`,
  };
}

/** A query string from pairs, encoded the way clients write them. */
function query(pairs: Record<string, string>): string {
  return new URLSearchParams(pairs).toString();
}

/** base64url of a URL (as MediaFlow clients write `d`). */
function base64Url(text: string): string {
  return b64urlOfBytes(new TextEncoder().encode(text));
}

async function text(url: string, init: RequestInit = {}): Promise<[number, string, Headers]> {
  const response = await fetch(url, { ...init, signal: deadline() });
  return [response.status, await response.text(), response.headers];
}

async function error(url: string, init: RequestInit = {}): Promise<[number, string, string]> {
  const response = await fetch(url, { ...init, signal: deadline() });
  const body = await response.json();
  return [response.status, body.error, body.message];
}

Deno.test("MediaFlow-shaped URLs work against sProx", async (t) => {
  const f = await start();
  const { base, media, origin } = f;
  const lastSeen = () => origin.requests.at(-1)!;
  try {
    await t.step(
      "api_password in the query, in an api_password header, or missing/wrong",
      async () => {
        const url = `${base}/proxy/stream?${query({ d: `${media}/movie.mp4` })}`;
        assertEquals((await text(`${url}&api_password=${PASSWORD}`)).slice(0, 2), [
          200,
          "MOVIE-BYTES",
        ]);
        assertEquals(
          (await text(url, { headers: { api_password: PASSWORD } })).slice(0, 2),
          [200, "MOVIE-BYTES"],
        );
        assertEquals(await error(url), [401, "unauthorized", "missing api password"]);
        assertEquals(await error(`${url}&api_password=wrong`), [
          403,
          "forbidden",
          "invalid credential",
        ]);
        assertEquals(
          await error(url, { headers: { api_password: "wrong" } }),
          [403, "forbidden", "invalid credential"],
        );
      },
    );

    await t.step(
      "GET /proxy/ip answers the configured egress address behind the credential",
      async () => {
        const [status, body, headers] = await text(`${base}/proxy/ip?api_password=${PASSWORD}`);
        assertEquals([status, JSON.parse(body)], [200, { ip: PUBLIC_IP }]);
        assertEquals(headers.get("cache-control"), "no-store");
        assertEquals(await error(`${base}/proxy/ip`), [
          401,
          "unauthorized",
          "missing api password",
        ]);
        assertEquals(
          await error(`${base}/proxy/ip?api_password=nope`),
          [403, "forbidden", "invalid credential"],
        );
      },
    );

    await t.step(
      "d may be base64 (standard or URL-safe alphabet, with or without padding)",
      async () => {
        for (const d of [btoa(`${media}/movie.mp4`), base64Url(`${media}/movie.mp4`)]) {
          const [status, body] = await text(
            `${base}/proxy/stream?${query({ d, api_password: PASSWORD })}`,
          );
          assertEquals([status, body], [200, "MOVIE-BYTES"], d);
          assertEquals(new URL(lastSeen().url).pathname, "/media/movie.mp4");
        }
        assertEquals(
          await error(
            `${base}/proxy/stream?${
              query({ d: btoa("ftp://media.test/x"), api_password: PASSWORD })
            }`,
          ),
          [400, "bad_request", "d must be an absolute http(s) URL"],
        );
      },
    );

    await t.step(
      "h_ headers: h_user-agent and h_user_agent forms, h_referrer → Referer",
      async () => {
        for (const name of ["h_user-agent", "h_user_agent", "h_User-Agent"]) {
          const [status] = await text(
            `${base}/proxy/stream?${
              query({
                d: `${media}/movie.mp4`,
                [name]: `UA ${name}`,
                h_referrer: "https://addon.example/",
                api_password: PASSWORD,
              })
            }`,
          );
          assertEquals(status, 200);
          assertEquals(lastSeen().headers.get("user-agent"), `UA ${name}`);
          assertEquals(lastSeen().headers.get("referer"), "https://addon.example/");
        }
        // Authorization is not forwarded unless the operator lists it.
        assertEquals(
          await error(
            `${base}/proxy/stream?${
              query({
                d: `${media}/movie.mp4`,
                h_authorization: "Bearer x",
                api_password: PASSWORD,
              })
            }`,
          ),
          [400, "bad_override", 'header override "authorization" is not allowed'],
        );
      },
    );

    await t.step(
      "/proxy/stream/<file name> answers Content-Disposition with that name",
      async () => {
        const d = query({ d: `${media}/movie.mp4`, api_password: PASSWORD });
        const [status, body, headers] = await text(
          `${base}/proxy/stream/My%20Film%20(2024).mp4?${d}`,
        );
        assertEquals([status, body], [200, "MOVIE-BYTES"]);
        assertEquals(headers.get("content-disposition"), 'inline; filename="My Film (2024).mp4"');
        const [, , accented] = await text(`${base}/proxy/stream/Am%C3%A9lie.mkv?${d}`);
        assertEquals(
          accented.get("content-disposition"),
          `inline; filename="Am_lie.mkv"; filename*=UTF-8''Am%C3%A9lie.mkv`,
        );
        // Without a name the upstream's own header is kept.
        const [, , plain] = await text(`${base}/proxy/stream?${d}`);
        assertEquals(plain.get("content-disposition"), 'attachment; filename="x"');
      },
    );

    await t.step("rp_/r_ set response headers, x_headers removes upstream ones", async () => {
      const [status, body, headers] = await text(`${base}/proxy/stream?${
        query({
          d: `${media}/fake.png`,
          "rp_content-type": "video/mp2t",
          "r_cache-control": "no-cache",
          x_headers: "content-length,x-content-type-options",
          api_password: PASSWORD,
        })
      }`);
      assertEquals([status, body], [200, "TS-IN-PNG"]);
      assertEquals(headers.get("content-type"), "video/mp2t");
      assertEquals(headers.get("cache-control"), "no-cache");
      assertEquals(headers.get("content-length"), null);
      // sProx's own content-safety headers cannot be removed.
      assertEquals(headers.get("x-content-type-options"), "nosniff");
      assertEquals(
        await error(
          `${base}/proxy/stream?${
            query({ d: `${media}/fake.png`, "r_content-type": "text/html", api_password: PASSWORD })
          }`,
        ),
        [400, "bad_override", "response override content-type text/html is not allowed"],
      );
      assertEquals(
        await error(
          `${base}/proxy/stream?${
            query({ d: `${media}/fake.png`, "r_set-cookie": "a=b", api_password: PASSWORD })
          }`,
        ),
        [400, "bad_override", 'response override "set-cookie" is not allowed'],
      );
    });

    await t.step("/proxy/hls/segment.<ext> is /proxy/stream", async () => {
      const [status, body, headers] = await text(
        `${base}/proxy/hls/segment.ts?${
          query({ d: `${media}/hls/v720/seg1.ts`, api_password: PASSWORD })
        }`,
      );
      assertEquals([status, body, headers.get("content-type")], [200, "SEGMENT-1", "video/mp2t"]);
    });

    await t.step(
      "HLS manifests carry h_, rp_ and x_headers onto links; r_ stays on the manifest",
      async () => {
        const [status, body, headers] = await text(`${base}/proxy/hls/manifest.m3u8?${
          query({
            d: `${media}/hls/v720/index.m3u8`,
            h_referer: "https://addon.example/",
            "rp_content-type": "video/mp2t",
            "r_cache-control": "no-store",
            x_headers: "content-length",
            api_password: PASSWORD,
          })
        }`);
        assertEquals(status, 200);
        assertEquals(headers.get("cache-control"), "no-store");
        assertEquals(headers.get("content-type"), "application/vnd.apple.mpegurl");
        const tail = "&h_referer=https%3A%2F%2Faddon.example%2F&rp_content-type=video%2Fmp2t" +
          `&x_headers=content-length&api_password=${PASSWORD}`;
        const encoded = encodeURIComponent(`${media}/hls/v720/`);
        assertEquals(
          body,
          MEDIA.replace(
            'URI="key.bin"',
            `URI="/proxy/stream/key.bin.ts?d=${encoded}key.bin${tail}"`,
          )
            .replace("\nseg1.ts\n", `\n/proxy/stream/seg1.ts?d=${encoded}seg1.ts${tail}\n`),
        );
      },
    );

    await t.step("max_res and resolution keep one variant", async () => {
      const master = (extra: Record<string, string>) =>
        text(
          `${base}/proxy/hls/manifest.m3u8?${
            query({ d: `${media}/hls/master.m3u8`, api_password: PASSWORD, ...extra })
          }`,
        );
      const variants = (body: string) =>
        body.split("\n").filter((l) => l.startsWith("/proxy/hls/manifest.m3u8?d="))
          .map((l) => decodeURIComponent(new URL(l, base).searchParams.get("d")!));
      assertEquals(variants((await master({ max_res: "true" }))[1]), [
        `${media}/hls/v1080/index.m3u8`,
      ]);
      assertEquals(variants((await master({ resolution: "720p" }))[1]), [
        `${media}/hls/v720/index.m3u8`,
      ]);
      assertEquals(variants((await master({ resolution: "480p" }))[1]), [
        `${media}/hls/v360/index.m3u8`,
      ]);
      assertEquals(variants((await master({}))[1]).length, 3);
      assertEquals(
        await error(
          `${base}/proxy/hls/manifest.m3u8?${
            query({ d: `${media}/hls/master.m3u8`, resolution: "hd", api_password: PASSWORD })
          }`,
        ),
        [400, "bad_request", "resolution must be a height such as 720p"],
      );
    });

    await t.step(
      "key_url replaces key URIs; no_proxy leaves every reference upstream",
      async () => {
        const [, keyed] = await text(
          `${base}/proxy/hls/manifest.m3u8?${
            query({
              d: `${media}/hls/v720/index.m3u8`,
              key_url: base64Url(`${media}/hls/other.key`),
              api_password: PASSWORD,
            })
          }`,
        );
        const keyLine = keyed.split("\n").find((l) => l.startsWith("#EXT-X-KEY"))!;
        assertEquals(
          keyLine,
          `#EXT-X-KEY:METHOD=AES-128,URI="/proxy/stream/other.key.ts?d=${
            encodeURIComponent(`${media}/hls/other.key`)
          }&api_password=${PASSWORD}"`,
        );
        const [, raw] = await text(
          `${base}/proxy/hls/manifest.m3u8?${
            query({ d: `${media}/hls/v720/index.m3u8`, no_proxy: "true", api_password: PASSWORD })
          }`,
        );
        assertEquals(
          raw,
          MEDIA.replace('URI="key.bin"', `URI="${media}/hls/v720/key.bin"`)
            .replace("\nseg1.ts\n", `\n${media}/hls/v720/seg1.ts\n`),
        );
      },
    );

    await t.step("/proxy/hls/key_proxy/manifest.m3u8 rewrites only key URIs", async () => {
      const [status, body] = await text(
        `${base}/proxy/hls/key_proxy/manifest.m3u8?${
          query({ d: `${media}/hls/v720/index.m3u8`, api_password: PASSWORD })
        }`,
      );
      assertEquals(status, 200);
      assertEquals(
        body,
        MEDIA.replace(
          'URI="key.bin"',
          `URI="/proxy/stream/key.bin.ts?d=${
            encodeURIComponent(`${media}/hls/v720/key.bin`)
          }&api_password=${PASSWORD}"`,
        ).replace("\nseg1.ts\n", `\n${media}/hls/v720/seg1.ts\n`),
      );
      const [, master] = await text(
        `${base}/proxy/hls/key_proxy/manifest.m3u8?${
          query({ d: `${media}/hls/master.m3u8`, api_password: PASSWORD })
        }`,
      );
      // Nested playlists stay on the key-proxy endpoint so their keys are reached.
      assert(
        master.includes(
          `/proxy/hls/key_proxy/manifest.m3u8?d=${
            encodeURIComponent(`${media}/hls/v720/index.m3u8`)
          }`,
        ),
        master,
      );
    });

    await t.step("/proxy/mpd/playlist.m3u8?profile_id= names the Representation @id", async () => {
      const mpd = `${media}/dash/manifest.mpd`;
      const byProfile = await text(
        `${base}/proxy/mpd/playlist.m3u8?${
          query({ d: mpd, profile_id: "v1", api_password: PASSWORD })
        }`,
      );
      const byName = await text(
        `${base}/proxy/mpd/playlist.m3u8?${
          query({ d: mpd, rendition: "video-v1", api_password: PASSWORD })
        }`,
      );
      assertEquals(byProfile[0], 200);
      assertEquals(byProfile[1], byName[1]);
      assert(byProfile[1].includes("seg-v1-1.m4s"), byProfile[1]);
      assertEquals(
        await error(
          `${base}/proxy/mpd/playlist.m3u8?${
            query({ d: mpd, profile_id: "v9", api_password: PASSWORD })
          }`,
        ),
        [404, "not_found", "the MPD has no such profile_id"],
      );
      const [, master] = await text(
        `${base}/proxy/mpd/manifest.m3u8?${
          query({ d: mpd, max_res: "true", api_password: PASSWORD })
        }`,
      );
      const renditions = master.split("\n").filter((l) => l.startsWith("/proxy/mpd/playlist.m3u8"));
      assertEquals(renditions.map((l) => new URL(l, base).searchParams.get("rendition")), [
        "video-v2",
      ]);
    });

    await t.step(
      "/proxy/mpd/init.mp4 and segment.mp4 answer the init section and init+segment",
      async () => {
        const common = {
          init_url: `${media}/dash/init-v1.mp4`,
          mime_type: "video/mp4",
          api_password: PASSWORD,
        };
        const [status, body, headers] = await text(`${base}/proxy/mpd/init.mp4?${query(common)}`);
        assertEquals([status, body, headers.get("content-type")], [200, "INIT-V1|", "video/mp4"]);
        const segment = { ...common, segment_url: base64Url(`${media}/dash/seg-v1-1.m4s`) };
        const [s2, joined, h2] = await text(`${base}/proxy/mpd/segment.mp4?${query(segment)}`);
        assertEquals([s2, joined, h2.get("content-length")], [200, "INIT-V1|SEG-V1-1", "16"]);
        const [, alone] = await text(
          `${base}/proxy/mpd/segment.mp4?${query({ ...segment, use_map: "true" })}`,
        );
        assertEquals(alone, "SEG-V1-1");
        // Byte ranges are asked for, and cut out when the origin answers the whole object.
        const [, ranged, h3] = await text(
          `${base}/proxy/mpd/segment.mp4?${
            query({ ...segment, init_range: "0-6", segment_range: "4-" })
          }`,
        );
        assertEquals([ranged, h3.get("content-length")], ["INIT-V1V1-1", "11"]);
        assertEquals(lastSeen().headers.get("range"), "bytes=4-");
        assertEquals(
          await error(`${base}/proxy/mpd/init.mp4?${query({ ...common, init_range: "9-1" })}`),
          [400, "bad_request", "init_range must be a byte range such as 0-1023"],
        );
        assertEquals(
          await error(
            `${base}/proxy/mpd/segment.mp4?${query({ ...segment, mime_type: "text/html" })}`,
          ),
          [400, "bad_request", "mime_type text/html is not allowed"],
        );
        assertEquals(
          await error(
            `${base}/proxy/mpd/init.mp4?${
              query({ ...common, init_url: "http://elsewhere.test/x" })
            }`,
          ),
          [403, "allowlist_denied", "destination is not allowlisted"],
        );
      },
    );

    await t.step(
      "POST /generate_url, /generate_urls and the legacy endpoint answer playable URLs",
      async () => {
        const post = (path: string, body: unknown) =>
          fetch(`${base}${path}`, {
            method: "POST",
            body: JSON.stringify(body),
            signal: deadline(),
          });
        const plain = await post("/generate_url", {
          mediaflow_proxy_url: base,
          endpoint: "/proxy/stream",
          destination_url: `${media}/movie.mp4`,
          query_params: { api_password: PASSWORD },
          request_headers: { referer: "https://addon.example/" },
          filename: "movie.mp4",
        });
        assertEquals(
          plain.status,
          401,
          "query_params' api_password is not the caller's credential",
        );
        await plain.body?.cancel();
        const encoded = await post("/generate_url?api_password=" + PASSWORD, {
          mediaflow_proxy_url: base,
          endpoint: "/proxy/stream",
          destination_url: `${media}/movie.mp4`,
          query_params: { api_password: PASSWORD },
          request_headers: { referer: "https://addon.example/" },
          filename: "movie.mp4",
        });
        assertEquals(encoded.status, 200);
        const { url } = await encoded.json();
        assertEquals(
          url,
          `${base}/proxy/stream/movie.mp4?d=${
            encodeURIComponent(`${media}/movie.mp4`)
          }&api_password=${PASSWORD}&h_referer=https%3A%2F%2Faddon.example%2F`,
        );
        assertEquals((await text(url)).slice(0, 2), [200, "MOVIE-BYTES"]);

        const signed = await post("/generate_url", {
          mediaflow_proxy_url: base,
          endpoint: "/proxy/hls/manifest.m3u8",
          destination_url: `${media}/hls/v720/index.m3u8`,
          request_headers: { referer: "https://addon.example/" },
          api_password: PASSWORD,
          expiration: 600,
        });
        assertEquals(signed.status, 200);
        const playlistUrl = (await signed.json()).url as string;
        assert(
          /\/_token_[A-Za-z0-9_-]+\/proxy\/hls\/manifest\.m3u8$/.test(playlistUrl),
          playlistUrl,
        );
        assert(!playlistUrl.includes("media.test") && !playlistUrl.includes(PASSWORD));
        const [status, playlist] = await text(playlistUrl);
        assertEquals(status, 200);
        // Links are signed too: the player needs no credential, and sees no destination.
        assert(!playlist.includes("media.test") && !playlist.includes(PASSWORD), playlist);
        const segmentLink = playlist.split("\n").find((l) => l.startsWith("/_token_"))!;
        assert(segmentLink.endsWith("/proxy/stream/seg1.ts"), segmentLink);
        assertEquals((await text(`${base}${segmentLink}`)).slice(0, 2), [200, "SEGMENT-1"]);
        assertEquals(lastSeen().headers.get("referer"), "https://addon.example/");

        const many = await post("/generate_urls", {
          mediaflow_proxy_url: base,
          api_password: PASSWORD,
          urls: [
            {
              destination_url: `${media}/movie.mp4`,
              filename: "one.mp4",
              endpoint: "/proxy/stream",
            },
            {
              destination_url: `${media}/fake.png`,
              endpoint: "/proxy/stream",
              propagate_response_headers: { "content-type": "video/mp2t" },
            },
          ],
        });
        const { urls } = await many.json();
        assertEquals(urls.length, 2);
        assertEquals((await text(urls[0])).slice(0, 2), [200, "MOVIE-BYTES"]);
        const [, disguised, h] = await text(urls[1]);
        assertEquals([disguised, h.get("content-type")], ["TS-IN-PNG", "video/mp2t"]);

        const legacy = await post("/generate_encrypted_or_encoded_url", {
          mediaflow_proxy_url: base,
          destination_url: `${media}/movie.mp4`,
          api_password: PASSWORD,
        });
        const { encoded_url } = await legacy.json();
        assert(encoded_url.startsWith(`${base}/_token_`), encoded_url);
        assertEquals((await text(encoded_url)).slice(0, 2), [200, "MOVIE-BYTES"]);

        const refused = await post("/generate_url", {
          mediaflow_proxy_url: base,
          destination_url: "http://elsewhere.test/a.mp4",
          api_password: PASSWORD,
        });
        assertEquals([refused.status, (await refused.json()).error], [403, "allowlist_denied"]);
        const get = await fetch(`${base}/generate_url?api_password=${PASSWORD}`, {
          signal: deadline(),
        });
        assertEquals([get.status, get.headers.get("allow")], [405, "POST"]);
        await get.body?.cancel();
      },
    );

    await t.step(
      "a signed URL works in the path form and as ?token=, for the named endpoint only",
      async () => {
        const response = await fetch(`${base}/generate_url`, {
          method: "POST",
          body: JSON.stringify({
            mediaflow_proxy_url: base,
            destination_url: base64Url(`${media}/movie.mp4`),
            api_password: PASSWORD,
          }),
          signal: deadline(),
        });
        const { url } = await response.json();
        const token = /\/_token_([A-Za-z0-9_-]+)\//.exec(url)![1];
        assertEquals((await text(`${base}/_token_${token}/proxy/stream`)).slice(0, 2), [
          200,
          "MOVIE-BYTES",
        ]);
        assertEquals((await text(`${base}/proxy/stream?token=${token}`)).slice(0, 2), [
          200,
          "MOVIE-BYTES",
        ]);
        // The request's own query cannot point the token elsewhere.
        const [, body] = await text(
          `${base}/_token_${token}/proxy/stream?d=${encodeURIComponent(`${media}/fake.png`)}`,
        );
        assertEquals(body, "MOVIE-BYTES");
        assertEquals(
          await error(`${base}/_token_${token}/proxy/hls/manifest.m3u8`),
          [403, "forbidden", "the signed URL is for another endpoint"],
        );
        assertEquals(await error(`${base}/_token_${token}`), [404, "not_found", "not found"]);
      },
    );
  } finally {
    await f.sprox.stop();
    await origin.close();
  }
});
