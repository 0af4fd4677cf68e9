/**
 * `server.workers`: several isolates serving one port (SO_REUSEPORT). Over real sockets, with
 * a new connection per request so that the kernel spreads them: both isolates answer, one
 * `/metrics` adds them up, one rate limit holds across them, a runtime key reaches all of
 * them, a reload swaps the plan in all of them (or in none), and a shutdown drains them all.
 */
import { strict as assert } from "node:assert";
import {
  deadline,
  freePort,
  type LogLine,
  scratchDir,
  selfSignedCertificate,
  type SproxProcess,
  startSprox,
  withTimeout,
} from "./_support/mod.ts";
import { startOrigin } from "./_support/origins.ts";
import { b64url } from "./_support/encoding.ts";

const ADMIN_TOKEN = "workers-admin-token-0123456789";
const BEARER = "workers-bearer-0123456789";

/** One request on a connection of its own; the status and the body. */
async function fresh(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    const response = await fetch(url, { ...init, client, signal: deadline() });
    return { status: response.status, body: await response.text(), headers: response.headers };
  } finally {
    client.close();
  }
}

/** The `worker` field of the request log lines for `path`. */
function servedBy(sprox: SproxProcess, path: string): Set<unknown> {
  return new Set(
    sprox.logs.filter((l) => l.msg === "request" && l.path === path).map((l) => l.worker),
  );
}

