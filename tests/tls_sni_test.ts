/**
 * Per-hostname certificates on one TLS listener: `openssl s_client -servername` and
 * `curl --resolve` get each name's certificate (unknown names and no SNI get the default),
 * before and after one of them is renewed on disk; Alt-Svc is only offered for names the
 * HTTP/3 (default) certificate covers.
 */
import assert from "node:assert/strict";
import { freePort, scratchDir, startSprox, withTimeout } from "./_support/mod.ts";
import { curl, makeTestPki, startOrigin } from "./_support/origins.ts";

/** The subject CN of the certificate a handshake asking for `serverName` gets. */
async function servedCn(port: number, serverName?: string): Promise<string> {
  const args = ["s_client", "-connect", `127.0.0.1:${port}`];
  if (serverName) args.push("-servername", serverName);
  else args.push("-noservername");
  const out = await withTimeout(
    new Deno.Command("openssl", { args, stdin: "null", stdout: "piped", stderr: "piped" }).output(),
    20_000,
    "openssl s_client",
  );
  const text = new TextDecoder().decode(out.stdout);
  return /subject=CN\s*=\s*([^\s,/]+)/.exec(text)?.[1] ?? `no subject: ${text.slice(0, 200)}`;
}

/** The subject CN curl sees for `https://<name>:<port>/` resolved to 127.0.0.1. */
async function curlCn(port: number, name: string): Promise<{ cn: string; altSvc: string | null }> {
  const r = await curl([
    "-vk",
    "-D",
    "-",
    "-o",
    "/dev/null",
    "--resolve",
    `${name}:${port}:127.0.0.1`,
    `https://${name}:${port}/`,
  ]);
  const cn = /subject: *CN=([^\s;]+)/.exec(r.stderr)?.[1] ??
    `no subject: ${r.stderr.slice(0, 300)}`;
  const altSvc = /^alt-svc: (.*)\r?$/im.exec(r.stdout)?.[1]?.trim() ?? null;
  return { cn, altSvc };
}

Deno.test("a TLS listener picks each hostname's certificate by SNI, before and after a renewal", async () => {
  const dir = await scratchDir();
  const fallback = await makeTestPki(dir, "default", "default.test");
  const tv = await makeTestPki(dir, "tv", "tv.test", "DNS:tv.test");
  const radio = await makeTestPki(dir, "radio", "radio.test", "DNS:*.radio.test");
  const renewed = await makeTestPki(dir, "tv2", "tv-renewed.test", "DNS:tv.test");
  const tvCert = `${dir}/tv-served.pem`;
  const tvKey = `${dir}/tv-served.key`;
  await Deno.writeTextFile(tvCert, tv.cert);
  await Deno.writeTextFile(tvKey, tv.key);
  const origin = await startOrigin(() => new Response("ok"));
  const port = freePort();
  const sprox = await startSprox(
    `
rate_limit: { enabled: false }
routes:
  - id: sites
    listen:
      host: 127.0.0.1
      port: ${port}
      http3: true
      tls:
        enabled: true
        certificate_path: "${fallback.certPath}"
        private_key_path: "${fallback.keyPath}"
        certificates:
          - { server_names: ["tv.test"], certificate_path: "${tvCert}", private_key_path: "${tvKey}" }
          - { server_names: ["*.radio.test"], certificate_path: "${radio.certPath}", private_key_path: "${radio.keyPath}" }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}" }
`,
    { dir },
  );
  try {
    assert.equal(await servedCn(port, "tv.test"), "tv.test");
    assert.equal(await servedCn(port, "fm.radio.test"), "radio.test");
    assert.equal(await servedCn(port, "radio.test"), "default.test"); // the wildcard needs a label
    assert.equal(await servedCn(port, "unknown.test"), "default.test");
    assert.equal(await servedCn(port), "default.test");
    assert.deepEqual(await curlCn(port, "tv.test"), { cn: "tv.test", altSvc: null });
    assert.deepEqual(await curlCn(port, "fm.radio.test"), { cn: "radio.test", altSvc: null });
    assert.deepEqual(await curlCn(port, "localhost"), {
      cn: "default.test",
      altSvc: `h3=":${port}"; ma=86400`,
    });

    // Renewal by rename, as renewal tools do: only tv.test changes.
    const before = sprox.logs.filter((l) => l.msg === "certificate reloaded").length;
    await Deno.writeTextFile(`${tvKey}.new`, renewed.key);
    await Deno.writeTextFile(`${tvCert}.new`, renewed.cert);
    await Deno.rename(`${tvKey}.new`, tvKey);
    await Deno.rename(`${tvCert}.new`, tvCert);
    await sprox.waitForLog(
      (l) =>
        l.msg === "certificate reloaded" &&
        sprox.logs.filter((x) => x.msg === "certificate reloaded").length > before,
      10_000,
    );
    assert.equal(await servedCn(port, "tv.test"), "tv-renewed.test");
    assert.equal((await curlCn(port, "tv.test")).cn, "tv-renewed.test");
    assert.equal(await servedCn(port, "fm.radio.test"), "radio.test");
    assert.equal(await servedCn(port, "unknown.test"), "default.test");

    const metrics = await curl(["-k", `https://127.0.0.1:${port}/metrics`]);
    const key = `127.0.0.1:${port}`;
    const ok = new RegExp(
      `^sprox_tls_handshakes_total\\{listener="${
        key.replace(/\./g, "\\.")
      }",transport="tcp",result="ok"\\} (\\d+)$`,
      "m",
    ).exec(metrics.stdout);
    // 8 s_client and 4 curl handshakes before this scrape, then the scrape's own.
    assert.equal(
      ok?.[1],
      "13",
      metrics.stdout.split("\n").filter((l) => l.includes("handshake")).join("\n"),
    );
  } finally {
    await sprox.stop();
    await origin.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("routes sharing a listener must agree on certificates and http3; http3 needs TLS", async () => {
  const dir = await scratchDir();
  const pki = await makeTestPki(dir, "a", "a.test");
  const port = freePort();
  const yaml = `
routes:
  - id: one
    listen:
      host: 127.0.0.1
      port: ${port}
      http3: true
      tls:
        enabled: true
        certificate_path: "${pki.certPath}"
        private_key_path: "${pki.keyPath}"
        certificates: [{ server_names: ["a.test"], certificate_path: "${pki.certPath}", private_key_path: "${pki.keyPath}" }]
    host_patterns: ["one.test"]
    upstream: { origin: "http://127.0.0.1:1" }
  - id: two
    listen:
      host: 127.0.0.1
      port: ${port}
      tls: { enabled: true, certificate_path: "${pki.certPath}", private_key_path: "${pki.keyPath}" }
    host_patterns: ["two.test"]
    upstream: { origin: "http://127.0.0.1:1" }
  - id: three
    listen: { host: 127.0.0.1, port: ${freePort()}, http3: true }
    host_patterns: ["three.test"]
    upstream: { origin: "http://127.0.0.1:1" }
`;
  await Deno.writeTextFile(`${dir}/routes.yaml`, yaml);
  const { runCli } = await import("./_support/mod.ts");
  const r = await runCli(["validate", "-c", dir]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const text = r.stdout + r.stderr;
  assert.match(text, /routes\[1\]\.listen\.http3.*must agree on http3/);
  assert.match(text, /routes\[1\]\.listen\.tls\.certificates.*must list the same certificates/);
  assert.match(text, /routes\[2\]\.listen\.http3.*needs tls\.enabled/);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});
