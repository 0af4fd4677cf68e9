import assert from "node:assert/strict";
import { configureLogging, flushLogs } from "../telemetry/mod.ts";
import type { ConnectionState } from "../edge/connection.ts";
import type { BodyTally, RequestContext } from "./context.ts";
import type { Plan } from "./plan.ts";
import { recordRequest, settleOutcome } from "./record.ts";

function context(
  fields: { outcome?: string; aborted?: boolean; method?: string } = {},
): RequestContext {
  const controller = new AbortController();
  if (fields.aborted) controller.abort();
  return {
    signal: controller.signal,
    outcome: fields.outcome,
    logMethod: fields.method ?? "GET",
  } as unknown as RequestContext;
}

const open: ConnectionState = { closedBy: null };
const cut: ConnectionState = { closedBy: "shutdown" };
const ok = new Response("body", { status: 200 });

function tally(bytes: number, flags: Partial<BodyTally> = {}): BodyTally {
  return { bytes, cancelled: false, ...flags };
}

Deno.test("settleOutcome() says ok for a response delivered whole", () => {
  const end = settleOutcome(context(), ok, tally(4), {
    completedOk: true,
    connection: open,
    declared: 4,
  });
  assert.deepEqual(end, { status: 200, outcome: "ok", delivered: true });
});

Deno.test("settleOutcome() logs a client that went away as 499 client_closed", () => {
  const expected = { status: 499, outcome: "client_closed", delivered: false };
  const options = { completedOk: true, connection: open, declared: 4 };
  assert.deepEqual(settleOutcome(context(), ok, tally(2, { cancelled: true }), options), expected);
  assert.deepEqual(settleOutcome(context({ aborted: true }), ok, tally(4), options), expected);
  assert.deepEqual(
    settleOutcome(context(), ok, tally(4), { ...options, completedOk: false }),
    expected,
  );
});

Deno.test("settleOutcome() calls a body short of its length truncated, with its status", () => {
  const options = { completedOk: true, connection: open, declared: 10 };
  assert.deepEqual(settleOutcome(context(), ok, tally(9), options), {
    status: 200,
    outcome: "truncated",
    delivered: false,
  });
  assert.equal(settleOutcome(context(), ok, tally(10), options).outcome, "ok");
  assert.equal(
    settleOutcome(context(), ok, tally(3, { failed: true }), { ...options, declared: undefined })
      .outcome,
    "truncated",
    "a failed body of unknown length is truncated too",
  );
});

Deno.test("settleOutcome() keeps a recorded failure, and its status", () => {
  const failed = new Response(null, { status: 404 });
  const end = settleOutcome(context({ outcome: "no_route" }), failed, tally(0), {
    completedOk: true,
    connection: open,
  });
  assert.deepEqual(end, { status: 404, outcome: "no_route", delivered: true });
  const midBody = settleOutcome(context({ outcome: "upstream_read_timeout" }), ok, tally(5), {
    completedOk: true,
    connection: open,
    declared: 10,
  });
  assert.deepEqual(midBody, { status: 200, outcome: "upstream_read_timeout", delivered: false });
});

Deno.test("settleOutcome() names a connection the server closed at shutdown", () => {
  assert.deepEqual(
    settleOutcome(context(), ok, tally(5, { cancelled: true }), {
      completedOk: true,
      connection: cut,
      declared: 10,
    }),
    { status: 200, outcome: "shutdown", delivered: false },
  );
  // Nothing was sent: the abort the handler saw was the server's.
  assert.deepEqual(
    settleOutcome(
      context({ outcome: "client_closed", aborted: true }),
      new Response(null, { status: 499 }),
      tally(0),
      { completedOk: true, connection: cut },
    ),
    { status: 503, outcome: "shutdown", delivered: false },
  );
  // A response delivered whole before the close is ok.
  assert.equal(
    settleOutcome(context(), ok, tally(10), { completedOk: true, connection: cut, declared: 10 })
      .outcome,
    "ok",
  );
});

Deno.test("recordRequest() writes the line from what was captured, never from the closed request", async () => {
  let closed = false;
  const request = new Proxy(new Request("http://sprox.test/a"), {
    get(target, property) {
      // A request the runtime has closed (after an upgrade) throws on every read.
      if (closed) throw new TypeError("Request closed");
      return Reflect.get(target, property);
    },
  });
  const ctx = {
    request,
    url: new URL("http://sprox.test/a?token=secret"),
    plan: {
      config: {
        telemetry: { enabled: false },
        sensitive_logging: { redact_sensitive_queries: true },
      },
    } as unknown as Plan,
    requestId: "rec-1",
    clientIp: "192.0.2.1",
    startedAt: performance.now(),
    signal: new AbortController().signal,
    logMethod: "GET",
    logHeaders: { host: "sprox.test" },
    route: "health",
  } as unknown as RequestContext;
  const written: string[] = [];
  const stdout = Deno.stdout.writeSync;
  Deno.stdout.writeSync = (bytes: Uint8Array) => {
    written.push(new TextDecoder().decode(bytes));
    return bytes.byteLength;
  };
  configureLogging({ level: "debug" });
  try {
    const completed = Promise.withResolvers<void>();
    recordRequest(ctx, new Response("ok"), tally(2), {
      completed: completed.promise,
      connection: open,
    });
    closed = true;
    completed.resolve();
    await new Promise((resolve) => setTimeout(resolve, 0));
    flushLogs();
  } finally {
    Deno.stdout.writeSync = stdout;
    configureLogging({ level: "info" });
  }
  const lines = written.join("").trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 1, JSON.stringify(lines));
  const [line] = lines;
  assert.equal(line.msg, "request");
  assert.equal(line.request_id, "rec-1");
  assert.equal(line.path, "/a?token=[REDACTED]");
  assert.equal(line.outcome, "ok");
  assert.equal(line.status, 200);
  assert.deepEqual(line.request_headers, { host: "sprox.test" });
});

Deno.test("recordRequest() survives a rejected completion and logs the client as gone", async () => {
  const ctx = {
    url: new URL("http://sprox.test/b"),
    plan: {
      config: {
        telemetry: { enabled: false },
        sensitive_logging: { redact_sensitive_queries: true },
      },
    } as unknown as Plan,
    requestId: "rec-2",
    clientIp: "192.0.2.1",
    startedAt: performance.now(),
    signal: new AbortController().signal,
    logMethod: "GET",
    route: "health",
  } as unknown as RequestContext;
  const written: string[] = [];
  const stdout = Deno.stdout.writeSync;
  Deno.stdout.writeSync = (bytes: Uint8Array) => {
    written.push(new TextDecoder().decode(bytes));
    return bytes.byteLength;
  };
  try {
    recordRequest(ctx, new Response("ok"), tally(0), {
      completed: Promise.reject(new Error("connection reset")),
      connection: open,
    });
    await new Promise((resolve) => setTimeout(resolve, 0));
    flushLogs();
  } finally {
    Deno.stdout.writeSync = stdout;
  }
  const line = JSON.parse(written.join("").trim());
  assert.equal(line.status, 499);
  assert.equal(line.outcome, "client_closed");
  assert.equal(line.level, "warn");
});
