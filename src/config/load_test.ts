import assert from "node:assert/strict";
import {
  ConfigError,
  type ConfigIssue,
  formatIssue,
  formatPath,
  loadConfig,
  parseConfig,
} from "./mod.ts";
import { describeReadError } from "./load.ts";
import {
  MAX_ALIAS_EXPANSION,
  MAX_CONFIG_BYTES,
  MAX_YAML_ALIASES,
  MAX_YAML_DEPTH,
} from "./_source.ts";

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

const SHIPPED = Deno.readTextFileSync(new URL("../../config/routes.yaml", import.meta.url));
/** Lines of the shipped configuration (its errors name the line after it). */
const SHIPPED_LINES = SHIPPED.split("\n").length - 1;
const encoder = new TextEncoder();

/** The issues `parseConfig()` reports for `source`; fails when it loads or throws anything else. */
function refusal(source: string | Uint8Array): readonly ConfigIssue[] {
  try {
    parseConfig("routes.yaml", source, { env: noEnv });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `threw ${String(error)}`);
    return error.issues;
  }
  assert.fail("loaded without errors");
}

function only(issues: readonly ConfigIssue[]): string {
  const errors = issues.filter((i) => i.severity === "error");
  assert.equal(errors.length, 1, errors.map(formatIssue).join("\n"));
  return formatIssue(errors[0]);
}

