import assert from "node:assert/strict";
import { ConfigError, type ConfigIssue, loadConfig, parseConfig } from "./mod.ts";

const FIXTURES = new URL("../../tests/fixtures/config/", import.meta.url).pathname;
const noEnv = () => undefined;

async function issuesOf(name: string, env: (n: string) => string | undefined = noEnv) {
  try {
    await loadConfig(`${FIXTURES}${name}`, { env });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues;
  }
  assert.fail(`${name} loaded without errors`);
}

function find(issues: readonly ConfigIssue[], path: string): ConfigIssue {
  const issue = issues.find((i) => i.path === path);
  assert.ok(
    issue,
    `no issue at ${path}; got:\n${issues.map((i) => `${i.path}: ${i.message}`).join("\n")}`,
  );
  return issue;
}

Deno.test("loadConfig() fills every default for a minimal route", async () => {
  const { config } = await loadConfig(`${FIXTURES}minimal.yaml`, { env: noEnv });
  const route = config.routes[0];
  assert.equal(route.listen.host, "0.0.0.0");
  assert.deepEqual(route.protocols, ["http", "https"]);
  assert.equal(route.upstream.connect_timeout_ms, 2000);
  assert.equal(route.upstream.retry.max_attempts, 3);
  assert.equal(route.upstream.retry.initial_backoff_ms, 100);
  assert.equal(route.upstream.retry.max_backoff_ms, 5000);
  assert.equal(route.headers.x_forwarded_for, "append");
  assert.equal(config.retry_budget.ratio, 0.2);
  assert.equal(config.rate_limit.requests_per_second, 10);
  assert.equal(config.direct_stream, null);
  assert.equal(config.telemetry.enabled, true);
});

Deno.test("loadConfig() reports a misspelt key, a bad port and a missing base_url together, with lines", async () => {
  const issues = await issuesOf("three-errors.yaml");
  const typo = find(issues, "routes[0].listen.prot");
  assert.match(typo.message, /did you mean "port"/);
  assert.equal(typo.line, 5);
  const port = find(issues, "routes[0].listen.port");
  assert.match(port.message, /65535/);
  assert.match(port.message, /70000/);
  assert.equal(port.line, 6);
  const base = find(issues, "routes[0].hls.base_url");
  assert.match(base.message, /required when rewrite_playlist_urls/);
  assert.equal(base.line, 11);
  assert.ok(issues.every((i) => i.file.endsWith("three-errors.yaml")));
});

Deno.test("loadConfig() suggests the right top-level key", async () => {
  const issue = find(await issuesOf("unknown-top.yaml"), "cros");
  assert.match(issue.message, /did you mean "cors"/);
  assert.equal(issue.line, 6);
  assert.equal(issue.column, 1);
});

Deno.test("loadConfig() refuses duplicate route ids", async () => {
  const issue = find(await issuesOf("duplicate-ids.yaml"), "routes[1].id");
  assert.match(issue.message, /unique/);
  assert.equal(issue.line, 6);
});

Deno.test("loadConfig() refuses host patterns served twice and a port bound on two addresses", async () => {
  const issues = await issuesOf("listener-conflicts.yaml");
  assert.match(find(issues, "routes[1].host_patterns[0]").message, /already served/);
  assert.match(find(issues, "routes[2].listen.host").message, /port 8080 is bound/);
});

Deno.test("loadConfig() requires an https base_url unless allow_insecure_segments", async () => {
  const issues = await issuesOf("insecure-base-url.yaml");
  assert.match(find(issues, "routes[0].hls.base_url").message, /https/);
  assert.equal(issues.filter((i) => i.path.startsWith("routes[1]")).length, 0);
});

Deno.test("loadConfig() requires TLS files that exist", async () => {
  const issues = await issuesOf("tls-missing-files.yaml");
  assert.match(find(issues, "routes[0].listen.tls.certificate_path").message, /not found/);
  assert.match(find(issues, "routes[0].listen.tls.private_key_path").message, /required/);
});

Deno.test("loadConfig() checks the SOCKS address form and credential pairing", async () => {
  const issues = await issuesOf("socks-bad.yaml");
  assert.match(find(issues, "routes[0].upstream.socks5.address").message, /host:port/);
  assert.match(find(issues, "routes[0].upstream.socks5").message, /together/);
});

