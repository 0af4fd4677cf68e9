/**
 * The admin application: everything under `/admin/` needs `Authorization: Bearer
 * <admin.bearer_token>` (compared in constant time). It reads the serving plan and the
 * metrics registry; it changes the configuration only through the reload path `SIGHUP`
 * runs, and the secret store only through the key endpoints.
 *
 * | Method and path                    | Answer                                              |
 * | ---------------------------------- | --------------------------------------------------- |
 * | `GET /admin/config`                | the running configuration, secrets redacted, hash   |
 * | `GET /admin/routes`                | routes with origin health and counters              |
 * | `POST /admin/reload`               | reload; 422 with every error (`file:line`) if bad   |
 * | `GET /admin/keys`                  | key identifiers, sources and lifetimes              |
 * | `PUT /admin/keys/clearkey/<kid>`   | add or replace a ClearKey key with a TTL            |
 * | `DELETE /admin/keys/clearkey/<kid>`| remove a key                                        |
 * | `GET /admin/stats`                 | request, byte and cache counters (console charts)   |
 * | `GET /admin/logs`                  | the last warning and error log lines                |
 * | `GET /admin/workers`               | the isolates serving the listeners, with their plan |
 *
 * Paths outside `/admin/` serve the web console's static assets (`src/admin/console/`),
 * without the token: the page asks for it and sends it with every `/admin/*` request.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { Plan } from "../app/mod.ts";
import type { ConfigIssue } from "../config/mod.ts";
import { formatIssue } from "../config/mod.ts";
import { errorResponse, ProxyError } from "../errors/mod.ts";
import { bearerToken, secretsEqual } from "../policy/mod.ts";
import { configuredSecretValues } from "../secrets/mod.ts";
import { log, recentProblems, redactPathAndQuery, redactText } from "../telemetry/mod.ts";
import { CONSOLE_PATHS, consoleAsset } from "./console/mod.ts";
import { deleteClearKey, listKeys, putClearKey } from "./keys.ts";
import { isSecretKey, redactConfig, scrubValues } from "./redact.ts";
import { routesReport } from "./routes.ts";
import { statsReport } from "./stats.ts";

/** What a reload ended with. */
export type ReloadOutcome =
  | {
    readonly ok: true;
    readonly file: string;
    readonly hash: string;
    readonly warnings: readonly ConfigIssue[];
  }
  | { readonly ok: false; readonly kind: "config_invalid"; readonly issues: readonly ConfigIssue[] }
  | { readonly ok: false; readonly kind: "reload_failed"; readonly message: string };

/** What the admin application reads and calls. */
export interface AdminDependencies {
  /** The plan serving requests now. */
  readonly plan: () => Plan;
  /** The reload path `SIGHUP` runs. */
  readonly reload: () => Promise<ReloadOutcome>;
  /** The worker isolates beside the first (`server.workers`), with their plan hash. */
  readonly workers?: () => readonly {
    readonly index: number;
    readonly hash: string;
    readonly restarts: number;
  }[];
}

const NO_STORE = { "cache-control": "no-store" };

/**
 * Where an issue is, for JSON: the fields and the one-line `file:line:column` form. The
 * value a message quotes (`current value is …`) is left out when the key names a secret: a
 * rejected file's secret is known to no redaction list.
 */
function describeIssue(issue: ConfigIssue) {
  const key = /([A-Za-z0-9_]+)(\[\d+\])*$/.exec(issue.path)?.[1] ?? "";
  const message = isSecretKey(key)
    ? issue.message.replace(/: current value is .*$/s, "")
    : issue.message;
  const shown = { ...issue, message };
  return {
    file: issue.file,
    line: issue.line,
    column: issue.column,
    path: issue.path,
    severity: issue.severity,
    message,
    text: formatIssue(shown),
  };
}

/**
 * Checks the bearer token of the admin API: 401 without one, 403 with a wrong one. The
 * token is read from the serving plan, so a reload that changes it applies at once.
 */
async function authorize(request: Request, plan: Plan): Promise<void> {
  const expected = plan.config.admin.bearer_token;
  const token = bearerToken(request);
  if (token === null) {
    throw new ProxyError(401, "unauthorized", "admin API needs Authorization: Bearer <token>", {
      headers: { "www-authenticate": 'Bearer realm="sprox-admin"' },
    });
  }
  // A missing token (admin switched off by a reload) refuses every request.
  if (expected === null || !(await secretsEqual(token, expected))) {
    throw new ProxyError(403, "forbidden", "wrong admin token");
  }
}

