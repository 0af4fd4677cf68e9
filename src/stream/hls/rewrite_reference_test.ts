import assert from "node:assert/strict";
import { ProxyError } from "../../errors/mod.ts";
import {
  checkPlaylist,
  type DirectLinkOptions,
  directModeResolver,
  guardInsecure,
  PlaylistRewriter,
  type ReferenceKind,
  type ReferenceResolver,
  resolveReference,
  rewritePlaylist,
  routeModeResolver,
  URI_TAGS,
  withDirectoryMapping,
} from "./mod.ts";
import { referenceBase } from "./resolve.ts";
import { random } from "../_testing.ts";

/**
 * The rewriter as plainly as it can be written: split into lines, trim, and resolve every
 * reference with the URL parser. The scanning rewriter must give the same bytes.
 */
function referenceRewrite(text: string, playlistUrl: string, resolve: ReferenceResolver): string {
  if (text.includes("\0")) throw invalid("NUL");
  const lines = text.split("\n");
  let sawHeader = false;
  let variantNext = false;
  const out = lines.map((raw) => {
    if (!sawHeader) {
      const line = (raw.startsWith("\uFEFF") ? raw.slice(1) : raw).trim();
      if (line === "") return raw;
      if (!line.startsWith("#EXTM3U")) throw invalid("header");
      sawHeader = true;
      return raw;
    }
    const indented = /^[ \t]*/.exec(raw)![0].length;
    if (raw[indented] === "#") {
      if (!raw.startsWith("#EXT-X-", indented)) return raw;
      const colon = raw.indexOf(":");
      const tag = colon < 0 ? raw.slice(indented + 1).trimEnd() : raw.slice(indented + 1, colon);
      if (tag === "EXT-X-STREAM-INF") variantNext = true;
      const kinds = URI_TAGS.get(tag);
      if (!kinds || colon < 0) return raw;
      return rewriteAttributes(raw, colon + 1, kinds, (value, kind) => {
        const absolute = resolveWithUrl(playlistUrl, value.trim());
        return absolute === null ? null : resolve(absolute, kind, raw);
      });
    }
    const body = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const trimmed = body.trim();
    if (trimmed === "") return raw;
    const kind: ReferenceKind = variantNext ? "playlist" : "media";
    variantNext = false;
    const absolute = resolveWithUrl(playlistUrl, trimmed);
    if (absolute === null) return raw;
    const at = body.indexOf(trimmed);
    return body.slice(0, at) + resolve(absolute, kind, raw) + raw.slice(at + trimmed.length);
  });
  if (!sawHeader) throw invalid("header");
  return out.join("\n");
}

/** Attribute list per RFC 8216 §4.2 as the rewriter reads it (names before `=`, quoted values). */
function rewriteAttributes(
  line: string,
  from: number,
  kinds: ReadonlyMap<string, ReferenceKind>,
  write: (value: string, kind: ReferenceKind) => string | null,
): string {
  let out = line.slice(0, from);
  let i = from;
  while (i < line.length) {
    while (line[i] === " " || line[i] === "\t") out += line[i++];
    const eq = line.indexOf("=", i);
    if (eq < 0) break;
    const name = line.slice(i, eq).trim();
    out += line.slice(i, eq + 1);
    let valueStart = eq + 1;
    let valueEnd: number;
    let next: number;
    if (line[valueStart] === '"') {
      out += '"';
      valueStart++;
      valueEnd = line.indexOf('"', valueStart);
      if (valueEnd < 0) throw invalid("quote");
      next = line.indexOf(",", valueEnd + 1);
    } else {
      next = line.indexOf(",", valueStart);
      valueEnd = next < 0 ? line.length : next;
    }
    const value = line.slice(valueStart, valueEnd);
    const kind = kinds.get(name);
    const written = kind === undefined ? null : write(value, kind);
    out += written ?? value;
    if (next < 0) return out + line.slice(valueEnd);
    out += line.slice(valueEnd, next + 1);
    i = next + 1;
  }
  return out + line.slice(i);
}

