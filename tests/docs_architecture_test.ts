/**
 * docs/architecture-overview.md's module map names every module folder of `src/`.
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "./_support/mod.ts";

function moduleFolders(dir: string, prefix = "src"): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.isDirectory) continue;
    const path = `${prefix}/${entry.name}`;
    try {
      Deno.statSync(`${dir}/${entry.name}/mod.ts`);
      found.push(path);
    } catch {
      // A grouping folder such as src/stream: its children are the modules.
    }
    found.push(...moduleFolders(`${dir}/${entry.name}`, path));
  }
  return found;
}

Deno.test("the module map lists every src/ module", async () => {
  const doc = await Deno.readTextFile(`${REPO_ROOT}docs/architecture-overview.md`);
  const map = doc.slice(doc.indexOf("## Module map"));
  const rows = new Set([...map.matchAll(/^\| `([^`]+)`/gm)].map((m) => m[1]));
  const modules = moduleFolders(`${REPO_ROOT}src`);
  assert.ok(modules.includes("src/config"));
  const missing = modules.filter((m) => !rows.has(m)).sort();
  assert.deepEqual(
    missing,
    [],
    `add a row to the module map of docs/architecture-overview.md for: ${missing.join(", ")}`,
  );
});
