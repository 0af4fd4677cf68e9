/**
 * A small read-only element tree built from XML text with @xmldom/xmldom, the XML parser
 * mpd-parser itself uses. Document type declarations are refused: an MPD never needs one,
 * and refusing them rules out entity-expansion attacks.
 * @module
 */
import { DOMParser } from "@xmldom/xmldom";
import { ProxyError } from "../../errors/mod.ts";

/** One XML element: local name, attributes by local name, child elements, text. */
export interface XmlElement {
  readonly name: string;
  readonly attributes: ReadonlyMap<string, string>;
  readonly children: readonly XmlElement[];
  readonly text: string;
}

interface DomNode {
  nodeType: number;
  localName?: string | null;
  nodeName: string;
  nodeValue?: string | null;
  attributes?: { length: number; item(i: number): DomAttr | null };
  childNodes?: { length: number; item(i: number): DomNode | null };
}

interface DomAttr {
  localName?: string | null;
  name: string;
  value: string;
}

function invalid(message: string, cause?: unknown): ProxyError {
  return new ProxyError(502, "manifest_invalid", message, { cause });
}

function convert(node: DomNode, depth: number): XmlElement {
  if (depth > 32) throw invalid("MPD nests elements too deeply");
  const attributes = new Map<string, string>();
  for (let i = 0; i < (node.attributes?.length ?? 0); i++) {
    const attr = node.attributes!.item(i)!;
    const local = attr.localName ?? attr.name.slice(attr.name.indexOf(":") + 1);
    if (attr.name.startsWith("xmlns")) continue;
    attributes.set(local, attr.value);
  }
  const children: XmlElement[] = [];
  let text = "";
  for (let i = 0; i < (node.childNodes?.length ?? 0); i++) {
    const child = node.childNodes!.item(i)!;
    if (child.nodeType === 1) children.push(convert(child, depth + 1));
    else if (child.nodeType === 3 || child.nodeType === 4) text += child.nodeValue ?? "";
  }
  const name = node.localName ?? node.nodeName.slice(node.nodeName.indexOf(":") + 1);
  return { name, attributes, children, text: text.trim() };
}

/**
 * Parses XML text into an element tree. Throws 502 `manifest_invalid` for malformed XML or
 * a document type declaration.
 *
 * @example
 * ```ts
 * const root = parseXml('<MPD type="static"><Period/></MPD>');
 * root.children[0].name; // "Period"
 * ```
 */
export function parseXml(text: string): XmlElement {
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw invalid("MPD must not declare a document type");
  const errors: string[] = [];
  const record = (message: string) => errors.push(message);
  let document;
  try {
    document = new DOMParser({
      errorHandler: { warning: () => {}, error: record, fatalError: record },
    }).parseFromString(text, "application/xml");
  } catch (error) {
    throw invalid("MPD is not well-formed XML", error);
  }
  const root = document?.documentElement as unknown as DomNode | null;
  if (errors.length > 0 || !root) throw invalid("MPD is not well-formed XML");
  return convert(root, 0);
}

/** The first child element called `name`, if any. */
export function child(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((c) => c.name === name);
}

/** Every child element called `name`. */
export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.name === name);
}
