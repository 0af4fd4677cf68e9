/**
 * The in-flight table: one upstream exchange per key at a time, and the requests that
 * wait on it. Requests arriving before the response head are answered from that head
 * (each with its own reader of the fill); requests arriving later join the fill while it
 * still holds the object from byte 0. A failure before the head reaches every waiting
 * request as it is: the same thrown error, or the same `5xx` status and body.
 *
 * A waiting request shares the response only when a cache hit could have served it: the
 * response is storable for a shared cache (not `private`, no cookie, no credentials) and
 * its `Vary` fields match. Another variant leads its own exchange; a request facing an
 * unshareable response makes its own request, uncached.
 * @module
 */
import type { Answers, CacheOutcome, ServeInput, ServeResult, UpstreamFetch } from "./answer.ts";
import type { CacheStatusMember, ForwardReason } from "./cache_status.ts";
import {
  hasValidator,
  mergeNotModified,
  PARTIAL_OR_CONDITIONAL_HEADERS,
  revalidationHeaders,
  selectsForUpdate,
} from "./conditional.ts";
import type { ResponseStore, StoredResponse } from "./entries.ts";
import { Fill } from "./fill.ts";
import {
  type ContentKind,
  type ExchangeTimes,
  initialAgeSecs,
  type NotStorableReason,
  notStorableReason,
  varyNames,
} from "./freshness.ts";
import { cacheCoalesced, cacheRevalidations } from "./metrics.ts";
import { contentKindOf } from "./playlist.ts";
import { type CachedObject, declaredLength, respondFromObject, storedHeaders } from "./respond.ts";

/** Why a fetched response was not stored (`Cache-Status` detail). */
type NotCachedReason = NotStorableReason | "too-large" | "expired" | "no-cache";

interface Participant {
  readonly request: Request;
  readonly leader: boolean;
  readonly resolve: (result: ServeResult) => void;
  readonly reject: (error: unknown) => void;
}

/** One upstream exchange for a key, and the requests waiting on it. */
interface Flight {
  key: string;
  readonly base: string;
  readonly kind: ContentKind | undefined;
  /** The stored response being revalidated. */
  readonly entry: StoredResponse | undefined;
  readonly fwd: ForwardReason;
  /** Requests waiting for the response head; `null` once it has been handled. */
  participants: Participant[] | null;
  /** Serves a request arriving after the head, while the fill still retains the object. */
  late: ((request: Request) => ServeResult | null) | null;
}

/** What the in-flight table works with. */
export interface FlightsOptions {
  readonly entries: ResponseStore;
  readonly answers: Answers;
  readonly maxObjectBytes: number;
  /** Aborts every upstream exchange (the cache was closed). */
  readonly signal: AbortSignal;
  /** Registers work that outlives the request that started it. */
  readonly track: (work: Promise<unknown>) => void;
  /** The clock (milliseconds). */
  readonly now: () => number;
}

/** Origin failures a stale response may stand in for (RFC 5861 §4). */
const STALE_IF_ERROR_STATUSES: ReadonlySet<number> = new Set([500, 502, 503, 504]);
/** The cache's `GET` for a client's request: whole object, the stored validators if any. */
function upstreamRequest(template: Request, stored: Headers | null, signal: AbortSignal): Request {
  const headers = new Headers(template.headers);
  for (const name of PARTIAL_OR_CONDITIONAL_HEADERS) headers.delete(name);
  if (stored) { for (const [name, value] of revalidationHeaders(stored)) headers.set(name, value); }
  return new Request(template.url, { method: "GET", headers, signal });
}

/** The upstream exchanges in flight, by key. */
export class Flights {
  readonly #flights = new Map<string, Flight>();
  readonly #entries: ResponseStore;
  readonly #answers: Answers;
  readonly #maxObjectBytes: number;
  readonly #signal: AbortSignal;
  readonly #track: (work: Promise<unknown>) => void;
  readonly #now: () => number;
  #nextId = 1;

  constructor(options: FlightsOptions) {
    this.#entries = options.entries;
    this.#answers = options.answers;
    this.#maxObjectBytes = options.maxObjectBytes;
    this.#signal = options.signal;
    this.#track = options.track;
    this.#now = options.now;
  }

