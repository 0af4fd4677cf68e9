import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { type Config, ConfigSchema } from "../config/mod.ts";
import { applyPolicy, compilePolicy, finishPolicy, type PolicyInput } from "./policy.ts";

function config(extra: Record<string, unknown> = {}): Config {
  return ConfigSchema.parse({
    routes: [{
      id: "r",
      listen: { port: 8080 },
      host_patterns: ["a.test"],
      upstream: { origin: "http://o.test" },
    }],
    ...extra,
  });
}

function input(path: string, init: RequestInit = {}, clientIp = "203.0.113.1"): PolicyInput {
  const request = new Request(`http://a.test${path}`, init);
  return { request, url: new URL(request.url), clientIp, requestId: "rid" };
}

Deno.test("compilePolicy() keeps the buckets across a reload with unchanged knobs", () => {
  const first = compilePolicy(config());
  const same = compilePolicy(config({ cors: { max_age_secs: 1 } }), first);
  assert(same.limiter === first.limiter);
  const changed = compilePolicy(config({ rate_limit: { burst: 3 } }), first);
  assert(changed.limiter !== first.limiter);
  assertEquals(compilePolicy(config({ rate_limit: { enabled: false } }), first).limiter, null);
});

Deno.test("applyPolicy() exempts /health and /metrics and answers 429 after the burst", () => {
  const policy = compilePolicy(config({ rate_limit: { burst: 2, requests_per_second: 1 } }));
  for (let i = 0; i < 10; i++) {
    assertEquals(applyPolicy(policy, input("/health")).decision, undefined);
  }
  assertEquals(applyPolicy(policy, input("/x")).response, undefined);
  assertEquals(applyPolicy(policy, input("/x")).response, undefined);
  const refused = applyPolicy(policy, input("/x"));
  assertEquals(refused.response?.status, 429);
  assertEquals(refused.response?.headers.get("retry-after"), "1");
  const headers = new Headers();
  finishPolicy(policy, input("/x").request, refused, headers);
  assertEquals(headers.get("ratelimit-policy"), '"sprox";q=2;w=2');
  assertEquals(headers.get("ratelimit"), '"sprox";r=0;t=2');
});

Deno.test("applyPolicy() supports prefix exemptions ending in *", () => {
  const policy = compilePolicy(
    config({ rate_limit: { burst: 1, exempt_paths: ["/static/*"] } }),
  );
  for (let i = 0; i < 3; i++) {
    assertEquals(applyPolicy(policy, input("/static/a.js")).response, undefined);
  }
});

Deno.test("applyPolicy() answers CORS preflights itself", () => {
  const policy = compilePolicy(config({ rate_limit: { enabled: false } }));
  const outcome = applyPolicy(
    policy,
    input("/v", {
      method: "OPTIONS",
      headers: { origin: "https://p.example", "access-control-request-method": "GET" },
    }),
  );
  assertEquals(outcome.response?.status, 204);
});
