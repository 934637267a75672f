import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServiceBusEmulator } from "../../../local/servicebus/index.js";
import { ServiceBusMessageSender } from "../../../shared/adapters/serviceBus.js";
import type { Settings } from "../../../shared/config/settings.js";
import { deriveBuildId } from "../../../shared/messages/index.js";
import { noTracer } from "../../../shared/observability/tracing.js";
import { aBuildRequestMessage } from "../../factories.js";
import { startTcpProxy } from "../../fakes/tcpProxy.js";

type Emulator = Awaited<ReturnType<typeof startServiceBusEmulator>>;

let emulator: Emulator;
let stateDir: string;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "sender-sb-"));
  emulator = await startServiceBusEmulator({
    stateDir,
    queues: [{ name: "build-requests", properties: { requiresDuplicateDetection: false } }],
    port: 0,
  });
});

afterAll(async () => {
  await emulator?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

async function messageIdsOn(queue: string): Promise<string[]> {
  const peeker = new ServiceBusClient(emulator.connectionString);
  try {
    return (await peeker.createReceiver(queue).peekMessages(50)).map((m) => String(m.messageId));
  } finally {
    await peeker.close();
  }
}

describe("the Service Bus message sender", () => {
  it("delivers a message sent while the broker was briefly down, soon after the broker is back", async () => {
    // The SDK's default retries wait a fixed 30 s between attempts: this send would come back after about 90 s.
    const proxy = await startTcpProxy(emulator.port);
    const settings = {
      ServiceBusConnection: emulator.connectionString.replace(`:${emulator.port};`, `:${proxy.port};`),
    } as Settings;
    const sender = new ServiceBusMessageSender(settings, noTracer);
    try {
      await sender.send("build-requests", aBuildRequestMessage("ubuntu-2404", "1111111"));
      await proxy.drop(); // connections cut, new ones refused: the broker restarts
      const sending = sender.send("build-requests", aBuildRequestMessage("ubuntu-2404", "2222222"));
      await new Promise((resolve) => setTimeout(resolve, 2500));
      await proxy.resume();
      await sending;
      const ids = await messageIdsOn("build-requests");
      expect(ids).toEqual([
        `${deriveBuildId({ image: "ubuntu-2404", commit: "1111111" })}:request:0`,
        `${deriveBuildId({ image: "ubuntu-2404", commit: "2222222" })}:request:0`,
      ]);
    } finally {
      await sender.close();
      await proxy.close();
    }
  }, 40_000);
});
