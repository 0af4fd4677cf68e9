import assert from "node:assert/strict";
import { isSecretKey, redactConfig, scrubValues } from "./redact.ts";

Deno.test("redactConfig() hides secrets by field name, keeps nulls and ordinary values", () => {
  const config = {
    auth: { bearer_token: "t0ken-value-xyz", unset_token: null },
    direct_stream: { api_password: "pw-value-123", proxy_url: "http://u:pw@proxy:3128/x?a=1" },
    rate_limit: { key: "header:x-api-key", exempt_paths: ["/health"] },
    secrets: { clearkey: [{ kid: "00112233445566778899aabbccddeeff", key: "0f".repeat(16) }] },
    tokens: { signing_secret: "c2VjcmV0", aes_key: "ab".repeat(32), default_ttl_secs: 60 },
    sources: [{ headers: { Authorization: "Bearer abc", accept: "application/json" } }],
    tls: { private_key_path: "/etc/sprox/key.pem" },
    origin: "https://cdn.example/vod?token=abc&x=1",
  };
  assert.deepEqual(redactConfig(config, []), {
    auth: { bearer_token: "[REDACTED]", unset_token: null },
    direct_stream: {
      api_password: "[REDACTED]",
      proxy_url: "http://[REDACTED]@proxy:3128/x?a=1",
    },
    rate_limit: { key: "header:x-api-key", exempt_paths: ["/health"] },
    secrets: { clearkey: [{ kid: "00112233445566778899aabbccddeeff", key: "[REDACTED]" }] },
    tokens: { signing_secret: "[REDACTED]", aes_key: "[REDACTED]", default_ttl_secs: 60 },
    sources: [{ headers: { Authorization: "[REDACTED]", accept: "application/json" } }],
    tls: { private_key_path: "/etc/sprox/key.pem" },
    origin: "https://cdn.example/vod?token=[REDACTED]&x=1",
  });
});

Deno.test("redactConfig() scrubs known secret values wherever they are", () => {
  const out = redactConfig({ note: "see Abcdefgh1234 and Abcd", other: ["xAbcdefgh1234y"] }, [
    "Abcdefgh1234",
    "Abc",
  ]);
  // Values shorter than 4 characters are not searched for (they would hit ordinary words).
  assert.deepEqual(out, { note: "see [REDACTED] and Abcd", other: ["x[REDACTED]y"] });
});

Deno.test("scrubValues() replaces the longest secret first, in keys and values", () => {
  assert.deepEqual(
    scrubValues({ "secret-abcd": "secret-abcdef" }, ["secret-abcd", "secret-abcdef"]),
    { "[REDACTED]": "[REDACTED]" },
  );
  assert.deepEqual(scrubValues({ n: 1, b: true, z: null }, ["1234"]), { n: 1, b: true, z: null });
});

Deno.test("isSecretKey() names credentials, not paths or identifiers", () => {
  for (const name of ["password", "api_password", "bearer_token", "signing_secret", "api_key"]) {
    assert.ok(isSecretKey(name), name);
  }
  for (const name of ["private_key_path", "key_source", "kid", "max_tokens_x", "keyframe"]) {
    assert.ok(!isSecretKey(name), name);
  }
});