/** A YAML "billion laughs": each line refers nine times to the one before. */
function aliasBomb(): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) {
    const previous = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    lines.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(",")}]`);
  }
  return lines.join("\n") + "\n";
}

Deno.test("parseConfig() refuses an alias bomb at the alias where the expansion passes the limit", () => {
  assert.equal(
    only(refusal(aliasBomb())),
    `routes.yaml:6:8: error: '(yaml)' has aliases that expand to more than ${MAX_ALIAS_EXPANSION} values`,
  );
});

Deno.test("parseConfig() allows 100 aliases and refuses the 101st", () => {
  const doc = (n: number) => `x: &d 1\nl: [${Array(n).fill("*d").join(", ")}]\n` + SHIPPED;
  const issues = refusal(doc(MAX_YAML_ALIASES));
  assert.ok(!issues.some((i) => i.path === "(yaml)"), issues.map(formatIssue).join("\n"));
  assert.equal(
    only(refusal(doc(MAX_YAML_ALIASES + 1))),
    `routes.yaml:2:${5 + 4 * MAX_YAML_ALIASES}: error: '(yaml)' holds more than 100 aliases`,
  );
});

Deno.test("parseConfig() refuses aliases to a missing, later or enclosing anchor", () => {
  assert.equal(
    only(refusal("routes: *nope\n")),
    "routes.yaml:1:9: error: '(yaml)' refers to the anchor &nope, which is not defined before it",
  );
  assert.equal(
    only(refusal("a: *b\nb: &b 1\n")),
    "routes.yaml:1:4: error: '(yaml)' refers to the anchor &b, which is not defined before it",
  );
  assert.equal(
    only(refusal("routes: &a [1, [*a]]\n")),
    "routes.yaml:1:17: error: '(yaml)' refers to the anchor &a around it (a cycle)",
  );
  // A redefined anchor: the alias inside the second &a refers to that one, a cycle too.
  assert.equal(
    only(refusal("x: &a 1\ny: &a [*a]\n")),
    "routes.yaml:2:8: error: '(yaml)' refers to the anchor &a around it (a cycle)",
  );
});

Deno.test("parseConfig() accepts an anchor used by later aliases (the expanded values validate)", () => {
  const text = SHIPPED.replace("connect_timeout_ms: 2000", "connect_timeout_ms: &timeout 2000")
    .replace("connect_timeout_ms: 1000", "connect_timeout_ms: *timeout");
  const { config } = parseConfig("routes.yaml", text, { env: noEnv });
  assert.equal(config.routes[1].upstream.connect_timeout_ms, 2000);
});

Deno.test("parseConfig() bounds nesting: 64 levels parse, 65 are refused with a position", () => {
  const nested = (depth: number) => `x: ${"[".repeat(depth - 1)}${"]".repeat(depth - 1)}\n`;
  const deep = refusal(nested(MAX_YAML_DEPTH) + SHIPPED);
  assert.ok(!deep.some((i) => i.path === "(yaml)"), deep.map(formatIssue).join("\n"));
  assert.equal(
    only(refusal(nested(MAX_YAML_DEPTH + 1))),
    `routes.yaml:1:${
      3 + MAX_YAML_DEPTH
    }: error: '(yaml)' nests too deeply: at most 64 levels are allowed`,
  );
  const flood = refusal(`routes: ${"[".repeat(100_000)}`);
  assert.match(formatIssue(flood[0]), /^routes\.yaml:1:\d+: error: '\(yaml\)' nests too deeply/);
  assert.equal(new Set(flood.map(formatIssue)).size, flood.length, "each problem once");
});

Deno.test("parseConfig() refuses YAML tags other than the core schema's", () => {
  assert.equal(
    only(refusal("routes: !!js/function 'function () {}'\n")),
    "routes.yaml:1:9: error: '(yaml)' is not valid YAML: Unresolved tag: tag:yaml.org,2002:js/function",
  );
  assert.equal(
    only(refusal("routes: !custom x\n")),
    "routes.yaml:1:9: error: '(yaml)' is not valid YAML: Unresolved tag: !custom",
  );
  assert.equal(
    only(refusal("routes: !!binary aGVsbG8=\n")),
    "routes.yaml:1:18: error: '(yaml)' uses the YAML tag tag:yaml.org,2002:binary: only the core schema's tags are allowed",
  );
  assert.equal(
    only(refusal("%YAML 1.1\n---\nroutes: !!set {a, b}\n")),
    "routes.yaml:3:15: error: '(yaml)' uses the YAML tag tag:yaml.org,2002:set: only the core schema's tags are allowed",
  );
  const core = SHIPPED.replace("port: 8080", "port: !!int 8080");
  assert.equal(parseConfig("routes.yaml", core, { env: noEnv }).config.routes[0].listen.port, 8080);
});

Deno.test("parseConfig() refuses collection keys, duplicate keys and several documents", () => {
  assert.equal(
    only(refusal("? [a]\n: 1\n")),
    "routes.yaml:1:3: error: '(yaml)' is not valid here: mapping keys must be plain scalars",
  );
  assert.equal(
    only(refusal("routes: 1\nroutes: 2\n")),
    "routes.yaml:2:1: error: '(yaml)' is not valid YAML: Map keys must be unique",
  );
  assert.match(
    only(refusal(`${SHIPPED}---\nroutes: []\n`)),
    new RegExp(
      `^routes\\.yaml:${
        SHIPPED_LINES + 1
      }:1: error: '\\(yaml\\)' is not valid YAML: Source contains multiple documents`,
    ),
  );
});

Deno.test("parseConfig() reports at most 20 YAML syntax errors, in order", () => {
  const issues = refusal("]\n".repeat(50));
  assert.equal(issues.length, 20);
  assert.deepEqual(issues.map((i) => i.line), Array.from({ length: 20 }, (_, i) => i + 1));
  assert.equal(
    formatIssue(issues[0]),
    `routes.yaml:1:1: error: '(yaml)' is not valid YAML: Unexpected flow-seq-end token in YAML document: "]"`,
  );
});

Deno.test("parseConfig() decodes UTF-8 strictly, drops a leading BOM and refuses control characters", () => {
  const bad = new Uint8Array([...encoder.encode("routes:\n  - id: caf"), 0xe9, 0x0a]);
  assert.equal(
    only(refusal(bad)),
    "routes.yaml:2:12: error: '(file)' is not valid UTF-8: invalid byte 0xe9 (save the file as UTF-8)",
  );
  const afterMultibyte = new Uint8Array([...encoder.encode("a: \u00e9"), 0xff]);
  assert.match(only(refusal(afterMultibyte)), /^routes\.yaml:1:5: error: .* invalid byte 0xff/);
  const cut = new Uint8Array([...encoder.encode("a: "), 0xe2, 0x82]);
  assert.match(only(refusal(cut)), /^routes\.yaml:1:4: error: .* invalid byte 0xe2/);

  const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...encoder.encode(SHIPPED)]);
  assert.equal(parseConfig("routes.yaml", withBom, { env: noEnv }).config.routes.length, 2);
  assert.equal(
    parseConfig("routes.yaml", `\ufeff${SHIPPED}`, { env: noEnv }).config.routes.length,
    2,
  );

  assert.equal(
    only(refusal("routes:\n  - id: \u001b[31mx\n")),
    "routes.yaml:2:9: error: '(yaml)' is not valid YAML: control character U+001B (YAML 1.2.2 §5.1)",
  );
  assert.match(only(refusal("a: \u0000\n")), /^routes\.yaml:1:4: .*U\+0000/);
  assert.match(only(refusal("a: \u0085\u009f\n")), /^routes\.yaml:1:5: .*U\+009F/);
  assert.equal(
    only(refusal("routes:\n\t- id: x\n")),
    "routes.yaml:2:1: error: '(yaml)' is not valid YAML: Tabs are not allowed as indentation",
  );
});

Deno.test("parseConfig() refuses a document past 4 MiB before parsing it", () => {
  const big = `# ${"x".repeat(MAX_CONFIG_BYTES)}\n`;
  const expected =
    `routes.yaml:1:1: error: '(file)' is too large: ${big.length} bytes, the limit is 4194304 (4 MiB)`;
  assert.equal(only(refusal(big)), expected);
  assert.equal(only(refusal(encoder.encode(big))), expected);
  const justUnder = `#${"x".repeat(MAX_CONFIG_BYTES - SHIPPED.length - 3)}\n${SHIPPED}`;
  assert.equal(parseConfig("routes.yaml", justUnder, { env: noEnv }).config.routes.length, 2);
});

