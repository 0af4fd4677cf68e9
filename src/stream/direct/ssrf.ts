/**
 * The SSRF guard's address table: which destination addresses `/proxy/stream` refuses, and
 * host literals in every notation resolvers and URL parsers accept. Pure, no sockets.
 * @module
 */
import { cidrContains, type IpBytes, parseCidr, parseIpv4Loose, parseIpv6 } from "../../net/mod.ts";

/** Why an address is not a public unicast destination. */
export type AddressCategory =
  | "unspecified"
  | "this_network"
  | "loopback"
  | "private"
  | "cgnat"
  | "link_local"
  | "unique_local"
  | "site_local"
  | "multicast"
  | "broadcast"
  | "documentation"
  | "benchmarking"
  | "reserved"
  | "protocol_assignment"
  | "ipv4_mapped"
  | "ipv4_compatible"
  | "nat64_local"
  | "discard"
  | "not_global_unicast";

type Row = readonly [cidr: string, category: AddressCategory];

/** IPv4 special-purpose blocks (IANA IPv4 Special-Purpose Address Registry, RFC 6890). */
const IPV4_TABLE: readonly Row[] = [
  ["0.0.0.0/32", "unspecified"],
  ["0.0.0.0/8", "this_network"],
  ["10.0.0.0/8", "private"],
  ["100.64.0.0/10", "cgnat"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link_local"],
  ["172.16.0.0/12", "private"],
  ["192.0.0.0/24", "protocol_assignment"],
  ["192.0.2.0/24", "documentation"],
  ["192.88.99.0/24", "reserved"],
  ["192.168.0.0/16", "private"],
  ["198.18.0.0/15", "benchmarking"],
  ["198.51.100.0/24", "documentation"],
  ["203.0.113.0/24", "documentation"],
  ["224.0.0.0/4", "multicast"],
  ["255.255.255.255/32", "broadcast"],
  ["240.0.0.0/4", "reserved"],
];

/** IPv6 blocks refused outright (IANA IPv6 Special-Purpose Address Registry). */
const IPV6_TABLE: readonly Row[] = [
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["::ffff:0:0/96", "ipv4_mapped"],
  ["::/96", "ipv4_compatible"],
  ["64:ff9b:1::/48", "nat64_local"],
  ["100::/64", "discard"],
  ["2001:db8::/32", "documentation"],
  ["3fff::/20", "documentation"],
  ["2001:2::/48", "benchmarking"],
  ["fc00::/7", "unique_local"],
  ["fe80::/10", "link_local"],
  ["fec0::/10", "site_local"],
  ["ff00::/8", "multicast"],
];

const compile = (rows: readonly Row[]) =>
  rows.map(([text, category]) => ({ cidr: parseCidr(text)!, category }));
const V4 = compile(IPV4_TABLE);
const V6 = compile(IPV6_TABLE);
const NAT64 = parseCidr("64:ff9b::/96")!;
const SIX_TO_FOUR = parseCidr("2002::/16")!;
const TEREDO = parseCidr("2001::/32")!;
const IETF_ASSIGNMENTS = parseCidr("2001::/23")!;
const GLOBAL_UNICAST = parseCidr("2000::/3")!;

/**
 * Classifies an address: undefined for a public unicast destination, otherwise why it is
 * refused. IPv6 addresses that embed an IPv4 address (NAT64 `64:ff9b::/96`, 6to4
 * `2002::/16`, Teredo `2001::/32`) are refused when the embedded address is; IPv4-mapped and
 * IPv4-compatible addresses are refused outright (a public name has no reason to publish
 * them, and stacks route them to the local IPv4 network).
 *
 * @example
 * ```ts
 * classifyAddress(new Uint8Array([10, 0, 0, 1])); // "private"
 * ```
 */
export function classifyAddress(ip: IpBytes): AddressCategory | undefined {
  if (ip.length === 4) return V4.find((row) => cidrContains(row.cidr, ip))?.category;
  const row = V6.find((r) => cidrContains(r.cidr, ip));
  if (row) return row.category;
  if (cidrContains(NAT64, ip)) return classifyAddress(ip.slice(12, 16));
  if (cidrContains(SIX_TO_FOUR, ip)) return classifyAddress(ip.slice(2, 6));
  if (cidrContains(TEREDO, ip)) {
    // RFC 4380 §4: server IPv4 in bytes 4..7, client IPv4 obfuscated (inverted) in 12..15.
    const client = ip.slice(12, 16).map((b) => b ^ 0xff);
    return classifyAddress(ip.slice(4, 8)) ?? classifyAddress(client);
  }
  if (cidrContains(IETF_ASSIGNMENTS, ip)) return "protocol_assignment";
  if (!cidrContains(GLOBAL_UNICAST, ip)) return "not_global_unicast";
  return undefined;
}

/**
 * Reads a URL host as an IP literal in any notation: bracketed IPv6 (with or without a
 * `%zone`, raw or percent-encoded as `%25`), and IPv4 in decimal, octal, hex or short
 * forms. Returns undefined when the host is a name.
 *
 * @example
 * ```ts
 * parseHostLiteral("[fe80::1%25eth0]"); // Uint8Array(16)
 * parseHostLiteral("2130706433"); // Uint8Array [127, 0, 0, 1]
 * ```
 */
export function parseHostLiteral(host: string): IpBytes | undefined {
  let h = host.trim();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  h = h.replace(/%25/i, "%");
  if (h.includes(":")) return parseIpv6(h);
  return parseIpv4Loose(h);
}

/** Whether a host name is reserved for the local machine (RFC 6761 §6.3: `localhost`). */
export function isLocalhostName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return h === "localhost" || h.endsWith(".localhost") || h === "localhost.localdomain";
}
