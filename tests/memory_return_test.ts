/**
 * `server.memory_return`: after traffic, once no request has started for `quiet_ms`, sProx
 * collects its garbage and trims the C library's free memory, logs it and counts it; not while
 * requests keep starting, and never when disabled. `malloc_trim` is bound at start through FFI
 * scoped to the C library, and the FFI permission is gone before anything is served.
 */
import { strict as assert } from "node:assert";
import {
  deadline,
  freePort,
  REPO_ROOT,
  scratchDir,
  type SproxProcess,
  startSprox,
  withTimeout,
} from "./_support/mod.ts";
import { startOrigin } from "./_support/origins.ts";
import { LIBC_PATHS } from "../src/edge/memory_return.ts";

const BODY = "x".repeat(4096);
const RETURNED = "memory returned after traffic went quiet";

function config(port: number, origin: string, memoryReturn: string, workers = 1): string {
  return `routes:
  - id: main
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "${origin}" }
rate_limit: { enabled: false }
server:
  workers: ${workers}
  memory_return: ${memoryReturn}
`;
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: deadline() });
  return { status: response.status, body: await response.text() };
}

function returns(sprox: SproxProcess) {
  return sprox.logs.filter((l) => l.msg === RETURNED);
}

async function counter(port: number): Promise<string | undefined> {
  const { status, body } = await get(port, "/metrics");
  assert.equal(status, 200);
  return body.split("\n").find((l) => l.startsWith("sprox_memory_returns_total "));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("memory is given back once traffic goes quiet, not while requests keep starting", async () => {
  const origin = await startOrigin(() => new Response(BODY));
  const port = freePort();
  const sprox = await startSprox(
    config(port, origin.url, "{ quiet_ms: 1000, min_growth_mib: 0 }"),
  );
  try {
    // A request every 100 ms for 3 s: never a second without one.
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      assert.deepEqual(await get(port, "/seg.bin"), { status: 200, body: BODY });
      await sleep(100);
    }
    assert.equal(returns(sprox).length, 0, "no return while requests keep starting");
    const line = await sprox.waitForLog((l) => l.msg === RETURNED, 10_000);
    assert.equal(line.level, "info");
    assert.equal(line.malloc_trim, true, "glibc's malloc_trim is bound on this system");
    assert.equal(typeof line.rss_before_mib, "number");
    assert.equal(typeof line.rss_after_mib, "number");
    assert.ok((line.rss_after_mib as number) > 0);
    // The scrape right after the first return sees exactly one.
    assert.equal(await counter(port), "sprox_memory_returns_total 1");
    // The scrape was traffic too: with min_growth_mib 0, its quiet period brings a second.
    await sprox.waitForLog((l) => l.msg === RETURNED && l !== line, 10_000);
    assert.equal(returns(sprox).length, 2);
    assert.equal(sprox.logs.filter((l) => l.msg === "memory return failed").length, 0);
  } finally {
    await sprox.stop();
    await origin.close();
  }
});

Deno.test("memory_return: enabled false never returns; growth under min_growth_mib does not either", async () => {
  const origin = await startOrigin(() => new Response(BODY));
  const offPort = freePort();
  const smallPort = freePort();
  const off = await startSprox(config(offPort, origin.url, "{ enabled: false, quiet_ms: 200 }"));
  // 4 GiB of growth is never reached by a handful of requests.
  const small = await startSprox(
    config(smallPort, origin.url, "{ quiet_ms: 200, min_growth_mib: 4096 }"),
  );
  try {
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(await get(offPort, "/a"), { status: 200, body: BODY });
      assert.deepEqual(await get(smallPort, "/a"), { status: 200, body: BODY });
    }
    await sleep(1500);
    assert.equal(returns(off).length, 0);
    assert.equal(returns(small).length, 0);
    assert.equal(await counter(offPort), "sprox_memory_returns_total 0");
    assert.equal(await counter(smallPort), "sprox_memory_returns_total 0");
  } finally {
    await off.stop();
    await small.stop();
    await origin.close();
  }
});

