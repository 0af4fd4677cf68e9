/**
 * Signed, expiring URLs: a token is a bearer capability for one direct-mode endpoint with
 * its parameters (the destination, header overrides, options), an expiry and optionally the
 * one client IP that may present it. It stands in for the API credential.
 *
 * Two formats, told apart by their first byte (the version):
 *
 * - `1`, sealed: `0x01 ‖ IV (12) ‖ AES-256-GCM(payload)` with the version byte as
 *   additional data. The destination stays hidden; any changed byte fails the GCM tag.
 * - `2`, signed: `0x02 ‖ payload ‖ HMAC-SHA256(0x02 ‖ payload)`. The payload is readable;
 *   any changed byte fails the MAC.
 *
 * The token is the base64url (RFC 4648 §5, no padding) of those bytes; the payload is
 * JSON `{"e": endpoint, "q": [[name, value], …], "exp": unix seconds, "ip": address?}`.
 * Unlike MediaFlow's AES-CBC tokens (no MAC), neither format is malleable.
 *
 * Every refusal (malformed, unknown version, tampered, expired, wrong IP) looks the same to
 * the caller: one 403 counted by the credential-abuse tracker.
 * @module
 */
import {
  base64UrlToBytes,
  bytesToBase64Url,
  formatIp,
  hexToBytes,
  type IpBytes,
  parseIp,
} from "../net/mod.ts";
import { refuseIfBlocked, refuseWrongCredential } from "./auth.ts";

/** Version byte of sealed (AES-256-GCM) tokens. */
export const SEALED_TOKEN_VERSION = 1;
/** Version byte of signed (HMAC-SHA256) tokens. */
export const SIGNED_TOKEN_VERSION = 2;

/** Longest token accepted (characters): beyond it a token is refused unread. */
export const MAX_TOKEN_LENGTH = 16384;

const IV_BYTES = 12;
const MAC_BYTES = 32;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** What a token carries. */
export interface TokenClaims {
  /** The endpoint path it opens (`/proxy/stream`, `/proxy/hls/manifest.m3u8`, …). */
  readonly endpoint: string;
  /** The query parameters the request runs with, in order (`d`, `h_referer`, …). */
  readonly params: readonly (readonly [string, string])[];
  /** Expiry, unix seconds. */
  readonly exp: number;
  /** The one client address that may present it (canonical text), or null for any. */
  readonly ip: string | null;
}

/** The key material of `tokens.*` (`AES_KEY`, `SIGNING_SECRET`), as configured. */
export interface TokenKeyMaterial {
  /** 64 hex digits, or null. */
  readonly aesKey: string | null;
  /** base64, or null. */
  readonly signingSecret: string | null;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Canonical address text, or undefined when `text` is not an IP address. */
function canonicalIp(text: string): string | undefined {
  const bytes = parseIp(text);
  return bytes ? formatIp(bytes) : undefined;
}

/** An address as 16 bytes (IPv4 as IPv4-mapped IPv6), so any two compare in equal time. */
function sixteen(ip: IpBytes): Uint8Array {
  if (ip.length === 16) return ip;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(ip, 12);
  return out;
}

function serialise(claims: TokenClaims): Uint8Array<ArrayBuffer> {
  const payload: Record<string, unknown> = {
    e: claims.endpoint,
    q: claims.params,
    exp: claims.exp,
  };
  if (claims.ip !== null) payload.ip = claims.ip;
  return concat(encoder.encode(JSON.stringify(payload)));
}

/** Reads a payload back; undefined unless it has exactly the shape `serialise` writes. */
function parsePayload(bytes: Uint8Array): TokenClaims | undefined {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const { e, q, exp, ip } = value as Record<string, unknown>;
  if (typeof e !== "string" || !e.startsWith("/")) return undefined;
  if (typeof exp !== "number" || !Number.isSafeInteger(exp)) return undefined;
  if (ip !== undefined && typeof ip !== "string") return undefined;
  if (!Array.isArray(q)) return undefined;
  const params: [string, string][] = [];
  for (const pair of q) {
    if (
      !Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" ||
      typeof pair[1] !== "string"
    ) return undefined;
    params.push([pair[0], pair[1]]);
  }
  return { endpoint: e, params, exp, ip: ip ?? null };
}

/**
 * The token keys of one plan: the AES-256-GCM key (sealed tokens) and the HMAC-SHA256 key
 * (signed tokens), imported into WebCrypto once, on first use. New tokens are sealed when
 * an AES key is configured, else signed; both kinds are accepted when their key is.
 *
 * @example
 * ```ts
 * const keys = TokenKeys.from({ aesKey: "00".repeat(32), signingSecret: null })!;
 * const token = await keys.issue({ endpoint: "/proxy/stream", params: [["d", url]], exp, ip: null });
 * await keys.verify(token, { now: Date.now() / 1000, clientIp: "203.0.113.9" }); // the claims
 * ```
 */
export class TokenKeys {
  #aes: Promise<CryptoKey> | null;
  #hmac: Promise<CryptoKey> | null;

