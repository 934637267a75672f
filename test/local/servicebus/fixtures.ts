import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceBusClient, type ServiceBusReceivedMessage, type ServiceBusReceiver } from "@azure/service-bus";
import {
  startServiceBusEmulator,
  type EmulatorQueueDefinition,
  type ServiceBusEmulator,
} from "../../../local/servicebus/index.js";

type QueueProperties = NonNullable<EmulatorQueueDefinition["properties"]>;

/** A queue as the pipeline declares them (duplicate detection, dead-lettering on expiry), with overrides. */
export function queueDefinition(name: string, overrides: Partial<QueueProperties> = {}): EmulatorQueueDefinition {
  return {
    name,
    properties: {
      lockDuration: "PT30S",
      maxDeliveryCount: 10,
      defaultMessageTimeToLive: "P7D",
      requiresDuplicateDetection: true,
      duplicateDetectionHistoryTimeWindow: "PT6H",
      deadLetteringOnMessageExpiration: true,
      requiresSession: false,
      maxSizeInMegabytes: 1024,
      ...overrides,
    },
  };
}

export function temporaryStateDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), "sb-emulator-test-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface EmulatorFixture {
  emulator: ServiceBusEmulator;
  client: ServiceBusClient;
  stateDir: string;
  /** Stops the emulator and starts it again on the same port and state (clients must reconnect). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** Starts an emulator on a random loopback port with a fresh state directory, and a real SDK client for it. */
export async function startEmulator(queues: EmulatorQueueDefinition[]): Promise<EmulatorFixture> {
  const state = temporaryStateDir();
  const options = { stateDir: state.path, queues, port: 0, warn: () => undefined };
  const fixture: EmulatorFixture = {
    emulator: await startServiceBusEmulator(options),
    client: undefined as unknown as ServiceBusClient,
    stateDir: state.path,
    async restart() {
      const port = fixture.emulator.port;
      await fixture.emulator.stop();
      fixture.emulator = await startServiceBusEmulator({ ...options, port });
    },
    async close() {
      await fixture.client.close();
      await fixture.emulator.stop();
      state.remove();
    },
  };
  fixture.client = new ServiceBusClient(fixture.emulator.connectionString, {
    retryOptions: { maxRetries: 5, retryDelayInMs: 200, timeoutInMs: 10_000 },
  });
  return fixture;
}

/** Receives until `count` messages arrived or `maxWaitTimeInMs` passed in total. */
export async function receiveAll(
  receiver: ServiceBusReceiver,
  count: number,
  maxWaitTimeInMs = 5_000,
): Promise<ServiceBusReceivedMessage[]> {
  const received: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + maxWaitTimeInMs;
  while (received.length < count && Date.now() < deadline) {
    const batch = await receiver.receiveMessages(count - received.length, {
      maxWaitTimeInMs: Math.max(100, deadline - Date.now()),
    });
    received.push(...batch);
  }
  return received;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
