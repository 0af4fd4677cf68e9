import assert from "node:assert/strict";
import { checkPattern, patternStream, startOrigin } from "../../tests/_support/origins.ts";
import { withTimeout } from "../../tests/_support/timeout.ts";
import { Fill } from "./fill.ts";

const WAIT_MS = 5_000;

/** An upstream body the test feeds chunk by chunk. */
function controlledSource() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const state = { cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return {
    stream,
    state,
    push: (text: string) => controller.enqueue(new TextEncoder().encode(text)),
    close: () => controller.close(),
    fail: (error: unknown) => controller.error(error),
  };
}

async function read(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  what: string,
): Promise<string> {
  const { value, done } = await withTimeout(reader.read(), WAIT_MS, what);
  return done ? "<done>" : new TextDecoder().decode(value);
}

/** Whether `promise` is still pending after the event loop has had a turn. */
async function pending(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol();
  const winner = await Promise.race([promise, new Promise((r) => setTimeout(() => r(marker), 20))]);
  return winner === marker;
}

Deno.test("Fill: a late reader gets the stored bytes at once, then follows the fill", async () => {
  const source = controlledSource();
  const fill = new Fill(source.stream, { maxBytes: 1024 });
  const first = fill.reader().getReader();
  source.push("one,");
  source.push("two,");
  assert.equal(await read(first, "first chunk"), "one,");
  assert.equal(await read(first, "second chunk"), "two,");
  const late = fill.reader().getReader();
  // Nothing new from upstream: the late reader still gets both stored chunks immediately.
  assert.equal(await read(late, "late first"), "one,");
  assert.equal(await read(late, "late second"), "two,");
  const next = late.read();
  assert.equal(await pending(next), true);
  source.push("three");
  source.close();
  const { value } = await withTimeout(next, WAIT_MS, "late third");
  assert.equal(new TextDecoder().decode(value), "three");
  assert.equal(await read(first, "first third"), "three");
  assert.equal(await read(first, "first end"), "<done>");
  assert.equal(await read(late, "late end"), "<done>");
  assert.deepEqual(await withTimeout(fill.ended, WAIT_MS, "end"), { kind: "complete", bytes: 13 });
  assert.equal(new TextDecoder().decode(fill.bytes()), "one,two,three");
  assert.equal(fill.readerCount, 0);
});

Deno.test("Fill: a paused reader does not stall another (real loopback origin)", async () => {
  const total = 4 * 1024 * 1024;
  const origin = await startOrigin(() => new Response(patternStream(total)));
  try {
    const response = await withTimeout(fetch(origin.url), WAIT_MS, "origin response");
    const fill = new Fill(response.body, { maxBytes: 8 * 1024 * 1024 });
    const paused = fill.reader();
    const reading = fill.reader();
    const result = await withTimeout(checkPattern(reading), WAIT_MS, "the reading reader");
    assert.deepEqual(result, { bytes: total, mismatches: 0 });
    assert.equal(fill.complete, true);
    // The paused reader still gets every byte, from memory.
    assert.deepEqual(await withTimeout(checkPattern(paused), WAIT_MS, "the paused reader"), {
      bytes: total,
      mismatches: 0,
    });
    assert.equal(fill.bytes().byteLength, total);
  } finally {
    await origin.close();
  }
});

