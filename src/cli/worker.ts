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
import { applyKeyNote, applyKeySet, type KeyNote } from "./key_notes.ts";
import { applyTelemetry } from "./reload.ts";
import { returnMemoryWhenQuiet } from "./memory.ts";

let current: ProxyServer<Plan> | undefined;

runWorkerIsolate(proxyApps, {
  setup(channel, index) {
    tagLogLines(index);
    sendLogsTo((text) => channel.notify("log", text));
    // This isolate's heap is collected here; the process's C-library memory is trimmed by the
    // first isolate (which holds `malloc_trim`), asked right after.
    returnMemoryWhenQuiet(
      () => current,
      () => current?.plan.config,
      () => channel.notify("memory.collected", null),
    );
    // `/metrics` here adds up every isolate's snapshot, gathered by the first isolate.
    useSnapshotSource(() => channel.request<MetricsSnapshot[]>("snapshots", null, 10_000));
    channel.handle("snapshot", () => snapshotMetrics());
    shareBucketsThrough((key) => channel.request<RateLimitDecision>("bucket.take", key, 5_000));
    // One change, or the whole set (after a restart or a reload): runtime keys not in it go.
    channel.on("key", (payload) => applyKeyNote(current?.plan.secrets, payload as KeyNote));
    channel.on("keys", (payload) => applyKeySet(current?.plan.secrets, payload as KeyNote[]));
    // What the first isolate still owes Redis: served from here as it is until written.
    channel.on("keys.owed", (payload) => {
      current?.plan.secrets.shared?.follow(payload as string[]);
    });
  },
  applied(loaded, server) {
    current = server;
    applyTelemetry(loaded);
  },
});
