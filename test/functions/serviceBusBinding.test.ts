import { createRequire } from "node:module";
import path from "node:path";
import azureFunctions from "@azure/functions";
import type { ModelBindingData, ResourceFactoryResolver as Resolver } from "@azure/functions-extensions-base";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import rhea from "rhea";
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
import { setPipeline } from "../../shared/composition.js";
import { fakePipeline } from "../fakes/pipeline.js";

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

interface SettlementCall {
  method: string;
  request: Record<string, unknown>;
}

/** The host's side of settlement: records each call and answers with Empty. */
async function startSettlementHost(calls: SettlementCall[]): Promise<{ port: number; server: grpc.Server }> {
  const extensionDir = path.dirname(require.resolve("@azure/functions-extensions-servicebus/package.json"));
  const definition = protoLoader.loadSync(path.join(extensionDir, "dist/proto/settlement.proto"), {
    keepCase: true,
    defaults: true,
  });
  const service = (grpc.loadPackageDefinition(definition).Settlement as grpc.ServiceClientConstructor).service;
  const record =
    (method: string) => (call: { request: Record<string, unknown> }, done: (e: null, r: object) => void) => {
      calls.push({ method, request: call.request });
      done(null, {});
    };
  const server = new grpc.Server();
  server.addService(service, {
    Complete: record("Complete"),
    Abandon: record("Abandon"),
    Deadletter: record("Deadletter"),
    Defer: record("Defer"),
    RenewMessageLock: record("RenewMessageLock"),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { port, server };
}

/** The lock token as Service Bus gives it (a GUID in .NET byte order), and the string the extension makes of it. */
const lockTokenBytes = Buffer.from("00112233445566778899aabbccddeeff", "hex");
const lockToken = "33221100-5544-7766-8899-aabbccddeeff";

/** Model binding data as the host sends it for one message: lock token, marker, then the AMQP-encoded message. */
function modelBinding(body: unknown, messageId: string): ModelBindingData {
  const amqp = rhea.message.encode({
    message_id: messageId,
    content_type: "application/json",
    body: rhea.message.data_section(Buffer.from(JSON.stringify(body))),
    message_annotations: { "x-opt-sequence-number": 7, "x-opt-enqueued-time": Date.UTC(2026, 10, 23) },
  } as rhea.Message);
  return {
    content: Buffer.concat([lockTokenBytes, Buffer.from("x-opt-lock-token"), amqp]),
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
  const calls: SettlementCall[] = [];
  let server: grpc.Server;
  let argv: string[];
  const resolver = ResourceFactoryResolver.getInstance();

  beforeAll(async () => {
    const host = await startSettlementHost(calls);
    server = host.server;
    // The extension finds the host's settlement endpoint on the worker's command line, as the real host passes it.
    argv = process.argv;
    process.argv = [
      ...argv,
      "--host",
      "127.0.0.1",
      "--port",
      String(host.port),
      "--functions-grpc-max-message-length",
      "4194304",
    ];
  });
  afterAll(() => {
    process.argv = argv;
    server.forceShutdown();
    setPipeline(undefined);
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
      const handler = queueFunction(schema, async () => ({ outcome: "unreachable" }));
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
      setPipeline({ settings: {} as never, catalog: deps.catalog, deps: () => deps, close: async () => {} });
      const seen: unknown[] = [];
      const handler = queueFunction(schema, async (_deps, message) => {
        seen.push(message);
        return { outcome: "started" };
      });
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