  /**
   * Answers a request that the store cannot: by joining the exchange in flight for `key`,
   * or by starting one (revalidating `entry` when it is given).
   */
  joinOrLead(
    key: string,
    input: ServeInput,
    entry: StoredResponse | undefined,
    fwd: ForwardReason,
    fetch: UpstreamFetch,
  ): Promise<ServeResult> {
    const request = input.request;
    const flight = this.#flights.get(key);
    if (flight?.participants) {
      cacheCoalesced.inc();
      return new Promise((resolve, reject) => {
        flight.participants!.push({ request, leader: false, resolve, reject });
      });
    }
    const late = flight?.late?.(request);
    if (late) {
      cacheCoalesced.inc();
      return Promise.resolve(late);
    }
    const lead = this.#start(key, input, entry, fwd);
    const answer = new Promise<ServeResult>((resolve, reject) => {
      lead.participants!.push({ request, leader: true, resolve, reject });
    });
    this.#track(this.#run(lead, request, fetch));
    return answer;
  }

  /** Revalidates `entry` with nobody waiting, unless an exchange for `key` is in flight. */
  revalidateInBackground(
    key: string,
    input: ServeInput,
    entry: StoredResponse,
    fetch: UpstreamFetch,
  ): void {
    if (this.#flights.has(key)) return;
    this.#track(this.#run(this.#start(key, input, entry, "stale"), input.request, fetch));
  }

  #start(
    key: string,
    input: ServeInput,
    entry: StoredResponse | undefined,
    fwd: ForwardReason,
  ): Flight {
    const flight: Flight = {
      key,
      base: input.key,
      kind: input.kind ?? entry?.contentKind,
      entry,
      fwd,
      participants: [],
      late: null,
    };
    this.#flights.set(key, flight);
    return flight;
  }

  #release(flight: Flight): void {
    if (this.#flights.get(flight.key) === flight) this.#flights.delete(flight.key);
    flight.late = null;
  }

