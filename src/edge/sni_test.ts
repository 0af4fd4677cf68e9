import assert from "node:assert/strict";
import { CertificateSelector, matchServerName } from "./sni.ts";

Deno.test("matchServerName() matches exact names and one-label wildcards", () => {
  assert.equal(matchServerName("tv.example.com", "TV.Example.com."), true);
  assert.equal(matchServerName("tv.example.com", "radio.example.com"), false);
  assert.equal(matchServerName("*.example.com", "tv.example.com"), true);
  assert.equal(matchServerName("*.example.com", "example.com"), false);
  assert.equal(matchServerName("*.example.com", ".example.com"), false);
  assert.equal(matchServerName("*.example.com", "a.tv.example.com"), false);
  assert.equal(matchServerName("*.example.com", "tvexample.com"), false);
});

const pair = (name: string) => ({ cert: `${name}-cert`, key: `${name}-key` });

Deno.test("CertificateSelector picks the named pair, else the default", () => {
  const selector = new CertificateSelector(pair("default"), [
    { serverNames: ["tv.example.com"], pair: pair("tv") },
    { serverNames: ["*.radio.test", "radio.test"], pair: pair("radio") },
  ]);
  assert.equal(selector.resolve("tv.example.com").cert, "tv-cert");
  assert.equal(selector.resolve("fm.radio.test").key, "radio-key");
  assert.equal(selector.resolve("radio.test").cert, "radio-cert");
  assert.equal(selector.resolve("unknown.test").cert, "default-cert");
  assert.equal(selector.resolve("").cert, "default-cert");
  assert.equal(selector.namedFor("tv.example.com")?.pair.cert, "tv-cert");
  assert.equal(selector.namedFor("127.0.0.1"), undefined);
});

Deno.test("CertificateSelector reports once when distinct names pass the bound", () => {
  let reports = 0;
  const selector = new CertificateSelector(pair("default"), [], {
    maxNames: 3,
    onLimit: () => reports++,
  });
  for (const name of ["a", "b", "c", "a", "b", "c"]) selector.resolve(name);
  assert.equal(selector.distinctNames, 3);
  assert.equal(reports, 0);
  selector.resolve("d");
  assert.equal(reports, 1);
  selector.resolve("e");
  assert.equal(reports, 1);
  assert.equal(selector.distinctNames, 5);
});

Deno.test("CertificateSelector reports each new distinct name count", () => {
  const counts: number[] = [];
  const selector = new CertificateSelector(pair("default"), [], {
    onNewName: (n) => counts.push(n),
  });
  for (const name of ["a", "a", "b", "", "b"]) selector.resolve(name);
  assert.deepEqual(counts, [1, 2, 3]);
});
