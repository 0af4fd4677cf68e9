/**
 * The admin API: a separate, loopback-by-default listener with its own bearer token that
 * shows the running configuration (secrets redacted), routes with origin health, reloads
 * through the `SIGHUP` path and manages ClearKey keys at run time.
 * @module
 */
export { type AdminDependencies, buildAdminApp, type ReloadOutcome } from "./app.ts";
export { AdminListener } from "./server.ts";
export { listKeys, RUNTIME_SOURCE } from "./keys.ts";
export { redactConfig, scrubValues } from "./redact.ts";
export { type OriginReport, type RouteReport, routesReport } from "./routes.ts";
