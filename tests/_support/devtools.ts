/**
 * Headless Chromium driven over the DevTools protocol: start it with extra flags, open a
 * page, and poll an expression until it says the page is done.
 * @module
 */
import { deadline, exitWithin, withTimeout } from "./timeout.ts";
import { freePort } from "./sprox.ts";

/** A running headless Chromium with one page. */
export interface Browser {
  /** Opens `url` and polls `expression` until it yields a string matching `done`; returns it. */
  open(url: string, expression: string, done: RegExp, timeoutMs?: number): Promise<string>;
  /** Evaluates `expression` in the page (promises awaited); returns its value. */
  evaluate(expression: string): Promise<unknown>;
  /** Polls `expression` until it yields a string matching `done`; returns the last value. */
  waitFor(expression: string, done: RegExp, timeoutMs?: number): Promise<string>;
  /** A PNG of the page as it is drawn now. */
  screenshot(): Promise<Uint8Array>;
  /** `console.error` calls and uncaught exceptions of the page so far, as text. */
  readonly problems: readonly string[];
  close(): Promise<void>;
}

/** The base64 SHA-256 of a PEM certificate's public key (for `--ignore-certificate-errors-spki-list`). */
export async function spkiHash(certPath: string): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: [
      "-c",
      `openssl x509 -in "$0" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`,
      certPath,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(10_000),
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * Starts headless Chromium with `flags` (a fresh profile under `dir`).
 *
 * @example
 * ```ts
 * const browser = await startChromium(dir, ["--origin-to-force-quic-on=127.0.0.1:8443"]);
 * await browser.open("https://127.0.0.1:8443/", "document.title", /^DONE/);
 * ```
 */
export async function startChromium(dir: string, flags: string[]): Promise<Browser> {
  const debugPort = freePort();
  const child = new Deno.Command("chromium", {
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
      `--user-data-dir=${dir}/chromium`,
      `--remote-debugging-port=${debugPort}`,
      ...flags,
      "about:blank",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await exitWithin(child, 10_000, "chromium");
  };
  try {
    let target: { webSocketDebuggerUrl: string } | undefined;
    for (let i = 0; i < 100 && !target; i++) {
      try {
        const list = await (await fetch(`http://127.0.0.1:${debugPort}/json/list`, {
          signal: deadline(2_000),
        })).json() as { type: string; webSocketDebuggerUrl: string }[];
        target = list.find((t) => t.type === "page");
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!target) throw new Error("chromium exposes no page target");
    const ws = new WebSocket(target.webSocketDebuggerUrl);
    await withTimeout(
      new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      }),
      10_000,
      "the DevTools WebSocket to open",
    );
    let id = 0;
    const pending = new Map<number, (value: Record<string, unknown>) => void>();
    const problems: string[] = [];
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.method === "Runtime.consoleAPICalled" && message.params.type === "error") {
        const args = message.params.args as { value?: unknown; description?: string }[];
        problems.push(`console.error: ${args.map((a) => a.description ?? a.value).join(" ")}`);
      } else if (message.method === "Runtime.exceptionThrown") {
        const details = message.params.exceptionDetails;
        problems.push(`exception: ${details.exception?.description ?? details.text}`);
      }
      pending.get(message.id)?.(message.result ?? {});
      pending.delete(message.id);
    };
    const send = (method: string, params: Record<string, unknown> = {}) =>
      withTimeout(
        new Promise<Record<string, unknown>>((resolve) => {
          pending.set(++id, resolve);
          ws.send(JSON.stringify({ id, method, params }));
        }),
        10_000,
        `DevTools ${method}`,
      );
    // Console calls and exceptions are reported from here on (`problems`).
    await send("Runtime.enable");
    const evaluate = async (expression: string) => {
      const result = await send("Runtime.evaluate", {
        expression,
        returnByValue: true,
        awaitPromise: true,
      });
      return (result.result as { value?: unknown } | undefined)?.value;
    };
    const waitFor = async (expression: string, done: RegExp, timeoutMs = 30_000) => {
      const end = Date.now() + timeoutMs;
      let value = "";
      while (Date.now() < end) {
        await new Promise((r) => setTimeout(r, 200));
        value = String(await evaluate(expression) ?? "");
        if (done.test(value)) return value;
      }
      return value;
    };
    return {
      async open(url, expression, done, timeoutMs = 30_000) {
        await send("Page.navigate", { url });
        return await waitFor(expression, done, timeoutMs);
      },
      evaluate,
      waitFor,
      async screenshot() {
        const result = await send("Page.captureScreenshot", { format: "png" });
        return Uint8Array.from(atob(String(result.data)), (c) => c.charCodeAt(0));
      },
      problems,
      async close() {
        ws.close();
        await stop();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
