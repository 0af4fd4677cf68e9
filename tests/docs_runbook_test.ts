/**
 * The runbook's alert rules are valid Prometheus rules (checked by `promtool`) and use
 * only metrics sProx exports.
 */
import assert from "node:assert/strict";
// The app module graph registers every module's metrics on the shared registry.
import "../src/app/mod.ts";
import { registry } from "../src/telemetry/mod.ts";
import { REPO_ROOT } from "./_support/mod.ts";

const NOTES = await Deno.readTextFile(`${REPO_ROOT}docs/operational-notes.md`);

function alertRules(markdown: string): string {
  const section = markdown.slice(markdown.indexOf("\n## Alerts"));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, "docs/operational-notes.md has a yaml block under ## Alerts");
  return block;
}

Deno.test("the runbook's alert rules pass promtool check rules", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/sprox.rules.yml`, alertRules(NOTES));
    const out = await new Deno.Command("promtool", {
      args: ["check", "rules", `${dir}/sprox.rules.yml`],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(text, /SUCCESS: \d+ rules found/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the runbook's alerts and notes name only metrics sProx exports", () => {
  const exported = new Set(registry.getMetricsAsArray().map((m) => m.name));
  const mentioned = new Set(
    [...NOTES.matchAll(/\b(sprox|process)_[a-z_]+/g)].map((m) =>
      m[0].replace(/_(bucket|sum|count)$/, "")
    ),
  );
  const unknown = [...mentioned].filter((name) => !exported.has(name));
  assert.deepEqual(unknown, [], `not exported by sProx: ${unknown.join(", ")}`);
});
