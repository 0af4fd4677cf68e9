/**
 * Lossless certificate rotation: 50 rotations of an HTTPS listener's certificate while
 * curl downloads over HTTP/1.1 and HTTP/2 span them, curl opens new connections and
 * `openssl s_client` handshakes keep arriving. Every download completes byte-complete,
 * every handshake gets a certificate, and the request log matches what clients received.
 * @module
 */
import assert from "node:assert/strict";
import { freePort, scratchDir, startSprox } from "./_support/mod.ts";
import { makeTestPki, patternStream, startOrigin } from "./_support/origins.ts";
import { withTimeout } from "./_support/timeout.ts";

const ROTATIONS = 50;
const DOWNLOAD_BYTES = 3 * 1024 * 1024;

async function run(
  command: string,
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(command, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await withTimeout(child.output(), 60_000, `${command} to finish`);
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("50 certificate rotations under load lose no download and no handshake", async () => {
  const dir = await scratchDir();
  const pkis = [
    await makeTestPki(dir, "one", "one.test"),
    await makeTestPki(dir, "two", "two.test"),
  ];
  const certPath = `${dir}/listener.pem`;
  const keyPath = `${dir}/listener.key`;
  await Deno.writeTextFile(certPath, pkis[0].cert);
  await Deno.writeTextFile(keyPath, pkis[0].key);
  const origin = await startOrigin((request) => {
    if (new URL(request.url).pathname === "/big") {
      return new Response(patternStream(DOWNLOAD_BYTES), {
        headers: { "content-length": String(DOWNLOAD_BYTES) },
      });
    }
    return new Response("hello");
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
    host_patterns: ["*"]
    upstream: { origin: "${origin.url}", read_timeout_ms: 30000, request_timeout_ms: 60000 }
`,
    { dir },
  );
  // Lossless swaps need net.ipv4.tcp_migrate_req=1 (docs/routing.md): a host setting, made
  // here for the test's duration (as root, like CI) and restored after.
  const sysctl = "/proc/sys/net/ipv4/tcp_migrate_req";
  const migrateBefore = Deno.readTextFileSync(sysctl).trim();
  if (migrateBefore !== "1") {
    try {
      Deno.writeTextFileSync(sysctl, "1\n");
    } catch (error) {
      throw new Error(`cannot set ${sysctl} (needs root): ${(error as Error).message}`);
    }
  }
  const base = `https://127.0.0.1:${port}`;
  let rotating = true;
  const failures: string[] = [];
  const counts = { downloads: 0, requests: 0, handshakes: 0 };

  // Downloads paced so that each spans several rotations.
  const downloader = async (http: string) => {
    while (rotating) {
      const r = await run("curl", [
        "-sS",
        "-k",
        http,
        "--limit-rate",
        "3M",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{size_download}",
        `${base}/big`,
      ]);
      counts.downloads++;
      if (r.code !== 0 || r.stdout !== `200 ${DOWNLOAD_BYTES}`) {
        failures.push(`download ${http}: exit ${r.code} ${r.stdout} ${r.stderr.trim()}`);
      }
    }
  };
  const requester = async () => {
    while (rotating) {
      const r = await run("curl", ["-sS", "-k", "--http2", `${base}/small`]);
      counts.requests++;
      if (r.code !== 0 || r.stdout !== "hello") {
        failures.push(`request: exit ${r.code} ${r.stdout} ${r.stderr.trim()}`);
      }
    }
  };
  const handshaker = async () => {
    while (rotating) {
      const r = await run("openssl", [
        "s_client",
        "-connect",
        `127.0.0.1:${port}`,
        "-servername",
        "edge.test",
      ], "");
      counts.handshakes++;
      if (!/subject=CN\s*=\s*(one|two)\.test/.test(r.stdout)) {
        failures.push(`handshake: exit ${r.code} ${r.stderr.trim().slice(0, 200)}`);
      }
    }
  };
  const load = Promise.all([
    downloader("--http1.1"),
    downloader("--http1.1"),
    downloader("--http2"),
    downloader("--http2"),
    requester(),
    requester(),
    handshaker(),
  ]);
  try {
    for (let i = 1; i <= ROTATIONS; i++) {
      const next = pkis[i % 2];
      const before = sprox.logs.filter((l) => l.msg === "certificate reloaded").length;
      // Renewal tools replace by rename: write aside, then move into place.
      await Deno.writeTextFile(`${keyPath}.new`, next.key);
      await Deno.writeTextFile(`${certPath}.new`, next.cert);
      await Deno.rename(`${keyPath}.new`, keyPath);
      await Deno.rename(`${certPath}.new`, certPath);
      await sprox.waitForLog(
        (l) =>
          l.msg === "certificate reloaded" &&
          sprox.logs.filter((x) => x.msg === "certificate reloaded").length > before,
        10_000,
      );
    }
  } finally {
    rotating = false;
    await withTimeout(load, 90_000, "client loops to finish");
  }
  try {
    assert.deepEqual(failures, []);
    assert.ok(counts.downloads >= 8, `only ${counts.downloads} downloads ran`);
    assert.ok(counts.requests >= 50, `only ${counts.requests} requests ran`);
    assert.ok(counts.handshakes >= 30, `only ${counts.handshakes} handshakes ran`);
    // The log tells the same story: every /big line is a complete 200.
    await withTimeout(
      (async () => {
        while (sprox.logs.filter((l) => l.path === "/big").length < counts.downloads) {
          await new Promise((r) => setTimeout(r, 50));
        }
      })(),
      5_000,
      "a request log line per download",
    );
    const bigLines = sprox.logs.filter((l) => l.msg === "request" && l.path === "/big");
    assert.equal(bigLines.length, counts.downloads);
    for (const line of bigLines) {
      assert.equal(line.status, 200);
      assert.equal(line.bytes, DOWNLOAD_BYTES);
      assert.equal(line.outcome, "ok");
    }
  } finally {
    if (migrateBefore !== "1") Deno.writeTextFileSync(sysctl, `${migrateBefore}\n`);
    await sprox.stop();
    await origin.close();
  }
});
