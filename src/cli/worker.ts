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
    const apply = ({ id, value, ttlSecs }: KeyNote) => {
      const secrets = current?.plan.secrets;
      if (value === null) secrets?.delete(id, { notify: false });
      else secrets?.set(id, value, { ttlSecs, source: "runtime", notify: false });
      value?.fill(0);
      // Redis may not have the change yet: this copy (or its absence) is not checked for a while.
      secrets?.shared?.noteChange(id);
    };
    // One change, or the whole set (after a restart or a reload): runtime keys not in it go.
    channel.on("key", (payload) => apply(payload as KeyNote));
    channel.on("keys", (payload) => {
      const notes = payload as KeyNote[];
      const secrets = current?.plan.secrets;
      const kept = new Set(notes.map((note) => note.id));
      for (const entry of secrets?.list() ?? []) {
        if (entry.source === "runtime" && !kept.has(entry.id)) {
          secrets!.delete(entry.id, { notify: false });
        }
      }
      notes.forEach(apply);
    });
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
