/**
 * Origin failover over real sockets: a route with two origins where one dies mid-run (no
 * client request fails, `/ready` flips only when both are down and back when one returns),
 * priorities and passive ejection, health kept across a reload, and `/ready` while draining.
 */
import assert from "node:assert/strict";
import {
  deadline,
  freePort,
  runCli,
  scratchDir,
  selfSignedCertificate,
  startSprox,
  withTimeout,
} from "./_support/mod.ts";
import { startOrigin } from "./_support/origins.ts";

/** An origin on a fixed port (so it can come back on the same one), counting its requests. */
interface NamedOrigin {
  readonly port: number;
  readonly url: string;
  /** Requests seen, health checks excluded. */
  served: number;
  checks: number;
  close(): Promise<void>;
}

async function serveOn(name: string, port = 0): Promise<NamedOrigin> {
  const { promise, resolve } = Promise.withResolvers<void>();
  const origin: NamedOrigin = {
    port: 0,
    url: "",
    served: 0,
    checks: 0,
    close: () => Promise.resolve(),
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => resolve() }, (r) => {
    if (new URL(r.url).pathname === "/healthz") {
      origin.checks++;
      return new Response("ok");
    }
    origin.served++;
    return new Response(`from ${name}`);
  });
  await withTimeout(promise, 10_000, `origin ${name} to listen`);
  return Object.assign(origin, {
    port: server.addr.port,
    url: `http://127.0.0.1:${server.addr.port}`,
    close: () => withTimeout(server.shutdown(), 10_000, `origin ${name} to shut down`),
  });
}

async function getText(url: string): Promise<[number, string]> {
  const response = await fetch(url, { signal: deadline() });
  return [response.status, await response.text()];
}

