import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { InvocationContext } from "@azure/functions";
import { ServiceBusClient, type ServiceBusMessage, type ServiceBusReceivedMessage } from "@azure/service-bus";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { FunctionDefinition, ServiceBusMessageContext } from "../../../functions/definitions.js";
import { startServiceBusEmulator } from "../../../local/servicebus/index.js";
import { startTcpProxy } from "../../fakes/tcpProxy.js";
import { deferred, startTestHost, stopTestHosts, testHostJson, type TestHost } from "./helpers.js";

type Emulator = Awaited<ReturnType<typeof startServiceBusEmulator>>;

// Short locks and a small max delivery count keep redelivery and dead-lettering quick.
const queueProperties = { lockDuration: "PT5S", maxDeliveryCount: 3, requiresDuplicateDetection: false };
const queueNames = ["build-requests", "build-watch", "version-publish", "concurrency", "graceful", "unsettled"];

let emulator: Emulator;
let client: ServiceBusClient;
let stateDir: string;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "local-host-sb-"));
  emulator = await startServiceBusEmulator({
    stateDir,
    queues: queueNames.map((name) => ({ name, properties: queueProperties })),
    port: 0,
  });
  client = new ServiceBusClient(emulator.connectionString);
});

afterAll(async () => {
  await client?.close();
  await emulator?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

afterEach(stopTestHosts);

function aBuildRequest(overrides: Partial<ServiceBusMessage> = {}): ServiceBusMessage {
  return {
    body: { imageName: "ubuntu-2404", requestedBy: "webhook", commit: "9f1c2ab" },
    contentType: "application/json",
    messageId: `build-ubuntu-2404-${Math.random().toString(16).slice(2, 10)}`,
    correlationId: "delivery-42",
    subject: "build-request",
    applicationProperties: { ImageName: "ubuntu-2404" },
    ...overrides,
  };
}

async function send(queue: string, ...messages: ServiceBusMessage[]): Promise<void> {
  const sender = client.createSender(queue);
  try {
    await sender.sendMessages(messages);
  } finally {
    await sender.close();
  }
}

/**
 * Messages left on a queue (locked ones included), through a real receiver's peek. Each peek has a client of its
 * own: a client remembers where its last peek of an entity ended and would go on from there.
 */
async function activeMessages(queue: string, subQueueType?: "deadLetter"): Promise<ServiceBusReceivedMessage[]> {
  const peeker = new ServiceBusClient(emulator.connectionString);
  try {
    return await peeker.createReceiver(queue, subQueueType ? { subQueueType } : {}).peekMessages(50);
  } finally {
    await peeker.close();
  }
}

/** The next dead-lettered message of a queue, completed so the queue is clean for the next test. */
async function receiveDeadLetter(queue: string): Promise<ServiceBusReceivedMessage> {
  const receiver = client.createReceiver(queue, { subQueueType: "deadLetter" });
  try {
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 10_000 });
    if (!message) throw new Error(`no dead-lettered message on ${queue}`);
    await receiver.completeMessage(message);
    return message;
  } finally {
    await receiver.close();
  }
}

function queueFunction(
  name: string,
  queueName: string,
  handler: (message: unknown, context: InvocationContext) => Promise<void>,
  options: Partial<Extract<FunctionDefinition, { trigger: "serviceBusQueue" }>["options"]> = {},
): FunctionDefinition {
  return {
    trigger: "serviceBusQueue",
    name,
    options: { connection: "ServiceBusConnection", queueName, handler, ...options },
  };
}

function startHost(functions: FunctionDefinition[], serviceBus: object = {}): Promise<TestHost> {
  return startTestHost(functions, {
    env: { ServiceBusConnection: emulator.connectionString, BUILD_QUEUE: "build-requests" },
    hostJson: {
      ...testHostJson,
      extensions: { ...testHostJson.extensions, serviceBus: { ...testHostJson.extensions.serviceBus, ...serviceBus } },
    },
  });
}

const settled = (host: TestHost, functionName: string, count = 1) =>
  host.waitForRecord(
    () => host.records.filter((r) => r.event === "invocation.end" && r.functionName === functionName).length >= count,
  );

