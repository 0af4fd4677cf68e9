/**
 * Worker isolates (`server.workers`): the listeners served by several isolates sharing the
 * ports, one plan swapped in all of them, requests and notes between them.
 * @module
 */
export { Channel, ChannelError, type MessageEnd } from "./channel.ts";
export {
  type HostServices,
  WorkerPool,
  type WorkerPoolOptions,
  type WorkerStatus,
} from "./pool.ts";
export { type IsolateHooks, runWorkerIsolate } from "./isolate.ts";
