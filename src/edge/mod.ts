/**
 * The edge: listeners, client identification, reload.
 * @module
 */
export { ProxyServer } from "./server.ts";
export type { ConnectionCloseReason, ConnectionState } from "./connection.ts";
export { CLIENT_IP_HEADERS, compileTrustedProxies, resolveClientIp } from "./client_ip.ts";
export {
  certificateNotAfter,
  type CertificateSource,
  refreshCertificateExpiry,
} from "./certificate_expiry.ts";
