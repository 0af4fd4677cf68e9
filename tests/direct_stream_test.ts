/**
 * `/proxy/stream` against a running server and real loopback origins: range semantics on
 * nginx serving a large file, header overrides and filtering, auth, methods, timeouts and
 * retries. Positive cases run with `allow_private_networks: true` (origins are loopback).
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { deadline, freePort, runCli, scratchDir, startSprox } from "./_support/mod.ts";
import { directConfig, startNginx, startOrigin, streamUrl } from "./_support/direct.ts";

const SIZE = 8 * 1024 * 1024 + 123;

function pattern(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 11)) & 0xff;
  return bytes;
}

function positiveBlock(extra = ""): string {
  return `direct_stream:
  allow_private_networks: true
  allowlist:
    - { domain: "media.test", schemes: [http], paths: ["/media/**", "/h/**"] }
  hosts:
    "media.test": ["127.0.0.1"]
${extra}`;
}

Deno.test("range semantics through nginx: 200, 206, 416, 304 and HEAD", async () => {
  const root = await scratchDir();
  const file = pattern(SIZE);
  await Deno.mkdir(`${root}/media`);
  await Deno.writeFile(`${root}/media/big.bin`, file);
  const nginx = await startNginx(root);
  const port = freePort();
  const sprox = await startSprox(directConfig(port, positiveBlock()));
  const d = `http://media.test:${nginx.port}/media/big.bin`;
  try {
    const full = await fetch(streamUrl(port, d), { signal: deadline() });
    assertEquals(full.status, 200);
    assertEquals(full.headers.get("content-length"), String(SIZE));
    assertEquals(full.headers.get("accept-ranges"), "bytes");
    assertEquals(full.headers.get("server"), null, "server header must not be copied");
    const body = new Uint8Array(await full.arrayBuffer());
    assertEquals(body.length, SIZE);
    assert(body.every((b, i) => b === file[i]), "full body differs");
    const etag = full.headers.get("etag");
    assert(etag);

    const partial = await fetch(streamUrl(port, d), {
      headers: { range: "bytes=1000-1999" },
      signal: deadline(),
    });
    assertEquals(partial.status, 206);
    assertEquals(partial.headers.get("content-range"), `bytes 1000-1999/${SIZE}`);
    const slice = new Uint8Array(await partial.arrayBuffer());
    assertEquals([...slice], [...file.subarray(1000, 2000)]);

    const tail = await fetch(streamUrl(port, d, { h_range: "bytes=-10" }), { signal: deadline() });
    assertEquals(tail.status, 206);
    assertEquals([...new Uint8Array(await tail.arrayBuffer())], [...file.subarray(SIZE - 10)]);

    const beyond = await fetch(streamUrl(port, d), {
      headers: { range: `bytes=${SIZE + 5}-` },
      signal: deadline(),
    });
    assertEquals(beyond.status, 416);
    assertEquals(beyond.headers.get("content-range"), `bytes */${SIZE}`);
    await beyond.body?.cancel();

    const revalidate = await fetch(streamUrl(port, d), {
      headers: { "if-none-match": etag },
      signal: deadline(),
    });
    assertEquals(revalidate.status, 304);
    assertEquals(revalidate.headers.get("etag"), etag);
    assertEquals(await revalidate.text(), "");

    const head = await fetch(streamUrl(port, d), { method: "HEAD", signal: deadline() });
    assertEquals(head.status, 200);
    assertEquals(head.headers.get("content-length"), String(SIZE));

    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: deadline() }))
      .text();
    const streamed = /sprox_direct_bytes_streamed_total (\d+)/.exec(metrics);
    assert(streamed && Number(streamed[1]) >= SIZE + 1000 + 10, metrics);
    assert(/sprox_direct_upstream_latency_seconds_count \d+/.test(metrics));
  } finally {
    await sprox.stop();
    await nginx.stop();
  }
});

Deno.test("header overrides, request and response filtering", async () => {
  const origin = startOrigin((request) => {
    const url = new URL(request.url);
    if (url.pathname === "/h/no-range-header") {
      return new Response("abc", { status: 206 });
    }
    return new Response("hello", {
      headers: {
        "content-type": "text/plain",
        "set-cookie": "session=1",
        "x-internal": "secret",
        "access-control-allow-origin": "*",
        "cache-control": "max-age=60",
      },
    });
  });
  const port = freePort();
  const sprox = await startSprox(directConfig(port, positiveBlock()));
  const d = `http://media.test:${origin.port}/h/x`;
  try {
    const response = await fetch(
      streamUrl(port, d, { h_referer: "https://player.example/", h_user_agent: "Player/1" }),
      {
        headers: { cookie: "a=b", authorization: "Basic eDp5", "x-forwarded-for": "1.2.3.4" },
        signal: deadline(),
      },
    );
    assertEquals(response.status, 200);
    assertEquals(await response.text(), "hello");
    assertEquals(response.headers.get("set-cookie"), null);
    assertEquals(response.headers.get("x-internal"), null);
    assertEquals(response.headers.get("cache-control"), "max-age=60");
    assertEquals(response.headers.get("accept-ranges"), "bytes");
    const seen = origin.requests.at(-1)!;
    assertEquals(seen.headers.get("referer"), "https://player.example/");
    assertEquals(seen.headers.get("user-agent"), "Player/1");
    assertEquals(seen.headers.get("accept-encoding"), "identity");
    for (const name of ["cookie", "authorization", "x-forwarded-for", "x-sprox-api-password"]) {
      assertEquals(seen.headers.get(name), null, `${name} was forwarded`);
    }
    assertEquals(seen.headers.get("host"), `media.test:${origin.port}`);

    const cases: [Record<string, string>, number, string][] = [
      [{ h_cookie: "a=b" }, 400, "bad_override"],
      [{ h_authorization: "Bearer x" }, 400, "bad_override"],
      [{ h_host: "evil" }, 400, "bad_override"],
      [{ h_x_forwarded_for: "1.1.1.1" }, 400, "bad_override"],
      [{ h_referer: "a\r\nx-injected: 1" }, 400, "bad_override"],
      [{ h_user_agent: "nul\u0000" }, 400, "bad_override"],
      [{ h_user_agent: "caf\u00e9" }, 400, "bad_override"],
      [{ "h_bad name": "1" }, 400, "bad_override"],
    ];
    for (const [extra, status, reason] of cases) {
      const r = await fetch(streamUrl(port, d, extra), { signal: deadline() });
      assertEquals(r.status, status, JSON.stringify(extra));
      const body = await r.json();
      assertEquals(body.error, reason);
    }
    const named = await (await fetch(streamUrl(port, d, { h_cookie: "x" }), { signal: deadline() }))
      .json();
    assert(named.message.includes("cookie"), named.message);

    for (const bad of [undefined, "", "not a url", "/relative", "ftp://media.test/x"]) {
      const url = bad === undefined
        ? `http://127.0.0.1:${port}/proxy/stream`
        : streamUrl(port, bad);
      const r = await fetch(url, { signal: deadline() });
      assertEquals(r.status, 400, String(bad));
      assertEquals((await r.json()).error, "bad_request", String(bad));
    }
    const badRange = await fetch(
      streamUrl(port, `http://media.test:${origin.port}/h/no-range-header`),
      { signal: deadline() },
    );
    assertEquals(badRange.status, 502);
    assertEquals((await badRange.json()).error, "upstream_bad_response");

    const post = await fetch(streamUrl(port, d), { method: "POST", body: "x", signal: deadline() });
    assertEquals(post.status, 405);
    assertEquals(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();

    const outside = await fetch(streamUrl(port, `http://media.test:${origin.port}/other`), {
      signal: deadline(),
    });
    assertEquals(outside.status, 403);
    assertEquals((await outside.json()).error, "allowlist_denied");
    const walk = await fetch(
      streamUrl(port, `http://media.test:${origin.port}/h/..%2F..%2Fother`),
      { signal: deadline() },
    );
    assertEquals(walk.status, 403);
    // Which refusal names it is tests/path_ambiguity_test.ts's business; here it is that
    // neither refused request reached the origin.
    await walk.body?.cancel();
    assert(
      origin.requests.every((r) => !new URL(r.url).pathname.startsWith("/other")),
      JSON.stringify(origin.requests.map((r) => r.url)),
    );
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("auth: 401 missing, 403 wrong, header/query/bearer accepted, never forwarded or logged", async () => {
  const origin = startOrigin(() => new Response("ok"));
  const port = freePort();
  const password = "pw-Zq81-direct";
  const bearer = "tok-Yb72-bearer";
  const sprox = await startSprox(
    directConfig(port, positiveBlock(`  api_password: "${password}"\n`)),
    { env: { SPROX_API_PASSWORD: bearer } },
  );
  const d = `http://media.test:${origin.port}/h/x`;
  const auth = { authorization: `Bearer ${bearer}` };
  try {
    const cases: [RequestInit, Record<string, string>, number][] = [
      [{}, {}, 401],
      [{ headers: auth }, {}, 401],
      [{ headers: { "x-sprox-api-password": password } }, {}, 401],
      [{ headers: { authorization: "Bearer wrong" } }, { api_password: password }, 403],
      [{ headers: auth }, { api_password: "wrong" }, 403],
      [{ headers: { ...auth, "x-sprox-api-password": "wrong" } }, {}, 403],
      [{ headers: { ...auth, "x-sprox-api-password": password } }, {}, 200],
      [{ headers: auth }, { api_password: password }, 200],
    ];
    for (const [init, extra, status] of cases) {
      const r = await fetch(streamUrl(port, d, extra), { ...init, signal: deadline() });
      assertEquals(r.status, status, JSON.stringify([init, extra]));
      await r.body?.cancel();
    }
    assertEquals(origin.requests.length, 2);
    for (const seen of origin.requests) {
      assertEquals(seen.headers.get("authorization"), null);
      assertEquals(seen.headers.get("x-sprox-api-password"), null);
      assert(!seen.url.includes(password));
    }
    const signed = await fetch(
      streamUrl(port, `${d}?token=tok-Xc93-signed&x=1`, { api_password: password }),
      { headers: auth, signal: deadline() },
    );
    assertEquals(signed.status, 200);
    await signed.body?.cancel();
    await sprox.waitForLog((l) => l.msg === "request" && String(l.path).includes("x%3D1"));
    assert(!JSON.stringify(sprox.logs).includes("tok-Xc93-signed"), "signed URL token logged");
    const logged = JSON.stringify(sprox.logs) + sprox.stderr();
    assert(!logged.includes(password), "api password logged");
    assert(!logged.includes(bearer), "bearer token logged");
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: deadline() }))
      .text();
    assert(/sprox_direct_requests_total\{outcome="unauthorized"\} 6/.test(metrics), metrics);
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("disabled endpoint answers 404", async () => {
  const port = freePort();
  const sprox = await startSprox(directConfig(port, "direct_stream: { enabled: false }"));
  const port2 = freePort();
  const sprox2 = await startSprox(directConfig(port2, ""));
  try {
    for (const p of [port, port2]) {
      const r = await fetch(streamUrl(p, "http://media.test/h/x"), { signal: deadline() });
      assertEquals(r.status, 404);
      await r.body?.cancel();
    }
  } finally {
    await sprox.stop();
    await sprox2.stop();
  }
});

/** A raw origin that drops the first `drops` connections, then answers 200 "ok". */
function flakyOrigin(drops: number): { port: number; connections: () => number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let count = 0;
  (async () => {
    try {
      for await (const conn of listener) {
        count++;
        if (count <= drops) {
          conn.close();
          continue;
        }
        (async () => {
          await conn.read(new Uint8Array(4096));
          await conn.write(
            new TextEncoder().encode(
              "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            ),
          );
          conn.close();
        })();
      }
    } catch {
      // Closed.
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    connections: () => count,
    close: () => listener.close(),
  };
}

Deno.test("a small body (read whole before answering) that stalls or dies is a 504 or 502; a bigger one streams", async () => {
  // Half of the announced bytes, then on `/dies` a failure, elsewhere nothing more.
  const origin = startOrigin((request) => {
    const path = new URL(request.url).pathname;
    const declared = path.startsWith("/h/big") ? 200_000 : 20_000;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(declared / 2).fill(1));
        if (path.endsWith("/dies")) setTimeout(() => controller.error(new Error("died")), 50);
      },
    });
    return new Response(body, { headers: { "content-length": String(declared) } });
  });
  const port = freePort();
  const sprox = await startSprox(directConfig(port, positiveBlock("  request_timeout_ms: 1000\n")));
  try {
    const cases: [path: string, status: number, error: string, message: string][] = [
      ["stalls", 504, "upstream_read_timeout", "upstream stalled"],
      ["dies", 502, "upstream_error", "upstream body failed"],
    ];
    for (const [path, status, error, message] of cases) {
      const id = `small-${path}`;
      const response = await fetch(streamUrl(port, `http://media.test:${origin.port}/h/${path}`), {
        headers: { "x-request-id": id },
        signal: deadline(),
      });
      assertEquals(response.status, status);
      assertEquals(await response.json(), { error, message, request_id: id });
      const line = await sprox.waitForLog((l) => l.msg === "request" && l.request_id === id);
      assertEquals([line.status, line.outcome], [status, error]);
    }
    // Over 64 KiB the body streams: the headers come at once, the body ends cut off.
    const big = await fetch(streamUrl(port, `http://media.test:${origin.port}/h/big/dies`), {
      signal: deadline(),
    });
    assertEquals([big.status, big.headers.get("content-length")], [200, "200000"]);
    await assert.rejects(() => big.arrayBuffer());
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("retries transport failures, times out slow origins, spends the budget", async () => {
  const flaky = flakyOrigin(2);
  const slow = startOrigin(async () => {
    await new Promise((r) => setTimeout(r, 1500));
    return new Response("late");
  });
  const port = freePort();
  const sprox = await startSprox(directConfig(
    port,
    positiveBlock(`  request_timeout_ms: 300
  retry: { max_attempts: 3, initial_backoff_ms: 10, max_backoff_ms: 20, jitter: 0 }
`),
  ));
  const noBudgetPort = freePort();
  const noBudget = await startSprox(
    directConfig(
      noBudgetPort,
      positiveBlock(`  retry: { max_attempts: 3, initial_backoff_ms: 10 }\n`),
    ) + "retry_budget: { ratio: 0, min_retries_per_sec: 0 }\n",
  );
  try {
    const retried = await fetch(streamUrl(port, `http://media.test:${flaky.port}/h/x`), {
      signal: deadline(),
    });
    assertEquals(retried.status, 200);
    assertEquals(await retried.text(), "ok");
    assertEquals(flaky.connections(), 3);

    const late = await fetch(streamUrl(port, `http://media.test:${slow.port}/h/slow`), {
      signal: deadline(),
    });
    assertEquals(late.status, 502);
    assertEquals((await late.json()).error, "upstream_timeout");
    assertEquals(slow.requests.length, 3);

    const spent = await fetch(streamUrl(noBudgetPort, `http://media.test:${freePort()}/h/x`), {
      signal: deadline(),
    });
    assertEquals(spent.status, 502);
    assertEquals((await spent.json()).error, "upstream_error");
    const spentMetrics =
      await (await fetch(`http://127.0.0.1:${noBudgetPort}/metrics`, { signal: deadline() }))
        .text();
    assert(
      /sprox_retry_budget_exhausted_total\{scope="direct"\} 1/.test(spentMetrics),
      spentMetrics,
    );
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: deadline() }))
      .text();
    assert(/sprox_direct_requests_total\{outcome="timeout"\} 1/.test(metrics), metrics);
  } finally {
    await sprox.stop();
    await noBudget.stop();
    flaky.close();
    await slow.close();
  }
});

Deno.test("streams without buffering and stops the upstream when the client goes away", async () => {
  let cancelled = false;
  let pulled = 0;
  const origin = startOrigin(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled++;
          controller.enqueue(new Uint8Array(64 * 1024));
        },
        cancel() {
          cancelled = true;
        },
      }),
      { headers: { "content-type": "video/mp4" } },
    )
  );
  const port = freePort();
  const sprox = await startSprox(directConfig(port, positiveBlock()));
  try {
    const response = await fetch(streamUrl(port, `http://media.test:${origin.port}/h/endless`), {
      signal: deadline(),
    });
    assertEquals(response.status, 200);
    const reader = response.body!.getReader();
    let received = 0;
    while (received < 1024 * 1024) received += (await reader.read()).value!.byteLength;
    await reader.cancel();
    for (let i = 0; i < 200 && !cancelled; i++) await new Promise((r) => setTimeout(r, 25));
    assert(cancelled, "the upstream body was not cancelled");
    const pulledAtCancel = pulled;
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(pulled, pulledAtCancel);
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("validate warns about the labs-only guard switches", async () => {
  const dir = await scratchDir();
  await Deno.writeTextFile(
    `${dir}/routes.yaml`,
    directConfig(
      freePort(),
      `direct_stream:
  allow_private_networks: true
  private_network_exceptions: ["127.0.0.1:8080"]
  allowlist: [{ domain: "media.test" }]
  hosts: { "media.test": ["127.0.0.1"] }
`,
    ),
  );
  const ok = await runCli(["validate", "-c", dir]);
  assertEquals(ok.code, 0, ok.stderr + ok.stdout);
  const text = ok.stdout + ok.stderr;
  assert(text.includes("allow_private_networks") && text.includes("private_network_exceptions"));
  await Deno.writeTextFile(
    `${dir}/routes.yaml`,
    directConfig(
      freePort(),
      `direct_stream:
  private_network_exceptions: ["127.0.0.1"]
  hosts: { "media.test": ["not-an-address"] }
`,
    ),
  );
  const bad = await runCli(["validate", "-c", dir]);
  assertEquals(bad.code, 1);
  const errors = bad.stdout + bad.stderr;
  assert(errors.includes("private_network_exceptions") && errors.includes("hosts"), errors);
});