/**
 * Builds the admin application.
 *
 * @example
 * ```ts
 * const app = buildAdminApp({ plan: () => server.plan, reload: () => reloader.reload("admin") });
 * Deno.serve({ hostname: "127.0.0.1", port: 9901 }, app.fetch);
 * ```
 */
export function buildAdminApp(deps: AdminDependencies): Hono {
  const app = new Hono();

  // Every answer leaves through here: logged, and scrubbed of every configured secret value
  // (the last line of defence behind redaction by field name).
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const url = new URL(c.req.url);
    log(c.res.status >= 500 ? "warn" : "info", "admin request", {
      method: c.req.method,
      path: redactPathAndQuery(`${url.pathname}${url.search}`, { redactDrmEverywhere: true }),
      status: c.res.status,
      duration_ms: Math.round(performance.now() - started),
    });
  });

  app.use("/admin/*", async (c, next) => {
    await authorize(c.req.raw, deps.plan());
    await next();
  });

  const json = (c: Context, body: unknown, status = 200) => {
    const secrets = configuredSecretValues(deps.plan().config);
    return c.json(scrubValues(body, secrets), status as 200, NO_STORE);
  };

  app.get("/admin/config", (c) => {
    const plan = deps.plan();
    return json(c, {
      file: plan.file,
      hash: plan.hash,
      config: redactConfig(plan.config, configuredSecretValues(plan.config)),
      warnings: plan.warnings.map(describeIssue),
    });
  });

  app.get("/admin/routes", async (c) => json(c, { routes: await routesReport(deps.plan()) }));

  app.post("/admin/reload", async (c) => {
    const outcome = await deps.reload();
    if (outcome.ok) {
      return json(c, {
        status: "reloaded",
        file: outcome.file,
        hash: outcome.hash,
        warnings: outcome.warnings.map(describeIssue),
      });
    }
    const current = deps.plan().hash;
    if (outcome.kind === "config_invalid") {
      return json(c, {
        error: "config_invalid",
        message: "the configuration is invalid; the previous one is still served",
        hash: current,
        errors: outcome.issues.filter((i) => i.severity === "error").map(describeIssue),
        warnings: outcome.issues.filter((i) => i.severity === "warning").map(describeIssue),
      }, 422);
    }
    return json(c, {
      error: "reload_failed",
      message: redactText(outcome.message),
      hash: current,
    }, 500);
  });

  app.get("/admin/stats", async (c) => json(c, await statsReport()));
  app.get("/admin/logs", (c) => json(c, { lines: recentProblems() }));
  app.get("/admin/workers", (c) =>
    json(c, {
      isolates: [
        { index: 0, hash: deps.plan().hash, restarts: 0 },
        ...(deps.workers?.() ?? []),
      ],
    }));

  app.get("/admin/keys", () => listKeys(deps.plan().secrets));
  app.put(
    "/admin/keys/clearkey/:kid",
    (c) => putClearKey(deps.plan().secrets, c.req.param("kid"), c.req.raw),
  );
  app.delete(
    "/admin/keys/clearkey/:kid",
    (c) => deleteClearKey(deps.plan().secrets, c.req.param("kid")),
  );

  // The console's static assets (src/admin/console/), outside /admin/ and so without the token
  // check. They are part of the module graph (imported, not read from disk): the sandbox cannot
  // read src/, and the compiled binary has no src/ to read.
  for (const path of CONSOLE_PATHS) app.get(path, () => consoleAsset(path)!);

  // Known paths with another method: 405 with the methods they take.
  const allowed: [string, string][] = [
    ["/admin/config", "GET"],
    ["/admin/routes", "GET"],
    ["/admin/reload", "POST"],
    ["/admin/keys", "GET"],
    ["/admin/keys/clearkey/:kid", "PUT, DELETE"],
    ["/admin/stats", "GET"],
    ["/admin/logs", "GET"],
    ["/admin/workers", "GET"],
    ...CONSOLE_PATHS.map((path): [string, string] => [path, "GET, HEAD"]),
  ];
  for (const [path, methods] of allowed) {
    app.all(path, () => {
      throw new ProxyError(405, "method_not_allowed", "method not allowed", {
        headers: { allow: methods },
      });
    });
  }

  app.notFound(() => errorResponse(new ProxyError(404, "not_found", "not found")));
  app.onError((error) => {
    if (error instanceof ProxyError) return errorResponse(error);
    log("error", "admin request failed", { error: redactText(String(error)) });
    return errorResponse(new ProxyError(500, "internal", "internal error"));
  });
  return app;
}
