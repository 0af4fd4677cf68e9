/**
 * The module a worker isolate runs (`server.workers` > 1): sProx's applications served on
 * the first isolate's ports, with logs, `/metrics`, rate-limit buckets and runtime keys
 * going through the first isolate.
 * @module
 */
import { type Plan, proxyApps } from "../app/mod.ts";
import type { ProxyServer } from "../edge/mod.ts";
import { runWorkerIsolate } from "../edge/workers/mod.ts";
import { type RateLimitDecision, shareBucketsThrough } from "../state/mod.ts";
import {
  type MetricsSnapshot,
  sendLogsTo,
  snapshotMetrics,
  tagLogLines,
  useSnapshotSource,
} from "../telemetry/mod.ts";
import type { KeyNote } from "./fleet.ts";
import { applyTelemetry } from "./reload.ts";

let current: ProxyServer<Plan> | undefined;

runWorkerIsolate(proxyApps, {
  setup(channel, index) {
    tagLogLines(index);
    sendLogsTo((text) => channel.notify("log", text));
    // `/metrics` here adds up every isolate's snapshot, gathered by the first isolate.
    useSnapshotSource(() => channel.request<MetricsSnapshot[]>("snapshots", null, 10_000));
    channel.handle("snapshot", () => snapshotMetrics());
    shareBucketsThrough((key) => channel.request<RateLimitDecision>("bucket.take", key, 5_000));
    channel.on("key", (payload) => {
      const secrets = current?.plan.secrets;
      if (!secrets) return;
      const { id, value, ttlSecs } = payload as KeyNote;
      if (value === null) secrets.delete(id, { notify: false });
      else secrets.set(id, value, { ttlSecs, source: "runtime", notify: false });
      value?.fill(0);
    });
  },
  applied(loaded, server) {
    current = server;
    applyTelemetry(loaded);
  },
});
