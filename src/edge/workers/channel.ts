/**
 * Requests and notes between isolates over `postMessage`: a request carries an id and is
 * answered once (a value or an error message); a note is one-way. Everything sent is
 * structured-cloned, never serialised to text.
 * @module
 */

/** The two ends a channel can sit on: a `Worker` (first isolate) or a worker's `self`. */
export interface MessageEnd {
  postMessage(message: unknown): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
  removeEventListener(type: "message", listener: (event: MessageEvent) => void): void;
}

type Message =
  | { readonly t: "req"; readonly id: number; readonly kind: string; readonly payload: unknown }
  | {
    readonly t: "res";
    readonly id: number;
    readonly ok: boolean;
    readonly value?: unknown;
    readonly error?: string;
  }
  | { readonly t: "note"; readonly kind: string; readonly payload: unknown };

type RequestHandler = (payload: unknown) => unknown | Promise<unknown>;
type NoteHandler = (payload: unknown) => void;

/** Raised when the other isolate answers a request with an error. */
export class ChannelError extends Error {}

/**
 * One end of a channel.
 *
 * @example
 * ```ts
 * const channel = new Channel(worker);
 * channel.handle("ping", () => "pong");
 * await channel.request("status", null, 5000);
 * ```
 */
export class Channel {
  #end: MessageEnd;
  #next = 1;
  #pending = new Map<
    number,
    {
      resolve: (value: unknown) => void;
      reject: (error: Error) => void;
      timer?: ReturnType<typeof setTimeout>;
    }
  >();
  #requests = new Map<string, RequestHandler>();
  #notes = new Map<string, NoteHandler>();
  #listener = (event: MessageEvent) => this.#receive(event.data as Message);
  #closed = false;

  constructor(end: MessageEnd) {
    this.#end = end;
    end.addEventListener("message", this.#listener);
  }

  /** Answers requests of `kind` with what `handler` returns (or throws). */
  handle(kind: string, handler: RequestHandler): void {
    this.#requests.set(kind, handler);
  }

  /** Runs `handler` on every note of `kind`. */
  on(kind: string, handler: NoteHandler): void {
    this.#notes.set(kind, handler);
  }

  /** Sends a request; rejects after `timeoutMs` (when given) or when the channel closes. */
  request<T>(kind: string, payload: unknown = null, timeoutMs?: number): Promise<T> {
    if (this.#closed) return Promise.reject(new ChannelError("channel closed"));
    const id = this.#next++;
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const entry: {
      resolve: typeof resolve;
      reject: typeof reject;
      timer?: ReturnType<typeof setTimeout>;
    } = {
      resolve,
      reject,
    };
    if (timeoutMs !== undefined) {
      entry.timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ChannelError(`no answer to ${kind} within ${timeoutMs} ms`));
      }, timeoutMs);
    }
    this.#pending.set(id, entry);
    this.#end.postMessage({ t: "req", id, kind, payload } satisfies Message);
    return promise as Promise<T>;
  }

  /** Sends a one-way note. */
  notify(kind: string, payload: unknown = null): void {
    if (this.#closed) return;
    this.#end.postMessage({ t: "note", kind, payload } satisfies Message);
  }

  /** Stops listening; pending requests reject. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#end.removeEventListener("message", this.#listener);
    for (const entry of this.#pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(new ChannelError("channel closed"));
    }
    this.#pending.clear();
  }

  #receive(message: Message): void {
    if (message.t === "res") {
      const entry = this.#pending.get(message.id);
      if (!entry) return;
      this.#pending.delete(message.id);
      clearTimeout(entry.timer);
      if (message.ok) entry.resolve(message.value);
      else entry.reject(new ChannelError(message.error ?? "failed"));
      return;
    }
    if (message.t === "note") {
      this.#notes.get(message.kind)?.(message.payload);
      return;
    }
    const handler = this.#requests.get(message.kind);
    const answer = (ok: boolean, value?: unknown, error?: string) => {
      if (this.#closed) return;
      this.#end.postMessage({ t: "res", id: message.id, ok, value, error } satisfies Message);
    };
    if (!handler) {
      answer(false, undefined, `no handler for ${message.kind}`);
      return;
    }
    try {
      Promise.resolve(handler(message.payload)).then(
        (value) => answer(true, value),
        (error) => answer(false, undefined, (error as Error)?.message ?? String(error)),
      );
    } catch (error) {
      answer(false, undefined, (error as Error)?.message ?? String(error));
    }
  }
}
