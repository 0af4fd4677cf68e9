/**
 * Policy: authentication, rate limiting and CORS.
 * @module
 */
export { checkCredentials, type CredentialPolicy, secretsEqual } from "./auth.ts";
