/**
 * The applications handed to the edge: compile a plan, build a listener's handler.
 * @module
 */
import type { Apps } from "../edge/mod.ts";
import { buildApp } from "./app.ts";
import { compilePlan, loadPlanLibraries, type Plan } from "./plan.ts";

/** sProx's applications, as the edge takes them. */
export const proxyApps: Apps<Plan> = {
  load: loadPlanLibraries,
  compile: compilePlan,
  handler(plan, listener, state) {
    const app = buildApp(plan, listener);
    const protocol = listener.tls.enabled ? "https" : "http";
    const draining = () => state.draining;
    return (request, info, connection) =>
      app.fetch(request, { info, protocol, connection, draining });
  },
};
