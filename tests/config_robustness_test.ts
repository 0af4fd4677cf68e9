/**
 * The real CLI against hostile configuration files: whatever `routes.yaml` holds (or is),
 * `validate` and `serve` exit 1 with `file:line:column: error: …` lines and no stack trace,
 * and a running server refuses such a file on SIGHUP and keeps serving.
 */
import assert from "node:assert/strict";
import { deadline, freePort, REPO_ROOT, runCli, scratchDir, startSprox } from "./_support/mod.ts";

const SHIPPED = await Deno.readTextFile(`${REPO_ROOT}config/routes.yaml`);
/** Lines of the shipped configuration (errors after it name the lines that follow). */
const SHIPPED_LINES = SHIPPED.split("\n").length - 1;
const encoder = new TextEncoder();

/** A YAML "billion laughs": each line refers nine times to the one before (9^9 strings). */
function aliasBomb(): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) {
    const previous = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    lines.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(",")}]`);
  }
  return lines.join("\n") + "\n";
}

const BOMB_ERROR =
  /routes\.yaml:6:8: error: '\(yaml\)' has aliases that expand to more than 100000 values/;

/** Markers of an uncaught exception on stderr. */
const STACK_MARKERS = ["    at ", "Uncaught", "error: Uncaught"];

function assertNoStackTrace(stderr: string, what: string): void {
  for (const marker of STACK_MARKERS) {
    assert.ok(!stderr.includes(marker), `${what}: stack trace marker "${marker}" in:\n${stderr}`);
  }
}

/** How a case's config directory is made, and the error line expected from it. */
interface Case {
  readonly name: string;
  readonly make: (dir: string) => Promise<void>;
  readonly expected: RegExp;
}

const write = (content: string | Uint8Array) => (dir: string) =>
  typeof content === "string"
    ? Deno.writeTextFile(`${dir}/routes.yaml`, content)
    : Deno.writeFile(`${dir}/routes.yaml`, content);

const CASES: Case[] = [
  { name: "alias bomb", make: write(aliasBomb()), expected: BOMB_ERROR },
  {
    name: "binary garbage",
    make: write(Uint8Array.from({ length: 4096 }, (_, i) => (i * 73 + 41) & 0xff)),
    expected: /routes\.yaml:1:3: error: '\(file\)' is not valid UTF-8: invalid byte 0xbb/,
  },
  {
    name: "invalid UTF-8",
    make: write(new Uint8Array([...encoder.encode("routes:\n  - id: caf"), 0xe9, 0x0a])),
    expected: /routes\.yaml:2:12: error: '\(file\)' is not valid UTF-8: invalid byte 0xe9/,
  },
  {
    name: "BOM, then a misspelt key",
    make: write(`\ufeff${SHIPPED.replace('    listen:\n      host: "0.0.0.0"', "    lsten:")}`),
    expected:
      /routes\.yaml:5:5: error: 'routes\[0\]\.lsten' is not a known key: did you mean "listen"/,
  },
  {
    name: "tab indentation",
    make: write("routes:\n\t- id: x\n"),
    expected: /routes\.yaml:2:1: error: '\(yaml\)' is not valid YAML: Tabs are not allowed/,
  },
  {
    name: "100,000 nested flow sequences",
    make: write(`routes: ${"[".repeat(100_000)}\n`),
    expected: /routes\.yaml:1:\d+: error: '\(yaml\)' nests too deeply/,
  },
  {
    name: "duplicate keys",
    make: write(`${SHIPPED}\nroutes: []\n`),
    expected: new RegExp(
      `routes\\.yaml:${
        SHIPPED_LINES + 2
      }:1: error: '\\(yaml\\)' is not valid YAML: Map keys must be unique`,
    ),
  },
  {
    name: "alias to a missing anchor",
    make: write("routes: *missing\n"),
    expected:
      /routes\.yaml:1:9: error: '\(yaml\)' refers to the anchor &missing, which is not defined/,
  },
  {
    name: "a !!js/function tag",
    make: write("routes: !!js/function 'function () { return 1; }'\n"),
    expected:
      /routes\.yaml:1:9: error: '\(yaml\)' is not valid YAML: Unresolved tag: tag:yaml\.org,2002:js\/function/,
  },
  {
    name: "a custom !tag",
    make: write("routes: !tag x\n"),
    expected: /routes\.yaml:1:9: error: '\(yaml\)' is not valid YAML: Unresolved tag: !tag/,
  },
  {
    name: "several documents",
    make: write(`${SHIPPED}---\n${SHIPPED}`),
    expected: new RegExp(
      `routes\\.yaml:${
        SHIPPED_LINES + 1
      }:1: error: '\\(yaml\\)' is not valid YAML: Source contains multiple documents`,
    ),
  },
  {
    name: "a directory in place of the file",
    make: (dir) => Deno.mkdir(`${dir}/routes.yaml`),
    expected: /routes\.yaml:1:1: error: '\(file\)' cannot be read: is a directory, not a YAML file/,
  },
  {
    name: "a missing file",
    make: () => Promise.resolve(),
    expected: /routes\.yaml:1:1: error: '\(file\)' cannot be read: file not found/,
  },
  {
    name: "a symbolic link loop",
    make: (dir) => Deno.symlink(`${dir}/routes.yaml`, `${dir}/routes.yaml`),
    expected:
      /routes\.yaml:1:1: error: '\(file\)' cannot be read: too many levels of symbolic links/,
  },
  {
    name: "a file past 4 MiB",
    make: write(`${SHIPPED}# ${"x".repeat(4 * 1024 * 1024)}\n`),
    expected: /routes\.yaml:1:1: error: '\(file\)' is too large: \d+ bytes, the limit is 4194304/,
  },
];