/** Polls `url` until it answers `status` (or fails after `ms`). */
async function waitForStatus(url: string, status: number, ms = 10_000): Promise<string> {
  const end = Date.now() + ms;
  let last = "";
  while (Date.now() < end) {
    const [got, body] = await getText(url);
    if (got === status) return body;
    last = `${got} ${body}`;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not answer ${status} within ${ms} ms (last: ${last})`);
}

async function metric(port: number, pattern: RegExp): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: deadline() }))
    .text();
  const match = pattern.exec(text);
  return match ? Number(match[1]) : undefined;
}

Deno.test("one of two origins dies mid-run: no request fails, /ready flips only when both are down", async () => {
  const a = await serveOn("a");
  const b = await serveOn("b");
  const port = freePort();
  const sprox = await startSprox(`
rate_limit: { enabled: false }
routes:
  - id: tv
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream:
      origins:
        - url: "${a.url}"
        - url: "${b.url}"
      health_check:
        enabled: true
        path: /healthz
        interval_ms: 100
        timeout_ms: 100
        healthy_threshold: 1
        unhealthy_threshold: 2
      passive_health: { consecutive_failures: 1, ejection_ms: 60000 }
      retry: { max_attempts: 3, initial_backoff_ms: 10, max_backoff_ms: 20 }
`);
  const base = `http://127.0.0.1:${port}`;
  let restarted: NamedOrigin | undefined;
  try {
    assert.deepEqual(await getText(`${base}/ready`), [200, '{"status":"ready"}']);

    // Equal priority and weight: both origins serve.
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const [status, body] = await getText(`${base}/v/${i}.ts`);
      assert.equal(status, 200);
      seen.add(body);
    }
    assert.deepEqual([...seen].sort(), ["from a", "from b"]);

    // Origin a dies while requests keep coming: every one of them is answered by b.
    const failures: string[] = [];
    let answered = 0;
    let stop = false;
    const traffic = (async () => {
      for (let i = 0; !stop; i++) {
        const [status, body] = await getText(`${base}/live/${i}.ts`);
        answered++;
        if (status !== 200) failures.push(`${status} ${body}`);
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    await a.close();
    const servedByB = b.served;
    await new Promise((r) => setTimeout(r, 600));
    stop = true;
    await withTimeout(traffic, 15_000, "the client loop");
    assert.deepEqual(failures, [], "no client request failed");
    assert.ok(b.served > servedByB, "b kept serving");
    assert.ok(answered > 5, `requests ran during the failover (${answered})`);

    // One origin left: still ready; the dead one is reported down.
    assert.deepEqual(await getText(`${base}/ready`), [200, '{"status":"ready"}']);
    assert.equal(
      await metric(
        port,
        new RegExp(`sprox_upstream_origin_healthy\\{route="tv",origin="${a.url}"\\} (\\d)`),
      ),
      0,
    );
    assert.equal(
      await metric(
        port,
        new RegExp(`sprox_upstream_origin_healthy\\{route="tv",origin="${b.url}"\\} (\\d)`),
      ),
      1,
    );
    await sprox.waitForLog((l) =>
      l.msg === "origin unhealthy (active checks)" && l.origin === a.url
    );

    // Both down: not ready (liveness unchanged).
    await b.close();
    assert.equal(
      await waitForStatus(`${base}/ready`, 503),
      '{"status":"not_ready","reason":"no_healthy_origin","routes":["tv"]}',
    );
    assert.deepEqual(await getText(`${base}/health`), [200, '{"status":"ok"}']);

    // a comes back on its port: ready again, and it serves.
    restarted = await serveOn("a again", a.port);
    assert.equal(await waitForStatus(`${base}/ready`, 200), '{"status":"ready"}');
    assert.deepEqual(await getText(`${base}/after`), [200, "from a again"]);
    await sprox.waitForLog((l) =>
      l.msg === "origin healthy again (active checks)" && l.origin === a.url
    );
  } finally {
    await sprox.stop();
    await restarted?.close();
    await a.close().catch(() => {});
    await b.close().catch(() => {});
  }
});

Deno.test("priorities: the backup serves only while the primary is ejected; the ejection outlives a reload", async () => {
  const primaryPort = freePort(); // nothing listens: refused
  const backup = await serveOn("backup");
  const port = freePort();
  const route = (hosts: string) => `
rate_limit: { enabled: false }
routes:
  - id: vod
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: [${hosts}]
    upstream:
      origins:
        - { url: "http://127.0.0.1:${primaryPort}", priority: 0 }
        - { url: "${backup.url}", priority: 1 }
      passive_health: { consecutive_failures: 1, ejection_ms: 60000 }
      retry: { max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 20 }
`;
  const sprox = await startSprox(route('"*"'));
  const base = `http://127.0.0.1:${port}`;
  const primaryFailures = new RegExp(
    `sprox_upstream_origin_attempts_total\\{route="vod",origin="http://127.0.0.1:${primaryPort}",outcome="failure"\\} (\\d+)`,
  );
  try {
    // First request: the primary refuses, the retry moves to the backup.
    assert.deepEqual(await getText(`${base}/a`), [200, "from backup"]);
    const ejected = await sprox.waitForLog((l) => l.msg === "origin ejected after failed attempts");
    assert.equal(ejected.reason, "refused");
    assert.equal(ejected.origin, `http://127.0.0.1:${primaryPort}`);
    const line = await sprox.waitForLog((l) => l.msg === "request" && l.path === "/a");
    assert.equal(line.upstream_origin, backup.url);

    // The primary is ejected: later requests go straight to the backup.
    for (const path of ["/b", "/c", "/d"]) {
      assert.deepEqual(await getText(`${base}${path}`), [200, "from backup"]);
    }
    assert.equal(await metric(port, primaryFailures), 1);
    assert.equal(backup.served, 4);
    assert.equal(await metric(port, /sprox_upstream_retries_total\{scope="vod"\} (\d+)/), 1);

    // A reload with the same origins keeps the ejection (no new attempt on the primary).
    await Deno.writeTextFile(sprox.configPath, route('"*", "extra.example"'));
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "config reloaded");
    assert.deepEqual(await getText(`${base}/e`), [200, "from backup"]);
    assert.equal(await metric(port, primaryFailures), 1);

    // Only a route whose every origin is down is not ready: the backup is up.
    assert.deepEqual(await getText(`${base}/ready`), [200, '{"status":"ready"}']);
  } finally {
    await sprox.stop();
    await backup.close();
  }
});

Deno.test("upstream.origin and upstream.origins are exclusive, and origins must be distinct", async () => {
  const dir = await scratchDir();
  await Deno.writeTextFile(
    `${dir}/routes.yaml`,
    `routes:
  - id: both
    listen: { port: 18081 }
    host_patterns: ["a.example"]
    upstream:
      origin: "http://127.0.0.1:1"
      origins: [{ url: "http://127.0.0.1:2" }]
  - id: none
    listen: { port: 18081 }
    host_patterns: ["b.example"]
    upstream: {}
  - id: twice
    listen: { port: 18081 }
    host_patterns: ["c.example"]
    upstream:
      origins: [{ url: "http://127.0.0.1:3" }, { url: "http://127.0.0.1:3/" }]
`,
  );
  try {
    const result = await runCli(["validate", "-c", dir]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /routes\.yaml:7:\d+: error: 'routes\[0\]\.upstream\.origins' cannot be combined with upstream\.origin/,
    );
    assert.match(
      result.stderr,
      /routes\.yaml:11:\d+: error: 'routes\[1\]\.upstream\.origin' is required \(or list several under upstream\.origins\)/,
    );
    assert.match(
      result.stderr,
      /error: 'routes\[2\]\.upstream\.origins\[1\]\.url' must be unique: "http:\/\/127\.0\.0\.1:3\/" is also upstream\.origins\[0\]/,
    );
    assert.match(result.stderr, /3 error\(s\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("/ready answers 503 while the server drains, on a connection still open", async () => {
  const dir = await scratchDir();
  const { cert, key } = await selfSignedCertificate(dir, { leaf: true });
  // A download that takes about a second keeps its HTTP/2 connection open through the drain.
  const origin = await startOrigin(() => {
    let sent = 0;
    return new Response(
      new ReadableStream({
        async pull(controller) {
          await new Promise((r) => setTimeout(r, 100));
          controller.enqueue(new Uint8Array(1024));
          if (++sent === 10) controller.close();
        },
      }),
    );
  });
  const port = freePort();
  const sprox = await startSprox(`
rate_limit: { enabled: false }
server: { shutdown_grace_ms: 5000 }
routes:
  - id: tls
    listen:
      host: 127.0.0.1
      port: ${port}
      tls: { enabled: true, certificate_path: "${cert}", private_key_path: "${key}" }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}" }
`);
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(cert)] });
  const base = `https://127.0.0.1:${port}`;
  try {
    const ready = await fetch(`${base}/ready`, { client, signal: deadline() });
    assert.deepEqual([ready.status, await ready.text()], [200, '{"status":"ready"}']);
    const download = await fetch(`${base}/big.bin`, { client, signal: deadline() });
    assert.equal(download.status, 200);
    const body = download.arrayBuffer();
    sprox.kill("SIGTERM");
    await sprox.waitForLog((l) => l.msg === "shutting down");
    // Same client, same HTTP/2 connection: the listening socket is already closed.
    const draining = await fetch(`${base}/ready`, { client, signal: deadline() });
    assert.deepEqual(
      [draining.status, await draining.text()],
      [503, '{"status":"not_ready","reason":"draining"}'],
    );
    assert.equal((await withTimeout(body, 10_000, "the download")).byteLength, 10 * 1024);
    assert.equal((await withTimeout(sprox.status, 15_000, "sprox to exit")).code, 0);
  } finally {
    client.close();
    await sprox.stop().catch(() => {});
    await origin.close();
    await Deno.remove(dir, { recursive: true });
  }
});
