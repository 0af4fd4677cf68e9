import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { selfSignedCertificate } from "../../tests/_support/tls.ts";
import { certificateNotAfter } from "./certificate_expiry.ts";

Deno.test("certificateNotAfter() reads the leaf's not-after from a PEM bundle", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { cert } = await selfSignedCertificate(dir, { days: 30 });
    const notAfter = certificateNotAfter(await Deno.readTextFile(cert));
    const days = (notAfter!.getTime() - Date.now()) / 86_400_000;
    assertEquals(Math.round(days), 30);
    assertEquals(certificateNotAfter("no certificate here"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