/** Runs `run` over `items`, at most `limit` at a time (the machine has few cores). */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await run(items[next++]);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

Deno.test("sprox validate exits 1 with file:line:column errors and no stack trace on hostile files", async () => {
  const root = await scratchDir();
  try {
    await eachLimited(CASES, 3, async (c) => {
      const dir = `${root}/${c.name.replace(/\W+/g, "-")}`;
      await Deno.mkdir(dir);
      await c.make(dir);
      const result = await runCli(["validate", "-c", dir], { timeoutMs: 30_000 });
      assert.equal(result.code, 1, `${c.name}: ${result.stderr}`);
      assert.match(result.stderr, c.expected, c.name);
      assert.match(result.stderr, /\n\d+ error\(s\): configuration is invalid\.\n$/, c.name);
      assertNoStackTrace(result.stderr, c.name);
      assert.equal(result.stdout, "", c.name);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("sprox validate names a file it may not read, by the OS or by the sandbox", async () => {
  const dir = await scratchDir();
  const outside = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/routes.yaml`, SHIPPED);
    await Deno.chmod(`${dir}/routes.yaml`, 0o000);
    const denied = await runCli(["validate", "-c", dir]);
    assertNoStackTrace(denied.stderr, "mode 000");
    if (Deno.uid() === 0) {
      // root reads whatever the mode says: the file is valid and loads.
      assert.equal(denied.code, 0, denied.stderr);
    } else {
      assert.equal(denied.code, 1);
      assert.match(
        denied.stderr,
        /routes\.yaml:1:1: error: '\(file\)' cannot be read: permission denied/,
      );
    }

    await Deno.writeTextFile(`${outside}/routes.yaml`, SHIPPED);
    const sandboxed = await runCli(["validate", "-c", `${outside}/routes.yaml`]);
    assert.equal(sandboxed.code, 1);
    assert.match(
      sandboxed.stderr,
      /routes\.yaml:1:1: error: '\(file\)' cannot be read: outside the read permission of the sProx sandbox/,
    );
    assertNoStackTrace(sandboxed.stderr, "outside the sandbox");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("sprox serve refuses an alias bomb: exit 1, file:line:column, no stack trace", async () => {
  const dir = await scratchDir();
  try {
    await Deno.writeTextFile(`${dir}/routes.yaml`, aliasBomb());
    const result = await runCli(["serve", "-c", dir], { timeoutMs: 30_000 });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, BOMB_ERROR);
    assert.match(result.stderr, /sprox: configuration is invalid; not starting\n$/);
    assertNoStackTrace(result.stderr, "serve");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGHUP with an alias bomb: the reload is refused with file:line:column, serving goes on", async () => {
  const port = freePort();
  const config = `routes:
  - id: steady
    listen: { host: 127.0.0.1, port: ${port} }
    host_patterns: ["*"]
    upstream: { origin: "http://127.0.0.1:9" }
`;
  const sprox = await startSprox(config);
  try {
    await Deno.writeTextFile(sprox.configPath, aliasBomb());
    sprox.kill("SIGHUP");
    const rejected = await sprox.waitForLog((l) => l.msg === "reload rejected: config error");
    assert.equal(rejected.level, "error");
    assert.match(String(rejected.detail), BOMB_ERROR);
    await sprox.waitForLog((l) => l.msg === "keeping the previous configuration");
    const health = await fetch(`http://127.0.0.1:${port}/health`, { signal: deadline() });
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: deadline() });
    assert.match(await metrics.text(), /^sprox_config_reloads_total\{outcome="failure"\} 1$/m);
    assertNoStackTrace(sprox.stderr(), "reload");
  } finally {
    await sprox.stop();
  }
});
