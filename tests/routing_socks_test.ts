/**
 * SOCKS5 tunnelling through a real `microsocks`: with and without auth, a wrong
 * password, and `SPROX_PROXY_URL` forcing every route through one proxy.
 */
import assert from "node:assert/strict";
import { freePort, startSprox } from "./_support/mod.ts";
import { hostClient, startMicrosocks, startOrigin } from "./_support/origins.ts";

Deno.test("routes tunnel through SOCKS5 with and without auth; a wrong password is a 502", async (t) => {
  const origin = await startOrigin(() => new Response("through socks"));
  const authSocks = await startMicrosocks({ user: "alice", pass: "s3cret" });
  const openSocks = await startMicrosocks();
  const port = freePort();
  const route = (id: string, socks: string) => `
  - id: ${id}
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["${id}.test"]
    upstream:
      origin: "${origin.url}"
      retry: { max_attempts: 1 }
      socks5: { enabled: true, ${socks} }`;
  const sprox = await startSprox(`
rate_limit: { enabled: false }
routes:${
    route("auth", `address: "127.0.0.1:${authSocks.port}", username: alice, password: s3cret`)
  }${route("wrong", `address: "127.0.0.1:${authSocks.port}", username: alice, password: nope`)}${
    route("open", `address: "127.0.0.1:${openSocks.port}"`)
  }
`);
  const client = hostClient();
  const get = (host: string) => fetch(`http://127.0.0.1:${port}/`, { client, headers: { host } });
  try {
    await t.step("with username/password", async () => {
      const r = await get("auth.test");
      assert.equal(r.status, 200);
      assert.equal(await r.text(), "through socks");
    });
    await t.step("without auth", async () => {
      const r = await get("open.test");
      assert.equal(await r.text(), "through socks");
    });
    await t.step("wrong password: 502 and a clear log line without the password", async () => {
      const r = await get("wrong.test");
      assert.equal(r.status, 502);
      assert.equal((await r.json()).message, "SOCKS5 proxy failed");
      const line = await sprox.waitForLog((l) =>
        l.msg === "upstream request failed" && l.route === "wrong"
      );
      assert.equal(line.reason, "socks");
      assert.match(String(line.detail), /auth failure/i);
      assert.ok(!JSON.stringify(sprox.logs).includes("nope"), "the password is never logged");
    });
  } finally {
    client.close();
    await sprox.stop();
    await Promise.all([authSocks.stop(), openSocks.stop(), origin.close()]);
  }
});

Deno.test("SPROX_PROXY_URL forces every route through one SOCKS5 endpoint", async () => {
  const origin = await startOrigin(() => new Response("forced"));
  const socks = await startMicrosocks({ user: "bob", pass: "pw" });
  const port = freePort();
  const yaml = `
rate_limit: { enabled: false }
routes:
  - id: plain
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}", retry: { max_attempts: 1 } }
`;
  const forced = await startSprox(yaml, {
    env: { SPROX_PROXY_URL: `socks5://bob:pw@127.0.0.1:${socks.port}` },
  });
  try {
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "forced");
  } finally {
    await forced.stop();
  }
  // The same route with the proxy gone proves the request went through it.
  await socks.stop();
  const broken = await startSprox(yaml, {
    env: { SPROX_PROXY_URL: `socks5://bob:pw@127.0.0.1:${socks.port}` },
  });
  try {
    const r = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(r.status, 502);
    await r.body?.cancel();
  } finally {
    await broken.stop();
    await origin.close();
  }
});
