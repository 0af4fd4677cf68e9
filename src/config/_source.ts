/**
 * From a configuration file to a YAML document, with the limits that keep any input from
 * exhausting the process: the file size, UTF-8 and YAML's printable-character rule, one
 * document, collection depth, aliases (count, cycles, expansion), tags and keys. Every
 * problem becomes a {@linkcode ConfigIssue} with a line and a column, thrown as a
 * {@linkcode ConfigError}; `parseConfig()` turns anything else (a backstop of the YAML
 * library firing) into one too.
 * @module
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { Document, Node } from "yaml";
import { ConfigError, type ConfigIssue } from "./errors.ts";

/** Largest configuration file read (4 MiB); bigger ones are refused before parsing. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** Most alias nodes (`*name`) one configuration may hold. */
export const MAX_YAML_ALIASES = 100;
/** Most values aliases may add to the document once expanded. */
export const MAX_ALIAS_EXPANSION = 100_000;
/** Deepest nesting of mappings and sequences (a real configuration nests about 6 deep). */
export const MAX_YAML_DEPTH = 64;
/** Most YAML syntax errors reported from one file. */
const MAX_SYNTAX_ISSUES = 20;

/** Tags a configuration may carry: the YAML 1.2 core schema's, and `!` (non-specific). */
const CORE_TAGS = new Set(
  ["str", "int", "float", "bool", "null", "map", "seq"].map((t) => `tag:yaml.org,2002:${t}`),
).add("!");

/**
 * Characters outside YAML's `c-printable` set (YAML 1.2.2 §5.1): C0 controls other than
 * tab, line feed and carriage return, DEL, C1 controls other than NEL, and U+FFFE/U+FFFF.
 */
const NOT_PRINTABLE =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u0084\u0086-\u009F\uFFFE\uFFFF]/;

/** A parsed configuration document and where its nodes are. */
export interface ParsedSource {
  readonly text: string;
  readonly doc: Document;
  readonly counter: LineCounter;
  /** The document as plain data, aliases expanded. */
  readonly raw: unknown;
}

/** A file-level problem (no position in the text): reported at line 1, column 1. */
export function fileIssue(file: string, message: string): ConfigIssue {
  return { file, line: 1, column: 1, path: "(file)", message, severity: "error" };
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: offset - start + 1 };
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

function decodes(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * Decodes UTF-8 (a leading byte order mark is dropped); an invalid sequence is reported at
 * the line and column where it starts.
 */
export function decodeConfig(file: string, bytes: Uint8Array): string {
  if (bytes.byteLength > MAX_CONFIG_BYTES) {
    throw new ConfigError(file, [fileIssue(file, tooLarge(bytes.byteLength))]);
  }
  try {
    return strictDecoder.decode(bytes);
  } catch {
    // The longest prefix that decodes (as a stream, so a sequence cut at the end is fine)
    // ends where the first invalid sequence starts.
    let good = 0;
    let bad = bytes.byteLength;
    while (bad - good > 1) {
      const middle = (good + bad) >>> 1;
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, middle), {
          stream: true,
        });
        good = middle;
      } catch {
        bad = middle;
      }
    }
    // When that prefix ends inside a sequence the invalid byte cuts, the sequence's first
    // byte is where the error is.
    let start = good;
    if (!decodes(bytes.subarray(0, start))) {
      while (start > 0 && (bytes[start - 1] & 0xc0) === 0x80) start--;
      start = Math.max(0, start - 1);
    }
    const before = new TextDecoder("utf-8").decode(bytes.subarray(0, start));
    const { line, column } = lineAndColumn(before, before.length);
    throw new ConfigError(file, [{
      file,
      line,
      column,
      path: "(file)",
      message: `is not valid UTF-8: invalid byte 0x${
        bytes[start].toString(16).padStart(2, "0")
      } (save the file as UTF-8)`,
      severity: "error",
    }]);
  }
}

/** The message of a file past {@linkcode MAX_CONFIG_BYTES}. */
export function tooLarge(size: number): string {
  return `is too large: ${size} bytes, the limit is ${MAX_CONFIG_BYTES} (4 MiB)`;
}

/**
 * Parses configuration text into one YAML document within the limits above, and converts it
 * to plain data. Throws {@linkcode ConfigError} with every syntax problem found.
 */