Deno.test("memory_return settings are validated with their key path", async () => {
  const port = freePort();
  const dir = await scratchDir();
  await Deno.writeTextFile(
    `${dir}/routes.yaml`,
    config(port, "http://127.0.0.1:9", "{ quiet_ms: 10 }"),
  );
  const output = await withTimeout(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-q", "-P=sprox", `${REPO_ROOT}main.ts`, "validate", "-c", dir],
      cwd: REPO_ROOT,
      env: { NO_COLOR: "1" },
    }).output(),
    30_000,
    "sprox validate",
  );
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 1, text);
  assert.match(
    text,
    /routes\.yaml:9:30: error: 'server\.memory_return\.quiet_ms' must be >= 100: current value is 10\n/,
  );
});

Deno.test("bindMallocTrim() binds malloc_trim, then no library can be opened", async () => {
  const dir = await scratchDir();
  const script = `${dir}/bind.ts`;
  await Deno.writeTextFile(
    script,
    `import { bindMallocTrim } from "${REPO_ROOT}src/edge/memory_return.ts";
const trim = bindMallocTrim();
trim?.();
const states = ${JSON.stringify(LIBC_PATHS)}.map((path) =>
  Deno.permissions.querySync({ name: "ffi", path }).state
);
let reopened = "opened";
try {
  Deno.dlopen("${LIBC_PATHS[0]}", { getpid: { parameters: [], result: "i32" } });
} catch (error) {
  reopened = (error as Error).name;
}
console.log(JSON.stringify({ trim: typeof trim, states: [...new Set(states)], reopened }));
`,
  );
  const run = async (ffi: string[]) => {
    const output = await withTimeout(
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-q", "--no-prompt", ...ffi, script],
        env: { NO_COLOR: "1" },
      }).output(),
      30_000,
      "the FFI probe",
    );
    const err = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, err);
    return JSON.parse(new TextDecoder().decode(output.stdout));
  };
  // The permission set's own scope: bound, then revoked for every path.
  assert.deepEqual(await run([`--allow-ffi=${LIBC_PATHS.join(",")}`]), {
    trim: "function",
    states: ["prompt"],
    reopened: "NotCapable",
  });
  // Without the permission: nothing bound, nothing thrown.
  assert.deepEqual(await run([]), { trim: "object", states: ["prompt"], reopened: "NotCapable" });
});

Deno.test("memory return with worker isolates: every isolate collects, asking for the trim", async () => {
  const origin = await startOrigin(() => new Response(BODY));
  const port = freePort();
  const sprox = await startSprox(
    config(port, origin.url, "{ quiet_ms: 1000, min_growth_mib: 0 }", 2),
    { expectListeners: 2 },
  );
  try {
    // New connections until both isolates have answered (the kernel spreads connections).
    const servedBy = () =>
      new Set(sprox.logs.filter((l) => l.msg === "request").map((l) => l.worker));
    for (let i = 0; i < 200 && servedBy().size < 2; i++) {
      const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
      try {
        const response = await fetch(`http://127.0.0.1:${port}/seg.bin`, {
          client,
          signal: deadline(),
        });
        assert.deepEqual([response.status, await response.text()], [200, BODY]);
      } finally {
        client.close();
      }
      await sleep(20);
    }
    assert.deepEqual([...servedBy()].sort(), [0, 1]);
    const first = await sprox.waitForLog((l) => l.msg === RETURNED && l.worker === 0, 10_000);
    const worker = await sprox.waitForLog((l) => l.msg === RETURNED && l.worker === 1, 10_000);
    // The first isolate trims itself; a worker has the first isolate trim for it.
    assert.equal(first.malloc_trim, true);
    assert.equal(worker.malloc_trim, true);
    // One `/metrics` adds up every isolate's returns.
    assert.equal(await counter(port), "sprox_memory_returns_total 2");
    assert.equal(sprox.logs.filter((l) => l.msg === "memory return failed").length, 0);
  } finally {
    await sprox.stop();
    await origin.close();
  }
});