function resolveWithUrl(base: string, reference: string): string | null {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(reference);
  if (scheme && !/^https?:$/i.test(scheme[0])) return null;
  let url: URL;
  try {
    url = new URL(reference, base);
  } catch {
    throw invalid("URI");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (url.username || url.password) throw invalid("credentials");
  url.hash = "";
  return url.href;
}

function invalid(what: string): ProxyError {
  return new ProxyError(502, "manifest_invalid", what);
}

const REFERENCES = [
  "seg-00042.ts",
  "v/720p/seg.m4s?tok=f00d&e=1",
  "./a.ts",
  "../x/a.ts",
  "a/../../b.ts",
  "a/%2e%2E/b.ts",
  "a/.%2e/b.ts",
  "%2e/c.ts",
  "a/.../b.ts",
  "a//b.ts",
  "/root.ts",
  "//other.example/p.ts",
  "?only=query",
  "a.ts?x='1'",
  "a.ts?q=a/../b",
  "a.ts#frag",
  "a b.ts",
  "a\\b.ts",
  "dé/ü.ts",
  "%zz.ts",
  "a:b.ts",
  "HTTPS://Other.Example:443/A.ts",
  "https://cdn.example/a/b.ts?x=1",
  "https://cdn.example",
  "https://cdn.example/",
  "https://cdn.example/?q",
  "http://1.2.3/x.ts",
  "http://0x7f.1/x.ts",
  "http://a.123/x.ts",
  "http://xn--nxasmq6b.example/x.ts",
  "http://xn--a.example/x.ts",
  "http://a..b/x.ts",
  "https://cdn.example./x.ts",
  "https://u:p@cdn.example/x.ts",
  "https://cdn.example/./x.ts",
  "https://cdn.example/a/%2e%2e/x.ts",
  "data:text/plain,hi",
  "skd://key-id",
  "http://[::1",
  "\u00a0seg.ts\u3000",
  "\uFEFFseg.ts",
  "x".repeat(3000) + ".ts",
];

const OTHER_LINES = [
  "#EXTINF:4,",
  "#EXTINF:4,title with, comma",
  "# a comment: with colon",
  "#EXT-X-TARGETDURATION:4",
  "#EXT-X-ENDLIST",
  "#EXT-X-STREAM-INF",
  '#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="a,b"',
  '#EXT-X-UNKNOWN:URI="keep.ts"',
  "",
  "   ",
  "\t",
  "\r",
  "\u00a0",
  "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=2",
  "# " + "long ".repeat(2000),
];

function pick<T>(items: readonly T[], next: () => number): T {
  return items[Math.floor(next() * items.length)];
}

/** A line holding a reference: a URI line, or a URI tag with the reference in an attribute. */
function referenceLine(next: () => number): string {
  const reference = pick(REFERENCES, next);
  const indent = pick(["", "", "", " ", "\t", "  "], next);
  const trailing = pick(["", "", "", " ", "\t", "\r"], next);
  switch (Math.floor(next() * 6)) {
    case 0:
      return `${indent}#EXT-X-KEY:METHOD=AES-128,URI="${reference}",IV=0x1${trailing}`;
    case 1:
      return `${indent}#EXT-X-MAP:URI=${reference.replaceAll(",", "")}${trailing}`;
    case 2:
      return `#EXT-X-MEDIA:TYPE=AUDIO,NAME="a, b",URI="${reference}"${trailing}`;
    case 3:
      return `#EXT-X-DATERANGE:ID="i",X-ASSET-URI="${reference}",X-ASSET-LIST="${reference}"`;
    default:
      return `${indent}${reference}${trailing}`;
  }
}

function randomPlaylist(next: () => number): string {
  const newline = next() < 0.3 ? "\r\n" : "\n";
  let text = pick(["", "", "\uFEFF", "\n", " \n"], next) + "#EXTM3U" + newline;
  const lines = Math.floor(next() * 30);
  for (let i = 0; i < lines; i++) {
    text += (next() < 0.5 ? referenceLine(next) : pick(OTHER_LINES, next)) +
      (next() < 0.9 ? newline : "\n");
  }
  return next() < 0.2 ? text.slice(0, -1) : text;
}

const PLAYLIST_URL = "https://origin.example/vod/show/index.m3u8?token=abc";

/** Writes what it was given, so the comparison sees every argument. */
const echo: ReferenceResolver = (url, kind, line) => `<${kind}|${url}|${line?.length}>`;

function outcome(run: () => string): string {
  try {
    return run();
  } catch (error) {
    assert.ok(error instanceof ProxyError, String(error));
    return `throws ${error.reason}`;
  }
}

Deno.test("the scanning rewriter gives the plain reference's bytes on random playlists", () => {
  const next = random(11);
  for (let i = 0; i < 4000; i++) {
    const text = randomPlaylist(next);
    const expected = outcome(() => referenceRewrite(text, PLAYLIST_URL, echo));
    const actual = outcome(() =>
      rewritePlaylist(text, { playlistUrl: PLAYLIST_URL, resolve: echo })
    );
    assert.equal(actual, expected, JSON.stringify(text));
    if (i % 8 === 0 && !expected.startsWith("throws")) {
      // Chunked input (lines split across chunks) gives the same bytes.
      const rewriter = new PlaylistRewriter({ playlistUrl: PLAYLIST_URL, resolve: echo });
      let out = "";
      const size = 1 + Math.floor(next() * 40);
      for (let at = 0; at < text.length; at += size) {
        out += rewriter.push(text.slice(at, at + size));
      }
      assert.equal(out + rewriter.finish(), expected, `chunks of ${size}: ${JSON.stringify(text)}`);
    }
  }
});

Deno.test("directory shortcuts of route resolvers and the guard write what the resolver would", () => {
  const keep = routeModeResolver({
    origin: "https://origin.example/vod",
    baseUrl: "https://cdn.example/hls/",
    crossOrigin: "keep",
  });
  const rootRelative = routeModeResolver({
    origin: "http://origin.example/vod/",
    baseUrl: null,
    crossOrigin: "keep",
  });
  const identity = withDirectoryMapping((url) => url, (directory) => directory);
  const resolvers: [string, ReferenceResolver][] = [
    ["keep", keep],
    ["root-relative", rootRelative],
    ["guarded", guardInsecure(keep, { secure: true, allowInsecure: false })],
    [
      "guarded root-relative",
      guardInsecure(rootRelative, { secure: true, allowInsecure: false, trustedPrefix: null }),
    ],
    [
      "guarded trusted",
      guardInsecure(identity, {
        secure: true,
        allowInsecure: false,
        trustedPrefix: "http://origin.example/vod/",
      }),
    ],
  ];
  const playlistUrls = [
    PLAYLIST_URL,
    "http://origin.example/vod/a/index.m3u8",
    "http://origin.example/other/index.m3u8",
    "https://elsewhere.example/x/index.m3u8",
  ];
  const next = random(23);
  for (let i = 0; i < 500; i++) {
    const text = randomPlaylist(next);
    for (const playlistUrl of playlistUrls) {
      for (const [name, resolve] of resolvers) {
        // The reference calls the resolver itself for every reference (no shortcut).
        const plain: ReferenceResolver = (url, kind, line) => resolve(url, kind, line);
        assert.equal(
          outcome(() => rewritePlaylist(text, { playlistUrl, resolve })),
          outcome(() => referenceRewrite(text, playlistUrl, plain)),
          `${name} ${playlistUrl}: ${JSON.stringify(text)}`,
        );
      }
    }
  }
});

Deno.test("resolveReference() agrees with the URL parser on every sample reference", () => {
  for (const playlistUrl of [PLAYLIST_URL, "http://h.example/", "https://h.example/a/b/c"]) {
    const base = referenceBase(playlistUrl);
    for (const reference of REFERENCES) {
      const trimmed = reference.trim();
      assert.equal(
        outcome(() => String(resolveReference(base, trimmed))),
        outcome(() => String(resolveWithUrl(playlistUrl, trimmed))),
        `${playlistUrl} + ${reference}`,
      );
    }
  }
});

Deno.test("unchanged playlists come back as the same string, references written in place", () => {
  const text = "#EXTM3U\r\n#EXTINF:4,\r\n  seg.ts \r\n#EXT-X-ENDLIST\r\n";
  assert.equal(
    rewritePlaylist(text, { playlistUrl: PLAYLIST_URL, resolve: () => "x" }),
    "#EXTM3U\r\n#EXTINF:4,\r\n  x \r\n#EXT-X-ENDLIST\r\n",
  );
  const keep = "#EXTM3U\n#EXTINF:4,\nskd://k\n";
  assert.equal(rewritePlaylist(keep, { playlistUrl: PLAYLIST_URL, resolve: () => "x" }), keep);
});

// The segment extensions kept as they are in `/proxy/stream/<name>` links.
const MEDIA = new Set(
  "3gp,aac,avi,ac3,eac3,flac,mkv,m4a,m4s,m4v,mpg,mov,mp2,mp3,mp4,mpeg,mpegts,ogg,ogv,oga,ts,vob,vtt,wav,webvtt,cmfv,cmfa,ec3,fmp4"
    .split(","),
);

/** Direct-mode links as plainly as they can be written: the whole URL encoded per link. */
function referenceDirectLink(options: DirectLinkOptions): ReferenceResolver {
  const pairs = (list: readonly (readonly [string, string])[] | undefined) =>
    (list ?? []).map(([k, v]) => `&${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("");
  const credential = options.credential
    ? `&api_password=${encodeURIComponent(options.credential)}`
    : "";
  const tail = pairs(options.overrides) + credential;
  const prefix = options.prefix ?? "";
  const link = (url: string, kind: ReferenceKind) => {
    const d = encodeURIComponent(url);
    if (kind === "playlist") {
      const path = options.playlistPath ?? "/proxy/hls/manifest.m3u8";
      return `${prefix}${path}?d=${d}${tail}${pairs(options.playlistParameters)}`;
    }
    const path = new URL(url).pathname;
    const raw = url.slice(0, url.includes("?") ? url.indexOf("?") : url.length);
    let name = raw.slice(raw.lastIndexOf("/") + 1).replace(/[^A-Za-z0-9._~-]/g, "_");
    assert.ok(path.endsWith(raw.slice(raw.lastIndexOf("/") + 1)));
    const extension = name.includes(".") ? name.slice(name.lastIndexOf(".") + 1) : "";
    if (name !== "" && !MEDIA.has(extension.toLowerCase())) name += ".ts";
    return name === ""
      ? `${prefix}/proxy/stream?d=${d}${tail}`
      : `${prefix}/proxy/stream/${name}?d=${d}${tail}`;
  };
  switch (options.proxy ?? "all") {
    case "none":
      return (url) => url;
    case "keys":
      return (url, kind) => kind === "key" || kind === "playlist" ? link(url, kind) : url;
    default:
      return link;
  }
}

const DIRECT_OPTIONS: DirectLinkOptions[] = [
  {},
  { overrides: [["h_referer", "https://p.example/a b?c=d&e"]], credential: "s3cr&t" },
  {
    prefix: "https://sprox.example",
    overrides: [["h_User-Agent", "VLC/3.0 (ü)"], ["rp_content-type", "video/mp2t"]],
    playlistParameters: [["key_url", "https://k.example/k?x=1"]],
  },
  { proxy: "keys", playlistPath: "/proxy/hls/key_proxy/manifest.m3u8", credential: "p" },
  { proxy: "none" },
];

const DIRECT_URLS = [
  "https://cdn.example/v/seg1.ts",
  "https://cdn.example/v/seg2.ts?tok=a%2Fb",
  "https://cdn.example/v/",
  "https://cdn.example/v/seg.M4S?tok=1",
  "https://cdn.example/v/chunk.dash",
  "https://cdn.example/v/a.",
  "https://cdn.example/v/.ts",
  "https://cdn.example/v/noext?x=%E2%82%AC",
  "https://cdn.example/v/sp%20ace.ts",
  "https://cdn.example/v/%C3%BC.mp4",
  "https://cdn.example/v/a,b;c.m4s",
  "https://cdn.example/w/seg1.ts",
  "https://cdn.example/w/seg1.ts?tok=a",
  "http://other.example/x/y/z.aac",
  "https://cdn.example/v/seg1.ts?tok=",
];

Deno.test("direct-mode links are the plainly encoded ones, in any order of references", () => {
  const next = random(31);
  const kinds: ReferenceKind[] = ["playlist", "media", "key", "data"];
  for (const options of DIRECT_OPTIONS) {
    const fast = directModeResolver(options);
    const plain = referenceDirectLink(options);
    for (let i = 0; i < 3000; i++) {
      const url = pick(DIRECT_URLS, next);
      const kind = pick(kinds, next);
      assert.equal(fast(url, kind), plain(url, kind), `${JSON.stringify(options)} ${kind} ${url}`);
    }
    // Whole playlists: what the rewriter writes through the resolver (relative references
    // resolved against several directories, absolute ones, tags).
    for (let i = 0; i < 300; i++) {
      const text = randomPlaylist(next);
      for (const playlistUrl of [PLAYLIST_URL, "https://cdn.example/v/index.m3u8"]) {
        assert.equal(
          outcome(() =>
            rewritePlaylist(text, { playlistUrl, resolve: directModeResolver(options) })
          ),
          outcome(() => referenceRewrite(text, playlistUrl, plain)),
          `${JSON.stringify(options)} ${playlistUrl}: ${JSON.stringify(text)}`,
        );
      }
    }
  }
});

Deno.test("checking a playlist refuses what the rewrite refuses and builds nothing", () => {
  const identity = withDirectoryMapping((url) => url, (directory) => directory);
  const guards = [
    guardInsecure(identity, { secure: true, allowInsecure: false }),
    guardInsecure(identity, {
      secure: true,
      allowInsecure: false,
      trustedPrefix: "http://origin.example/vod/",
    }),
  ];
  const next = random(37);
  for (let i = 0; i < 1500; i++) {
    const text = randomPlaylist(next);
    for (const playlistUrl of [PLAYLIST_URL, "http://origin.example/vod/a/index.m3u8"]) {
      for (const resolve of guards) {
        const expected = outcome(() => referenceRewrite(text, playlistUrl, resolve));
        const checked = outcome(() => {
          checkPlaylist(text, { playlistUrl, resolve });
          return text;
        });
        assert.equal(
          checked,
          expected.startsWith("throws") ? expected : text,
          JSON.stringify(text),
        );
        // A check asks the resolver about every reference the rewrite asks it about.
        if (!outcome(() => referenceRewrite(text, playlistUrl, echo)).startsWith("throws")) {
          const asked = (run: (resolve: ReferenceResolver) => void) => {
            const seen: string[] = [];
            run((url, kind, line) => {
              seen.push(`${kind} ${url}`);
              return echo(url, kind, line);
            });
            return seen;
          };
          assert.deepEqual(
            asked((resolve) => checkPlaylist(text, { playlistUrl, resolve })),
            asked((resolve) => rewritePlaylist(text, { playlistUrl, resolve })),
          );
        }
      }
    }
  }
});
