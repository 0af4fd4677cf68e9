import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { type Config, ConfigSchema } from "../config/mod.ts";
import { ProxyError } from "../errors/mod.ts";
import { checkCredentials } from "./auth.ts";
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

Deno.test("compilePolicy() keeps the auth-abuse tracker (and its blocks) across a reload with unchanged knobs", () => {
  const first = compilePolicy(config());
  assert(first.authAbuse !== null);
  assertEquals(first.authAbuse.settings, {
    maxFailures: 10,
    windowSecs: 60,
    blockSecs: 300,
    maxTrackedClients: 100000,
  });
  const same = compilePolicy(config({ rate_limit: { burst: 3 } }), first);
  assert(same.authAbuse === first.authAbuse);
  for (
    const knob of [
      { max_failures: 5 },
      { window_secs: 30 },
      { block_secs: 60 },
      { max_tracked_clients: 10 },
    ]
  ) {
    const changed = compilePolicy(config({ auth_abuse: knob }), first);
    assert(
      changed.authAbuse !== null && changed.authAbuse !== first.authAbuse,
      JSON.stringify(knob),
    );
  }
  assertEquals(compilePolicy(config({ auth_abuse: { enabled: false } }), first).authAbuse, null);
  assertEquals(compilePolicy(config({ telemetry: { enabled: false } })).countMetrics, false);
  assertEquals(first.countMetrics, true);
});

Deno.test("applyPolicy() binds the client IP for credential checks, only when auth_abuse is on", async () => {
  const reasonOf = async (policy: ReturnType<typeof compilePolicy>, clientIp: string) => {
    const request = input("/keys?api_password=wrong", {}, clientIp);
    applyPolicy(policy, request);
    try {
      await checkCredentials(request.request, request.url, policy.credentials);
    } catch (error) {
      assert(error instanceof ProxyError, String(error));
      return error.reason;
    }
    return "ok";
  };
  const direct = { direct_stream: { api_password: "right" }, rate_limit: { enabled: false } };
  const on = compilePolicy(config({ ...direct, auth_abuse: { max_failures: 2 } }));
  assertEquals(await reasonOf(on, "192.0.2.1"), "forbidden");
  assertEquals(await reasonOf(on, "192.0.2.1"), "forbidden");
  assertEquals(await reasonOf(on, "192.0.2.1"), "auth_blocked");
  assertEquals(await reasonOf(on, "192.0.2.2"), "forbidden");
  const off = compilePolicy(config({ ...direct, auth_abuse: { enabled: false, max_failures: 1 } }));
  for (let i = 0; i < 3; i++) assertEquals(await reasonOf(off, "192.0.2.1"), "forbidden");
});
