/**
 * Default process metrics under the standard Prometheus names, read from the runtime.
 *
 * prom-client's `collectDefaultMetrics()` reads `/proc/self/*`, which the sandbox does not
 * allow (its memory and file-descriptor gauges come out as 0) and its event-loop histogram
 * reports `Nan` under Deno, which the exposition format rejects. These collectors use what
 * Deno exposes without extra permissions instead: `process.cpuUsage()`,
 * `Deno.memoryUsage()` and `performance.timeOrigin`. Open file descriptors are not
 * available without reading `/proc` and are left out.
 * @module
 */
import process from "node:process";
import client from "prom-client";
import { registry } from "./metrics.ts";

let lastCpu = { user: 0, system: 0 };

function cpuDelta(): { user: number; system: number } {
  const now = process.cpuUsage();
  const delta = { user: now.user - lastCpu.user, system: now.system - lastCpu.system };
  lastCpu = now;
  return { user: Math.max(0, delta.user) / 1e6, system: Math.max(0, delta.system) / 1e6 };
}

const cpuUser = new client.Counter({
  name: "process_cpu_user_seconds_total",
  // Process-wide: every isolate reads the same figure; the first isolate's counts.
  aggregator: "first",
  help: "Total user CPU time spent in seconds.",
  registers: [registry],
});
const cpuSystem = new client.Counter({
  name: "process_cpu_system_seconds_total",
  aggregator: "first",
  help: "Total system CPU time spent in seconds.",
  registers: [registry],
});

/** Total CPU; its collector also advances the user and system counters. */
export const processCpu = new client.Counter({
  name: "process_cpu_seconds_total",
  aggregator: "first",
  help: "Total user and system CPU time spent in seconds.",
  registers: [registry],
  collect() {
    const { user, system } = cpuDelta();
    cpuUser.inc(user);
    cpuSystem.inc(system);
    this.inc(user + system);
  },
});

/** Process start, from the runtime's time origin. */
export const processStartTime = new client.Gauge({
  name: "process_start_time_seconds",
  aggregator: "first",
  help: "Start time of the process since unix epoch in seconds.",
  registers: [registry],
  collect() {
    this.set(Math.round(performance.timeOrigin / 1000));
  },
});

/** Resident set size. */
export const processResidentMemory = new client.Gauge({
  name: "process_resident_memory_bytes",
  aggregator: "first",
  help: "Resident memory size in bytes.",
  registers: [registry],
  collect() {
    this.set(Deno.memoryUsage().rss);
  },
});

/** V8 heap figures. */
export const runtimeHeap = new client.Gauge({
  name: "deno_memory_bytes",
  help: "Deno runtime memory by kind (heap_total, heap_used, external), in bytes.",
  labelNames: ["kind"] as const,
  registers: [registry],
  collect() {
    const usage = Deno.memoryUsage();
    this.labels("heap_total").set(usage.heapTotal);
    this.labels("heap_used").set(usage.heapUsed);
    this.labels("external").set(usage.external);
  },
});

/** How late a zero-delay timer fires at scrape time: a cheap event-loop lag probe. */
export const eventLoopLag = new client.Gauge({
  name: "deno_eventloop_lag_seconds",
  // The worst isolate's lag.
  aggregator: "max",
  help: "Delay of a zero-delay timer measured at scrape time, in seconds.",
  registers: [registry],
  async collect() {
    const start = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.set((performance.now() - start) / 1000);
  },
});

/** Idle memory returns (`server.memory_return`), every isolate's added up. */
export const memoryReturns = new client.Counter({
  name: "sprox_memory_returns_total",
  help: "Times an isolate gave memory back after traffic went quiet (server.memory_return).",
  registers: [registry],
});