async function waitForRequestLines(sprox: SproxProcess, path: string, count: number) {
  const lines = () => sprox.logs.filter((l) => l.msg === "request" && l.path === path).length;
  const until = Date.now() + 10_000;
  while (lines() < count && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.equal(lines(), count, `request lines for ${path}`);
}

function config(
  port: number,
  adminPort: number,
  origin: string,
  extra = "",
  routes = "",
): string {
  return `${extra}
server:
  workers: 2
admin:
  enabled: true
  listen: { host: 127.0.0.1, port: ${adminPort} }
routes:
  - id: media
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin}" }
${routes}`;
}

async function adminCall(adminPort: number, method: string, path: string, body?: string) {
  const response = await fetch(`http://127.0.0.1:${adminPort}${path}`, {
    method,
    body,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    signal: deadline(),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

Deno.test("workers: two isolates answer on one port, and /metrics adds them up", async () => {
  const origin = await startOrigin((request) => {
    const path = new URL(request.url).pathname;
    return path === "/down"
      ? new Response("down", { status: 503 })
      : new Response(`origin ${path}`);
  });
  const port = freePort();
  const adminPort = freePort();
  const sprox = await startSprox(
    config(port, adminPort, origin.url, "rate_limit: { enabled: false }"),
    {
      env: { SPROX_ADMIN_TOKEN: ADMIN_TOKEN },
    },
  );
  try {
    const started = await sprox.waitForLog((l) => l.msg === "sprox started");
    assert.equal(started.workers, 2);
    const listening = sprox.logs.filter((l) => l.msg === "listening").map((l) => l.worker).sort();
    assert.deepEqual(listening, [0, 1]);

    const N = 40;
    for (let i = 0; i < N; i++) {
      const answer = await fresh(`http://127.0.0.1:${port}/seg.ts`);
      assert.equal(answer.status, 200);
      assert.equal(answer.body, "origin /seg.ts");
    }
    await waitForRequestLines(sprox, "/seg.ts", N);
    // 40 connections all on one socket would happen once in 2^39 runs.
    assert.deepEqual([...servedBy(sprox, "/seg.ts")].sort(), [0, 1]);

    // Whichever isolate answers /metrics, it counts every isolate's requests: asked until both
    // have answered (six at least; 40 all on one socket would happen once in 2^39 runs).
    let asked = 0;
    for (; asked < 6 || (servedBy(sprox, "/metrics").size < 2 && asked < 40); asked++) {
      const metrics = await fresh(`http://127.0.0.1:${port}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(
        metrics.body,
        new RegExp(
          `\\nsprox_http_requests_total\\{route="media",method="GET",status_class="2xx"\\} ${N}\\n`,
        ),
      );
      // One configuration series, not one per isolate.
      assert.equal(metrics.body.match(/^sprox_config_info\{/gm)?.length, 1);
      assert.match(metrics.body, /\nsprox_config_info\{hash="[0-9a-f]+",version="[^"]+"\} 1\n/);
      // Its request line is written once the answer is delivered.
      await waitForRequestLines(sprox, "/metrics", asked + 1);
    }
    assert.deepEqual([...servedBy(sprox, "/metrics")].sort(), [0, 1]);
    // The admin API's counters are the process's too, not the first isolate's.
    const routes = await adminCall(adminPort, "GET", "/admin/routes");
    assert.equal(routes.status, 200);
    assert.deepEqual(routes.json.routes[0].counters.requests, { "2xx": N });
    const stats = await adminCall(adminPort, "GET", "/admin/stats");
    assert.equal(stats.json.requests["2xx"], N + asked);

    // Warning lines of every isolate reach the admin API's recent problems.
    for (let i = 0; i < 16; i++) {
      const down = await fresh(`http://127.0.0.1:${port}/down`);
      assert.equal(down.status, 503);
      assert.equal(down.body, "down");
    }
    await waitForRequestLines(sprox, "/down", 16);
    assert.deepEqual([...servedBy(sprox, "/down")].sort(), [0, 1]);
    const problems = await adminCall(adminPort, "GET", "/admin/logs");
    const downLines = problems.json.lines.filter((l: LogLine) => l.path === "/down");
    assert.equal(downLines.length, 16);
    assert.deepEqual([...new Set(downLines.map((l: LogLine) => l.worker))].sort(), [0, 1]);

    const workers = await adminCall(adminPort, "GET", "/admin/workers");
    assert.equal(workers.status, 200);
    const hash = started.hash;
    assert.deepEqual(workers.json, {
      isolates: [{ index: 0, hash, restarts: 0 }, { index: 1, hash, restarts: 0 }],
    });
  } finally {
    assert.equal(await sprox.stop(), 0);
    await origin.close();
  }
});

Deno.test("workers: one rate limit holds across isolates", async () => {
  const origin = await startOrigin(() => new Response("ok"));
  const port = freePort();
  const adminPort = freePort();
  const sprox = await startSprox(
    config(
      port,
      adminPort,
      origin.url,
      "rate_limit: { enabled: true, requests_per_second: 0.001, burst: 5 }",
    ),
    { env: { SPROX_ADMIN_TOKEN: ADMIN_TOKEN } },
  );
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 24; i++) {
      const answer = await fresh(`http://127.0.0.1:${port}/a`);
      statuses.push(answer.status);
      if (answer.status === 429) assert.equal(JSON.parse(answer.body).error, "rate_limited");
      else assert.equal(answer.body, "ok");
    }
    // Five tokens for the whole process, not five per isolate.
    assert.deepEqual(statuses, [...Array(5).fill(200), ...Array(19).fill(429)]);
    await waitForRequestLines(sprox, "/a", 24);
    assert.deepEqual([...servedBy(sprox, "/a")].sort(), [0, 1]);
  } finally {
    assert.equal(await sprox.stop(), 0);
    await origin.close();
  }
});

Deno.test("workers: a runtime key added or removed through the admin API reaches every isolate", async () => {
  const origin = await startOrigin(() => new Response("ok"));
  const port = freePort();
  const adminPort = freePort();
  const kid = "0123456789abcdef0123456789abcdef";
  const key = "00112233445566778899aabbccddeeff";
  const sprox = await startSprox(
    config(port, adminPort, origin.url, "rate_limit: { enabled: false }"),
    {
      env: { SPROX_ADMIN_TOKEN: ADMIN_TOKEN, SPROX_API_PASSWORD: BEARER },
    },
  );
  let calls = 0;
  const license = () => {
    calls++;
    return fresh(`http://127.0.0.1:${port}/keys/clearkey`, {
      method: "POST",
      headers: { authorization: `Bearer ${BEARER}`, "content-type": "application/json" },
      body: JSON.stringify({ kids: [b64url(kid)] }),
    });
  };
  /** 16 license requests (new connections), repeated for up to 5 s until each body passes. */
  const licensesUntil = async (passes: (body: string) => boolean) => {
    const until = Date.now() + 5000;
    while (true) {
      const answers = [];
      for (let i = 0; i < 16; i++) answers.push(await license());
      if (answers.every((a) => passes(a.body)) || Date.now() >= until) return answers;
    }
  };
  try {
    const added = await adminCall(
      adminPort,
      "PUT",
      `/admin/keys/clearkey/${kid}`,
      JSON.stringify({ key, ttl_secs: 600 }),
    );
    assert.equal(added.status, 201);
    // The copy travels by message: give it a moment, bounded.
    let answers = await licensesUntil((body) => body.includes(b64url(key)));
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.deepEqual(JSON.parse(answer.body).keys, [{
        kty: "oct",
        kid: b64url(kid),
        k: b64url(key),
      }]);
    }
    await waitForRequestLines(sprox, "/keys/clearkey", calls);
    assert.deepEqual([...servedBy(sprox, "/keys/clearkey")].sort(), [0, 1]);

    const removed = await adminCall(adminPort, "DELETE", `/admin/keys/clearkey/${kid}`);
    assert.equal(removed.status, 204);
    answers = await licensesUntil((body) => !body.includes(b64url(key)));
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.deepEqual(JSON.parse(answer.body).keys, []);
    }
  } finally {
    assert.equal(await sprox.stop(), 0);
    await origin.close();
  }
});

Deno.test("workers: SIGHUP swaps the plan in every isolate; a reload that fails changes none", async () => {
  const first = await startOrigin(() => new Response("first"));
  const second = await startOrigin(() => new Response("second"));
  const port = freePort();
  const adminPort = freePort();
  const sprox = await startSprox(
    config(port, adminPort, first.url, "rate_limit: { enabled: false }"),
    {
      env: { SPROX_ADMIN_TOKEN: ADMIN_TOKEN },
    },
  );
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const before = (await sprox.waitForLog((l) => l.msg === "sprox started")).hash;
    await Deno.writeTextFile(
      sprox.configPath,
      config(port, adminPort, second.url, "rate_limit: { enabled: false }"),
    );
    sprox.kill("SIGHUP");
    const reloaded = await sprox.waitForLog((l) => l.msg === "config reloaded");
    assert.notEqual(reloaded.hash, before);
    for (let i = 0; i < 24; i++) {
      const answer = await fresh(`http://127.0.0.1:${port}/x`);
      assert.equal(answer.status, 200);
      assert.equal(answer.body, "second");
    }
    await waitForRequestLines(sprox, "/x", 24);
    assert.deepEqual([...servedBy(sprox, "/x")].sort(), [0, 1]);
    const workers = await adminCall(adminPort, "GET", "/admin/workers");
    assert.deepEqual(workers.json.isolates.map((i: { hash: string }) => i.hash), [
      reloaded.hash,
      reloaded.hash,
    ]);

    // A second listener on a port another process holds: the reload fails before any swap.
    await Deno.writeTextFile(
      sprox.configPath,
      config(
        port,
        adminPort,
        first.url,
        "rate_limit: { enabled: false }",
        `
  - id: extra
    listen: { host: 127.0.0.1, port: ${blocker.addr.port} }
    host_patterns: ["*"]
    upstream: { origin: "${first.url}" }
`,
      ),
    );
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "reload rejected");
    for (let i = 0; i < 16; i++) {
      const answer = await fresh(`http://127.0.0.1:${port}/y`);
      assert.equal(answer.body, "second");
    }
    const after = await adminCall(adminPort, "GET", "/admin/workers");
    assert.deepEqual(after.json.isolates.map((i: { hash: string }) => i.hash), [
      reloaded.hash,
      reloaded.hash,
    ]);
  } finally {
    blocker.close();
    assert.equal(await sprox.stop(), 0);
    await first.close();
    await second.close();
  }
});

