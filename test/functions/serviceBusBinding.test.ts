import { createRequire } from "node:module";
import azureFunctions from "@azure/functions";
import type { ModelBindingData, ResourceFactoryResolver as Resolver } from "@azure/functions-extensions-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as z from "zod";
import type { ServiceBusMessageContext } from "../../functions/definitions.js";
import { queueFunction } from "../../functions/runtime.js";
import {
  DeferredServiceBusBinding,
  deferServiceBusBinding,
  resolveServiceBusContext,
  serviceBusBindingSource,
} from "../../functions/serviceBusBinding.js";
import { fakePipeline } from "../fakes/pipeline.js";
import { lockToken, modelBindingContent, startSettlementHost, type SettlementHost } from "../fakes/settlementHost.js";

/**
 * These tests drive the real Service Bus extension and the real resolver @azure/functions reads, with model binding
 * data shaped as the Functions host sends it, and a gRPC server standing in for the host's settlement service.
 * They share the process-wide resolver, so they run in order, as the app's life does.
 */

const require = createRequire(import.meta.url);
/** The registry as @azure/functions itself resolves it: the one its conversion of trigger data reads. */
const { ResourceFactoryResolver } = createRequire(require.resolve("@azure/functions"))(
  "@azure/functions-extensions-base",
) as { ResourceFactoryResolver: { getInstance(): Resolver } };
const { InvocationContext } = azureFunctions;

/** Model binding data as the host sends it for one message. */
function modelBinding(body: unknown, messageId: string): ModelBindingData {
  return {
    content: modelBindingContent(Buffer.from(JSON.stringify(body)), messageId),
    contentType: "application/octet-stream",
    source: serviceBusBindingSource,
    version: "1.0",
  };
}

const isLoaded = (pkg: string) => Object.keys(require.cache).some((file) => file.includes(`/node_modules/${pkg}/`));

function invocation(functionName: string) {
  const lines: string[] = [];
  const context = new InvocationContext({
    functionName,
    invocationId: "00000000-0000-0000-0000-000000000001",
    logHandler: (_level, ...args) => lines.push(args.map(String).join(" ")),
  });
  return { context, lines };
}

describe("the deferred Service Bus binding", () => {
  let host: SettlementHost;
  let calls: SettlementHost["calls"];
  let argv: string[];
  const resolver = ResourceFactoryResolver.getInstance();

  beforeAll(async () => {
    host = await startSettlementHost();
    calls = host.calls;
    // The extension finds the host's settlement endpoint on the worker's command line, as the real host passes it.
    argv = process.argv;
    process.argv = [...argv, ...host.workerArgs];
  });
  afterAll(() => {
    process.argv = argv;
    host?.stop();
  });

  it("converts a trigger's data to a deferred binding from start-up on, however often registered, without loading the extension", () => {
    deferServiceBusBinding();
    deferServiceBusBinding();
    const data = modelBinding({ buildId: "b-1" }, "m-1");

    const input = resolver.createClient(serviceBusBindingSource, data);

    expect(input).toBeInstanceOf(DeferredServiceBusBinding);
    expect((input as DeferredServiceBusBinding).modelBindingData).toBe(data);
    expect(isLoaded("@azure/functions-extensions-servicebus")).toBe(false);
    expect(isLoaded("@azure/core-amqp")).toBe(false);
  });

  it("builds the message context with the real extension on first use", async () => {
    const input = resolver.createClient(
      serviceBusBindingSource,
      modelBinding({ buildId: "b-1", image: "ubuntu" }, "m-1"),
    );

    const context = await resolveServiceBusContext(input as DeferredServiceBusBinding);

    expect(isLoaded("@azure/functions-extensions-servicebus")).toBe(true);
    const message = context.messages as { body: unknown; messageId: string; lockToken: string };
    expect(message.body).toEqual({ buildId: "b-1", image: "ubuntu" });
    expect(message.messageId).toBe("m-1");
    expect(message.lockToken).toBe(lockToken);
  });

  it("settles through the host's settlement service with the reason given", async () => {
    const context = await resolveServiceBusContext(
      resolver.createClient(serviceBusBindingSource, modelBinding({}, "m-2")) as ServiceBusMessageContext,
    );
    calls.length = 0;

    await context.actions.deadletter(
      context.messages as never,
      undefined,
      "SchemaValidationFailed",
      "buildId: required",
    );

    expect(calls).toHaveLength(1);
    expect(calls[0]?.method).toBe("Deadletter");
    expect(calls[0]?.request).toMatchObject({
      locktoken: lockToken,
      deadletterReason: { value: "SchemaValidationFailed" },
      deadletterErrorDescription: { value: "buildId: required" },
    });
  });

  it("keeps deferring once the extension is loaded, so every context gets the same settlement", async () => {
    const input = resolver.createClient(serviceBusBindingSource, modelBinding({ n: 1 }, "m-3"));

    expect(input).toBeInstanceOf(DeferredServiceBusBinding);
    const context = await resolveServiceBusContext(input as DeferredServiceBusBinding);
    expect((context.messages as { body: unknown }).body).toEqual({ n: 1 });
  });

  it("passes a context built by the local host through unchanged", async () => {
    const local: ServiceBusMessageContext = { messages: [], actions: {} as ServiceBusMessageContext["actions"] };
    expect(await resolveServiceBusContext(local)).toBe(local);
  });

  it("is registered once however often the app starts it", () => {
    expect(() => deferServiceBusBinding()).not.toThrow();
    expect(resolver.hasResourceFactory(serviceBusBindingSource)).toBe(true);
  });

  it("leaves other sources to the resolver as before", () => {
    resolver.registerResourceFactory("TestSource", () => "made");
    expect(resolver.hasResourceFactory("TestSource")).toBe(true);
    expect(resolver.createClient("TestSource", {})).toBe("made");
    expect(() => resolver.registerResourceFactory("TestSource", () => "again")).toThrow(/already registered/);
  });

  describe("through a queue function", () => {
    const schema = z.object({ buildId: z.string() });

    it("dead-letters a message that fails its schema, with the reason, through the host", async () => {
      const handler = queueFunction(
        schema,
        async () => ({ outcome: "unreachable" }),
        () => {
          throw new Error("a message that fails its schema never reaches the pipeline");
        },
      );
      calls.length = 0;

      await handler(
        new DeferredServiceBusBinding(modelBinding({ build: "no id" }, "m-4")),
        invocation("startBuild").context,
      );

      expect(calls.map((c) => c.method)).toEqual(["Deadletter"]);
      expect(calls[0]?.request).toMatchObject({
        locktoken: lockToken,
        deadletterReason: { value: "SchemaValidationFailed" },
      });
    });

    it("runs the use-case and completes a valid message", async () => {
      const { deps } = fakePipeline([]);
      const pipeline = { settings: {} as never, deps: async () => deps, close: async () => {} };
      const seen: unknown[] = [];
      const handler = queueFunction(
        schema,
        async (_deps, message) => {
          seen.push(message);
          return { outcome: "started" };
        },
        () => pipeline,
      );
      calls.length = 0;

      await handler(
        new DeferredServiceBusBinding(modelBinding({ buildId: "b-5" }, "m-5")),
        invocation("startBuild").context,
      );

      expect(seen).toEqual([{ buildId: "b-5" }]);
      expect(calls.map((c) => c.method)).toEqual(["Complete"]);
      expect(calls[0]?.request).toMatchObject({ locktoken: lockToken });
    });
  });
});