  private constructor(material: TokenKeyMaterial) {
    this.#aes = material.aesKey === null ? null : crypto.subtle.importKey(
      "raw",
      hexToBytes(material.aesKey)!,
      "AES-GCM",
      false,
      ["encrypt", "decrypt"],
    );
    const secret = material.signingSecret === null
      ? undefined
      : base64UrlToBytes(material.signingSecret.replace(/\+/g, "-").replace(/\//g, "_"));
    this.#hmac = secret === undefined ? null : crypto.subtle.importKey(
      "raw",
      concat(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
  }

  /** The keys of a configuration, or null when neither key is configured. */
  static from(material: TokenKeyMaterial): TokenKeys | null {
    if (material.aesKey === null && material.signingSecret === null) return null;
    return new TokenKeys(material);
  }

  /** Which format new tokens get. */
  get issuing(): "sealed" | "signed" {
    return this.#aes ? "sealed" : "signed";
  }

  /** Seals (or, without an AES key, signs) `claims` into a token. */
  async issue(claims: TokenClaims): Promise<string> {
    const payload = serialise(claims);
    if (this.#aes) {
      const version = new Uint8Array([SEALED_TOKEN_VERSION]);
      const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const sealed = await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: version },
        await this.#aes,
        payload,
      );
      return bytesToBase64Url(concat(version, iv, new Uint8Array(sealed)));
    }
    const signed = concat(new Uint8Array([SIGNED_TOKEN_VERSION]), payload);
    const mac = await crypto.subtle.sign("HMAC", await this.#hmac!, signed);
    return bytesToBase64Url(concat(signed, new Uint8Array(mac)));
  }

  /**
   * The claims of an authentic token, or undefined for anything else (malformed, unknown
   * version, no key for its version, tampered). Expiry and address are not checked here.
   */
  async open(token: string): Promise<TokenClaims | undefined> {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return undefined;
    const bytes = base64UrlToBytes(token);
    if (!bytes || bytes.length < 2) return undefined;
    const version = bytes[0];
    if (version === SEALED_TOKEN_VERSION && this.#aes) {
      if (bytes.length < 1 + IV_BYTES + 16) return undefined;
      try {
        const plain = await crypto.subtle.decrypt(
          {
            name: "AES-GCM",
            iv: bytes.slice(1, 1 + IV_BYTES),
            additionalData: bytes.slice(0, 1),
          },
          await this.#aes,
          bytes.slice(1 + IV_BYTES),
        );
        return parsePayload(new Uint8Array(plain));
      } catch {
        return undefined;
      }
    }
    if (version === SIGNED_TOKEN_VERSION && this.#hmac) {
      if (bytes.length < 1 + MAC_BYTES) return undefined;
      const signed = bytes.slice(0, bytes.length - MAC_BYTES);
      const mac = bytes.slice(bytes.length - MAC_BYTES);
      // WebCrypto's verify compares the MAC in constant time.
      const authentic = await crypto.subtle.verify("HMAC", await this.#hmac, mac, signed);
      return authentic ? parsePayload(signed.subarray(1)) : undefined;
    }
    return undefined;
  }

  /**
   * The claims of a token that is authentic, not expired at `now` (unix seconds) and, when
   * bound to an address, presented by that client; undefined otherwise. Both checks run
   * whatever the first one found, and the addresses are compared byte for byte in constant
   * time.
   */
  async verify(
    token: string,
    context: { readonly now: number; readonly clientIp: string },
  ): Promise<TokenClaims | undefined> {
    const claims = await this.open(token);
    if (!claims) return undefined;
    const fresh = context.now < claims.exp;
    let sameAddress = true;
    if (claims.ip !== null) {
      const bound = parseIp(claims.ip);
      const client = parseIp(context.clientIp);
      if (!bound || !client) sameAddress = false;
      else {
        const a = sixteen(bound);
        const b = sixteen(client);
        let diff = 0;
        for (let i = 0; i < 16; i++) diff |= a[i] ^ b[i];
        sameAddress = diff === 0;
      }
    }
    return fresh && sameAddress ? claims : undefined;
  }
}

/**
 * The canonical form of an address a token is bound to; undefined when `text` is not an
 * IP address.
 *
 * @example
 * ```ts
 * tokenAddress("::ffff:203.0.113.9"); // "::ffff:203.0.113.9" as formatIp writes it
 * ```
 */
export function tokenAddress(text: string): string | undefined {
  return canonicalIp(text.trim());
}

/**
 * Checks the token a request presents in place of the API credential: a blocked client is
 * refused first (429, before any work), and any token that does not verify is a wrong
 * credential (403, counted by the abuse tracker). Returns the claims.
 *
 * @example
 * ```ts
 * const claims = await authorizeToken(request, token, keys, { now, clientIp });
 * ```
 */
export async function authorizeToken(
  request: Request,
  token: string,
  keys: TokenKeys | null,
  context: { readonly now: number; readonly clientIp: string },
): Promise<TokenClaims> {
  refuseIfBlocked(request);
  const claims = keys ? await keys.verify(token, context) : undefined;
  if (!claims) refuseWrongCredential(request);
  return claims;
}
