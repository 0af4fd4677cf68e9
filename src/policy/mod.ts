/**
 * Policy: authentication, signed URLs, credential-abuse blocking, rate limiting and CORS.
 * @module
 */
export {
  authAbuseKey,
  type AuthAbuseSettings,
  AuthFailureTracker,
  type FailureOutcome,
} from "./abuse.ts";
export {
  type AuthAbuseBinding,
  bearerToken,
  bindAuthAbuse,
  checkCredentials,
  type CredentialPolicy,
  refuseIfBlocked,
  refuseWrongCredential,
  secretsEqual,
} from "./auth.ts";
export {
  authorizeToken,
  MAX_TOKEN_LENGTH,
  SEALED_TOKEN_VERSION,
  SIGNED_TOKEN_VERSION,
  tokenAddress,
  type TokenClaims,
  type TokenKeyMaterial,
  TokenKeys,
} from "./tokens.ts";
export {
  applyCorsHeaders,
  compileCors,
  type CorsPolicy,
  isPreflight,
  originAllowed,
  preflightResponse,
} from "./cors.ts";
export {
  RATE_LIMIT_POLICY_NAME,
  type RateLimitDecision,
  RateLimiter,
  rateLimitFields,
  type RateLimitSettings,
} from "./rate_limit.ts";
export {
  applyPolicy,
  applySharedPolicy,
  compilePolicy,
  finishPolicy,
  type PolicyInput,
  type PolicyOutcome,
  type PolicyPlan,
  rateLimitKey,
  type RateLimitKeySource,
} from "./policy.ts";
