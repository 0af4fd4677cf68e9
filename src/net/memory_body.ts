/**
 * Responses whose body is a byte array sProx holds (a small upstream body read whole, a small
 * cached object, a generated playlist). Reading `Response.body` of such a response turns the
 * bytes into a JavaScript stream, which the server then pumps chunk by chunk; the steps after
 * the one that built it (client response, finish, log) look the bytes up here instead, and
 * keep the server's single-write path. Such a body goes out whole or not at all.
 * @module
 */

/** Statuses whose responses carry no body (Fetch "null body status"). */
export const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);

const inMemoryBodies = new WeakMap<Response, Uint8Array<ArrayBuffer>>();

/**
 * A response with a byte body, registered for {@linkcode inMemoryBody}. Fields given as a
 * `Headers` object are appended to the new response's own (`forEach`), which costs about half
 * of the constructor's conversion of that object.
 *
 * @example
 * ```ts
 * const response = bytesResponse(new TextEncoder().encode("#EXTM3U\n"), { status: 200 });
 * inMemoryBody(response)?.byteLength; // 8
 * ```
 */
export function bytesResponse(bytes: Uint8Array<ArrayBuffer>, init: ResponseInit): Response {
  const fields = init.headers;
  let response: Response;
  if (fields instanceof Headers) {
    response = new Response(bytes, { status: init.status, statusText: init.statusText });
    const headers = response.headers;
    fields.forEach((value, name) => headers.append(name, value));
  } else response = new Response(bytes, init);
  inMemoryBodies.set(response, bytes);
  return response;
}

/**
 * The bytes of a response built by {@linkcode bytesResponse}, or `undefined` for a streamed or
 * empty one. Its `body` is not read: reading it would make a stream of the bytes.
 *
 * @example
 * ```ts
 * inMemoryBody(bytesResponse(new Uint8Array(2048), { status: 200 }))?.byteLength; // 2048
 * inMemoryBody(new Response("x")); // undefined
 * ```
 */
export function inMemoryBody(response: Response): Uint8Array<ArrayBuffer> | undefined {
  return inMemoryBodies.get(response);
}

/**
 * Reads a body whole into memory, up to `max` bytes: a `declared` length above it is refused
 * before reading, and reading stops (the body cancelled) as soon as more arrives; both throw
 * `tooLarge()`. A `null` body reads as no bytes; a body of one chunk comes back as that chunk.
 *
 * @example
 * ```ts
 * const bytes = await readBounded(request.body, 64 * 1024, () => new RangeError("too large"));
 * ```
 */
export async function readBounded(
  body: ReadableStream<Uint8Array> | null,
  max: number,
  tooLarge: () => Error,
  declared?: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (declared !== undefined && declared > max) {
    await body?.cancel().catch(() => {});
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (body !== null) {
    const reader = body.getReader();
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  }
  // A body that came in one chunk (most small ones) is returned where it lies.
  if (chunks.length === 1) return chunks[0] as Uint8Array<ArrayBuffer>;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
