/**
 * The web console on the admin listener: its assets come from the program itself (hls.js
 * included) without the token, the data endpoints it polls need the token, and in headless
 * Chromium the page signs in, lists the routes (one added by a SIGHUP too), charts traffic,
 * shows the recent warnings, builds a /proxy URL that its hls.js preview plays, runs the
 * speedtest, all without a console error. The screenshot is kept as var/admin-console.png.
 */
import assert from "node:assert/strict";
import { packageContent } from "../scripts/packagers/mod.ts";
import {
  deadline,
  freePort,
  REPO_ROOT,
  requirePeer,
  scratchDir,
  type SproxProcess,
  startSprox,
  withTimeout,
} from "./_support/mod.ts";
import { startMediaOrigin } from "./_support/media_origin.ts";
import { startChromium } from "./_support/devtools.ts";

const TOKEN = "Console-Token-Strong-ABCdef123456";
const ENV = { SPROX_ADMIN_TOKEN: TOKEN };
const AUTH = { authorization: `Bearer ${TOKEN}` };

function config(
  ports: { route: number; admin: number; late?: number },
  origin: string,
  dead: string,
): string {
  const late = ports.late === undefined ? "" : `
  - id: late
    listen: { host: 127.0.0.1, port: ${ports.late} }
    host_patterns: ["*"]
    upstream: { origin: "${dead}" }`;
  return `
rate_limit: { enabled: false }
admin:
  enabled: true
  listen: { host: 127.0.0.1, port: ${ports.admin} }
direct_stream:
  allow_private_networks: true
  allowlist:
    - domain: "127.0.0.1"
      schemes: ["http"]
routes:
  - id: vod
    listen: { host: 127.0.0.1, port: ${ports.route} }
    host_patterns: ["*"]
    upstream: { origin: "${origin}" }${late}
`;
}

