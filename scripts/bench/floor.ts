/**
 * The floor of our stack: a bare `Deno.serve` + `fetch` pass-through with no logic at all.
 *
 * With `--guarded`, the least any proxy on this stack does that must time out a stalled
 * upstream body and log each request's exact byte count (as the spec asks of sProx): bodies
 * up to 64 KiB are read whole under an idle timer and answered from memory, larger ones go
 * through one JavaScript stage that counts bytes and ends a body idle for 30 s, and every
 * request writes one JSON line (batched, as sProx batches its lines). Nothing else: no
 * routing, policy, metrics or request ids. The bench reads sProx against both.
 *
 * Usage: deno run -A scripts/bench/floor.ts <port> <origin> [certFile keyFile] [--guarded]
 * @module
 */
const guarded = Deno.args.includes("--guarded");
const [port, origin, certFile, keyFile] = Deno.args.filter((a) => a !== "--guarded");
const tls = certFile
  ? { cert: Deno.readTextFileSync(certFile), key: Deno.readTextFileSync(keyFile) }
  : {};

const READ_TIMEOUT_MS = 30_000;
const SMALL_BODY_MAX = 64 * 1024;
const encoder = new TextEncoder();
let pending: string[] = [];
let flushTimer: ReturnType<typeof setTimeout> | undefined;

function flush(): void {
  flushTimer = undefined;
  if (pending.length === 0) return;
  const text = pending.join("");
  pending = [];
  // A write may take part of the bytes; the rest follows.
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
}

function logLine(method: string, path: string, status: number, bytes: number, start: number) {
  pending.push(
    JSON.stringify({
      ts: new Date().toISOString(),
      level: "info",
      msg: "request",
      method,
      path,
      status,
      bytes,
      duration_ms: Math.round(performance.now() - start),
    }) + "\n",
  );
  flushTimer ??= setTimeout(flush, 20);
}

/** A pull stage that counts bytes and errors the body once no chunk came for the timeout. */
function counted(
  body: ReadableStream<Uint8Array>,
  abort: () => void,
  done: (bytes: number) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let bytes = 0;
  let last = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watch = () => {
    const idle = performance.now() - last;
    if (idle >= READ_TIMEOUT_MS) abort();
    else timer = setTimeout(watch, READ_TIMEOUT_MS - idle);
  };
  timer = setTimeout(watch, READ_TIMEOUT_MS);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: end, value } = await reader.read();
        last = performance.now();
        if (end) {
          clearTimeout(timer);
          controller.close();
          done(bytes);
        } else {
          bytes += value.byteLength;
          controller.enqueue(value);
        }
      } catch (error) {
        clearTimeout(timer);
        controller.error(error);
      }
    },
    cancel(reason) {
      clearTimeout(timer);
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

Deno.serve({ hostname: "127.0.0.1", port: Number(port), onListen() {}, ...tls }, async (req) => {
  const start = performance.now();
  const url = new URL(req.url);
  const headers = new Headers();
  for (const name of ["range", "if-none-match", "if-modified-since", "accept"]) {
    const value = req.headers.get(name);
    if (value) headers.set(name, value);
  }
  if (!guarded) {
    const upstream = await fetch(origin + url.pathname + url.search, {
      method: req.method,
      headers,
    });
    return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
  }
  const controller = new AbortController();
  const upstream = await fetch(origin + url.pathname + url.search, {
    method: req.method,
    headers,
    signal: controller.signal,
  });
  const init = { status: upstream.status, headers: upstream.headers };
  const length = Number(upstream.headers.get("content-length") ?? NaN);
  if (upstream.body === null || length <= SMALL_BODY_MAX) {
    const timer = setTimeout(() => controller.abort(), READ_TIMEOUT_MS);
    try {
      const bytes = await upstream.bytes();
      logLine(req.method, url.pathname, upstream.status, bytes.byteLength, start);
      return new Response(bytes, init);
    } finally {
      clearTimeout(timer);
    }
  }
  const body = counted(
    upstream.body,
    () => controller.abort(),
    (bytes) => logLine(req.method, url.pathname, upstream.status, bytes, start),
  );
  return new Response(body, init);
});
console.log("ready");
