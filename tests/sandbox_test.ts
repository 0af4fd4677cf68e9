/**
 * The `sprox` permission set holds: files outside it are refused with a message naming the
 * permission, unlisted environment variables read as unset, nothing is written outside
 * `var/`, no subprocess runs, and a terminal never gets a permission prompt.
 */
import assert from "node:assert/strict";
import { REPO_ROOT, runCli, scratchDir, selfSignedCertificate } from "./_support/mod.ts";

const makeCertificate = (dir: string) => selfSignedCertificate(dir, { days: 1 });

function tlsConfig(cert: string, key: string): string {
  return `routes:
  - id: "tls-edge"
    listen:
      host: "127.0.0.1"
      port: 8443
      tls:
        enabled: true
        certificate_path: "${cert}"
        private_key_path: "${key}"
    host_patterns: ["*"]
    upstream:
      origin: "http://127.0.0.1:9"
`;
}

Deno.test("validate refuses a certificate outside the sandbox, naming the read permission", async () => {
  const outside = await Deno.makeTempDir({ prefix: "sprox-outside-" });
  const dir = await scratchDir();
  try {
    const { cert, key } = await makeCertificate(outside);
    await Deno.writeTextFile(`${dir}/routes.yaml`, tlsConfig(cert, key));
    const result = await runCli(["validate", "-c", dir]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `'routes\\[0\\]\\.listen\\.tls\\.certificate_path' cannot be read: "${cert}" is outside ` +
          "the read permission of the sProx sandbox \\(--allow-read",
      ),
    );
    assert.match(result.stderr, /private_key_path' cannot be read: .* outside the read permission/);
    assert.match(result.stderr, /2 error\(s\)/);

    // The same files inside the sandbox are accepted: the refusal is the permission, not the file.
    const inside = await makeCertificate(dir);
    await Deno.writeTextFile(`${dir}/routes.yaml`, tlsConfig(inside.cert, inside.key));
    const accepted = await runCli(["validate", "-c", dir]);
    assert.equal(accepted.code, 0, accepted.stdout + accepted.stderr);
    assert.match(accepted.stdout, /configuration is valid/);
  } finally {
    await Deno.remove(outside, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("in a terminal, deno task sprox fails on a missing permission instead of prompting", async () => {
  const outside = await Deno.makeTempDir({ prefix: "sprox-outside-" });
  const dir = await scratchDir();
  try {
    const { cert, key } = await makeCertificate(outside);
    await Deno.writeTextFile(`${dir}/routes.yaml`, tlsConfig(cert, key));
    // `script` gives the command a pseudo-terminal, where Deno would otherwise prompt.
    const command = `'${Deno.execPath()}' task -q sprox validate -c '${dir}'`;
    const out = await new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      cwd: REPO_ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.doesNotMatch(text, /Allow\?|requests read access/);
    assert.match(text, /outside the read permission of the sProx sandbox/);
    assert.equal(out.code, 1, text);
  } finally {
    await Deno.remove(outside, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the sprox set hides unlisted variables, confines writes to var/ and runs nothing", async () => {
  const dir = await scratchDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-q",
        "--no-prompt",
        "-P=sprox",
        `${REPO_ROOT}tests/fixtures/sandbox_probe.ts`,
        dir,
      ],
      cwd: REPO_ROOT,
      env: { HOME: "/root-secret-home", SPROX_LOG_LEVEL: "debug" },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const probe = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(probe, {
      home: null,
      nodeHome: null,
      logLevel: "debug",
      writeVar: "ok",
      writeConfig: "NotCapable",
      readEtcPasswd: "NotCapable",
      run: "NotCapable",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
