import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { certificateNotAfter } from "./certificate_expiry.ts";

Deno.test("certificateNotAfter() reads the leaf's not-after from a PEM bundle", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        `${dir}/k.pem`,
        "-out",
        `${dir}/c.pem`,
        "-days",
        "30",
        "-subj",
        "/CN=t",
      ],
      stderr: "null",
    }).output();
    assertEquals(out.success, true);
    const notAfter = certificateNotAfter(await Deno.readTextFile(`${dir}/c.pem`));
    const days = (notAfter!.getTime() - Date.now()) / 86_400_000;
    assertEquals(Math.round(days), 30);
    assertEquals(certificateNotAfter("no certificate here"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