Deno.test("Fill: an object past maxBytes stops retaining; memory stays within the window", async () => {
  const total = 6 * 1024 * 1024;
  const chunk = 64 * 1024;
  const maxBytes = 256 * 1024;
  const origin = await startOrigin(() => new Response(patternStream(total, chunk)));
  try {
    const response = await withTimeout(fetch(origin.url), WAIT_MS, "origin response");
    let stops = 0;
    const fill = new Fill(response.body, { maxBytes, onStopRetaining: () => stops++ });
    const slow = fill.reader().getReader();
    const fastStream = fill.reader();
    let fastBytes = 0;
    let slowBytes = 0;
    let maxLead = 0;
    let maxBuffered = 0;
    const fast = (async () => {
      for await (const part of fastStream) {
        fastBytes += part.byteLength;
        maxLead = Math.max(maxLead, fastBytes - slowBytes);
      }
    })();
    let mismatches = 0;
    for (let i = 0;; i++) {
      const { value, done } = await withTimeout(slow.read(), WAIT_MS, "slow reader");
      if (done) break;
      for (let j = 0; j < value.length; j++) {
        const k = slowBytes + j;
        if (value[j] !== ((k * 31 + (k >> 16)) & 0xff)) mismatches++;
      }
      slowBytes += value.byteLength;
      maxBuffered = Math.max(maxBuffered, fill.bufferedBytes);
      if (i % 8 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await withTimeout(fast, WAIT_MS, "fast reader");
    assert.equal(slowBytes, total);
    assert.equal(fastBytes, total);
    assert.equal(mismatches, 0);
    assert.equal(stops, 1);
    assert.equal(fill.retaining, false);
    // The fast reader is held within the window of the slow one; memory is the window.
    assert.ok(maxLead <= maxBytes + chunk, `lead ${maxLead}`);
    assert.ok(maxBuffered <= maxBytes + chunk, `buffered ${maxBuffered}`);
    assert.ok(maxBuffered >= maxBytes / 2, `buffered ${maxBuffered}: the window was not used`);
    assert.throws(() => fill.reader(), RangeError);
    assert.deepEqual(await withTimeout(fill.ended, WAIT_MS, "end"), {
      kind: "complete",
      bytes: total,
    });
  } finally {
    await origin.close();
  }
});

Deno.test("Fill: an upstream error mid-body errors every reader, late ones included", async () => {
  const total = 1024 * 1024;
  const origin = await startOrigin(() => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 256 * 1024) return controller.error(new Error("origin broke"));
        controller.enqueue(new Uint8Array(64 * 1024).fill(7));
        sent += 64 * 1024;
      },
    });
    return new Response(body, { headers: { "content-length": String(total) } });
  });
  try {
    const response = await withTimeout(fetch(origin.url), WAIT_MS, "origin response");
    const fill = new Fill(response.body, { maxBytes: 4 * total, declaredLength: total });
    const readers = [fill.reader(), fill.reader(), fill.reader()];
    const results = await Promise.allSettled(
      readers.map((r) => withTimeout(new Response(r).arrayBuffer(), WAIT_MS, "reader")),
    );
    const end = await withTimeout(fill.ended, WAIT_MS, "end");
    assert.equal(end.kind, "failed");
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.equal((result as PromiseRejectedResult).reason, (end as { error: unknown }).error);
    }
    assert.equal(fill.failed, true);
    assert.ok(fill.length >= 64 * 1024 && fill.length < total, `length ${fill.length}`);
    // A reader arriving after the failure gets the stored bytes, then the same error.
    const late = fill.reader().getReader();
    const first = await withTimeout(late.read(), WAIT_MS, "late read");
    assert.equal(first.value?.[0], 7);
    let lateError: unknown;
    try {
      for (;;) if ((await withTimeout(late.read(), WAIT_MS, "late read")).done) break;
    } catch (error) {
      lateError = error;
    }
    assert.equal(lateError, (end as { error: unknown }).error);
  } finally {
    await origin.close();
  }
});

Deno.test("Fill: a cancelled reader detaches alone; a retaining fill completes with no reader", async () => {
  const source = controlledSource();
  const fill = new Fill(source.stream, { maxBytes: 1024 });
  const a = fill.reader().getReader();
  const b = fill.reader().getReader();
  source.push("abc");
  assert.equal(await read(a, "a"), "abc");
  await a.cancel();
  assert.equal(fill.readerCount, 1);
  source.push("def");
  assert.equal(await read(b, "b first"), "abc");
  assert.equal(await read(b, "b second"), "def");
  await b.cancel();
  assert.equal(fill.readerCount, 0);
  source.push("ghi");
  source.close();
  assert.deepEqual(await withTimeout(fill.ended, WAIT_MS, "end"), { kind: "complete", bytes: 9 });
  assert.equal(source.state.cancelled, false);
  assert.equal(new TextDecoder().decode(fill.bytes()), "abcdefghi");
});

