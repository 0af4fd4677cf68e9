/**
 * The operations items: systemd readiness and watchdog notifications (abstract and path
 * sockets), `sprox healthcheck` naming the cause and following the configured port, HSTS on
 * TLS listeners only, password-strength warnings from validate, and `deno task start`
 * honouring SPROX_CONFIG without Deno's permission-set warning.
 */
import assert from "node:assert/strict";
import {
  deadline,
  freePort,
  REPO_ROOT,
  runCli,
  scratchDir,
  selfSignedCertificate,
  startSprox,
  withTimeout,
} from "./_support/mod.ts";
import { startOrigin } from "./_support/origins.ts";

/** A unix datagram receiver standing in for systemd's notification socket. */
function notifyReceiver(path: string) {
  const socket = Deno.listenDatagram({ transport: "unixpacket", path });
  const messages: string[] = [];
  const waiters: { test: (m: string) => boolean; resolve: () => void }[] = [];
  const pump = (async () => {
    try {
      for await (const [data] of socket) {
        const message = new TextDecoder().decode(data);
        messages.push(message);
        for (const w of [...waiters]) {
          if (w.test(message)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
        }
      }
    } catch {
      // Closed.
    }
  })();
  return {
    messages,
    waitFor(test: (m: string) => boolean, what: string): Promise<void> {
      if (messages.some(test)) return Promise.resolve();
      const { promise, resolve } = Promise.withResolvers<void>();
      waiters.push({ test, resolve });
      return withTimeout(promise, 10_000, `notification: ${what}`);
    },
    async close() {
      socket.close();
      await pump;
    },
  };
}

const ROUTE = (port: number, origin = "http://127.0.0.1:9") => `
routes:
  - id: ops
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin}" }
`;

Deno.test("systemd: READY=1 once listening, WATCHDOG=1 at half WATCHDOG_USEC, STATUS on reload, STOPPING=1", async () => {
  const name = `sprox-test-${crypto.randomUUID()}`;
  const receiver = notifyReceiver(`\0${name}`);
  const port = freePort();
  const sprox = await startSprox(ROUTE(port), {
    env: { NOTIFY_SOCKET: `@${name}`, WATCHDOG_USEC: "200000" },
  });
  try {
    await receiver.waitFor((m) => m.startsWith("READY=1"), "READY=1");
    const ready = receiver.messages.find((m) => m.startsWith("READY=1"))!;
    const started = await sprox.waitForLog((l) => l.msg === "sprox started");
    assert.equal(
      ready,
      `READY=1\nSTATUS=serving 1 listener(s) with 1 isolate(s), config ${started.hash}\nMAINPID=${sprox.pid}`,
    );
    // The listener answers by the time READY=1 is sent.
    const health = await fetch(`http://127.0.0.1:${port}/health`, { signal: deadline() });
    assert.equal(health.status, 200);
    await health.body?.cancel();

    const before = receiver.messages.filter((m) => m === "WATCHDOG=1").length;
    await new Promise((r) => setTimeout(r, 550));
    const pings = receiver.messages.filter((m) => m === "WATCHDOG=1").length - before;
    assert.ok(pings >= 3 && pings <= 7, `about one ping per 100 ms: ${pings} in 550 ms`);

    await Deno.writeTextFile(sprox.configPath, ROUTE(port).replace("id: ops", "id: ops2"));
    sprox.kill("SIGHUP");
    const reloaded = await sprox.waitForLog((l) => l.msg === "config reloaded");
    await receiver.waitFor(
      (m) => m === `STATUS=serving 1 listener(s) with 1 isolate(s), config ${reloaded.hash}`,
      "STATUS after the reload",
    );
    assert.notEqual(reloaded.hash, started.hash);

    assert.equal(await sprox.stop(), 0);
    await receiver.waitFor((m) => m === "STOPPING=1\nSTATUS=draining", "STOPPING=1");
    const stoppedAt = receiver.messages.indexOf("STOPPING=1\nSTATUS=draining");
    assert.ok(
      !receiver.messages.slice(stoppedAt + 1).includes("WATCHDOG=1"),
      "no watchdog ping after STOPPING=1",
    );
  } finally {
    await sprox.stop().catch(() => {});
    await receiver.close();
  }
});

Deno.test("systemd: a socket file inside the sandbox's write permission works too; no WATCHDOG_USEC, no pings", async () => {
  const dir = await scratchDir();
  const path = `${dir}/notify.sock`;
  const receiver = notifyReceiver(path);
  const sprox = await startSprox(ROUTE(freePort()), { env: { NOTIFY_SOCKET: path } });
  try {
    await receiver.waitFor((m) => m.startsWith("READY=1\nSTATUS=serving 1 listener(s)"), "READY=1");
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!receiver.messages.includes("WATCHDOG=1"));
    assert.ok(!sprox.logs.some((l) => l.msg === "cannot notify systemd"));
  } finally {
    await sprox.stop();
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("systemd: a socket outside the sandbox is logged once, and serving goes on", async () => {
  const port = freePort();
  const sprox = await startSprox(ROUTE(port), {
    env: { NOTIFY_SOCKET: "/tmp/sprox-not-allowed.sock", WATCHDOG_USEC: "100000" },
  });
  try {
    const line = await sprox.waitForLog((l) => l.msg === "cannot notify systemd");
    assert.match(String(line.hint), /\/run\/systemd\/notify/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sprox.logs.filter((l) => l.msg === "cannot notify systemd").length, 1);
    const health = await fetch(`http://127.0.0.1:${port}/health`, { signal: deadline() });
    assert.equal(health.status, 200);
    await health.body?.cancel();
  } finally {
    await sprox.stop();
  }
});

Deno.test("healthcheck names the cause and, without --url, probes the configured listener", async () => {
  const port = freePort();
  const dir = await scratchDir();
  // A route whose only origin fails its checks: /ready is 503 while /health is 200.
  await Deno.writeTextFile(
    `${dir}/routes.yaml`,
    `
routes:
  - id: down
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream:
      origin: "http://127.0.0.1:${freePort()}"
      health_check: { enabled: true, path: /, interval_ms: 50, timeout_ms: 50, unhealthy_threshold: 1 }
`,
  );
  try {
    const refused = await runCli(["healthcheck", "-c", dir, "--timeout-ms", "2000"]);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr.trim(),
      `unhealthy: http://127.0.0.1:${port}/health: connection refused: nothing listens on ` +
        `127.0.0.1:${port} (is sprox running, with a listener on this port?)`,
    );
    const unresolved = await runCli(["healthcheck", "--url", "http://sprox.invalid/health"]);
    assert.equal(unresolved.code, 1);
    assert.equal(
      unresolved.stderr.trim(),
      'unhealthy: http://sprox.invalid/health: the host name "sprox.invalid" could not be resolved',
    );

    const sprox = await startSprox(await Deno.readTextFile(`${dir}/routes.yaml`));
    try {
      // SPROX_CONFIG names the configuration, as in the container image.
      const ok = await runCli(["healthcheck"], { env: { SPROX_CONFIG: dir } });
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout.trim(), `healthy: http://127.0.0.1:${port}/health answered 200`);
      await sprox.waitForLog((l) => l.msg === "origin unhealthy (active checks)");
      const ready = await runCli(["healthcheck", "--url", `http://127.0.0.1:${port}/ready`]);
      assert.equal(ready.code, 1);
      assert.equal(
        ready.stderr.trim(),
        `unhealthy: http://127.0.0.1:${port}/ready answered 503 ` +
          "(not_ready: no_healthy_origin: routes: down)",
      );
    } finally {
      await sprox.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HSTS: sent on every response of a TLS listener that enables it, refused on a plain one", async () => {
  const dir = await scratchDir();
  const origin = await startOrigin(() => new Response("origin"));
  const { cert, key } = await selfSignedCertificate(dir, { leaf: true });
  const tlsPort = freePort();
  const plainPort = freePort();
  const sprox = await startSprox(`
rate_limit: { enabled: false }
routes:
  - id: secure
    listen:
      host: 127.0.0.1
      port: ${tlsPort}
      tls:
        enabled: true
        certificate_path: "${cert}"
        private_key_path: "${key}"
        hsts: { enabled: true, max_age_secs: 600, include_subdomains: true }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}" }
  - id: plain
    listen: { host: 127.0.0.1, port: ${plainPort} }
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}" }
`);
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(cert)] });
  try {
    for (const path of ["/seg.ts", "/health", "/no-such-endpoint?x=1"]) {
      const response = await fetch(`https://127.0.0.1:${tlsPort}${path}`, {
        client,
        signal: deadline(),
      });
      await response.body?.cancel();
      assert.equal(
        response.headers.get("strict-transport-security"),
        "max-age=600; includeSubDomains",
        path,
      );
    }
    const plain = await fetch(`http://127.0.0.1:${plainPort}/seg.ts`, { signal: deadline() });
    assert.equal(await plain.text(), "origin");
    assert.equal(plain.headers.get("strict-transport-security"), null);
  } finally {
    client.close();
    await sprox.stop();
    await origin.close();
  }
  await Deno.writeTextFile(
    `${dir}/routes.yaml`,
    `routes:
  - id: plain
    listen:
      port: ${plainPort}
      tls: { hsts: { enabled: true, preload: true } }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:1" }
`,
  );
  const invalid = await runCli(["validate", "-c", dir]);
  assert.equal(invalid.code, 1);
  assert.match(
    invalid.stderr,
    /routes\.yaml:5:\d+: error: 'routes\[0\]\.listen\.tls\.hsts\.enabled' needs tls\.enabled: HSTS is sent over HTTPS only/,
  );
  assert.match(
    invalid.stderr,
    /warning: 'routes\[0\]\.listen\.tls\.hsts\.preload' needs include_subdomains and max_age_secs >= 31536000/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("validate warns about weak credentials without printing them", async () => {
  const dir = await scratchDir();
  await Deno.writeTextFile(
    `${dir}/routes.yaml`,
    `${ROUTE(freePort())}
direct_stream:
  api_password: "alllowercasebutlongenough"
  allowlist: [{ domain: "media.example" }]
`,
  );
  try {
    const weak = await runCli(["validate", "-c", dir], { env: { API_PASSWORD: "short" } });
    assert.equal(weak.code, 0, weak.stderr);
    const output = weak.stdout + weak.stderr;
    assert.match(
      output,
      /env API_PASSWORD: warning: 'auth\.bearer_token' is weak: 5 characters, at least 16 expected; upper- and lower-case letters expected/,
    );
    assert.match(
      output,
      /routes\.yaml:9:\d+: warning: 'direct_stream\.api_password' is weak: upper- and lower-case letters expected/,
    );
    assert.doesNotMatch(output, /\bshort\b/, "the value itself is never printed");
    assert.ok(!output.includes("alllowercasebutlongenough"));

    const strong = await runCli(["validate", "-c", dir], {
      env: { SPROX_API_PASSWORD: "Correct-Horse-Battery-Staple" },
    });
    assert.equal(strong.code, 0, strong.stderr);
    assert.doesNotMatch(strong.stdout + strong.stderr, /auth\.bearer_token' is weak/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task start serves SPROX_CONFIG, without the permission-set warning", async () => {
  const dir = await scratchDir();
  const port = freePort();
  await Deno.writeTextFile(`${dir}/routes.yaml`, ROUTE(port));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "start"],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", SPROX_CONFIG: dir },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const decoder = new TextDecoder();
  let stdout = "";
  const reader = child.stdout.getReader();
  try {
    const started = await withTimeout(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) throw new Error(`exited early: ${stdout}`);
          stdout += decoder.decode(value, { stream: true });
          const line = stdout.split("\n").find((l) => l.includes('"msg":"sprox started"'));
          if (line) return JSON.parse(line);
        }
      })(),
      30_000,
      "deno task start to serve",
    );
    assert.equal(started.config, `${dir}/routes.yaml`);
    const health = await fetch(`http://127.0.0.1:${port}/health`, { signal: deadline() });
    assert.equal(health.status, 200);
    await health.body?.cancel();
    Deno.kill(started.pid, "SIGTERM");
    const status = await withTimeout(child.status, 20_000, "deno task start to stop");
    assert.equal(status.code, 0);
    const stderr = decoder.decode(await new Response(child.stderr).arrayBuffer());
    assert.doesNotMatch(stderr, /experimental feature/);
  } finally {
    reader.releaseLock();
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited.
    }
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
