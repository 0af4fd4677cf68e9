/**
 * Responses whose body is a byte array sProx holds (a small upstream body read whole, a small
 * cached object, a generated playlist). Reading `Response.body` of such a response turns the
 * bytes into a JavaScript stream, which the server then pumps chunk by chunk; the steps after
 * the one that built it (client response, finish, log) look the bytes up here instead, and
 * keep the server's single-write path. Such a body goes out whole or not at all.
 * @module
 */

const inMemoryBodies = new WeakMap<Response, Uint8Array<ArrayBuffer>>();

/**
 * A response with a byte body, registered for {@linkcode inMemoryBody}.
 *
 * @example
 * ```ts
 * const response = bytesResponse(new TextEncoder().encode("#EXTM3U\n"), { status: 200 });
 * inMemoryBody(response)?.byteLength; // 8
 * ```
 */
export function bytesResponse(bytes: Uint8Array<ArrayBuffer>, init: ResponseInit): Response {
  const response = new Response(bytes, init);
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
