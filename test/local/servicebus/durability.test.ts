import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ServiceBusClient, type ServiceBusReceivedMessage } from "@azure/service-bus";
import { startServiceBusEmulator } from "../../../local/servicebus/index.js";
import { queueDefinition, receiveAll, sleep, startEmulator, temporaryStateDir } from "./fixtures.js";

const repoRoot = new URL("../../../", import.meta.url).pathname;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Starts the CLI as a child process and resolves with it once it printed its connection string. */
function startCli(args: string[]): Promise<{ child: ChildProcess; connectionString: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "local/servicebus/main.ts", ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n").find((l) => l.startsWith("Endpoint="));
      if (line) resolve({ child, connectionString: line.trim() });
    });
    child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`emulator exited with ${code}: ${err}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) =>
    child.exitCode !== null || child.signalCode ? resolve() : child.once("exit", () => resolve()),
  );
}

describe("durability of the Service Bus emulator", () => {
  const children: ChildProcess[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill("SIGKILL");
      await exited(child);
    }
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("loses no accepted message and redelivers no completed one across a kill -9 mid-traffic", async () => {
    const state = temporaryStateDir();
    cleanups.push(() => state.remove());
    const queuesFile = join(state.path, "queues.json");
    writeFileSync(queuesFile, JSON.stringify({ queues: [queueDefinition("work", { lockDuration: "PT5S" })] }));
    const stateDir = join(state.path, "state");
    const port = await freePort();
    const args = ["--port", String(port), "--host", "127.0.0.1", "--state", stateDir, "--queues", queuesFile];
    const first = await startCli(args);
    children.push(first.child);

    const client = new ServiceBusClient(first.connectionString, {
      retryOptions: { maxRetries: 3, retryDelayInMs: 200, maxRetryDelayInMs: 1_000, timeoutInMs: 3_000 },
    });
    cleanups.push(() => client.close());
    const total = 400;
    const accepted = new Set<string>();
    const delivered = new Set<string>();
    const completed = new Set<string>();
    const deliveredAfterCompletion: string[] = [];
    const sequenceNumbers: Array<{ at: number; seq: number }> = [];

    const sender = client.createSender("work");
    const produce = (async () => {
      for (let i = 0; i < total; i += 4) {
        await Promise.all(
          [0, 1, 2, 3].map(async (j) => {
            const messageId = `m-${i + j}`;
            // A send cut off by the crash is sent again: duplicate detection keeps it single.
            for (;;) {
              try {
                await sender.sendMessages({ body: i + j, messageId });
                accepted.add(messageId);
                return;
              } catch {
                await sleep(200);
              }
            }
          }),
        );
      }
    })();

    const receiver = client.createReceiver("work");
    const subscription = receiver.subscribe(
      {
        processMessage: async (message: ServiceBusReceivedMessage) => {
          const id = String(message.messageId);
          sequenceNumbers.push({ at: Date.now(), seq: message.sequenceNumber!.toNumber() });
          if (completed.has(id)) deliveredAfterCompletion.push(id);
          delivered.add(id);
          await receiver.completeMessage(message);
          completed.add(id);
        },
        processError: async () => undefined,
      },
      { autoCompleteMessages: false, maxConcurrentCalls: 8 },
    );
    cleanups.push(async () => {
      await subscription.close();
      await receiver.close();
    });

    await vi.waitFor(() => expect(completed.size).toBeGreaterThanOrEqual(100), { timeout: 30_000, interval: 50 });
    first.child.kill("SIGKILL");
    await exited(first.child);
    const killedAt = Date.now();
    const acceptedBeforeKill = accepted.size;
    const maxSeqBeforeKill = Math.max(...sequenceNumbers.map((s) => s.seq));

    const second = await startCli(args);
    children.push(second.child);
    await produce;
    await sender.close();
    // A completion the crash cut off may have reached the log without its answer reaching the client: such a
    // message is gone without `completed` knowing. So: every accepted message was delivered, and the queue drains.
    await vi.waitFor(() => expect([...accepted].filter((id) => !delivered.has(id))).toEqual([]), {
      timeout: 60_000,
      interval: 50,
    });
    await vi.waitFor(() => expect(completed.size).toBeGreaterThanOrEqual(total - 8), { timeout: 30_000, interval: 50 });
    const peekAll = async () => {
      const peeker = client.createReceiver("work");
      const messages = await peeker.peekMessages(10);
      await peeker.close();
      return messages;
    };
    // The queue drains: what a cut-off completion left locked comes back and is completed.
    await vi.waitFor(async () => expect((await peekAll()).map((m) => m.messageId)).toEqual([]), {
      timeout: 30_000,
      interval: 200,
    });

    expect(acceptedBeforeKill).toBeGreaterThan(0);
    expect(accepted.size).toBe(total);
    expect(deliveredAfterCompletion).toEqual([]);
    // Numbering goes on past the crash rather than starting over.
    expect(sequenceNumbers.some((s) => s.at > killedAt && s.seq > maxSeqBeforeKill)).toBe(true);

    // Graceful stop flushes and exits 0.
    second.child.kill("SIGTERM");
    await exited(second.child);
    expect(second.child.exitCode).toBe(0);
  }, 120_000);

  it("keeps messages, sequence numbers and duplicate detection history over a restart, and clients reconnect", async () => {
    const fx = await startEmulator([queueDefinition("restarts", { lockDuration: "PT5M" })]);
    cleanups.push(() => fx.close());
    const sender = fx.client.createSender("restarts");
    const receiver = fx.client.createReceiver("restarts");
    await sender.sendMessages([
      { body: "before-1", messageId: "r1" },
      { body: "before-2", messageId: "r2" },
    ]);
    const [locked] = await receiveAll(receiver, 1);
    const scheduledFor = new Date(fx.emulator.clock.now() + 60_000);
    await sender.scheduleMessages({ body: "scheduled", messageId: "r3" }, scheduledFor);

    await fx.restart();

    // The same client objects carry on over new connections.
    await sender.sendMessages({ body: "duplicate of before-1", messageId: "r1" });
    await sender.sendMessages({ body: "after", messageId: "r4" });
    expect(fx.emulator.stats("restarts")).toMatchObject({ active: 3, scheduled: 1, locked: 0 });
    const received = await receiveAll(receiver, 3, 30_000);
    expect(fx.emulator.stats("restarts")).toMatchObject({ scheduled: 1 }); // still waiting for its time
    fx.emulator.clock.advance(scheduledFor.getTime() - fx.emulator.clock.now());
    received.push(...(await receiveAll(receiver, 1)));
    expect(received.map((m) => m.body)).toEqual(["before-1", "before-2", "after", "scheduled"]);
    // The lock lost to the restart counted as a delivery attempt.
    expect(received.map((m) => m.deliveryCount)).toEqual([1, 0, 0, 0]);
    const seqs = received.map((m) => m.sequenceNumber!.toNumber());
    expect(seqs[0]).toBe(locked!.sequenceNumber!.toNumber());
    expect(seqs[2]).toBeGreaterThan(seqs[3]!); // "after" was numbered after the scheduled one
    for (const m of received) await receiver.completeMessage(m);
    await sender.close();
    await receiver.close();
    expect(fx.emulator.stats("restarts")).toMatchObject({ active: 0, scheduled: 0 });
  });

  it("counts every message locked when the emulator was killed (kill -9) as delivered once more", async () => {
    const state = temporaryStateDir();
    cleanups.push(() => state.remove());
    const queuesFile = join(state.path, "queues.json");
    writeFileSync(queuesFile, JSON.stringify({ queues: [queueDefinition("killed", { lockDuration: "PT1M" })] }));
    const port = await freePort();
    const args = ["--port", String(port), "--host", "127.0.0.1", "--state", join(state.path, "state")];
    const first = await startCli([...args, "--queues", queuesFile]);
    children.push(first.child);
    const client = new ServiceBusClient(first.connectionString, {
      retryOptions: { maxRetries: 5, retryDelayInMs: 200, maxRetryDelayInMs: 1_000, timeoutInMs: 3_000 },
    });
    cleanups.push(() => client.close());
    const sender = client.createSender("killed");
    await sender.sendMessages([1, 2, 3].map((n) => ({ body: n, messageId: `k${n}` })));
    const receiver = client.createReceiver("killed", { maxAutoLockRenewalDurationInMs: 0 });
    // Locked at once, and killed as soon as the client has them: no settlement, no lock expiry, no graceful stop.
    const locked = await receiveAll(receiver, 2);
    expect(locked.map((m) => [m.messageId, m.deliveryCount])).toEqual([
      ["k1", 0],
      ["k2", 0],
    ]);
    first.child.kill("SIGKILL");
    await exited(first.child);

    const second = await startCli([...args, "--queues", queuesFile]);
    children.push(second.child);
    const received = await receiveAll(receiver, 3, 30_000);
    expect(received.map((m) => [m.messageId, m.deliveryCount])).toEqual([
      ["k1", 1],
      ["k2", 1],
      ["k3", 0],
    ]);
    for (const m of received) await receiver.completeMessage(m);
    await receiver.close();
    await sender.close();
  });

  it("cuts off a torn record at the end of the log and starts from what was acknowledged", async () => {
    const state = temporaryStateDir();
    cleanups.push(() => state.remove());
    const options = { stateDir: state.path, queues: [queueDefinition("torn")], port: 0, host: "127.0.0.1" };
    const first = await startServiceBusEmulator(options);
    const client = new ServiceBusClient(first.connectionString);
    const sender = client.createSender("torn");
    await sender.sendMessages([1, 2, 3].map((n) => ({ body: n, messageId: `t${n}` })));
    await client.close();
    await first.stop();
    appendFileSync(join(state.path, "servicebus.log"), Buffer.from([0, 0, 1, 0, 9, 9, 9]));

    const second = await startServiceBusEmulator(options);
    cleanups.push(() => second.stop());
    expect(second.stats("torn").active).toBe(3);
    const again = new ServiceBusClient(second.connectionString);
    cleanups.push(() => again.close());
    await again.createSender("torn").sendMessages({ body: 4, messageId: "t4" });
    const receiver = again.createReceiver("torn", { receiveMode: "receiveAndDelete" });
    const received = await receiveAll(receiver, 4);
    expect(received.map((m) => m.body)).toEqual([1, 2, 3, 4]);
  });

  it("rewrites a log that outgrew its live messages, keeping every live one", async () => {
    const state = temporaryStateDir();
    cleanups.push(() => state.remove());
    const options = {
      stateDir: state.path,
      queues: [queueDefinition("compacts")],
      port: 0,
      host: "127.0.0.1",
      compactLogAboveInBytes: 64 * 1024,
    };
    const first = await startServiceBusEmulator(options);
    const client = new ServiceBusClient(first.connectionString);
    const sender = client.createSender("compacts");
    const receiver = client.createReceiver("compacts", { receiveMode: "receiveAndDelete" });
    const padding = "x".repeat(1_000);
    for (let round = 0; round < 10; round++) {
      await sender.sendMessages(
        Array.from({ length: 50 }, (_, i) => ({
          body: { n: round * 50 + i, padding },
          messageId: `c${round * 50 + i}`,
        })),
      );
      await receiveAll(receiver, round === 9 ? 40 : 50);
    }
    await client.close();
    await first.stop();
    // 500 messages of ~1 KB went through; what is left is 10 messages, the sequence counter and dedupe history.
    expect(statSync(join(state.path, "servicebus.log")).size).toBeLessThan(200 * 1024);

    const second = await startServiceBusEmulator(options);
    cleanups.push(() => second.stop());
    expect(second.stats("compacts").active).toBe(10);
    const again = new ServiceBusClient(second.connectionString);
    cleanups.push(() => again.close());
    await again.createSender("compacts").sendMessages({ body: { n: 1 }, messageId: "c1" }); // still a duplicate
    const rest = await receiveAll(again.createReceiver("compacts", { receiveMode: "receiveAndDelete" }), 11, 1_500);
    expect(rest.map((m) => (m.body as { n: number }).n)).toEqual(Array.from({ length: 10 }, (_, i) => 490 + i));
  });
});