export function parseSource(file: string, input: string): ParsedSource {
  const text = input.startsWith("\uFEFF") ? input.slice(1) : input;
  if (text.length > MAX_CONFIG_BYTES) {
    throw new ConfigError(file, [fileIssue(file, tooLarge(text.length))]);
  }
  const issueAt = (offset: number, message: string): ConfigIssue => ({
    file,
    ...lineAndColumn(text, offset),
    path: "(yaml)",
    message,
    severity: "error",
  });
  const control = NOT_PRINTABLE.exec(text);
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    throw new ConfigError(file, [
      issueAt(control.index, `is not valid YAML: control character U+${code} (YAML 1.2.2 §5.1)`),
    ]);
  }

  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const e of [...doc.errors, ...doc.warnings]) {
    const message = e.code === "RESOURCE_EXHAUSTION"
      ? `nests too deeply to parse (at most ${MAX_YAML_DEPTH} levels are allowed)`
      : `is not valid YAML: ${e.message.split("\n")[0]}`;
    const issue = issueAt(e.pos[0], message);
    const key = `${issue.line}:${issue.column}:${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
    if (issues.length === MAX_SYNTAX_ISSUES) break;
  }
  if (issues.length === 0) checkNodes(doc, issueAt, issues);
  if (issues.length > 0) throw new ConfigError(file, issues);

  // The walk above bounds aliases exactly; the library's own guard stays on as a backstop
  // (anything it throws becomes a config error in parseConfig()).
  const raw = doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSION });
  return { text, doc, counter, raw };
}

interface Anchor {
  /** Values the anchored node stands for once expanded; -1 while it is still being walked. */
  size: number;
}

/**
 * One iterative walk in document order (the order aliases resolve in): collection depth,
 * explicit tags, map keys, and every alias — its anchor defined before it and not around
 * it, at most {@linkcode MAX_YAML_ALIASES} of them, adding at most
 * {@linkcode MAX_ALIAS_EXPANSION} values.
 */
function checkNodes(
  doc: Document,
  issueAt: (offset: number, message: string) => ConfigIssue,
  issues: ConfigIssue[],
): void {
  const anchors = new Map<string, Anchor>();
  let aliases = 0;
  let values = 0;
  let added = 0;
  type Step = { node: unknown; depth: number } | { exit: Anchor; start: number };
  const stack: Step[] = [{ node: doc.contents, depth: 1 }];
  const fail = (node: Node, message: string) => issues.push(issueAt(node.range?.[0] ?? 0, message));
  while (stack.length > 0 && issues.length === 0) {
    const step = stack.pop()!;
    if ("exit" in step) {
      step.exit.size = values - step.start;
      continue;
    }
    const { node, depth } = step;
    if (node === null || node === undefined) continue;
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (!target) {
        fail(node, `refers to the anchor &${node.source}, which is not defined before it`);
      } else if (target.size < 0) {
        fail(node, `refers to the anchor &${node.source} around it (a cycle)`);
      } else if (++aliases > MAX_YAML_ALIASES) {
        fail(node, `holds more than ${MAX_YAML_ALIASES} aliases`);
      } else if ((added += target.size) > MAX_ALIAS_EXPANSION) {
        fail(node, `has aliases that expand to more than ${MAX_ALIAS_EXPANSION} values`);
      } else values += target.size;
      continue;
    }
    const tagged = node as Node;
    if (tagged.tag !== undefined && !CORE_TAGS.has(tagged.tag)) {
      fail(tagged, `uses the YAML tag ${tagged.tag}: only the core schema's tags are allowed`);
      continue;
    }
    values++;
    if (tagged.anchor) {
      const anchor: Anchor = { size: -1 };
      anchors.set(tagged.anchor, anchor);
      stack.push({ exit: anchor, start: values - 1 });
    }
    if (isMap(node) || isSeq(node)) {
      if (depth > MAX_YAML_DEPTH) {
        fail(node, `nests too deeply: at most ${MAX_YAML_DEPTH} levels are allowed`);
        continue;
      }
      for (let i = node.items.length - 1; i >= 0; i--) {
        const item = node.items[i];
        if (isPair(item)) {
          if (item.key !== null && !isScalar(item.key)) {
            fail(item.key as Node, "is not valid here: mapping keys must be plain scalars");
            continue;
          }
          stack.push({ node: item.value, depth: depth + 1 }, { node: item.key, depth: depth + 1 });
        } else stack.push({ node: item, depth: depth + 1 });
      }
    }
  }
}
