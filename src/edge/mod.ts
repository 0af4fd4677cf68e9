/**
 * The edge: listeners, client identification, reload.
 * @module
 */
export { ProxyServer, type ServerOptions } from "./server.ts";
export type { Apps, EdgePlan, Handler, ListenerPlan, ServerState } from "./plan.ts";
export type { ConnectionCloseReason, ConnectionState } from "./connection.ts";
export { CLIENT_IP_HEADERS, compileTrustedProxies, resolveClientIp } from "./client_ip.ts";
export {
  certificateNotAfter,
  type CertificateSource,
  refreshCertificateExpiry,
} from "./certificate_expiry.ts";
export type { PreparedReload } from "./server.ts";
export { bindMallocTrim, type MemoryReturnSettings, startMemoryReturn } from "./memory_return.ts";
