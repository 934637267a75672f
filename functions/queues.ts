import type { MessageOf, QueueName } from "../shared/messages/index.js";
import type { PipelineDeps } from "../shared/usecases/context.js";
import { publishEvent } from "../shared/usecases/publishEvent.js";
import { publishVersion } from "../shared/usecases/publishVersion.js";
import { startBuild } from "../shared/usecases/startBuild.js";
import { watchBuild } from "../shared/usecases/watchBuild.js";

/** What handles a queue's messages: the function's name and the use-case it calls with each message. */
export interface QueueFunction<Q extends QueueName> {
  name: string;
  // A property, not a method: the compiler checks its parameters strictly (no method bivariance).
  handle: (deps: PipelineDeps, message: MessageOf<Q>) => Promise<{ outcome: string }>;
}

/**
 * The function of each queue of the registry (`shared/messages`): the compiler refuses a queue without a function,
 * and a use-case whose message type is not the one its queue carries.
 */
export const queueFunctions: { [Q in QueueName]: QueueFunction<Q> } = {
  /** Starts the Image Builder run of a requested build. */
  "build-requests": { name: "startBuild", handle: startBuild },
  /** Checks an Image Builder run and moves the build on. */
  "build-watch": { name: "watchBuild", handle: watchBuild },
  /** Takes over the version a successful run distributed, adding its other regions. */
  "version-publish": { name: "publishVersion", handle: publishVersion },
  /** Publishes a step's event to the Event Grid topic. */
  events: { name: "publishEvent", handle: publishEvent },
};
