import type { z } from "zod";

interface Walkable {
  shape?: Record<string, unknown>;
  element?: unknown;
  unwrap?: () => unknown;
  _zod?: { def?: { innerType?: unknown; type?: string } };
}

function unwrap(schema: unknown): Walkable | undefined {
  let current = schema as Walkable | undefined;
  for (let i = 0; i < 10 && current; i++) {
    const inner = current._zod?.def?.innerType;
    if (inner) current = inner as Walkable;
    else break;
  }
  return current;
}

/**
 * The keys a strict object accepts at `path` of the schema (for did-you-mean hints).
 */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node = unwrap(schema);
  for (const part of path) {
    if (!node) return [];
    if (typeof part === "number") node = unwrap(node.element);
    else node = unwrap(node.shape?.[String(part)]);
  }
  return node?.shape ? Object.keys(node.shape) : [];
}
