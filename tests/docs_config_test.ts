/**
 * The documentation keeps up with the code: every key of the configuration schema has a
 * row in docs/configuration.md with its default, and `.env.example` lists exactly the
 * variables sProx reads.
 */
import assert from "node:assert/strict";
import { ConfigSchema, ENV_VARIABLES } from "../src/config/mod.ts";
import { REPO_ROOT } from "./_support/mod.ts";

interface SchemaNode {
  readonly _zod: { readonly def: Record<string, unknown> & { readonly type: string } };
}

/** One key of the schema: its documented path, whether it is required, and its default. */
interface SchemaKey {
  readonly path: string;
  readonly kind: string;
  readonly required: boolean;
  readonly fallback: unknown;
}

function unwrap(node: SchemaNode): { node: SchemaNode; required: boolean; fallback: unknown } {
  let required = true;
  let fallback: unknown = undefined;
  for (;;) {
    const def = node._zod.def;
    if (def.type === "default" || def.type === "prefault") {
      if (required) {
        const value = def.defaultValue;
        fallback = typeof value === "function" ? (value as () => unknown)() : value;
      }
      required = false;
    } else if (def.type === "optional") required = false;
    else if (def.type !== "nullable") return { node, required, fallback };
    node = def.innerType as SchemaNode;
  }
}

/** Every key path of the schema, e.g. `routes[].listen.port`. */
function schemaKeys(root: SchemaNode): SchemaKey[] {
  const keys: SchemaKey[] = [];
  const visit = (schema: SchemaNode, path: string) => {
    const { node, required, fallback } = unwrap(schema);
    const def = node._zod.def;
    if (path) keys.push({ path, kind: def.type, required, fallback });
    if (def.type === "object") {
      for (const [key, child] of Object.entries(def.shape as Record<string, SchemaNode>)) {
        visit(child, path ? `${path}.${key}` : key);
      }
    } else if (def.type === "array") {
      const element = unwrap(def.element as SchemaNode).node;
      if (element._zod.def.type === "object") {
        for (
          const [key, child] of Object.entries(element._zod.def.shape as Record<string, SchemaNode>)
        ) {
          visit(child, `${path}[].${key}`);
        }
      }
    }
  };
  visit(root, "");
  return keys;
}

/** The cells of a Markdown table row (escaped `\|` stays inside a cell), or undefined. */
function tableCells(line: string): string[] | undefined {
  if (!line.startsWith("|")) return undefined;
  return line.split(/(?<!\\)\|/).slice(1, -1).map((cell) => cell.trim());
}

/** Rows of the Markdown tables whose first cell is a backquoted key: key → default cell. */
function documentedKeys(markdown: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of markdown.split("\n")) {
    const cells = tableCells(line);
    const key = cells && /^`([a-z_][a-z0-9_.[\]]*)`$/.exec(cells[0])?.[1];
    if (cells && key && cells.length >= 4) rows.set(key, cells[2]);
  }
  return rows;
}

const KEYS = schemaKeys(ConfigSchema as unknown as SchemaNode);
const DOC = documentedKeys(await Deno.readTextFile(`${REPO_ROOT}docs/configuration.md`));

Deno.test("the schema walk finds the keys (sanity)", () => {
  const paths = KEYS.map((k) => k.path);
  for (const path of ["routes", "routes[].listen.port", "direct_stream.allowlist[].paths"]) {
    assert.ok(paths.includes(path), path);
  }
  assert.ok(KEYS.length > 80);
});

Deno.test("docs/configuration.md documents every schema key", () => {
  const missing = KEYS.filter((k) => !DOC.has(k.path)).map((k) => k.path);
  assert.deepEqual(
    missing,
    [],
    `docs/configuration.md has no row for these keys (add "| \`key\` | type | default | meaning |"):\n  ${
      missing.join("\n  ")
    }`,
  );
});

Deno.test("docs/configuration.md documents no key the schema lacks", () => {
  const known = new Set(KEYS.map((k) => k.path));
  const stale = [...DOC.keys()].filter((path) => !known.has(path));
  assert.deepEqual(
    stale,
    [],
    `documented but not in src/config/schema.ts:\n  ${stale.join("\n  ")}`,
  );
});

Deno.test("docs/configuration.md states each key's default as the schema does", () => {
  const wrong: string[] = [];
  for (const key of KEYS) {
    const cell = DOC.get(key.path);
    if (cell === undefined) continue;
    if (key.required) {
      if (cell !== "required") wrong.push(`${key.path}: schema says required, docs say ${cell}`);
      continue;
    }
    if (key.kind === "object" && key.fallback !== null) continue; // A section: "{}".
    const literal = /`([^`]*)`/.exec(cell)?.[1];
    let documented: unknown = Symbol("unparsable");
    try {
      documented = literal === undefined ? documented : JSON.parse(literal);
    } catch {
      // Left as unparsable: reported below.
    }
    try {
      assert.deepEqual(documented, key.fallback);
    } catch {
      wrong.push(`${key.path}: schema default ${JSON.stringify(key.fallback)}, docs say ${cell}`);
    }
  }
  assert.deepEqual(
    wrong,
    [],
    `defaults out of date in docs/configuration.md:\n  ${wrong.join("\n  ")}`,
  );
});

function envExampleNames(text: string): string[] {
  return text.split("\n").map((l) => /^([A-Z][A-Z0-9_]*)=/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

Deno.test(".env.example lists exactly the variables sProx reads", async () => {
  const names = envExampleNames(await Deno.readTextFile(`${REPO_ROOT}.env.example`));
  assert.deepEqual([...names].sort(), Object.keys(ENV_VARIABLES).sort());
  assert.equal(new Set(names).size, names.length, "no variable twice");
});

Deno.test("the sandbox's env allowlist and docs/configuration.md cover the same variables", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}deno.json`));
  const allowed = config.permissions.sprox.env.allow as string[];
  assert.deepEqual([...allowed].sort(), Object.keys(ENV_VARIABLES).sort());
  const docs = await Deno.readTextFile(`${REPO_ROOT}docs/configuration.md`);
  const documented = docs.split("\n").map((l) => tableCells(l)?.[0])
    .map((cell) => cell && /^`([A-Z][A-Z0-9_]+)`$/.exec(cell)?.[1])
    .filter((name): name is string => typeof name === "string");
  assert.deepEqual(documented.sort(), Object.keys(ENV_VARIABLES).sort());
});
