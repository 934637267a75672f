import type * as z from "zod";
import type { queues, QueueRegistry } from "../shared/messages/index.js";
import type { PipelineDeps } from "../shared/usecases/context.js";
import { publishEvent } from "../shared/usecases/publishEvent.js";
import { publishVersion } from "../shared/usecases/publishVersion.js";
import { startBuild } from "../shared/usecases/startBuild.js";
import { watchBuild } from "../shared/usecases/watchBuild.js";

/** What handles one queue's messages: the function's name and the use-case it calls with each message. */
export interface QueueFunction<M> {
  name: string;
  // A property, not a method: the compiler checks its parameters strictly (no method bivariance).
  handle: (deps: PipelineDeps, message: M) => Promise<{ outcome: string }>;
}

/** One function per queue of a registry, each taking exactly the message its queue carries. */
export type QueueFunctions<R extends QueueRegistry> = { [Q in keyof R]: QueueFunction<z.infer<R[Q]["schema"]>> };

/**
 * The function of each queue of the registry (`shared/messages`): the compiler refuses a queue without a function,
 * and a use-case whose message type is not the one its queue carries.
 */
export const queueFunctions: QueueFunctions<typeof queues> = {
  /** Starts the Image Builder run of a requested build. */
  "build-requests": { name: "startBuild", handle: startBuild },
  /** Checks an Image Builder run and moves the build on. */
  "build-watch": { name: "watchBuild", handle: watchBuild },
  /** Takes over the version a successful run distributed, adding its other regions. */
  "version-publish": { name: "publishVersion", handle: publishVersion },
  /** Publishes a step's event to the Event Grid topic. */
  events: { name: "publishEvent", handle: publishEvent },
};
