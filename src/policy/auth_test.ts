import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { ProxyError } from "../errors/mod.ts";
import { AuthFailureTracker } from "./abuse.ts";
import { bearerToken, bindAuthAbuse, checkCredentials, type CredentialPolicy } from "./auth.ts";

const BOTH: CredentialPolicy = { apiPassword: "pw-right", bearerToken: "tok-right" };
const PASSWORD_ONLY: CredentialPolicy = { apiPassword: "pw-right", bearerToken: null };

function tracker(maxFailures = 3): AuthFailureTracker {
  return new AuthFailureTracker({
    maxFailures,
    windowSecs: 60,
    blockSecs: 300,
    maxTrackedClients: 100,
  });
}

function bound(
  t: AuthFailureTracker,
  clientIp: string,
  path: string,
  headers: Record<string, string> = {},
): [Request, URL] {
  const request = new Request(`http://sprox.test${path}`, { headers });
  bindAuthAbuse(request, { tracker: t, clientIp, countMetrics: false });
  return [request, new URL(request.url)];
}

async function statusOf(promise: Promise<void>): Promise<[number, string, string | undefined]> {
  try {
    await promise;
    return [200, "ok", undefined];
  } catch (error) {
    assert(error instanceof ProxyError, String(error));
    return [error.status, error.reason, error.headers["retry-after"]];
  }
}

Deno.test("checkCredentials() blocks a client after max_failures wrong passwords, even with the right one", async () => {
  const t = tracker();
  for (let i = 0; i < 3; i++) {
    const [request, url] = bound(t, "203.0.113.5", "/proxy/stream?api_password=wrong");
    assertEquals(await statusOf(checkCredentials(request, url, PASSWORD_ONLY)), [
      403,
      "forbidden",
      undefined,
    ]);
  }
  const [request, url] = bound(t, "203.0.113.5", "/keys", { "x-sprox-api-password": "pw-right" });
  assertEquals(await statusOf(checkCredentials(request, url, PASSWORD_ONLY)), [
    429,
    "auth_blocked",
    "300",
  ]);
  const [other, otherUrl] = bound(t, "203.0.113.6", "/keys?api_password=pw-right");
  assertEquals(await statusOf(checkCredentials(other, otherUrl, PASSWORD_ONLY)), [
    200,
    "ok",
    undefined,
  ]);
});

Deno.test("checkCredentials() counts wrong bearer tokens, not missing credentials or successes", async () => {
  const t = tracker(2);
  const ip = "198.51.100.1";
  for (let i = 0; i < 5; i++) {
    const [missing, url] = bound(t, ip, "/keys");
    assertEquals((await statusOf(checkCredentials(missing, url, BOTH)))[0], 401);
    const [right, rightUrl] = bound(t, ip, "/keys?api_password=pw-right", {
      authorization: "Bearer tok-right",
    });
    assertEquals((await statusOf(checkCredentials(right, rightUrl, BOTH)))[0], 200);
  }
  assertEquals(t.size, 0, "missing and right credentials track nothing");
  const [wrong, wrongUrl] = bound(t, ip, "/keys?api_password=pw-right", {
    authorization: "Bearer tok-wrong",
  });
  assertEquals((await statusOf(checkCredentials(wrong, wrongUrl, BOTH)))[0], 403);
  const [ok, okUrl] = bound(t, ip, "/keys?api_password=pw-right", {
    authorization: "Bearer tok-right",
  });
  assertEquals((await statusOf(checkCredentials(ok, okUrl, BOTH)))[0], 200);
  const [second, secondUrl] = bound(t, ip, "/keys?api_password=wrong", {
    authorization: "Bearer tok-right",
  });
  assertEquals((await statusOf(checkCredentials(second, secondUrl, BOTH)))[0], 403);
  assert(t.blockedFor(ip) > 0, "a success between failures does not reset the count");
});

Deno.test("checkCredentials() without a bound tracker, or without a credential configured, counts nothing", async () => {
  const t = tracker(1);
  const [open, openUrl] = bound(t, "192.0.2.1", "/proxy/stream?api_password=anything");
  await checkCredentials(open, openUrl, { apiPassword: null, bearerToken: null });
  assertEquals(t.size, 0);
  const unbound = new Request("http://sprox.test/keys?api_password=wrong");
  await rejects(
    checkCredentials(unbound, new URL(unbound.url), PASSWORD_ONLY),
    (e) => e instanceof ProxyError && e.status === 403,
  );
  assertEquals(t.size, 0);
});

Deno.test("bearerToken reads the token of one Bearer field, for the proxy and the admin API alike", () => {
  const of = (value?: string) =>
    bearerToken(
      new Request("http://s/", value === undefined ? {} : { headers: { authorization: value } }),
    );
  assertEquals(of("Bearer abc"), "abc");
  assertEquals(of("bearer \t abc \t"), "abc");
  assertEquals(of("BEARER a b"), "a b");
  assertEquals(of("Bearer "), null);
  assertEquals(of("Bearerabc"), null);
  assertEquals(of("Basic YTpi"), null);
  assertEquals(of(), null);
});