Deno.test("formatIssue() escapes control and bidirectional characters and cuts long keys", () => {
  const line = formatIssue({
    file: "routes.yaml",
    line: 3,
    column: 5,
    path: formatPath(["routes", 0, "li\u202esten\u2028"]),
    message: "is not a known key\u001b[2J",
    severity: "error",
  });
  assert.equal(
    line,
    "routes.yaml:3:5: error: 'routes[0].li\\u202esten\\u2028' is not a known key\\u001b[2J",
  );
  assert.equal(formatPath(["k".repeat(100)]), `${"k".repeat(64)}...`);
  const long = refusal(`${SHIPPED}\nauth_abuse: { window_secs: "${"9".repeat(500)}" }\n`);
  const age = long.find((i) => i.path === "auth_abuse.window_secs")!;
  assert.equal(age.message, `must be number: current value is "${"9".repeat(79)}...`);
});

Deno.test("describeReadError() names each reason a file cannot be read", () => {
  const cases: [Error, string][] = [
    [new Deno.errors.NotFound("x"), "file not found"],
    [new Deno.errors.PermissionDenied("x"), "permission denied"],
    [new Deno.errors.FilesystemLoop("x"), "too many levels of symbolic links"],
    [new Deno.errors.IsADirectory("x"), "is a directory, not a YAML file"],
    [new Deno.errors.NotADirectory("x"), "a component of the path is not a directory"],
    [new Error("disk on fire"), "disk on fire"],
  ];
  for (const [error, expected] of cases) assert.equal(describeReadError(error), expected);
  assert.match(describeReadError(new Deno.errors.NotCapable("x")), /sandbox/);
});

/** A small deterministic PRNG (mulberry32), so a fuzz failure replays. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const YAML_BYTES = encoder.encode("[]{}*&!|>:-?#'\"%@`,\t\n \u00ff\u0000");

function mutate(source: Uint8Array, random: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(random() * n);
  const bytes = new Uint8Array(source);
  switch (pick(5)) {
    case 0: { // random byte flips
      for (let i = 0, n = 1 + pick(8); i < n; i++) bytes[pick(bytes.length)] ^= 1 << pick(8);
      return bytes;
    }
    case 1: // truncation, often inside a line or a multi-byte character
      return bytes.subarray(0, pick(bytes.length));
    case 2: { // two lines swapped
      const lines = new TextDecoder().decode(bytes).split("\n");
      const a = pick(lines.length);
      const b = pick(lines.length);
      [lines[a], lines[b]] = [lines[b], lines[a]];
      return encoder.encode(lines.join("\n"));
    }
    case 3: { // YAML indicators (and bytes that are not UTF-8) dropped in
      for (let i = 0, n = 1 + pick(6); i < n; i++) {
        bytes[pick(bytes.length)] = YAML_BYTES[pick(YAML_BYTES.length)];
      }
      return bytes;
    }
    default: { // a line duplicated somewhere else, indentation and all
      const lines = new TextDecoder().decode(bytes).split("\n");
      lines.splice(pick(lines.length), 0, lines[pick(lines.length)]);
      return encoder.encode(lines.join("\n"));
    }
  }
}

Deno.test("fuzz: 400 mutations of config/routes.yaml load or fail with positioned ConfigErrors only", () => {
  const random = prng(0x5eed);
  const source = encoder.encode(SHIPPED);
  let refused = 0;
  let loaded = 0;
  for (let round = 0; round < 400; round++) {
    const input = mutate(source, random);
    try {
      parseConfig("routes.yaml", input, { env: noEnv });
      loaded++;
    } catch (error) {
      if (!(error instanceof ConfigError)) {
        assert.fail(
          `round ${round} threw ${String(error)} for:\n${new TextDecoder().decode(input)}`,
        );
      }
      refused++;
      for (const issue of error.issues) {
        assert.match(
          formatIssue(issue),
          /^routes\.yaml:[1-9]\d*:[1-9]\d*: (error|warning): '.*' \S/,
          `round ${round}: ${formatIssue(issue)}`,
        );
      }
      assert.ok(error.issues.some((i) => i.severity === "error"), `round ${round}`);
    }
  }
  assert.ok(refused >= 200, `${refused} of 400 mutations refused`);
  assert.ok(loaded >= 10, `${loaded} of 400 mutations still load`);
});

Deno.test("loadConfig() refuses a named pipe or a device without opening it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fifo = `${dir}/routes.yaml`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.equal(made.code, 0, "mkfifo");
    for (const path of [fifo, "/dev/zero"]) {
      await assert.rejects(loadConfig(path, { env: noEnv }), (error) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(
          formatIssue(error.issues[0]),
          `${path}:1:1: error: '(file)' cannot be read: not a regular file`,
        );
        return true;
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
