/**
 * Test peers for routing tests: loopback origins (plain and TLS), a test CA made with the
 * `openssl` CLI, a real `microsocks`, and small client helpers.
 * @module
 */
import { freePort } from "./sprox.ts";
import { exitWithin, withTimeout } from "./timeout.ts";

/** A running loopback origin. */
export interface Origin {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts a `Deno.serve` origin on 127.0.0.1 (TLS when `cert`/`key` are given); the handler
 * also gets the connection's info (its `remoteAddr` tells who connected).
 */
export async function startOrigin(
  handler: (
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ) => Response | Promise<Response>,
  tls?: { cert: string; key: string },
): Promise<Origin> {
  const { promise, resolve } = Promise.withResolvers<void>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => resolve(),
    onError: () => new Response("origin error", { status: 500 }),
    ...tls,
  }, handler);
  await withTimeout(promise, 10_000, "the origin to listen");
  const port = server.addr.port;
  return {
    port,
    url: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
    close: () => withTimeout(server.shutdown(), 10_000, "the origin to shut down").catch(() => {}),
  };
}

/** PEM files of a test CA and a leaf certificate for 127.0.0.1 / localhost / origin.test. */
export interface TestPki {
  readonly caPath: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  if (!out.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
}

/**
 * Generates a CA (once per `dir`) and a leaf signed by it (files named with `prefix`), for
 * `usage` (`serverAuth` by default; `clientAuth` for a client certificate of mutual TLS).
 */
export async function makeTestPki(
  dir: string,
  prefix = "leaf",
  cn = "origin.test",
  san = "DNS:origin.test,DNS:localhost,IP:127.0.0.1",
  usage: "serverAuth" | "clientAuth" = "serverAuth",
): Promise<TestPki> {
  const ca = `${dir}/ca.pem`;
  try {
    await Deno.stat(ca);
  } catch {
    await openssl([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=sProx Test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ], dir);
  }
  await Deno.writeTextFile(
    `${dir}/${prefix}.ext`,
    `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n` +
      `extendedKeyUsage=${usage}\n`,
  );
  await openssl([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    `${prefix}.key`,
    "-out",
    `${prefix}.csr`,
    "-subj",
    `/CN=${cn}`,
  ], dir);
  await openssl([
    "x509",
    "-req",
    "-in",
    `${prefix}.csr`,
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    `${prefix}.pem`,
    "-days",
    "2",
    "-extfile",
    `${prefix}.ext`,
  ], dir);
  return {
    caPath: ca,
    certPath: `${dir}/${prefix}.pem`,
    keyPath: `${dir}/${prefix}.key`,
    ca: await Deno.readTextFile(ca),
    cert: await Deno.readTextFile(`${dir}/${prefix}.pem`),
    key: await Deno.readTextFile(`${dir}/${prefix}.key`),
  };
}

/** A running microsocks. */
export interface Socks {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Starts `microsocks` on a free loopback port, optionally with username/password auth and
 * with its outgoing connections bound to `bind` (another loopback address such as
 * 127.0.0.2), so an origin can tell a tunnelled connection from a direct one.
 */
export async function startMicrosocks(
  auth?: { user: string; pass: string },
  bind?: string,
): Promise<Socks> {
  const port = freePort();
  const args = ["-i", "127.0.0.1", "-p", String(port)];
  if (auth) args.push("-u", auth.user, "-P", auth.pass);
  if (bind) args.push("-b", bind);
  const child = new Deno.Command("microsocks", { args, stdout: "null", stderr: "null" }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await exitWithin(child, 10_000, "microsocks");
  };
  for (let i = 0; i < 100; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return { port, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await stop();
  throw new Error(`microsocks did not start on port ${port}`);
}

/** Runs curl; returns its exit code, stdout and stderr. */
export async function curl(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  // --max-time bounds every transfer; a test needing longer passes its own (the last wins).
  const out = await new Deno.Command("curl", {
    args: ["-sS", "--max-time", "20", ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** A fetch client that may set the Host header (to pick a route). */
export function hostClient(): Deno.HttpClient {
  return Deno.createHttpClient({ allowHost: true });
}

/** Deterministic bytes: byte i of the stream is `(i * 31 + (i >> 16)) & 0xff`. */
export function patternStream(total: number, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(chunk, total - sent);
      const bytes = new Uint8Array(n);
      for (let j = 0; j < n; j++) {
        const i = sent + j;
        bytes[j] = (i * 31 + (i >> 16)) & 0xff;
      }
      sent += n;
      controller.enqueue(bytes);
    },
  }, { highWaterMark: 0 });
}

/** Counts and checks a body against {@linkcode patternStream}; returns bytes read and mismatches. */
export async function checkPattern(
  body: ReadableStream<Uint8Array>,
): Promise<{ bytes: number; mismatches: number }> {
  let offset = 0;
  let mismatches = 0;
  for await (const chunk of body) {
    for (let j = 0; j < chunk.length; j++) {
      const i = offset + j;
      if (chunk[j] !== ((i * 31 + (i >> 16)) & 0xff)) mismatches++;
    }
    offset += chunk.length;
  }
  return { bytes: offset, mismatches };
}
