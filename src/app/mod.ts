/**
 * The application: the compiled plan and the per-listener app builder.
 * @module
 */
export { buildApp, type EdgeBindings } from "./app.ts";
export { compilePlan, type ListenerPlan, loadPlanLibraries, type Plan } from "./plan.ts";
export { proxyApps } from "./serving.ts";
export type { RequestContext } from "./context.ts";