Deno.test("loadConfig() checks allowlist entries", async () => {
  const issues = await issuesOf("allowlist-bad.yaml");
  assert.match(find(issues, "direct_stream.allowlist[0].domain").message, /host name/);
  assert.match(find(issues, "direct_stream.allowlist[1].schemes[0]").message, /"http", "https"/);
  assert.match(find(issues, "direct_stream.allowlist[2].paths[0]").message, /start with/);
  assert.match(find(issues, "direct_stream.allowlist[3].paths[0]").message, /\.\./);
});

Deno.test("loadConfig() warns (does not fail) on insecure_skip_verify", async () => {
  const loaded = await loadConfig(`${FIXTURES}insecure-skip-verify.yaml`, { env: noEnv });
  const warning = find(loaded.warnings, "routes[0].upstream.tls.insecure_skip_verify");
  assert.equal(warning.severity, "warning");
  assert.match(warning.message, /NOT verified/);
});

Deno.test("loadConfig() reports YAML syntax errors with a position", async () => {
  const issues = await issuesOf("bad-yaml.yaml");
  assert.equal(issues[0].path, "(yaml)");
  assert.ok(issues[0].line >= 3, `line ${issues[0].line}`);
});

Deno.test("loadConfig() reports every type error in one run", async () => {
  const issues = await issuesOf("types.yaml");
  for (
    const path of [
      "routes[0].id",
      "routes[0].listen.port",
      "routes[0].host_patterns",
      "routes[0].protocols[0]",
      "routes[0].upstream.origin",
      "routes[0].upstream.connect_timeout_ms",
      "routes[0].headers.x_forwarded_for",
    ]
  ) find(issues, path);
  assert.match(find(issues, "routes[0].headers.x_forwarded_for").message, /"append", "replace"/);
});

Deno.test("environment overrides are validated like file values and named in errors", async () => {
  const env = (name: string) =>
    ({ SPROX_DIRECT_REQUEST_TIMEOUT_MS: "-5", SPROX_PROXY_URL: "http://nope" } as Record<
      string,
      string
    >)[name];
  const issues = await issuesOf("minimal.yaml", env);
  const timeout = find(issues, "direct_stream.request_timeout_ms");
  assert.equal(timeout.file, "env SPROX_DIRECT_REQUEST_TIMEOUT_MS");
  const socks = find(issues, "SPROX_PROXY_URL");
  assert.match(socks.message, /socks5/);
});

Deno.test("SPROX_PROXY_URL forces every route through one SOCKS5 endpoint", () => {
  const text = Deno.readTextFileSync(`${FIXTURES}duplicate-ids.yaml`).replace(
    "id: same\n    listen: { port: 8081 }",
    "id: other\n    listen: { port: 8081 }",
  );
  const env = (name: string) =>
    name === "SPROX_PROXY_URL" ? "socks5://u%40x:p@127.0.0.1:1080" : undefined;
  const { config } = parseConfig("inline.yaml", text, { env });
  for (const route of config.routes) {
    assert.deepEqual(route.upstream.socks5, {
      enabled: true,
      address: "127.0.0.1:1080",
      username: "u@x",
      password: "p",
    });
  }
});

Deno.test("SPROX_API_PASSWORD and SPROX_DIRECT_* land where documented", () => {
  const values: Record<string, string> = {
    SPROX_API_PASSWORD: "bearer-secret",
    SPROX_DIRECT_API_PASSWORD: "direct-secret",
    SPROX_DIRECT_PROXY_URL: "http://127.0.0.1:8888",
    SPROX_DIRECT_RESPONSE_BUFFER_BYTES: "131072",
  };
  const text = Deno.readTextFileSync(`${FIXTURES}minimal.yaml`);
  const { config } = parseConfig("inline.yaml", text, { env: (n) => values[n] });
  assert.equal(config.auth.bearer_token, "bearer-secret");
  assert.equal(config.direct_stream?.api_password, "direct-secret");
  assert.equal(config.direct_stream?.proxy_url, "http://127.0.0.1:8888");
  assert.equal(config.direct_stream?.response_buffer_bytes, 131072);
});

Deno.test("the shipped config/routes.yaml is valid", async () => {
  const loaded = await loadConfig(new URL("../../config", import.meta.url).pathname, {
    env: noEnv,
  });
  assert.equal(loaded.config.routes.length, 2);
});
