/**
 * Listener limits over real sockets: a slowloris (bounded count and time) under a scaled
 * down `ulimit -n` cannot stop sProx or keep a fresh client from `/health`; header and
 * idle timeouts close connections that hold nothing in flight and spare those that do;
 * per-IP and per-listener connection caps; the bind error names the address; a reload
 * moves a listener between host addresses on one port.
 * @module
 */
import assert from "node:assert/strict";
import { freePort, startSprox } from "./_support/mod.ts";
import { curl, startOrigin } from "./_support/origins.ts";
import { runCli, scratchDir } from "./_support/sprox.ts";
import { deadline, withTimeout } from "./_support/timeout.ts";

const encoder = new TextEncoder();

/** Opens a connection and sends the start of a request head that never completes. */
async function slowlorisConnection(port: number): Promise<Deno.TcpConn | null> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "));
    return conn;
  } catch {
    return null; // Refused or reset: the server shed it.
  }
}

/** Resolves with the milliseconds until the server closes `conn` (or `null` past `ms`). */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<number | null> {
  const started = performance.now();
  const buffer = new Uint8Array(4096);
  const read = (async () => {
    try {
      while ((await conn.read(buffer)) !== null) { /* drain */ }
    } catch {
      // Reset counts as closed.
    }
    return performance.now() - started;
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  const result = await Promise.race([read, expired]);
  clearTimeout(timer);
  return result;
}

function closeAll(conns: (Deno.Conn | null)[]): void {
  for (const c of conns) {
    try {
      c?.close();
    } catch {
      // Closed by the server.
    }
  }
}

async function health(port: number): Promise<[number, string]> {
  const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: deadline(3000) });
  return [response.status, await response.text()];
}

