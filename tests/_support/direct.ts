/**
 * Test support for `/proxy/stream`: loopback origins, a connection recorder, nginx serving
 * a directory and a tinyproxy, all on free loopback ports.
 * @module
 */
import { requirePeer } from "./peers.ts";
import { freePort, scratchDir } from "./sprox.ts";
import { exitWithin, withTimeout } from "./timeout.ts";

/** What an origin saw of one request (copied: a served Request closes with its response). */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
}

/** A `Deno.serve` origin on 127.0.0.1 that records the requests it received. */
export interface Origin {
  readonly port: number;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

/** Starts a loopback origin. */
export function startOrigin(handler: (request: Request) => Response | Promise<Response>): Origin {
  const requests: SeenRequest[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    requests.push({
      method: request.method,
      url: request.url,
      headers: new Headers(request.headers),
    });
    return handler(request);
  });
  return {
    port: server.addr.port,
    requests,
    close: () => withTimeout(server.shutdown(), 10_000, "the origin to shut down"),
  };
}

/** A TCP listener that counts every connection it accepts (and closes it at once). */
export interface Recorder {
  readonly port: number;
  /** Connections accepted so far, on any of its addresses. */
  connections(): number;
  close(): void;
}

/** Listens on 127.0.0.1 and, on the same port when free, [::1]. */
export function startRecorder(): Recorder {
  let count = 0;
  const listeners: Deno.Listener[] = [Deno.listen({ hostname: "127.0.0.1", port: 0 })];
  const port = (listeners[0].addr as Deno.NetAddr).port;
  try {
    listeners.push(Deno.listen({ hostname: "::1", port }));
  } catch {
    // No IPv6 loopback, or the port is taken there.
  }
  for (const listener of listeners) {
    (async () => {
      try {
        for await (const conn of listener) {
          count++;
          conn.close();
        }
      } catch {
        // Closed.
      }
    })();
  }
  return {
    port,
    connections: () => count,
    close: () => listeners.forEach((l) => l.close()),
  };
}

/** A spawned helper process (nginx, tinyproxy). */
export interface Daemon {
  readonly port: number;
  readonly dir: string;
  stop(): Promise<void>;
}

async function waitForPort(port: number, child: Deno.ChildProcess, name: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  child.kill("SIGKILL");
  await child.status;
  throw new Error(`${name} did not start on port ${port}`);
}

function stopper(child: Deno.ChildProcess, name: string): () => Promise<void> {
  return async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await exitWithin(child, 10_000, name);
  };
}

/**
 * Runs nginx (foreground, own prefix) on a free loopback port: serving the directory `root`,
 * or with `server` the body of its `server` block after `listen 127.0.0.1:<port>` (e.g. `ssl;`
 * and the TLS and proxy directives).
 */
export async function startNginx(root: string, server?: string): Promise<Daemon> {
  const dir = await scratchDir();
  const port = freePort();
  const conf = `${dir}/nginx.conf`;
  await Deno.writeTextFile(
    conf,
    `daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  types { video/mp4 mp4; application/octet-stream bin; }
  server {
    listen 127.0.0.1:${port}${
      server ?? `;
    root ${root};`
    }
  }
}
`,
  );
  const child = new Deno.Command(await requirePeer("nginx"), {
    args: ["-p", dir, "-c", conf],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  await waitForPort(port, child, "nginx");
  return { port, dir, stop: stopper(child, "nginx") };
}

/** Runs tinyproxy (foreground) on a free loopback port, logging to `<dir>/tinyproxy.log`. */
export async function startTinyproxy(): Promise<Daemon> {
  const dir = await scratchDir();
  const port = freePort();
  const conf = `${dir}/tinyproxy.conf`;
  await Deno.writeTextFile(
    conf,
    `Port ${port}
Listen 127.0.0.1
Timeout 30
LogFile "${dir}/tinyproxy.log"
LogLevel Info
MaxClients 20
Allow 127.0.0.1
ViaProxyName "tinyproxy"
ConnectPort 443
`,
  );
  const child = new Deno.Command(await requirePeer("tinyproxy"), {
    args: ["-d", "-c", conf],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitForPort(port, child, "tinyproxy");
  return { port, dir, stop: stopper(child, "tinyproxy") };
}

/** A minimal config: one route on a free port plus the given `direct_stream` YAML block. */
export function directConfig(port: number, directBlock: string): string {
  return `routes:
  - id: main
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:9" }
telemetry: { enabled: true, log_level: info }
rate_limit: { enabled: false }
${directBlock}
`;
}

/** The `/proxy/stream` URL on a sprox port for destination `d` plus extra query pairs. */
export function streamUrl(port: number, d: string, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams({ d, ...extra });
  return `http://127.0.0.1:${port}/proxy/stream?${params}`;
}
