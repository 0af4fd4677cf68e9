/**
 * Identifying the client: the socket peer, or a forwarding header when (and only when)
 * the peer is a trusted proxy.
 * @module
 */
import { type Cidr, cidrContains, formatIp, parseCidr, parseIp } from "../net/mod.ts";

/** Compiles `client_ip.trusted_proxies` into CIDR blocks (validated at load). */
export function compileTrustedProxies(list: readonly string[]): readonly Cidr[] {
  return list.map((s) => parseCidr(s)).filter((c): c is Cidr => c !== undefined);
}

function isTrusted(trusted: readonly Cidr[], ip: string): boolean {
  const bytes = parseIp(ip);
  return bytes !== undefined && trusted.some((c) => cidrContains(c, bytes));
}

/** Normalises an address from a header: strips brackets, ports and quotes; `undefined` if not an IP. */
function cleanAddress(raw: string): string | undefined {
  let s = raw.trim().replace(/^"|"$/g, "");
  if (s.startsWith("[")) s = s.slice(1, s.indexOf("]") > 0 ? s.indexOf("]") : undefined);
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(s)) s = s.slice(0, s.lastIndexOf(":"));
  const bytes = parseIp(s);
  return bytes ? formatIp(bytes) : undefined;
}

/** The rightmost address of a chain that is not a trusted proxy (RFC 7239 §7.4 advice). */
function pickFromChain(chain: readonly string[], trusted: readonly Cidr[]): string | undefined {
  const addresses = chain.map(cleanAddress).filter((a): a is string => a !== undefined);
  for (let i = addresses.length - 1; i >= 0; i--) {
    if (!isTrusted(trusted, addresses[i])) return addresses[i];
  }
  return addresses[0];
}

/** Peer addresses already looked at, per trusted-proxy list (a reload brings a new list). */
const peers = new WeakMap<readonly Cidr[], Map<string, { clean: string; trusted: boolean }>>();
/** Distinct peers remembered per list before it starts over (a bound, not a cache policy). */
const PEER_MEMO_LIMIT = 4096;

/** The peer's normalised address and whether it is a trusted proxy: worked out once per peer. */
function peerFacts(peer: string, trusted: readonly Cidr[]): { clean: string; trusted: boolean } {
  let known = peers.get(trusted);
  if (known === undefined) peers.set(trusted, known = new Map());
  let facts = known.get(peer);
  if (facts === undefined) {
    if (known.size >= PEER_MEMO_LIMIT) known.clear();
    const clean = cleanAddress(peer) ?? peer;
    facts = { clean, trusted: isTrusted(trusted, clean) };
    known.set(peer, facts);
  }
  return facts;
}

/** The headers consulted, in order (spec: Forwarded, X-Forwarded-For, X-Real-IP, CF-Connecting-IP, X-Client-IP). */
export const CLIENT_IP_HEADERS = [
  "forwarded",
  "x-forwarded-for",
  "x-real-ip",
  "cf-connecting-ip",
  "x-client-ip",
] as const;

/**
 * Resolves the client IP. Forwarding headers are believed only when the socket peer is in
 * `trusted`; otherwise the peer address is the answer.
 *
 * @example
 * ```ts
 * resolveClientIp(new Headers({ "x-forwarded-for": "203.0.113.9" }), "127.0.0.1", compileTrustedProxies(["127.0.0.0/8"]));
 * // "203.0.113.9"
 * ```
 */
export function resolveClientIp(headers: Headers, peer: string, trusted: readonly Cidr[]): string {
  const { clean: peerClean, trusted: peerTrusted } = peerFacts(peer, trusted);
  if (!peerTrusted) return peerClean;
  const forwarded = headers.get("forwarded");
  if (forwarded) {
    const chain = [...forwarded.matchAll(/for=("[^"]*"|[^;,\s]+)/gi)].map((m) => m[1]);
    const ip = pickFromChain(chain, trusted);
    if (ip) return ip;
  }
  const xff = headers.get("x-forwarded-for");
  if (xff) {
    const ip = pickFromChain(xff.split(","), trusted);
    if (ip) return ip;
  }
  for (const name of ["x-real-ip", "cf-connecting-ip", "x-client-ip"]) {
    const value = headers.get(name);
    const ip = value ? cleanAddress(value) : undefined;
    if (ip) return ip;
  }
  return peerClean;
}