/** Reads one sample of `/metrics`, over a curl connection from 127.0.0.3 that closes after. */
async function metricValue(port: number, name: string, labels: string): Promise<number> {
  const r = await curl([
    "--max-time",
    "5",
    "--interface",
    "127.0.0.3",
    `http://127.0.0.1:${port}/metrics`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const line = r.stdout.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(" ").pop()) : 0;
}

Deno.test("a slowloris under a low descriptor limit neither stops sProx nor starves /health", async () => {
  const port = freePort();
  const sprox = await startSprox(
    `
rate_limit: { enabled: false }
server:
  limits: { max_connections: 100000, max_connections_per_ip: 100000, header_timeout_ms: 30000, fd_reserve: 32 }
routes:
  - id: r
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:9" }
`,
    { maxOpenFiles: 256 },
  );
  const conns: (Deno.TcpConn | null)[] = [];
  try {
    // Four times the descriptor limit, opened within a bounded time.
    const started = performance.now();
    for (let i = 0; i < 1024 && performance.now() - started < 20_000; i++) {
      conns.push(await slowlorisConnection(port));
      if (i % 128 === 127) assert.deepEqual(await health(port), [200, '{"status":"ok"}']);
    }
    assert.deepEqual(await health(port), [200, '{"status":"ok"}']);
    const shed = await metricValue(
      port,
      "sprox_connections_closed_by_server_total",
      `listener="127.0.0.1:${port}",reason="make_room"`,
    );
    assert.ok(shed > 0, "no slowloris connection gave way to a fresh client");
    const line = await sprox.waitForLog((l) => l.msg === "accept failed; pausing briefly", 5000);
    assert.match(String(line.error), /too many open files/i);
  } finally {
    closeAll(conns);
  }
  assert.deepEqual(await health(port), [200, '{"status":"ok"}']);
  assert.equal(await sprox.stop(), 0);
});

Deno.test("header and idle timeouts close quiet connections and spare busy ones", async () => {
  const slow = Promise.withResolvers<void>();
  const origin = await startOrigin(async (request) => {
    if (new URL(request.url).pathname === "/slow") await slow.promise;
    return new Response("done");
  });
  const port = freePort();
  const sprox = await startSprox(`
rate_limit: { enabled: false }
server:
  limits: { header_timeout_ms: 600, idle_timeout_ms: 900 }
routes:
  - id: r
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}", read_timeout_ms: 20000, request_timeout_ms: 20000 }
`);
  const conns: Deno.Conn[] = [];
  try {
    // A head that never completes is closed after the header timeout (not before).
    const partial = (await slowlorisConnection(port))!;
    conns.push(partial);
    const headerClosed = await closedWithin(partial, 5000);
    assert.ok(headerClosed !== null, "a connection without a complete head stayed open");
    assert.ok(headerClosed >= 500, `closed too early: ${headerClosed} ms`);

    // A keep-alive connection left idle after a response is closed after the idle timeout.
    const idle = await Deno.connect({ hostname: "127.0.0.1", port });
    conns.push(idle);
    await idle.write(encoder.encode("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
    const idleClosed = await closedWithin(idle, 5000);
    assert.ok(idleClosed !== null, "an idle keep-alive connection stayed open");
    assert.ok(idleClosed >= 800, `idle connection closed too early: ${idleClosed} ms`);

    // A request in flight longer than both timeouts keeps its connection.
    const busy = fetch(`http://127.0.0.1:${port}/slow`, { signal: deadline() });
    await new Promise((r) => setTimeout(r, 2000));
    slow.resolve();
    const response = await withTimeout(busy, 5000, "the slow response");
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "done");

    assert.equal(
      await metricValue(
        port,
        "sprox_connections_closed_by_server_total",
        `listener="127.0.0.1:${port}",reason="header_timeout"`,
      ),
      1,
    );
    assert.ok(
      await metricValue(
        port,
        "sprox_connections_closed_by_server_total",
        `listener="127.0.0.1:${port}",reason="idle_timeout"`,
      ) >= 1,
    );
  } finally {
    closeAll(conns);
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("per-IP and per-listener caps: quiet connections give way, busy ones are kept", async () => {
  const release = Promise.withResolvers<void>();
  const origin = await startOrigin(async () => {
    await release.promise;
    return new Response("released");
  });
  const port = freePort();
  const sprox = await startSprox(`
rate_limit: { enabled: false }
server:
  limits: { max_connections_per_ip: 3, max_connections: 5 }
routes:
  - id: r
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}", read_timeout_ms: 20000, request_timeout_ms: 20000 }
`);
  const conns: (Deno.Conn | null)[] = [];
  try {
    // Three busy connections from 127.0.0.1 (each with a request the origin holds).
    const busy = [0, 1, 2].map(() =>
      curl(["--max-time", "15", "-s", `http://127.0.0.1:${port}/hold`])
    );
    await withTimeout(
      (async () => {
        while (
          await metricValue(port, "sprox_connections_open", `listener="127.0.0.1:${port}"`) < 3
        ) await new Promise((r) => setTimeout(r, 50));
      })(),
      5000,
      "three busy connections",
    );
    // A fourth from the same address: shed (nothing of that peer is quiet).
    const fourth = await curl(["--max-time", "3", "-s", `http://127.0.0.1:${port}/health`]);
    assert.notEqual(fourth.code, 0, "a fourth connection from one address was served");
    // Another address is admitted (two slots left on the listener).
    const other = await curl([
      "--max-time",
      "3",
      "--interface",
      "127.0.0.2",
      `http://127.0.0.1:${port}/health`,
    ]);
    assert.equal(other.code, 0, other.stderr);
    assert.equal(other.stdout, '{"status":"ok"}');
    release.resolve();
    for (const r of await withTimeout(Promise.all(busy), 10_000, "busy requests")) {
      assert.equal(r.stdout, "released");
    }
    assert.equal(
      await metricValue(
        port,
        "sprox_connections_shed_total",
        `listener="127.0.0.1:${port}",reason="max_connections_per_ip"`,
      ),
      1,
    );
    // Quiet connections (heads never completed) give way to a fresh client.
    for (let i = 0; i < 5; i++) conns.push(await slowlorisConnection(port));
    assert.deepEqual(await health(port), [200, '{"status":"ok"}']);
  } finally {
    release.resolve();
    closeAll(conns);
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("a taken port fails start with the address named; a reload moves a listener's host", async () => {
  const port = freePort();
  const squatter = Deno.listen({ hostname: "127.0.0.1", port });
  const dir = await scratchDir();
  const config = (host: string) => `
routes:
  - id: r
    listen: { host: "${host}", port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:9" }
`;
  await Deno.writeTextFile(`${dir}/routes.yaml`, config("127.0.0.1"));
  const failed = await runCli(["serve", "-c", dir], { timeoutMs: 20_000 });
  squatter.close();
  assert.equal(failed.code, 1);
  assert.match(
    failed.stdout,
    new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: address already in use`),
  );

  const sprox = await startSprox(config("127.0.0.1"));
  try {
    assert.deepEqual(await health(port), [200, '{"status":"ok"}']);
    await Deno.writeTextFile(sprox.configPath, config("0.0.0.0"));
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "config reloaded", 10_000);
    assert.equal(sprox.logs.filter((l) => l.msg === "reload rejected").length, 0);
    await sprox.waitForLog(
      (l) => l.msg === "listener closed" && l.listener === `127.0.0.1:${port}`,
      10_000,
    );
    assert.deepEqual(await health(port), [200, '{"status":"ok"}']);
  } finally {
    await sprox.stop();
  }
});