  #take(flight: Flight): Participant[] {
    const participants = flight.participants ?? [];
    flight.participants = null;
    return participants;
  }

  async #run(flight: Flight, template: Request, fetch: UpstreamFetch): Promise<void> {
    let validators = flight.entry && hasValidator(flight.entry.headers)
      ? flight.entry.headers
      : null;
    try {
      for (;;) {
        const requestTimeMs = this.#now();
        const response = await fetch(upstreamRequest(template, validators, this.#signal));
        const times = { requestTimeMs, responseTimeMs: this.#now() };
        if (response.status === 304 && validators) {
          if (this.#refresh(flight, template, response, times)) return;
          // The 304 is about another object than the stored one: ask for the whole object.
          validators = null;
          continue;
        }
        if (
          flight.entry && STALE_IF_ERROR_STATUSES.has(response.status) &&
          this.#staleOnError(flight, response.status)
        ) {
          response.body?.cancel().catch(() => {});
          return;
        }
        this.#deliver(flight, template, response, times, fetch);
        return;
      }
    } catch (error) {
      this.#release(flight);
      if (flight.entry) cacheRevalidations.labels("error").inc();
      if (flight.entry && this.#staleOnError(flight, undefined)) return;
      for (const participant of this.#take(flight)) participant.reject(error);
    }
  }

  /** Serves every waiting request the stale response, if `stale-if-error` allows. */
  #staleOnError(flight: Flight, status: number | undefined): boolean {
    const entry = flight.entry!;
    const usability = this.#entries.usability(entry);
    if (!usability.staleIfError) return false;
    this.#release(flight);
    if (status !== undefined) cacheRevalidations.labels("error").inc();
    for (const participant of this.#take(flight)) {
      participant.resolve(this.#answers.fromEntry(participant.request, entry, "stale", {
        fwd: "stale",
        fwdStatus: status,
        ttl: usability.ttlSecs,
        detail: "stale-if-error",
      }));
    }
    return true;
  }

  /** Applies an origin's `304` to the stored response (RFC 9111 §4.3.4). */
  #refresh(
    flight: Flight,
    template: Request,
    notModified: Response,
    times: ExchangeTimes,
  ): boolean {
    const entry = flight.entry!;
    if (!selectsForUpdate(entry.headers, notModified.headers)) return false;
    notModified.body?.cancel().catch(() => {});
    this.#release(flight);
    cacheRevalidations.labels("not_modified").inc();
    const headers = mergeNotModified(entry.headers, notModified.headers);
    const freshness = this.#entries.freshnessFor(
      { status: entry.status, headers },
      entry.contentKind,
      times,
      entry.body,
    );
    const refreshed: StoredResponse = {
      ...entry,
      headers,
      times,
      initialAgeSecs: initialAgeSecs(headers, times, { heuristic: freshness.heuristic }),
      freshness,
    };
    // The 304 may have changed what the origin allows (a new `Cache-Control: no-store`).
    const storable = notStorableReason(
      { method: "GET", headers: template.headers },
      refreshed,
    ) === null;
    if (!storable || !this.#entries.put(flight.key, refreshed)) this.#entries.delete(flight.key);
    const ttl = this.#entries.usability(refreshed).ttlSecs;
    for (const participant of this.#take(flight)) {
      participant.resolve(this.#answers.fromEntry(
        participant.request,
        refreshed,
        participant.leader ? "revalidated" : "coalesced",
        { fwd: "stale", fwdStatus: 304, ttl, collapsed: !participant.leader },
      ));
    }
    return true;
  }

  /** Hands a fresh upstream response to the requests that waited for it, and stores it. */
  #deliver(
    flight: Flight,
    template: Request,
    response: Response,
    times: ExchangeTimes,
    fetch: UpstreamFetch,
  ): void {
    const participants = this.#take(flight);
    const status = response.status;
    const headers = storedHeaders(response.headers);
    const declared = declaredLength(headers);
    const kind = flight.kind ??
      contentKindOf(headers.get("content-type"), new URL(template.url).pathname);
    const refusal = notStorableReason({ method: "GET", headers: template.headers }, {
      status,
      headers,
    });
    const freshness = this.#entries.freshnessFor({ status, headers }, kind, times, null);
    const age = initialAgeSecs(headers, times, { heuristic: freshness.heuristic });
    let reason: NotCachedReason | null = refusal;
    if (reason === null && declared !== null && declared > this.#maxObjectBytes) {
      reason = "too-large";
    } else if (reason === null && this.#entries.keepSecs(freshness, headers, age) <= 0) {
      reason = freshness.alwaysRevalidate ? "no-cache" : "expired";
    }
    const entryKey = flight.key;
    if (flight.entry) {
      cacheRevalidations.labels(status < 500 ? "modified" : "error").inc();
      if (reason !== null && status < 500) this.#entries.delete(entryKey);
    }
    // Shareable with the other waiting requests: what a cache hit could have served them.
    const key = refusal === null
      ? this.#entries.setVary(flight.base, varyNames(headers), template.headers)
      : entryKey;
    const sharing: Participant[] = [];
    for (const participant of participants) {
      const shares = participant.leader || status >= 500 ||
        (refusal === null &&
          this.#entries.lookup(flight.base, participant.request.headers).key === key);
      if (shares) sharing.push(participant);
      else this.#serveApart(flight, participant, refusal, fetch);
    }
    const member = (participant: Participant | null): CacheStatusMember => ({
      fwd: flight.fwd,
      fwdStatus: flight.entry ? status : undefined,
      stored: reason === null,
      collapsed: participant === null || !participant.leader,
      // A playlist's lifetime is known once its body is (the live-playlist cap).
      ttl: reason === null && kind !== "playlist" ? freshness.lifetimeSecs - age : undefined,
      detail: reason ?? undefined,
    });
    const outcome = (participant: Participant | null): CacheOutcome =>
      participant?.leader ? (reason === null ? "miss" : "uncacheable") : "coalesced";
    if (reason !== null) {
      this.#release(flight);
      this.#deliverUncached(response, headers, declared, sharing, (p) => ({
        member: member(p),
        outcome: outcome(p),
      }));
      return;
    }
    const id = this.#nextId++;
    const version = String(id);
    const fill = new Fill(response.body, {
      maxBytes: this.#maxObjectBytes,
      declaredLength: declared,
    });
    const object: CachedObject = {
      status,
      statusText: response.statusText,
      headers,
      body: fill,
      length: declared,
    };
    const answer = (participant: Participant | null, request: Request): ServeResult => ({
      response: respondFromObject(request, object, {
        cacheStatus: this.#answers.status(member(participant)),
        ageSecs: null,
      }),
      outcome: outcome(participant),
      version,
    });
    if (key !== flight.key) {
      this.#release(flight);
      flight.key = key;
      if (!this.#flights.has(key)) this.#flights.set(key, flight);
    }
    flight.late = (request) => fill.retaining && !fill.failed ? answer(null, request) : null;
    for (const participant of sharing) {
      participant.resolve(answer(participant, participant.request));
    }
    this.#track(fill.ended.then((end) => {
      this.#release(flight);
      if (end.kind !== "complete" || !fill.retaining) return;
      this.#entries.put(key, {
        kind: "response",
        id,
        status,
        statusText: response.statusText,
        headers,
        body: fill,
        length: fill.length,
        contentKind: kind,
        times,
        initialAgeSecs: age,
        freshness: this.#entries.freshnessFor({ status, headers }, kind, times, fill),
      });
      if (entryKey !== key && flight.entry) this.#entries.delete(entryKey, "replaced");
    }));
  }

  /**
   * A request that waited on an exchange whose response it may not share: another `Vary`
   * variant leads or joins the exchange for its own; a request facing a response that is
   * not shareable (private, cookies, credentials) makes its own request, not stored.
   */
  #serveApart(
    flight: Flight,
    participant: Participant,
    refusal: NotStorableReason | null,
    fetch: UpstreamFetch,
  ): void {
    const request = participant.request;
    if (refusal === null) {
      const own = this.#entries.lookup(flight.base, request.headers).key;
      const input = { key: flight.base, request, kind: flight.kind };
      this.joinOrLead(own, input, undefined, "vary-miss", fetch)
        .then(participant.resolve, participant.reject);
      return;
    }
    this.#track(
      fetch(request).then((response) =>
        participant.resolve({
          response: this.#answers.labelled(response, { fwd: flight.fwd, detail: refusal }),
          outcome: "uncacheable",
          version: null,
        }), participant.reject),
    );
  }

  /** A response that will not be stored: passed on, or fanned out to those that share it. */
  #deliverUncached(
    response: Response,
    headers: Headers,
    declared: number | null,
    sharing: readonly Participant[],
    label: (participant: Participant) => { member: CacheStatusMember; outcome: CacheOutcome },
  ): void {
    if (sharing.length === 0) {
      response.body?.cancel().catch(() => {});
      return;
    }
    const only = sharing.length === 1 ? sharing[0] : null;
    if (only && !PARTIAL_OR_CONDITIONAL_HEADERS.some((name) => only.request.headers.has(name))) {
      // One reader and nothing to evaluate: the upstream body goes straight through.
      const { member, outcome } = label(only);
      const bodyless = only.request.method === "HEAD";
      only.resolve({
        response: this.#answers.labelled(response, member, bodyless),
        outcome,
        version: null,
      });
      return;
    }
    const fill = new Fill(response.body, {
      maxBytes: this.#maxObjectBytes,
      declaredLength: declared,
    });
    const object: CachedObject = {
      status: response.status,
      statusText: response.statusText,
      headers,
      body: fill,
      length: declared,
    };
    for (const participant of sharing) {
      const { member, outcome } = label(participant);
      participant.resolve({
        response: respondFromObject(participant.request, object, {
          cacheStatus: this.#answers.status(member),
          ageSecs: null,
        }),
        outcome,
        version: null,
      });
    }
    // Every reader is attached: from here the fill keeps only what they have not read.
    fill.stopRetaining();
    this.#track(fill.ended);
  }
}
