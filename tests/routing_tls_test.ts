/**
 * TLS on both sides over real sockets: upstream verification with a test CA made by
 * `openssl`, an HTTPS listener negotiating h2 with curl, certificate hot-reload with a
 * download in flight, a broken new certificate, and the ACME cache directory.
 */
import assert from "node:assert/strict";
import { deadline, freePort, scratchDir, startSprox, withTimeout } from "./_support/mod.ts";
import { curl, makeTestPki, startOrigin } from "./_support/origins.ts";

const CHUNK = new Uint8Array(32 * 1024).fill(97);

/** The subject of the certificate a fresh TLS handshake on `port` presents. */
async function servedSubject(port: number): Promise<string> {
  const r = await curl(["-vk", "-o", "/dev/null", `https://127.0.0.1:${port}/health`]);
  return /subject: *([^\n]*)/.exec(r.stderr)?.[1]?.trim() ?? `no subject in: ${r.stderr}`;
}

Deno.test("upstream TLS is verified by default and trusts ca_bundle_path", async () => {
  const dir = await scratchDir();
  const pki = await makeTestPki(dir);
  const origin = await startOrigin(() => new Response("secure origin"), pki);
  const port = freePort();
  const sprox = await startSprox(
    `
rate_limit: { enabled: false }
routes:
  - id: untrusted
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["untrusted.test"]
    upstream: { origin: "https://127.0.0.1:${origin.port}", retry: { max_attempts: 1 } }
  - id: trusted
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["trusted.test"]
    upstream:
      origin: "https://127.0.0.1:${origin.port}"
      tls: { ca_bundle_path: "${pki.caPath}" }
`,
    { dir },
  );
  const client = Deno.createHttpClient({ allowHost: true });
  try {
    const bad = await fetch(`http://127.0.0.1:${port}/`, {
      client,
      headers: { host: "untrusted.test" },
      signal: deadline(),
    });
    assert.equal(bad.status, 502);
    assert.equal((await bad.json()).error, "upstream_error");
    const line = await sprox.waitForLog((l) =>
      l.msg === "upstream request failed" && l.route === "untrusted"
    );
    assert.equal(line.reason, "tls");
    const good = await fetch(`http://127.0.0.1:${port}/`, {
      client,
      headers: { host: "trusted.test" },
      signal: deadline(),
    });
    assert.equal(good.status, 200);
    assert.equal(await good.text(), "secure origin");
  } finally {
    client.close();
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("HTTPS listener: h2 by ALPN, certificate hot-reload with a download in flight", async (t) => {
  const dir = await scratchDir();
  const first = await makeTestPki(dir, "first", "first.test");
  const certPath = `${dir}/listener.pem`;
  const keyPath = `${dir}/listener.key`;
  await Deno.writeTextFile(certPath, first.cert);
  await Deno.writeTextFile(keyPath, first.key);
  const release = Promise.withResolvers<void>();
  const halfSent = Promise.withResolvers<void>();
  const total = 40;
  const origin = await startOrigin((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/dies") {
      let n = 0;
      return new Response(
        new ReadableStream({
          pull(c) {
            if (n++ < 3) c.enqueue(CHUNK);
            else c.error(new Error("origin crashed"));
          },
        }),
        { headers: { "content-length": String(10 * CHUNK.length) } },
      );
    }
    if (!path.startsWith("/slow")) return new Response("hello");
    let sent = 0;
    return new Response(
      new ReadableStream({
        async pull(c) {
          if (sent === total / 2) {
            halfSent.resolve();
            await release.promise;
          }
          if (sent++ >= total) return c.close();
          c.enqueue(CHUNK);
        },
      }),
      { headers: { "content-length": String(total * CHUNK.length) } },
    );
  });
  const port = freePort();
  const sprox = await startSprox(
    `
rate_limit: { enabled: false }
routes:
  - id: edge
    listen:
      host: 127.0.0.1
      port: ${port}
      tls:
        enabled: true
        certificate_path: "${certPath}"
        private_key_path: "${keyPath}"
        watch_for_changes: true
        acme: { enabled: true, contact_emails: ["ops@example.com"], cache_path: "${dir}/acme" }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}", read_timeout_ms: 20000 }
`,
    { dir },
  );
  const client = Deno.createHttpClient({ caCerts: [first.ca] });
  try {
    await t.step("curl --http2 negotiates h2", async () => {
      const r = await curl([
        "-k",
        "--http2",
        "-w",
        "\\n%{http_version}",
        `https://127.0.0.1:${port}/x`,
      ]);
      assert.equal(r.stdout, "hello\n2");
    });

    await t.step(
      "an origin dying mid-body resets the h2 stream / cuts the h1 response",
      async () => {
        const url = `https://127.0.0.1:${port}/dies`;
        const h2 = await curl(["-k", "--http2", "-o", "/dev/null", url]);
        assert.equal(h2.code, 92, `HTTP/2 stream error expected: ${h2.stderr}`);
        const h1 = await curl(["-k", "--http1.1", "-o", "/dev/null", url]);
        assert.equal(h1.code, 18, `partial transfer expected: ${h1.stderr}`);
      },
    );

    await t.step("the ACME cache directory exists with mode 0700", async () => {
      const info = await Deno.stat(`${dir}/acme`);
      assert.ok(info.isDirectory);
      assert.equal(info.mode! & 0o777, 0o700);
    });

    await t.step(
      "replacing the files changes the served certificate; the download completes",
      async () => {
        assert.match(await servedSubject(port), /first\.test/);
        // curl --http2, as an operator would check it: the download must span the rotation.
        const reading = curl([
          "--http2",
          "--cacert",
          first.caPath,
          "-o",
          `${dir}/inflight.bin`,
          "-w",
          "%{http_version} %{http_code} %{size_download}",
          `https://127.0.0.1:${port}/slow`,
        ]);
        // The origin pauses half way, until the certificate has been replaced.
        await withTimeout(halfSent.promise, 10_000, "half the body to be sent");
        const second = await makeTestPki(dir, "second", "second.test");
        // Renewal tools replace by rename: write aside, then move into place.
        await Deno.writeTextFile(`${keyPath}.new`, second.key);
        await Deno.writeTextFile(`${certPath}.new`, second.cert);
        await Deno.rename(`${keyPath}.new`, keyPath);
        await Deno.rename(`${certPath}.new`, certPath);
        await sprox.waitForLog((l) => l.msg === "certificate reloaded", 5000);
        assert.match(await servedSubject(port), /second\.test/);
        release.resolve();
        const done = await reading;
        assert.equal(done.code, 0, done.stderr);
        assert.equal(done.stdout, `2 200 ${total * CHUNK.length}`);
        const body = await Deno.readFile(`${dir}/inflight.bin`);
        assert.ok(body.every((b) => b === 97));
      },
    );

    await t.step("a broken new certificate keeps the previous one and logs why", async () => {
      await Deno.writeTextFile(
        certPath,
        "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
      );
      const line = await sprox.waitForLog(
        (l) => l.msg.startsWith("certificate reload failed"),
        5000,
      );
      assert.ok(String(line.error).length > 0);
      assert.match(await servedSubject(port), /second\.test/);
      const r = await curl(["-k", `https://127.0.0.1:${port}/x`]);
      assert.equal(r.stdout, "hello");
    });
  } finally {
    release.resolve();
    client.close();
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("sni_hostname and insecure_skip_verify go through the TLS relay", async () => {
  const dir = await scratchDir();
  // A certificate valid only for origin.test, not for the address the route connects to.
  const named = await makeTestPki(dir, "named", "origin.test", "DNS:origin.test");
  const namedOrigin = await startOrigin(
    (request) => new Response(`named origin, host ${request.headers.get("host")}`),
    named,
  );
  const otherDir = await scratchDir();
  const unknown = await makeTestPki(otherDir, "unknown", "unknown.test");
  const unknownOrigin = await startOrigin(() => new Response("unknown CA origin"), unknown);
  const port = freePort();
  const route = (id: string, origin: string, tls: string) => `
  - id: ${id}
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["${id}.test"]
    upstream:
      origin: "${origin}"
      retry: { max_attempts: 1 }
      tls: { ${tls} }`;
  const sprox = await startSprox(
    `
rate_limit: { enabled: false }
routes:${route("noname", namedOrigin.url, `ca_bundle_path: "${named.caPath}"`)}${
      route("sni", namedOrigin.url, `ca_bundle_path: "${named.caPath}", sni_hostname: origin.test`)
    }${route("sniwrongca", namedOrigin.url, `sni_hostname: origin.test`)}${
      route("insecure", unknownOrigin.url, `insecure_skip_verify: true`)
    }
`,
    { dir },
  );
  const client = Deno.createHttpClient({ allowHost: true });
  const get = (host: string) =>
    fetch(`http://127.0.0.1:${port}/`, { client, headers: { host }, signal: deadline() });
  try {
    const noname = await get("noname.test");
    assert.equal(noname.status, 502, "the certificate does not name 127.0.0.1");
    await noname.body?.cancel();

    const sni = await get("sni.test");
    assert.equal(sni.status, 200);
    assert.equal(await sni.text(), `named origin, host 127.0.0.1:${namedOrigin.port}`);

    const wrongCa = await get("sniwrongca.test");
    assert.equal(wrongCa.status, 502);
    await wrongCa.body?.cancel();
    const line = await sprox.waitForLog((l) =>
      l.msg === "upstream request failed" && l.route === "sniwrongca"
    );
    assert.equal(line.reason, "tls");

    const insecure = await get("insecure.test");
    assert.equal(insecure.status, 200);
    assert.equal(await insecure.text(), "unknown CA origin");
    assert.ok(
      sprox.logs.some((l) =>
        l.msg === "config warning" && String(l.detail).includes("NOT verified")
      ),
    );
  } finally {
    client.close();
    await sprox.stop();
    await Promise.all([namedOrigin.close(), unknownOrigin.close()]);
  }
});
