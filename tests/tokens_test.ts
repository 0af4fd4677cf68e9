/**
 * Signed, expiring URLs against a running sProx: a token minted by `/generate_url` plays in
 * place of the credential; one changed byte, an expired token and a token presented from
 * another address are refused alike (403, counted by the credential-abuse tracker); a
 * token replayed within its lifetime plays again (tokens are bearer capabilities); and no
 * log line ever holds a token.
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { deadline, freePort, runCli, startSprox } from "./_support/mod.ts";
import { startOrigin } from "./_support/direct.ts";
import { b64urlOfBytes, bytesOfB64url } from "./_support/encoding.ts";

const PASSWORD = "tokens-test-password";
const AES_KEY = "3c".repeat(32);

Deno.test("signed URLs: tampered, expired and wrong-address tokens are refused; replays play", async (t) => {
  const origin = startOrigin(() =>
    new Response("PROTECTED-BYTES", { headers: { "content-type": "video/mp4" } })
  );
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const media = `http://media.test:${origin.port}/media/film.mp4`;
  const sprox = await startSprox(`
routes:
  - id: main
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:9" }
telemetry: { enabled: true, log_level: debug }
rate_limit: { enabled: false }
auth_abuse: { max_failures: 3, window_secs: 60, block_secs: 60 }
tokens: { aes_key: "${AES_KEY}", default_ttl_secs: 600, max_ttl_secs: 3600 }
direct_stream:
  api_password: "${PASSWORD}"
  allow_private_networks: true
  allowlist:
    - { domain: "media.test", schemes: [http], paths: ["/media/**"] }
  hosts:
    "media.test": ["127.0.0.1"]
`);
  const minted: string[] = [];
  const mint = async (extra: Record<string, unknown> = {}): Promise<string> => {
    const response = await fetch(`${base}/generate_url`, {
      method: "POST",
      body: JSON.stringify({
        mediaflow_proxy_url: base,
        endpoint: "/proxy/stream",
        destination_url: media,
        api_password: PASSWORD,
        ...extra,
      }),
      signal: deadline(),
    });
    assertEquals(response.status, 200);
    const { url } = await response.json();
    const token = /\/_token_([A-Za-z0-9_-]+)\/proxy\/stream$/.exec(url)![1];
    minted.push(token);
    return token;
  };
  const play = async (token: string, client?: string) => {
    const headers: Record<string, string> = {
      // A Referer holding a signed URL must be redacted in debug logs too.
      referer: `${base}/_token_${token}/proxy/stream`,
    };
    if (client) headers["x-forwarded-for"] = client;
    const response = await fetch(`${base}/_token_${token}/proxy/stream/film.mp4`, {
      headers,
      signal: deadline(),
    });
    const text = await response.text();
    return [response.status, response.status === 200 ? text : JSON.parse(text).error] as const;
  };
  const failures = async () => {
    const text = await (await fetch(`${base}/metrics`, { signal: deadline() })).text();
    return Number(/^sprox_auth_failures_total (\d+)/m.exec(text)?.[1] ?? 0);
  };
  try {
    await t.step(
      "a fresh token plays, and plays again within its lifetime (replay allowed)",
      async () => {
        const token = await mint({ expiration: 600 });
        for (let i = 0; i < 3; i++) assertEquals(await play(token), [200, "PROTECTED-BYTES"]);
        assertEquals(
          await (await fetch(`${base}/proxy/stream?token=${token}`, { signal: deadline() })).text(),
          "PROTECTED-BYTES",
        );
      },
    );

    await t.step(
      "changing any one byte refuses the token, and each refusal is a counted failure",
      async () => {
        const token = await mint({ expiration: 600 });
        const bytes = bytesOfB64url(token);
        const before = await failures();
        const positions = [0, 1, 12, bytes.length >> 1, bytes.length - 1];
        for (const i of positions) {
          const tampered = bytes.slice();
          tampered[i] ^= 0x20;
          // Each from its own address, so the abuse tracker does not block the next one.
          assertEquals(await play(b64urlOfBytes(tampered), `203.0.113.${100 + i % 100}`), [
            403,
            "forbidden",
          ], `byte ${i}`);
        }
        assertEquals(await failures(), before + positions.length);
        assertEquals(await play(token), [200, "PROTECTED-BYTES"], "the original still plays");
      },
    );

    await t.step("an expired token is refused", async () => {
      const token = await mint({ expiration: 1 });
      assertEquals(await play(token), [200, "PROTECTED-BYTES"]);
      // exp is the issuing second + 1: two seconds later it has passed whatever the rounding.
      await new Promise((r) => setTimeout(r, 2100));
      assertEquals(await play(token), [403, "forbidden"]);
    });

    await t.step(
      "an address-bound token plays only for that client (as /ip resolves it)",
      async () => {
        const token = await mint({ ip: "203.0.113.9", expiration: 600 });
        assertEquals(await play(token), [403, "forbidden"], "127.0.0.1 is another client");
        assertEquals(await play(token, "203.0.113.10"), [403, "forbidden"]);
        // The loopback test client is a trusted proxy: X-Forwarded-For names the client.
        assertEquals(await play(token, "203.0.113.9"), [200, "PROTECTED-BYTES"]);
      },
    );

    await t.step("repeated bad tokens block the client, even for a valid one", async () => {
      const token = await mint({ expiration: 600 });
      const junk = b64urlOfBytes(bytesOfB64url(token).map((b, i) => i === 5 ? b ^ 1 : b));
      for (let i = 0; i < 3; i++) {
        assertEquals(await play(junk, "198.51.100.20"), [403, "forbidden"]);
      }
      const blocked = await fetch(`${base}/_token_${token}/proxy/stream`, {
        headers: { "x-forwarded-for": "198.51.100.20" },
        signal: deadline(),
      });
      assertEquals(blocked.status, 429);
      assertEquals((await blocked.json()).error, "auth_blocked");
      assert(Number(blocked.headers.get("retry-after")) > 0);
      assertEquals(await play(token, "198.51.100.21"), [200, "PROTECTED-BYTES"], "others are not");
      // Garbage that is not even base64url is a wrong credential too.
      assertEquals(await play("not-a-token", "198.51.100.22"), [403, "forbidden"]);
    });

    await t.step("no log line holds a token; request lines show the path redacted", async () => {
      await sprox.waitForLog((l) =>
        l.msg === "request" && String(l.path).startsWith("/_token_") &&
        l.client_ip === "198.51.100.22"
      );
      const lines = sprox.logs.map((l) => JSON.stringify(l));
      for (const token of minted) {
        assert(
          !lines.some((l) => l.includes(token.slice(8, 40))),
          `token ${token.slice(0, 8)}… logged`,
        );
      }
      assert(!sprox.stderr().includes(minted[0].slice(8, 40)));
      const line = sprox.logs.find((l) =>
        l.msg === "request" && String(l.path).includes("film.mp4")
      )!;
      assertEquals(line.path, "/_token_[REDACTED]/proxy/stream/film.mp4");
      const headers = line.request_headers as Record<string, string>;
      assertEquals(headers.referer, `${base}/_token_[REDACTED]/proxy/stream`);
      const query = sprox.logs.find((l) =>
        l.msg === "request" && String(l.path).includes("token=")
      )!;
      assertEquals(query.path, "/proxy/stream?token=[REDACTED]");
    });
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("SIGNING_SECRET from the environment signs URLs; bad key material is never echoed", async () => {
  const origin = startOrigin(() =>
    new Response("SIGNED-BYTES", { headers: { "content-type": "video/mp4" } })
  );
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = `
routes:
  - id: main
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:9" }
rate_limit: { enabled: false }
direct_stream:
  api_password: "${PASSWORD}"
  public_ip: "not-an-address"
  allow_private_networks: true
  allowlist:
    - { domain: "media.test", schemes: [http], paths: ["/media/**"] }
  hosts:
    "media.test": ["127.0.0.1"]
`;
  const secret = btoa(String.fromCharCode(...new Uint8Array(32).map((_, i) => i * 7 + 1)));
  const bad = await startSprox(config, { env: { SIGNING_SECRET: secret } }).then(
    () => "started",
    (error) => String(error),
  );
  assert(bad.includes("'direct_stream.public_ip' must be an IP address"), bad);
  const sprox = await startSprox(config.replace('"not-an-address"', '"192.0.2.1"'), {
    env: { SIGNING_SECRET: secret },
  });
  try {
    const response = await fetch(`${base}/generate_url`, {
      method: "POST",
      body: JSON.stringify({
        mediaflow_proxy_url: base,
        destination_url: `http://media.test:${origin.port}/media/x.mp4`,
        api_password: PASSWORD,
        expiration: 60,
      }),
      signal: deadline(),
    });
    const { url } = await response.json();
    const token = /_token_([A-Za-z0-9_-]+)\//.exec(url)![1];
    assertEquals(bytesOfB64url(token)[0], 2, "signed (version 2) without an AES key");
    const played = await fetch(url, { signal: deadline() });
    assertEquals([played.status, await played.text()], [200, "SIGNED-BYTES"]);
    const bytes = bytesOfB64url(token);
    bytes[bytes.length - 1] ^= 1;
    const refused = await fetch(`${base}/_token_${b64urlOfBytes(bytes)}/proxy/stream`, {
      signal: deadline(),
    });
    assertEquals([refused.status, (await refused.json()).error], [403, "forbidden"]);
  } finally {
    await sprox.stop();
    await origin.close();
  }

  const dir = `${sprox.configPath.slice(0, sprox.configPath.lastIndexOf("/"))}`;
  const malformed = "zz-not-hex-but-secret-material";
  const aes = await runCli(["validate", "-c", dir], { env: { AES_KEY: malformed } });
  assertEquals(aes.code, 1);
  assert(aes.stderr.includes("must be 64 hex digits (32 bytes)"), aes.stderr);
  assert(!aes.stderr.includes(malformed), aes.stderr);
  const short = btoa("only-sixteen-byt");
  const signing = await runCli(["validate", "-c", dir], { env: { SIGNING_SECRET: short } });
  assertEquals(signing.code, 1);
  assert(
    signing.stderr.includes("'tokens.signing_secret' must hold at least 32 bytes"),
    signing.stderr,
  );
  assert(!signing.stderr.includes(short), signing.stderr);
});