Deno.test("workers: SIGTERM drains the requests in flight in every isolate", async () => {
  let arrived = 0;
  const { promise: allArrived, resolve: arrive } = Promise.withResolvers<void>();
  const N = 16;
  const origin = await startOrigin(async () => {
    if (++arrived === N) arrive();
    await new Promise((r) => setTimeout(r, 1500));
    return new Response("x".repeat(100_000));
  });
  const port = freePort();
  const adminPort = freePort();
  const sprox = await startSprox(
    config(port, adminPort, origin.url, "rate_limit: { enabled: false }"),
    {
      env: { SPROX_ADMIN_TOKEN: ADMIN_TOKEN },
    },
  );
  try {
    const requests = Array.from({ length: N }, () => fresh(`http://127.0.0.1:${port}/slow`));
    await withTimeout(allArrived, 10_000, "every request to reach the origin");
    sprox.kill("SIGTERM");
    const answers = await withTimeout(Promise.all(requests), 15_000, "the drained answers");
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.equal(answer.body.length, 100_000);
    }
    const status = await withTimeout(sprox.status, 15_000, "sprox to exit");
    assert.equal(status.code, 0);
    const lines = sprox.logs.filter((l) => l.msg === "request" && l.path === "/slow");
    assert.equal(lines.length, N);
    for (const line of lines) {
      assert.equal(line.status, 200);
      assert.equal(line.bytes, 100_000);
    }
    assert.deepEqual([...servedBy(sprox, "/slow")].sort(), [0, 1]);
  } finally {
    sprox.kill("SIGKILL");
    await origin.close();
  }
});

Deno.test("workers: HTTP/3 is served by the first isolate and advertised by every isolate", async () => {
  const origin = await startOrigin(() => new Response("ok"));
  const dir = await scratchDir();
  const { cert, key } = await selfSignedCertificate(dir, { leaf: true });
  const port = freePort();
  const sprox = await startSprox(
    `server: { workers: 2 }
rate_limit: { enabled: false }
routes:
  - id: tls
    listen:
      host: 127.0.0.1
      port: ${port}
      http3: true
      tls: { enabled: true, certificate_path: "${cert}", private_key_path: "${key}" }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}" }
`,
    { dir },
  );
  try {
    const listening = sprox.logs.filter((l) => l.msg === "listening")
      .map((l) => [l.worker, l.http3]).sort();
    assert.deepEqual(listening, [[0, true], [1, false]]);
    const caCert = await Deno.readTextFile(cert);
    for (let i = 0; i < 24; i++) {
      const client = Deno.createHttpClient({ caCerts: [caCert], poolMaxIdlePerHost: 0 });
      try {
        const response = await fetch(`https://127.0.0.1:${port}/tls`, {
          client,
          signal: deadline(),
        });
        assert.equal(response.status, 200);
        assert.equal(await response.text(), "ok");
        assert.equal(response.headers.get("alt-svc"), `h3=":${port}"; ma=86400`);
      } finally {
        client.close();
      }
    }
    await waitForRequestLines(sprox, "/tls", 24);
    assert.deepEqual([...servedBy(sprox, "/tls")].sort(), [0, 1]);
  } finally {
    assert.equal(await sprox.stop(), 0);
    await origin.close();
  }
});
