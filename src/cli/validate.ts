/**
 * `sprox validate`: the same loader and plan compiler `serve` uses, then dispose.
 * @module
 */
import { compilePlan, loadPlanLibraries } from "../app/mod.ts";
import { ConfigError, formatIssue, loadConfig } from "../config/mod.ts";
import { originsOf } from "../routing/mod.ts";

/** Runs the validator; returns the process exit code. */
export async function runValidate(configPath: string | undefined): Promise<number> {
  let loaded;
  try {
    loaded = await loadConfig(configPath);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const errors = error.issues.filter((i) => i.severity === "error");
    console.error(error.issues.map(formatIssue).join("\n"));
    console.error(`\n${errors.length} error(s): configuration is invalid.`);
    return 1;
  }
  await loadPlanLibraries(loaded);
  const plan = compilePlan(loaded);
  try {
    const c = plan.config;
    const lines = [`${loaded.file}: configuration is valid (hash ${plan.hash})`, "", "Listeners:"];
    for (const l of plan.listeners.values()) {
      lines.push(
        `  ${l.tls.enabled ? "https" : "http "} ${l.key}  routes: ${l.routeIds.join(", ")}`,
      );
    }
    lines.push("", "Routes:");
    for (const r of c.routes) {
      const features = [
        r.hls.enabled ? "hls" : "",
        r.hls.rewrite_playlist_urls ? "rewrite" : "",
        r.dash.to_hls ? "dash→hls" : "",
        r.upstream.socks5.enabled ? "socks5" : "",
        r.upstream.health_check.enabled ? "health-checked" : "",
      ].filter(Boolean).join(",");
      const origins = originsOf(r.upstream);
      const targets = origins.length === 1 ? origins[0].url : origins
        .map((o) => `${o.url} (priority ${o.priority}, weight ${o.weight})`).join(", ");
      lines.push(
        `  ${r.id}: ${r.host_patterns.join(" ")} → ${targets}` +
          (features ? `  [${features}]` : ""),
      );
    }
    const direct = c.direct_stream;
    lines.push(
      "",
      `Direct stream: ${
        direct?.enabled
          ? `on, ${direct.allowlist.length} allowlist rule(s), ${
            direct.api_password || c.auth.bearer_token ? "credential required" : "NO credential"
          }`
          : "off"
      }`,
      `Telemetry: ${c.telemetry.enabled ? "on" : "off"}   DRM: ${c.drm.enabled ? "on" : "off"}   ` +
        `Rate limit: ${
          c.rate_limit.enabled
            ? `${c.rate_limit.requests_per_second}/s burst ${c.rate_limit.burst}`
            : "off"
        }`,
    );
    lines.push(
      `Admin API: ${c.admin.enabled ? `on, ${c.admin.listen.host}:${c.admin.listen.port}` : "off"}`,
    );
    if (loaded.warnings.length) {
      lines.push("", "Warnings:", ...loaded.warnings.map((w) => `  ${formatIssue(w)}`));
    }
    console.log(lines.join("\n"));
    return 0;
  } finally {
    plan.dispose();
  }
}
