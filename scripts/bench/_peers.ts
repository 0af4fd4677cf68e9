/**
 * Benchmark peers: content files, an nginx origin, nginx as a reverse proxy, the bare Deno
 * floor, and sProx itself — all on loopback, all started and stopped by the bench.
 * @module
 */

import { selfSignedCertificate } from "../../tests/_support/tls.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A started process that the bench stops at the end. */
export interface Peer {
  readonly name: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** A free loopback port. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Waits until `url` answers (any status); curl so TLS with a self-signed cert works too. */
export async function waitForHttp(url: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const out = await new Deno.Command("curl", {
      args: ["-sk", "-o", "/dev/null", "--max-time", "2", url],
      stdout: "null",
      stderr: "null",
    }).output();
    if (out.success) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${url} did not come up`);
}

/** Starts a peer process whose output (both streams) is drained to `logFile`. */
export function spawn(
  name: string,
  cmd: string,
  args: string[],
  logFile: string,
  cwd = ROOT,
  env: Record<string, string> = {},
): Peer {
  const log = Deno.openSync(logFile, { write: true, create: true, append: true });
  const child = new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  // Drain output to a file so a chatty peer never blocks on a full pipe.
  const drain = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeTo(
      new WritableStream({
        write(chunk) {
          log.writeSync(chunk);
        },
      }),
    ).catch(() => {});
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  return {
    name,
    pid: child.pid,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await child.status;
      await drained;
      log.close();
    },
  };
}

/** Writes the benchmark content: a big file, a segment, playlists and an MPD. */
export async function writeContent(dir: string, bigBytes: number): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const chunk = new Uint8Array(1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff;
  const big = await Deno.open(`${dir}/big.bin`, { write: true, create: true, truncate: true });
  for (let written = 0; written < bigBytes; written += chunk.length) await big.write(chunk);
  big.close();
  await Deno.writeFile(`${dir}/seg.bin`, new Uint8Array(2 * 1024 * 1024).fill(0x47));
  const small = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:6"];
  for (let i = 0; small.join("\n").length < 2000; i++) small.push(`#EXTINF:6.000,`, `seg${i}.ts`);
  await Deno.writeTextFile(`${dir}/small.m3u8`, small.join("\n") + "\n");
  const long = [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    "#EXT-X-TARGETDURATION:6",
    "#EXT-X-PLAYLIST-TYPE:VOD",
  ];
  for (let i = 0; i < 5000; i++) long.push("#EXTINF:6.000,", `segment-${i}.ts?token=abc`);
  long.push("#EXT-X-ENDLIST");
  await Deno.writeTextFile(`${dir}/long.m3u8`, long.join("\n") + "\n");
}

/** Generates a self-signed certificate for 127.0.0.1 with openssl. */
export function selfSignedCert(dir: string): Promise<{ cert: string; key: string }> {
  return selfSignedCertificate(dir, { days: 2 });
}

const NGINX_COMMON = (dir: string, name: string) => `
daemon off;
worker_processes 1;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}-error.log warn;
events { worker_connections 4096; }
`;

const NGINX_HTTP_COMMON = (dir: string, name: string) => `
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/${name}-tmp/body;
  proxy_temp_path ${dir}/${name}-tmp/proxy;
  fastcgi_temp_path ${dir}/${name}-tmp/fastcgi;
  uwsgi_temp_path ${dir}/${name}-tmp/uwsgi;
  scgi_temp_path ${dir}/${name}-tmp/scgi;
  types {
    application/vnd.apple.mpegurl m3u8;
    application/dash+xml mpd;
    video/mp2t ts;
  }
  default_type application/octet-stream;
`;

/** nginx (`worker_processes 1`) with the given `http` block body, files under `dir`. */
export async function startNginx(dir: string, name: string, http: string): Promise<Peer> {
  await Deno.mkdir(`${dir}/${name}-tmp`, { recursive: true });
  const conf = `${dir}/${name}.conf`;
  await Deno.writeTextFile(
    conf,
    `${NGINX_COMMON(dir, name)}\nhttp {\n${NGINX_HTTP_COMMON(dir, name)}\n${http}\n}\n`,
  );
  return spawn(name, "nginx", ["-c", conf, "-p", dir], `${dir}/${name}.out`);
}

/** nginx serving `content` on `port` (the origin of every scenario). */
export function startNginxOrigin(dir: string, content: string, port: number): Promise<Peer> {
  return startNginx(
    dir,
    "origin",
    `  server { listen 127.0.0.1:${port}; root ${content}; }`,
  );
}

/** nginx as the reference reverse proxy (`proxy_pass`), plain and TLS+h2. */
export function startNginxProxy(
  dir: string,
  originPort: number,
  port: number,
  tlsPort: number,
  tls: { cert: string; key: string },
): Promise<Peer> {
  const location = `
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
      proxy_max_temp_file_size 0;
    }`;
  return startNginx(
    dir,
    "proxy",
    `  upstream origin { server 127.0.0.1:${originPort}; keepalive 128; }
  server { listen 127.0.0.1:${port}; ${location} }
  server {
    listen 127.0.0.1:${tlsPort} ssl http2;
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    ${location}
  }`,
  );
}

/**
 * The bare Deno pass-through (the floor), plain and TLS; `guarded`: the floor with the idle
 * read timeout, byte count and log line any proxy that must see the bytes pays for
 * (`floor-guarded`, see `floor.ts`).
 */
export function startFloor(
  dir: string,
  originPort: number,
  port: number,
  tlsPort: number,
  tls: { cert: string; key: string },
  guarded = false,
): Peer[] {
  const origin = `http://127.0.0.1:${originPort}`;
  const script = `${ROOT}scripts/bench/floor.ts`;
  const name = guarded ? "floor-guarded" : "floor";
  const mode = guarded ? ["--guarded"] : [];
  return [
    spawn(
      name,
      Deno.execPath(),
      ["run", "-A", script, String(port), origin, ...mode],
      `${dir}/${name}.out`,
    ),
    spawn(
      `${name}-tls`,
      Deno.execPath(),
      ["run", "-A", script, String(tlsPort), origin, tls.cert, tls.key, ...mode],
      `${dir}/${name}-tls.out`,
    ),
  ];
}

/**
 * sProx under its shipping permission set, with a plain and a TLS listener (HLS rewriting on)
 * and, when `plainPort` is given, a third listener whose route has HLS rewriting off. `root`
 * runs another checkout (an A/B baseline).
 */
export async function startSprox(
  dir: string,
  originPort: number,
  port: number,
  tlsPort: number,
  tls: { cert: string; key: string },
  options: {
    plainPort?: number;
    root?: string;
    name?: string;
    /** Extra `deno run` flags (e.g. `--v8-flags=…`) and environment, for trying knobs. */
    flags?: string[];
    /** `upstream.body_pipe` of every route (`guarded` by default). */
    bodyPipe?: "guarded" | "native";
    env?: Record<string, string>;
  } = {},
): Promise<Peer> {
  const name = options.name ?? "sprox";
  const root = options.root ?? ROOT;
  // Under the checkout's own `var/`, which its permission set lets it read.
  const config = options.root
    ? `${root}var/bench-${name}-routes.yaml`
    : `${dir}/${name}-routes.yaml`;
  if (options.root) {
    for (const key of ["cert", "key"] as const) {
      const copy = `${root}var/bench-${key}.pem`;
      await Deno.copyFile(tls[key], copy);
      tls = { ...tls, [key]: copy };
    }
  }
  const route = (id: string, p: number, tlsBlock: string, hls: boolean) => `
  - id: ${id}
    listen:
      host: 127.0.0.1
      port: ${p}${tlsBlock}
    host_patterns: ["*"]
    upstream:
      origin: "http://127.0.0.1:${originPort}"
      read_timeout_ms: 30000
      request_timeout_ms: 30000
      body_pipe: ${options.bodyPipe ?? "guarded"}
    hls: ${
    hls
      ? `{ enabled: true, rewrite_playlist_urls: true, base_url: "https://sprox.example" }`
      : "{ enabled: false }"
  }`;
  await Deno.writeTextFile(
    config,
    `routes:${route("bench", port, "", true)}${
      route(
        "bench-tls",
        tlsPort,
        `\n      tls: { enabled: true, certificate_path: "${tls.cert}", private_key_path: "${tls.key}", watch_for_changes: false }`,
        true,
      )
    }${options.plainPort ? route("bench-plain", options.plainPort, "", false) : ""}
direct_stream:
  allow_private_networks: true
  allowlist:
    - domain: "127.0.0.1"
      schemes: ["http"]
rate_limit:
  enabled: false
telemetry:
  enabled: true
  log_level: info
`,
  );
  return spawn(
    name,
    Deno.execPath(),
    [
      "run",
      "-q",
      `--config=${root}deno.json`,
      "-P=sprox",
      ...(options.flags ?? []),
      `${root}main.ts`,
      "serve",
      "-c",
      config,
    ],
    `${dir}/${name}.out`,
    root,
    options.env,
  );
}

/** The bare Deno pass-through on one plain listener (no TLS twin). */
export function startPlainFloor(dir: string, name: string, originPort: number, port: number): Peer {
  return spawn(
    name,
    Deno.execPath(),
    ["run", "-A", `${ROOT}scripts/bench/floor.ts`, String(port), `http://127.0.0.1:${originPort}`],
    `${dir}/${name}.out`,
  );
}

/**
 * sProx for the live scenario: one plain route, its cache on (bounded by `maxBytes`) or
 * off, request logs on (to a file), as the other sProx peer.
 */
export async function startLiveSprox(
  dir: string,
  originPort: number,
  port: number,
  options: { cache: boolean; maxBytes: number },
): Promise<Peer> {
  await Deno.mkdir(dir, { recursive: true });
  const config = `${dir}/routes.yaml`;
  await Deno.writeTextFile(
    config,
    `routes:
  - id: live
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream:
      origin: "http://127.0.0.1:${originPort}"
      read_timeout_ms: 30000
      request_timeout_ms: 30000
    cache: { enabled: ${options.cache} }
cache:
  max_bytes: ${options.maxBytes}
  max_object_bytes: ${Math.min(options.maxBytes, 16 * 1024 * 1024)}
rate_limit:
  enabled: false
telemetry:
  enabled: true
  log_level: info
`,
  );
  return spawn(
    options.cache ? "sprox-cache" : "sprox",
    Deno.execPath(),
    ["run", "-q", "-P=sprox", `${ROOT}main.ts`, "serve", "-c", config],
    `${dir}/sprox.out`,
  );
}
