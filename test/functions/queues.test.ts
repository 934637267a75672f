import { describe, expect, it } from "vitest";
import * as z from "zod";
import { queueFunctions, type QueueFunctions } from "../../functions/queues.js";
import { queueTriggers } from "../../functions/table.js";
import type { ServiceBusMessageContext } from "../../functions/definitions.js";
import { queueContract, queues } from "../../shared/messages/index.js";
import { startBuild } from "../../shared/usecases/startBuild.js";
import { watchBuild } from "../../shared/usecases/watchBuild.js";
import { fakePipeline } from "../fakes/pipeline.js";

/** A queue a test adds to the pipeline's: one registry entry and one function. */
const pingSchema = z.object({ kind: z.literal("Ping"), pingId: z.string() });
const withPings = { ...queues, pings: queueContract(pingSchema, "Ping", (m) => `ping:${m.pingId}`) };

describe("the queue registry", () => {
  it("takes a new queue as one registry entry and one function, bound to its schema", async () => {
    const handled: string[] = [];
    const functions: QueueFunctions<typeof withPings> = {
      ...queueFunctions,
      pings: {
        name: "handlePing",
        handle: async (_deps, message) => {
          handled.push(message.pingId);
          return { outcome: "ponged" };
        },
      },
    };
    const { deps } = fakePipeline([]);
    const pipeline = { settings: {} as never, deps: async () => deps, close: async () => {} };
    const table = queueTriggers(withPings, functions, () => pipeline);
    expect(table.map((f) => [f.name, f.trigger === "serviceBusQueue" ? f.options.queueName : ""])).toEqual([
      ["startBuild", "build-requests"],
      ["watchBuild", "build-watch"],
      ["publishVersion", "version-publish"],
      ["publishEvent", "events"],
      ["handlePing", "pings"],
    ]);
    expect(withPings.pings.messageId({ kind: "Ping", pingId: "7" })).toBe("ping:7");

    // Its trigger parses with its schema: a valid message reaches the function, an invalid one is dead-lettered.
    const settled: string[] = [];
    const actions = {
      complete: async () => void settled.push("complete"),
      abandon: async () => void settled.push("abandon"),
      deadletter: async (_m: unknown, _p?: unknown, reason?: string) => void settled.push(`deadletter ${reason}`),
      defer: async () => undefined,
      renewMessageLock: async () => undefined,
    };
    const trigger = table.at(-1)!;
    if (trigger.trigger !== "serviceBusQueue") throw new Error("expected a queue trigger");
    const context = { functionName: "handlePing", invocationId: "i", log() {}, warn() {}, error() {} };
    for (const body of [{ kind: "Ping", pingId: "1" }, { kind: "Ping" }]) {
      const input: ServiceBusMessageContext = {
        messages: { body, messageId: "m", deliveryCount: 1 } as never,
        actions,
      };
      await (trigger.options.handler as (i: unknown, c: unknown) => Promise<void>)(input, context);
    }
    expect(handled).toEqual(["1"]);
    expect(settled).toEqual(["complete", "deadletter SchemaValidationFailed"]);
  });

  it("is refused by the compiler when a queue's function takes another queue's message", () => {
    const wrong: QueueFunctions<typeof queues> = {
      ...queueFunctions,
      // @ts-expect-error watchBuild takes a BuildWatch, and build-requests carries a BuildRequested
      "build-requests": { name: "startBuild", handle: watchBuild },
    };
    // @ts-expect-error every queue of the registry needs its function
    const missing: QueueFunctions<typeof queues> = { "build-requests": { name: "startBuild", handle: startBuild } };
    // The checks above are the compiler's (npm run typecheck); at run time these are plain objects.
    expect(Object.keys(wrong)).toEqual(Object.keys(queues));
    expect(Object.keys(missing)).toHaveLength(1);
  });
});
