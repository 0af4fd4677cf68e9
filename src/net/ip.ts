/**
 * IP address parsing and CIDR matching over bytes. Pure functions, no sockets.
 * @module
 */

/** An address as 4 (IPv4) or 16 (IPv6) bytes. */
export type IpBytes = Uint8Array;

/** Parses a strict dotted-quad IPv4 address. */
export function parseIpv4(text: string): IpBytes | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i])) return undefined;
    const n = Number(parts[i]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/** Parses an IPv6 address (with optional embedded IPv4 tail and `%zone`, without brackets). */
export function parseIpv6(text: string): IpBytes | undefined {
  let s = text;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(":")) return undefined;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    const v4 = parseIpv4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    tail = [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
    s = s.slice(0, lastColon + 1) + "0";
    tail.length = 2;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const parse = (h: string) => (h === "" ? [] : h.split(":"));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  if (tail.length) {
    (halves.length === 2 ? rest : head).pop();
  }
  const groups = [...head, ...rest].length + tail.length;
  if (groups > 8 || (halves.length === 1 && groups !== 8)) return undefined;
  const words: number[] = [];
  for (const g of head) words.push(parseInt(g, 16));
  if (halves.length === 2) { for (let i = 0; i < 8 - groups; i++) words.push(0); }
  for (const g of rest) words.push(parseInt(g, 16));
  words.push(...tail);
  if (
    words.length !== 8 ||
    [...head, ...rest].some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))
  ) return undefined;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  });
  return out;
}

/**
 * Parses an IPv4 or IPv6 address in canonical notation (brackets allowed around IPv6).
 *
 * @example
 * ```ts
 * parseIp("[::1]"); // Uint8Array(16)
 * ```
 */
export function parseIp(text: string): IpBytes | undefined {
  const t = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  return parseIpv4(t) ?? parseIpv6(t);
}

/** A parsed CIDR block. */
export interface Cidr {
  readonly bytes: IpBytes;
  readonly prefix: number;
}

/**
 * Parses `10.0.0.0/8`, `::1/128` or a bare address (a full-length prefix).
 *
 * @example
 * ```ts
 * parseCidr("127.0.0.0/8");
 * ```
 */
export function parseCidr(text: string): Cidr | undefined {
  const [addr, bits] = text.split("/");
  const bytes = parseIp(addr);
  if (!bytes) return undefined;
  const max = bytes.length * 8;
  const prefix = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return undefined;
  return { bytes, prefix };
}

/** Whether `ip` lies inside `cidr` (same family only). */
export function cidrContains(cidr: Cidr, ip: IpBytes): boolean {
  if (cidr.bytes.length !== ip.length) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((cidr.bytes[i] & mask) !== (ip[i] & mask)) return false;
  }
  return true;
}

/** Formats bytes back to text (IPv6 in full lower-case groups, compressed). */
export function formatIp(ip: IpBytes): string {
  if (ip.length === 4) return ip.join(".");
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((ip[i] << 8) | ip[i + 1]).toString(16));
  // Compress the longest run of zero words (RFC 5952 §4.2).
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return words.join(":");
  return `${words.slice(0, best).join(":")}::${words.slice(best + bestLen).join(":")}`;
}

/**
 * Parses an IPv4 address in any notation `inet_aton(3)` and the WHATWG URL parser accept:
 * one to four parts, each decimal, octal (leading `0`) or hex (`0x`), the last part filling
 * the remaining bytes (`127.1`, `2130706433`, `0177.0.0.1`, `0x7f.1`). A trailing dot is
 * allowed. Returns undefined for anything else.
 *
 * @example
 * ```ts
 * parseIpv4Loose("0x7f.1"); // Uint8Array [127, 0, 0, 1]
 * ```
 */
export function parseIpv4Loose(text: string): IpBytes | undefined {
  const parts = (text.endsWith(".") ? text.slice(0, -1) : text).split(".");
  if (parts.length < 1 || parts.length > 4) return undefined;
  const values: number[] = [];
  for (const part of parts) {
    let n: number;
    if (/^0[xX][0-9a-fA-F]*$/.test(part)) n = part.length === 2 ? 0 : parseInt(part.slice(2), 16);
    else if (/^0[0-7]+$/.test(part)) n = parseInt(part.slice(1), 8);
    else if (/^(0|[1-9][0-9]*)$/.test(part)) n = Number(part);
    else return undefined;
    values.push(n);
  }
  const last = values.pop()!;
  if (values.some((v) => v > 255) || last >= 2 ** (8 * (4 - values.length))) return undefined;
  const out = new Uint8Array(4);
  values.forEach((v, i) => out[i] = v);
  for (let i = 3, rest = last; i >= values.length; i--, rest = Math.floor(rest / 256)) {
    out[i] = rest % 256;
  }
  return out;
}

/**
 * Parses a socket address `192.0.2.1:8080` or `[2001:db8::1]:8080` into canonical address
 * text and port.
 *
 * @example
 * ```ts
 * parseSocketAddress("[::1]:8080"); // { address: "::1", port: 8080 }
 * ```
 */
export function parseSocketAddress(text: string): { address: string; port: number } | undefined {
  const match = /^(\[[^\]]+\]|[^:\[\]]+):(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const bytes = parseIp(match[1]);
  const port = Number(match[2]);
  if (!bytes || port < 1 || port > 65535) return undefined;
  return { address: formatIp(bytes), port };
}
