import assert from "node:assert/strict";
import { log, protectSecrets, RECENT_PROBLEMS, recentProblems } from "./log.ts";

Deno.test("recentProblems() keeps the last warning and error lines only, scrubbed", () => {
  protectSecrets(["Recent-Secret-Value-42"]);
  const start = recentProblems().length;
  log("info", "not kept");
  log("debug", "not kept either");
  assert.equal(recentProblems().length, start);
  for (let i = 0; i < RECENT_PROBLEMS + 5; i++) {
    log(i % 2 === 0 ? "warn" : "error", `problem ${i}`, { detail: "Recent-Secret-Value-42" });
  }
  const lines = recentProblems();
  assert.equal(lines.length, RECENT_PROBLEMS);
  assert.equal(lines[0].msg, "problem 5");
  assert.equal(lines[0].level, "error");
  assert.equal(lines.at(-1)!.msg, `problem ${RECENT_PROBLEMS + 4}`);
  assert.equal(lines.at(-1)!.level, "warn");
  assert.equal(lines[0].detail, "[REDACTED]");
});