describe("the local host's Service Bus queue triggers", () => {
  it("hand the function the parsed body and the host's trigger metadata, and complete the message on success", async () => {
    const seen: { body: unknown; metadata: unknown }[] = [];
    const done = deferred();
    const host = await startHost([
      queueFunction("startBuild", "%BUILD_QUEUE%", async (body, context) => {
        seen.push({ body, metadata: context.triggerMetadata });
        done.resolve();
      }),
    ]);
    const request = aBuildRequest();
    await send("build-requests", request);
    await done.promise;
    await settled(host, "startBuild");
    await host.stop(); // settlement is part of the invocation's work: stop waits for it
    expect(seen[0]?.body).toEqual(request.body);
    expect(seen[0]?.metadata).toMatchObject({
      messageId: request.messageId,
      deliveryCount: 1,
      contentType: "application/json",
      correlationId: "delivery-42",
      subject: "build-request",
      applicationProperties: { imageName: "ubuntu-2404" },
    });
    expect(await activeMessages("build-requests")).toHaveLength(0);
  });

  it("abandon the message when the function throws, so it comes back until the broker dead-letters it", async () => {
    const deliveryCounts: unknown[] = [];
    const host = await startHost([
      queueFunction("watchBuild", "build-watch", async (_body, context) => {
        deliveryCounts.push(context.triggerMetadata?.deliveryCount);
        throw new Error("Image Builder run status could not be read");
      }),
    ]);
    await send("build-watch", aBuildRequest({ messageId: "watch-1" }));
    const deadLettered = await receiveDeadLetter("build-watch");
    await host.stop();
    expect(deliveryCounts).toEqual([1, 2, 3]);
    expect(deadLettered.messageId).toBe("watch-1");
    expect(deadLettered.deadLetterReason).toBe("MaxDeliveryCountExceeded");
    expect(host.records.filter((r) => r.event === "invocation.end").map((r) => r.outcome)).toEqual([
      "failed",
      "failed",
      "failed",
    ]);
  });

  it("let an sdkBinding function dead-letter a message at once, with a reason and description", async () => {
    const handled = deferred<ServiceBusMessageContext>();
    const host = await startHost([
      queueFunction(
        "publishVersion",
        "version-publish",
        async (input) => {
          const { messages, actions } = input as ServiceBusMessageContext;
          const message = Array.isArray(messages) ? messages[0] : messages;
          if (!message) throw new Error("no message");
          await actions.deadletter(message, undefined, "InvalidInput", "image 'centos-7' is not in the catalog");
          handled.resolve(input as ServiceBusMessageContext);
        },
        { sdkBinding: true, autoCompleteMessages: false },
      ),
    ]);
    await send("version-publish", aBuildRequest({ messageId: "publish-1", body: { imageName: "centos-7" } }));
    const input = await handled.promise;
    const deadLettered = await receiveDeadLetter("version-publish");
    await host.stop();
    const message = input.messages as ServiceBusReceivedMessage;
    expect(message.body).toEqual({ imageName: "centos-7" });
    expect(deadLettered).toMatchObject({
      messageId: "publish-1",
      deadLetterReason: "InvalidInput",
      deadLetterErrorDescription: "image 'centos-7' is not in the catalog",
      deliveryCount: 0,
    });
    expect(host.records.filter((r) => r.event === "invocation.start")).toHaveLength(1);
  });

  it("never run more handlers of a function at once than maxConcurrentCalls", async () => {
    const total = 6;
    const releases: Array<() => void> = [];
    let running = 0;
    let maxRunning = 0;
    let startedWaiter: { count: number; resolve: () => void } | undefined;
    const host = await startHost(
      [
        queueFunction("concurrent", "concurrency", async () => {
          running++;
          maxRunning = Math.max(maxRunning, running);
          const release = deferred();
          releases.push(release.resolve);
          if (startedWaiter && releases.length >= startedWaiter.count) startedWaiter.resolve();
          await release.promise;
          running--;
        }),
      ],
      { maxConcurrentCalls: 2 },
    );
    const started = (count: number) =>
      releases.length >= count
        ? Promise.resolve()
        : new Promise<void>((resolve) => (startedWaiter = { count, resolve }));
    await send("concurrency", ...Array.from({ length: total }, (_, i) => aBuildRequest({ messageId: `c-${i}` })));
    for (let i = 0; i < total; i++) {
      await started(Math.min(i + 2, total)); // two at a time until the last one
      releases[i]?.();
    }
    await settled(host, "concurrent", total);
    await host.stop();
    expect(maxRunning).toBe(2);
    expect(await activeMessages("concurrency")).toHaveLength(0);
  });

  it("let a graceful stop wait for an invocation in flight, then settle its message", async () => {
    const release = deferred();
    const entered = deferred();
    const host = await startHost([
      queueFunction("slowBuild", "graceful", async () => {
        entered.resolve();
        await release.promise;
      }),
    ]);
    await send("graceful", aBuildRequest({ messageId: "slow-1" }));
    await entered.promise;
    let stopped = false;
    const stopping = host.stop().then(() => {
      stopped = true;
    });
    await host.waitForRecord((r) => r.event === "host.stopping");
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    release.resolve();
    await stopping;
    expect(host.records.find((r) => r.event === "invocation.end")?.outcome).toBe("succeeded");
    expect(await activeMessages("graceful")).toHaveLength(0);
  });

  it("leave a message an sdkBinding function did not settle to its lock, with a warning", async () => {
    const host = await startHost([
      queueFunction("forgetful", "unsettled", async () => undefined, { sdkBinding: true, autoCompleteMessages: false }),
    ]);
    await send("unsettled", aBuildRequest({ messageId: "forgotten-1" }));
    const warning = await host.waitForRecord((r) => r.event === "servicebus.unsettled");
    await host.stop();
    expect(warning.message).toContain("forgotten-1");
    const [message] = await activeMessages("unsettled");
    expect(message?.messageId).toBe("forgotten-1"); // still on the queue, locked until the lock expires
  });

  it("keep receiving after the broker drops every connection for a while, reporting the outage in the log", async () => {
    const proxy = await startTcpProxy(emulator.port);
    const received: unknown[] = [];
    let next = deferred();
    const host = await startTestHost(
      [
        queueFunction("startBuild", "build-requests", async (body) => {
          received.push(body);
          next.resolve();
        }),
      ],
      { env: { ServiceBusConnection: emulator.connectionString.replace(`:${emulator.port};`, `:${proxy.port};`) } },
    );
    try {
      await send("build-requests", aBuildRequest({ body: { n: 1 } }));
      await next.promise;
      next = deferred();
      await proxy.drop();
      await host.waitForRecord((r) => r.event === "servicebus.error");
      await proxy.resume();
      await send("build-requests", aBuildRequest({ body: { n: 2 } }));
      await next.promise;
      await settled(host, "startBuild", 2);
      await host.stop();
      expect(received).toEqual([{ n: 1 }, { n: 2 }]);
    } finally {
      await proxy.close();
    }
  });

  it("go on settling a function's messages while the settlement of one waits on a connection that died under it", async () => {
    // @azure/service-bus waits for the broker's answer to a disposition until the try timeout (60 s, then retries),
    // even when its connection is gone: one such settlement must not hold the receiver's others back.
    const proxy = await startTcpProxy(emulator.port);
    const invoked: string[] = [];
    const settlementLost = deferred();
    const host = await startTestHost(
      [
        queueFunction("startBuild", "build-requests", async (_body, context) => {
          const messageId = String(context.triggerMetadata?.messageId);
          invoked.push(messageId);
          // Its completion is the next settlement.
          if (messageId === "settled-on-a-dead-link") void proxy.dropAtNextDisposition().then(settlementLost.resolve);
        }),
      ],
      { env: { ServiceBusConnection: emulator.connectionString.replace(`:${emulator.port};`, `:${proxy.port};`) } },
    );
    try {
      await send("build-requests", aBuildRequest({ messageId: "settled-on-a-dead-link" }));
      await settlementLost.promise;
      await send(
        "build-requests",
        aBuildRequest({ messageId: "after-the-outage-1" }),
        aBuildRequest({ messageId: "after-the-outage-2" }),
      );
      // The lost settlement waits for its answer (the SDK's try timeout is 60 s); the others are completed, each on
      // its first delivery (held behind it, they would come back at each lock expiry until dead-lettered).
      const others = ["after-the-outage-1", "after-the-outage-2"];
      await vi.waitFor(
        async () => {
          const left = (await activeMessages("build-requests")).map((m) => String(m.messageId));
          expect(left.filter((id) => others.includes(id))).toEqual([]);
        },
        { timeout: 45_000, interval: 250 },
      );
      expect(invoked.filter((id) => others.includes(id))).toEqual(expect.arrayContaining(others));
      expect(invoked.filter((id) => others.includes(id))).toHaveLength(2);
      const deadLettered = (await activeMessages("build-requests", "deadLetter")).map((m) => String(m.messageId));
      expect(deadLettered.filter((id) => others.includes(id))).toEqual([]);
    } finally {
      await host.stop();
      await proxy.close();
    }
  });

  it("refuse to start a function whose connection setting is missing", async () => {
    await expect(
      startTestHost([queueFunction("startBuild", "build-requests", async () => undefined)], { env: {} }),
    ).rejects.toThrow(/ServiceBusConnection/);
  });
});
