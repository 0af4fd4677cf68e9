/**
 * SOCKS5 tunnelling through a real `microsocks`: with and without auth, a wrong
 * password, and `SPROX_PROXY_URL` forcing every route through one proxy. Each microsocks
 * binds its outgoing connections to its own loopback address (127.0.0.2, .3, .4) and the
 * origin answers with the address that connected, so a route that bypassed the proxy (and
 * connected from 127.0.0.1) fails the test.
 */
import assert from "node:assert/strict";
import { deadline, freePort, startSprox } from "./_support/mod.ts";
import { hostClient, startMicrosocks, startOrigin } from "./_support/origins.ts";

/** An origin whose body names the address the connection came from. */
function whoConnected(label: string) {
  return startOrigin((_request, info) => new Response(`${label} from ${info.remoteAddr.hostname}`));
}

Deno.test("routes tunnel through SOCKS5 with and without auth; a wrong password is a 502", async (t) => {
  const origin = await whoConnected("through socks");
  const authSocks = await startMicrosocks({ user: "alice", pass: "s3cret" }, "127.0.0.2");
  const openSocks = await startMicrosocks(undefined, "127.0.0.3");
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
  const get = (host: string) =>
    fetch(`http://127.0.0.1:${port}/`, { client, headers: { host }, signal: deadline() });
  try {
    await t.step("with username/password: the origin saw the proxy's socket", async () => {
      const r = await get("auth.test");
      assert.equal(r.status, 200);
      assert.equal(await r.text(), "through socks from 127.0.0.2");
    });
    await t.step("without auth: the origin saw the other proxy's socket", async () => {
      const r = await get("open.test");
      assert.equal(r.status, 200);
      assert.equal(await r.text(), "through socks from 127.0.0.3");
    });
    await t.step("wrong password: 502 and a clear log line without the password", async () => {
      const r = await get("wrong.test");
      assert.equal(r.status, 502);
      const body = await r.json();
      assert.equal(body.error, "upstream_error");
      assert.equal(body.message, "SOCKS5 proxy failed");
      const line = await sprox.waitForLog(
        (l) => l.msg === "upstream request failed" && l.route === "wrong",
        10_000,
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
  const origin = await whoConnected("forced");
  const socks = await startMicrosocks({ user: "bob", pass: "pw" }, "127.0.0.4");
  const port = freePort();
  const yaml = `
rate_limit: { enabled: false }
routes:
  - id: plain
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}", retry: { max_attempts: 1 } }
`;
  const env = { SPROX_PROXY_URL: `socks5://bob:pw@127.0.0.1:${socks.port}` };
  const forced = await startSprox(yaml, { env });
  try {
    const r = await fetch(`http://127.0.0.1:${port}/`, { signal: deadline() });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), "forced from 127.0.0.4");
  } finally {
    await forced.stop();
  }
  // The same route with the proxy gone fails: there is no quiet fallback to a direct dial.
  await socks.stop();
  const broken = await startSprox(yaml, { env });
  try {
    const r = await fetch(`http://127.0.0.1:${port}/`, { signal: deadline() });
    assert.equal(r.status, 502);
    const body = await r.json();
    assert.equal(body.error, "upstream_error");
    assert.equal(body.message, "SOCKS5 proxy failed");
  } finally {
    await broken.stop();
    await origin.close();
  }
});
