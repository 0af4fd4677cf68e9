/**
 * Credential-abuse blocking over real sockets: wrong passwords and bearer tokens from one
 * client IP (set with X-Forwarded-For from loopback, a trusted proxy by default) start a
 * block on every protected endpoint, even for the right credential; other clients are
 * unaffected; the block survives a reload with unchanged knobs; the counters and the warn
 * line are there and the credentials are not.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { deadline, freePort, startSprox } from "./_support/mod.ts";

const PASSWORD = "pw-Kd82-abuse-right";
const WRONG_PASSWORD = "pw-Kd82-abuse-wrong";
const BEARER = "tok-Hq51-abuse-right";
const WRONG_BEARER = "tok-Hq51-abuse-wrong";
const ATTACKER = "203.0.113.7";
const NEIGHBOUR = "203.0.113.8";

function config(port: number, cors = 600, blockSecs = 120): string {
  return `routes:
  - id: main
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:9" }
rate_limit: { enabled: false }
cors: { max_age_secs: ${cors} }
direct_stream:
  allowlist:
    - { domain: "media.test", schemes: [http], paths: ["/**"] }
  api_password: "${PASSWORD}"
auth_abuse:
  max_failures: 4
  window_secs: 60
  block_secs: ${blockSecs}
`;
}

async function get(
  port: number,
  path: string,
  client: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; retryAfter: string | null; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    headers: { "x-forwarded-for": client, ...headers },
    signal: deadline(),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    body: await response.text(),
  };
}

const RIGHT = { "x-sprox-api-password": PASSWORD, authorization: `Bearer ${BEARER}` };

Deno.test("wrong passwords and bearer tokens block the client IP on /proxy/* and /keys*, even with the right credential", async () => {
  const port = freePort();
  const sprox = await startSprox(config(port), { env: { SPROX_API_PASSWORD: BEARER } });
  try {
    const stream = "/proxy/stream?d=http%3A%2F%2Fmedia.test%2Fa.ts";
    // Four failures across two endpoints and both credential forms; missing ones do not count.
    const failures: [string, Record<string, string>][] = [
      [`${stream}&api_password=${WRONG_PASSWORD}`, { authorization: `Bearer ${BEARER}` }],
      ["/keys", { "x-sprox-api-password": WRONG_PASSWORD, authorization: `Bearer ${BEARER}` }],
      ["/keys", { "x-sprox-api-password": PASSWORD, authorization: `Bearer ${WRONG_BEARER}` }],
    ];
    for (const [path, headers] of failures) {
      assertEquals((await get(port, path, ATTACKER, headers)).status, 403, path);
    }
    assertEquals((await get(port, "/keys", ATTACKER)).status, 401, "missing: not a failure");
    assertEquals((await get(port, "/keys", ATTACKER, RIGHT)).status, 200, "3 failures: not yet");
    assertEquals(
      (await get(port, "/keys/clearkey", ATTACKER, { ...RIGHT, authorization: "Bearer x" }))
        .status,
      403,
      "the fourth failure is answered, then the block starts",
    );

    const blocked = await get(port, stream, ATTACKER, { ...RIGHT, "x-request-id": "abuse-1" });
    assertEquals(blocked.status, 429);
    assertEquals(blocked.retryAfter, "120");
    assertEquals(
      blocked.body,
      '{"error":"auth_blocked","message":"too many failed authentication attempts","request_id":"abuse-1"}',
    );
    assertEquals((await get(port, "/keys", ATTACKER, RIGHT)).status, 429);
    assertEquals((await get(port, "/keys", ATTACKER)).status, 429, "blocked before any check");
    assertEquals((await get(port, "/ip", ATTACKER)).status, 200, "unprotected paths still open");

    const neighbour = await get(port, "/keys", NEIGHBOUR, RIGHT);
    assertEquals(neighbour.status, 200);
    assertEquals(neighbour.body, '{"keys":[]}');

    const line = await sprox.waitForLog((l) =>
      l.msg === "client blocked after repeated authentication failures"
    );
    assertEquals(line.level, "warn");
    assertEquals([line.client_ip, line.failures, line.block_secs], [ATTACKER, 4, 120]);
    await sprox.waitForLog((l) => l.msg === "request" && l.status === 429);
    const refusal = sprox.logs.find((l) => l.msg === "request" && l.status === 429)!;
    assertEquals(refusal.outcome, "auth_blocked");
    const logged = JSON.stringify(sprox.logs) + sprox.stderr();
    for (const secret of [PASSWORD, WRONG_PASSWORD, BEARER, WRONG_BEARER]) {
      assert(!logged.includes(secret), `${secret} logged`);
    }

    const metrics = (await get(port, "/metrics", NEIGHBOUR)).body;
    assert(/^sprox_auth_failures_total 4$/m.test(metrics), metrics);
    assert(/^sprox_auth_blocked_total 1$/m.test(metrics), metrics);
    assert(/^sprox_request_errors_total\{reason="auth_blocked"\} 3$/m.test(metrics), metrics);
  } finally {
    await sprox.stop();
  }
});

Deno.test("a block survives a reload with unchanged auth_abuse knobs and ends when they change", async () => {
  const port = freePort();
  const sprox = await startSprox(config(port), { env: { SPROX_API_PASSWORD: BEARER } });
  try {
    const wrong = { ...RIGHT, "x-sprox-api-password": WRONG_PASSWORD };
    for (let i = 0; i < 4; i++) {
      assertEquals((await get(port, "/keys", ATTACKER, wrong)).status, 403);
    }
    assertEquals((await get(port, "/keys", ATTACKER, RIGHT)).status, 429);

    await Deno.writeTextFile(sprox.configPath, config(port, 60));
    sprox.kill("SIGHUP");
    await sprox.waitForLog((l) => l.msg === "config reloaded");
    assertEquals((await get(port, "/keys", ATTACKER, RIGHT)).status, 429, "kept across reload");

    await Deno.writeTextFile(sprox.configPath, config(port, 60, 90));
    sprox.kill("SIGHUP");
    const seen = sprox.logs.length;
    await sprox.waitForLog((l) => l.msg === "config reloaded" && sprox.logs.indexOf(l) >= seen);
    assertEquals((await get(port, "/keys", ATTACKER, RIGHT)).status, 200, "new knobs, new table");
  } finally {
    await sprox.stop();
  }
});

Deno.test("auth_abuse.enabled false never blocks", async () => {
  const port = freePort();
  const sprox = await startSprox(
    config(port).replace("auth_abuse:\n", "auth_abuse:\n  enabled: false\n"),
    { env: { SPROX_API_PASSWORD: BEARER } },
  );
  try {
    const wrong = { ...RIGHT, authorization: `Bearer ${WRONG_BEARER}` };
    for (let i = 0; i < 6; i++) {
      assertEquals((await get(port, "/keys", ATTACKER, wrong)).status, 403);
    }
    assertEquals((await get(port, "/keys", ATTACKER, RIGHT)).status, 200);
    const metrics = (await get(port, "/metrics", ATTACKER)).body;
    assert(/^sprox_auth_failures_total 0$/m.test(metrics), metrics);
  } finally {
    await sprox.stop();
  }
});