Deno.test("Fill: a fill that does not retain is aborted as soon as nobody reads", async () => {
  const source = controlledSource();
  const fill = new Fill(source.stream, { maxBytes: 1024 });
  const a = fill.reader().getReader();
  fill.stopRetaining();
  source.push("abc");
  assert.equal(await read(a, "a"), "abc");
  assert.equal(source.state.cancelled, false);
  await a.cancel();
  assert.deepEqual(await withTimeout(fill.ended, WAIT_MS, "end"), { kind: "aborted" });
  assert.equal(source.state.cancelled, true);
  assert.throws(() => fill.bytes());
});

Deno.test("Fill: stopRetaining() with no reader aborts the upstream at once", async () => {
  const source = controlledSource();
  const fill = new Fill(source.stream, { maxBytes: 1024 });
  fill.stopRetaining();
  assert.deepEqual(await withTimeout(fill.ended, WAIT_MS, "end"), { kind: "aborted" });
  assert.equal(source.state.cancelled, true);
});

Deno.test("Fill: a range reader reads [start, end) and waits for bytes not yet arrived", async () => {
  const source = controlledSource();
  const fill = new Fill(source.stream, { maxBytes: 1024, declaredLength: 20 });
  source.push("0123456789");
  const range = fill.reader({ start: 5, end: 15 });
  const text = new Response(range).text();
  assert.equal(await pending(text), true);
  source.push("abcdefghij");
  source.close();
  assert.equal(await withTimeout(text, WAIT_MS, "range"), "56789abcde");
  const tail = await withTimeout(new Response(fill.reader({ start: 18 })).text(), WAIT_MS, "tail");
  assert.equal(tail, "ij");
  // A range past the end of what arrived errors instead of closing as if complete.
  await assert.rejects(
    withTimeout(new Response(fill.reader({ start: 15, end: 25 })).text(), WAIT_MS, "short"),
    /ended before the requested range/,
  );
});

Deno.test("Fill: a reader detaches when its signal aborts (the client went away)", async () => {
  const source = controlledSource();
  const fill = new Fill(source.stream, { maxBytes: 1024 });
  const controller = new AbortController();
  const stream = fill.reader({ signal: controller.signal });
  fill.stopRetaining();
  assert.equal(fill.readerCount, 1);
  controller.abort();
  assert.equal(fill.readerCount, 0);
  assert.deepEqual(await withTimeout(fill.ended, WAIT_MS, "end"), { kind: "aborted" });
  assert.equal(await withTimeout(new Response(stream).text(), WAIT_MS, "closed"), "");
});

Deno.test("Fill: a lying Content-Length neither truncates nor overflows the stored object", async () => {
  for (const declared of [3, 50]) {
    const source = controlledSource();
    const fill = new Fill(source.stream, { maxBytes: 1024, declaredLength: declared });
    source.push("0123456789");
    source.push("abcdef");
    source.close();
    assert.deepEqual(await withTimeout(fill.ended, WAIT_MS, "end"), {
      kind: "complete",
      bytes: 16,
    });
    assert.equal(new TextDecoder().decode(fill.bytes()), "0123456789abcdef");
  }
  const empty = new Fill(null, { maxBytes: 10 });
  assert.deepEqual(await withTimeout(empty.ended, WAIT_MS, "empty end"), {
    kind: "complete",
    bytes: 0,
  });
  assert.equal(await withTimeout(new Response(empty.reader()).text(), WAIT_MS, "empty"), "");
});