async function get(url: string, headers: Record<string, string> = {}, method = "GET") {
  const response = await fetch(url, { method, headers, signal: deadline() });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/** A port nothing listens on: requests to it are refused. */
function deadOrigin(): string {
  return `http://127.0.0.1:${freePort()}`;
}

Deno.test("console assets need no token and are the program's own; stats and logs need it", async () => {
  const dir = await scratchDir();
  await Deno.writeTextFile(`${dir}/segment.bin`, "x".repeat(1000));
  const origin = startMediaOrigin(dir);
  const ports = { route: freePort(), admin: freePort(), late: freePort() };
  let sprox: SproxProcess | undefined;
  try {
    sprox = await startSprox(config(ports, origin.url, deadOrigin()), { env: ENV, dir });
    const admin = `http://127.0.0.1:${ports.admin}`;

    const page = await get(`${admin}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(page.body, /^<!doctype html>/);
    assert.ok(page.body.includes('<script src="/console/hls.min.js"></script>'));
    assert.match(page.headers.get("content-security-policy") ?? "", /^default-src 'self'; /);

    const hls = await get(`${admin}/console/hls.min.js`);
    assert.equal(hls.status, 200);
    assert.equal(hls.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(hls.body.length, 623912);
    assert.ok(hls.body.startsWith('!function e(t){var r,i;r=this,i=function(){"use strict";'));
    const script = await get(`${admin}/console/app.js`);
    assert.equal(script.status, 200);
    assert.ok(script.body.includes('headers.set("authorization", "Bearer " + sessionStorage'));
    const style = await get(`${admin}/console/style.css`);
    assert.equal(style.status, 200);
    assert.equal(style.headers.get("content-type"), "text/css; charset=utf-8");
    const head = await get(`${admin}/console/app.js`, {}, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.body, "");

    const post = await get(`${admin}/`, {}, "POST");
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    const missing = await get(`${admin}/console/missing.js`);
    assert.equal(missing.status, 404);
    assert.deepEqual(JSON.parse(missing.body), { error: "not_found", message: "not found" });

    for (const path of ["/admin/stats", "/admin/logs"]) {
      const anonymous = await get(`${admin}${path}`);
      assert.equal(anonymous.status, 401, path);
      assert.equal(anonymous.headers.get("www-authenticate"), 'Bearer realm="sprox-admin"');
      assert.equal((await get(`${admin}${path}`, { authorization: "Bearer wrong" })).status, 403);
      const wrongMethod = await get(`${admin}${path}`, AUTH, "POST");
      assert.equal(wrongMethod.status, 405, path);
      assert.equal(wrongMethod.headers.get("allow"), "GET");
    }

    const read = async () => {
      const answer = await get(`${admin}/admin/stats`, AUTH);
      assert.equal(answer.status, 200);
      assert.equal(answer.headers.get("cache-control"), "no-store");
      return JSON.parse(answer.body);
    };
    const before = await read();
    assert.deepEqual(Object.keys(before).sort(), ["at", "bytes", "cache", "requests"]);
    const segment = await get(`http://127.0.0.1:${ports.route}/content/segment.bin`);
    assert.equal(segment.status, 200);
    assert.equal(segment.body.length, 1000);
    const failed = await get(`http://127.0.0.1:${ports.late}/x`);
    assert.equal(failed.status, 502);
    const after = await read();
    assert.ok(after.at >= before.at);
    assert.equal((after.requests["2xx"] ?? 0) - (before.requests["2xx"] ?? 0), 1);
    assert.equal((after.requests["5xx"] ?? 0) - (before.requests["5xx"] ?? 0), 1);
    // Error bodies are streamed bytes of the route too.
    const streamed = (after.bytes.route ?? 0) - (before.bytes.route ?? 0);
    assert.equal(streamed, 1000 + failed.body.length);

    const logs = await get(`${admin}/admin/logs`, AUTH);
    assert.equal(logs.status, 200);
    const lines = JSON.parse(logs.body).lines as Record<string, unknown>[];
    assert.ok(lines.every((l) => l.level === "warn" || l.level === "error"), logs.body);
    const refused = lines.filter((l) => l.msg === "upstream request failed");
    assert.equal(refused.length, 1, logs.body);
    assert.equal(refused[0].level, "warn");
    assert.equal(refused[0].reason, "refused");
    // Info lines (every admin request logs one) are not kept.
    assert.ok(!lines.some((l) => l.msg === "admin request"));
  } finally {
    await sprox?.stop();
    await withTimeout(origin.close(), 10_000, "the origin to shut down");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test({
  name: "the console in Chromium: routes (one added by SIGHUP), charts, logs, preview, speedtest",
  async fn() {
    // A missing browser fails the run (CI installs it); it is never a silent skip.
    await requirePeer("chromium");
    const dir = await scratchDir();
    await packageContent("hls-ts", `${dir}/media/hls`, 6);
    const origin = startMediaOrigin(`${dir}/media`);
    const ports = { route: freePort(), admin: freePort() };
    const dead = deadOrigin();
    let sprox: SproxProcess | undefined;
    let browser: Awaited<ReturnType<typeof startChromium>> | undefined;
    try {
      sprox = await startSprox(config(ports, origin.url, dead), { env: ENV, dir });
      browser = await startChromium(dir, ["--disable-quic", "--window-size=1280,2400"]);
      const b = browser;
      const admin = `http://127.0.0.1:${ports.admin}/`;
      assert.equal(await b.open(admin, "document.readyState", /^complete$/, 10_000), "complete");
      const shown = (id: string) =>
        b.evaluate(`getComputedStyle(document.getElementById("${id}")).display !== "none"`);
      assert.equal(await shown("console"), false);
      assert.equal(await shown("login"), true);

      // Sign in: the token is kept for the tab and the panels fill.
      await b.evaluate(`document.getElementById("token").value = ${JSON.stringify(TOKEN)};
        document.getElementById("login").requestSubmit(); 1`);
      assert.equal(await b.evaluate(`sessionStorage.getItem("sprox-admin-token")`), TOKEN);
      assert.equal(await shown("console"), true);
      assert.equal(await shown("login"), false);
      const routeIds = `[...document.querySelectorAll("#routes tr")].map((r) => r.dataset.route)
        .join(",")`;
      assert.equal(await b.waitFor(routeIds, /^vod$/, 10_000), "vod");
      assert.equal(
        await b.evaluate(`document.querySelector('#routes tr[data-route="vod"]').textContent`),
        `vod127.0.0.1:${ports.route}*yes${origin.url} healthynone`,
      );
      assert.equal(
        await b.evaluate(`document.getElementById("base-url").value`),
        `http://127.0.0.1:${ports.route}`,
      );

      // A route added to the file and a SIGHUP: the page lists it within a few refreshes.
      const late = freePort();
      await Deno.writeTextFile(sprox.configPath, config({ ...ports, late }, origin.url, dead));
      sprox.kill("SIGHUP");
      await sprox.waitForLog((l) => l.msg === "config reloaded", 15_000);
      assert.equal(await b.waitFor(routeIds, /^vod,late$/, 10_000), "vod,late");

      // A request the late route's origin refuses: its warning reaches the log panel.
      assert.equal((await get(`http://127.0.0.1:${late}/x`)).status, 502);
      const logText = `document.getElementById("logs").textContent`;
      assert.match(
        await b.waitFor(logText, /upstream request failed/, 10_000),
        /warn upstream request failed \{.*"reason":"refused"/,
      );

      // Build a plain /proxy URL with a header row and play it in the preview.
      const master = `${origin.url}/content/hls/master.m3u8`;
      await b.evaluate(`
        document.getElementById("destination").value = ${JSON.stringify(master)};
        document.querySelector("#headers .header-name").value = "Referer";
        document.querySelector("#headers .header-value").value = "https://player.example/";
        document.getElementById("builder").requestSubmit(); 1`);
      const expected = `http://127.0.0.1:${ports.route}/proxy/hls/manifest.m3u8?d=` +
        `${encodeURIComponent(master)}&h_referer=https%3A%2F%2Fplayer.example%2F`;
      assert.equal(
        await b.waitFor(`document.getElementById("built-url").value`, /^http/, 5_000),
        expected,
      );
      await b.evaluate(`document.getElementById("play").click(); 1`);
      const time = await b.waitFor(
        `document.getElementById("preview").currentTime.toFixed(2)`,
        /^([1-9]|\d{2,})\./,
        20_000,
      );
      assert.ok(Number(time) >= 1, `preview stuck at ${time}s`);
      assert.equal(
        await b.evaluate(`document.getElementById("preview-status").textContent`),
        "playing",
      );

      // The charts draw what the preview streamed.
      const bandwidth = await b.waitFor(
        `document.getElementById("chart-bandwidth").dataset.latest`,
        /^(?!0$)\d/,
        10_000,
      );
      assert.ok(Number(bandwidth) > 0, `bandwidth ${bandwidth}`);
      assert.ok(
        Number(await b.evaluate(`document.getElementById("chart-requests").dataset.points`)) >= 1,
      );

      // The speedtest downloads the whole payload and draws its throughput.
      await b.evaluate(`document.getElementById("speedtest").click(); 1`);
      assert.match(
        await b.waitFor(
          `document.getElementById("speedtest-status").textContent`,
          /^(done|failed)/,
          20_000,
        ),
        /^done: 8388608 bytes, [\d.]+ Mbit\/s$/,
      );
      assert.ok(
        Number(await b.evaluate(`document.getElementById("chart-speedtest").dataset.points`)) >= 1,
      );

      assert.deepEqual(b.problems, []);
      const png = await b.screenshot();
      assert.deepEqual([...png.slice(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
      await Deno.writeFile(`${REPO_ROOT}var/admin-console.png`, png);
    } finally {
      await browser?.close();
      await sprox?.stop();
      await withTimeout(origin.close(), 10_000, "the media origin to shut down");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
