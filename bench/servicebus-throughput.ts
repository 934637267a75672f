/**
 * Throughput of the local Service Bus emulator with the real @azure/service-bus client, on one queue.
 *
 *   npx tsx bench/servicebus-throughput.ts [--messages 5000] [--in-process]
 *
 * The emulator runs as its CLI in a child process (as the local stack runs it) unless --in-process is given. Every
 * send is acknowledged only after the emulator's fsync, so the figures include the durable log.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ServiceBusClient } from "@azure/service-bus";
import { startServiceBusEmulator } from "../local/servicebus/index.js";

const { values } = parseArgs({
  options: { messages: { type: "string", default: "5000" }, "in-process": { type: "boolean", default: false } },
});
const total = Number(values.messages);
const queue = "bench";
const queues = [
  {
    name: queue,
    properties: {
      lockDuration: "PT1M",
      maxDeliveryCount: 10,
      defaultMessageTimeToLive: "P1D",
      requiresDuplicateDetection: true,
      duplicateDetectionHistoryTimeWindow: "PT10M",
      deadLetteringOnMessageExpiration: true,
      requiresSession: false,
      maxSizeInMegabytes: 1024,
    },
  },
];
const body = { imageName: "ubuntu-22.04-base", galleryImageVersion: "1.2.3", runId: "0123456789abcdef" };

async function startEmulator(dir: string): Promise<{ connectionString: string; stop(): Promise<void> }> {
  if (values["in-process"]) {
    const emulator = await startServiceBusEmulator({ stateDir: join(dir, "state"), queues, port: 0 });
    return emulator;
  }
  const queuesFile = join(dir, "queues.json");
  writeFileSync(queuesFile, JSON.stringify({ queues }));
  const root = new URL("../", import.meta.url).pathname;
  const args = ["--import", "tsx", "local/servicebus/main.ts", "--port", "0", "--host", "127.0.0.1"];
  const child: ChildProcess = spawn(
    process.execPath,
    [...args, "--state", join(dir, "state"), "--queues", queuesFile],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const connectionString = await new Promise<string>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      const line = chunk
        .toString()
        .split("\n")
        .find((l) => l.startsWith("Endpoint="));
      if (line) resolve(line.trim());
    });
    child.once("exit", (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  return {
    connectionString,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

interface Row {
  scenario: string;
  messages: number;
  seconds: number;
}

async function measure(scenario: string, messages: number, run: () => Promise<void>, rows: Row[]): Promise<void> {
  const start = process.hrtime.bigint();
  await run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  rows.push({ scenario, messages, seconds });
}

/** Receivers that complete every message they get, counting completions across all of them. */
class Consumers {
  completed = 0;
  private readonly closers: Array<() => Promise<void>> = [];
  private waiters: Array<{ target: number; resolve: () => void }> = [];

  constructor(private readonly client: ServiceBusClient) {}

  add(concurrency: number): void {
    const receiver = this.client.createReceiver(queue);
    const subscription = receiver.subscribe(
      {
        processMessage: async (message) => {
          await receiver.completeMessage(message);
          this.completed++;
          this.waiters = this.waiters.filter((w) => (w.target <= this.completed ? (w.resolve(), false) : true));
        },
        processError: async (args) => console.error(args.error),
      },
      { autoCompleteMessages: false, maxConcurrentCalls: concurrency },
    );
    this.closers.push(async () => {
      await subscription.close();
      await receiver.close();
    });
  }

  until(target: number): Promise<void> {
    return target <= this.completed
      ? Promise.resolve()
      : new Promise((resolve) => this.waiters.push({ target, resolve }));
  }

  async close(): Promise<void> {
    await Promise.all(this.closers.map((c) => c()));
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "sb-bench-"));
  const emulator = await startEmulator(dir);
  const client = new ServiceBusClient(emulator.connectionString);
  const sender = client.createSender(queue);
  const rows: Row[] = [];
  let id = 0;
  const next = () => ({ body, messageId: `m-${id++}`, applicationProperties: { attempt: 1 } });
  try {
    await sender.sendMessages(next()); // warm up: connection, CBS, link
    const consumers = new Consumers(client);
    consumers.add(16);
    await consumers.until(1);

    const sequential = Math.min(total, 1000);
    await measure(
      "send, one message per call, sequential",
      sequential,
      async () => {
        for (let i = 0; i < sequential; i++) await sender.sendMessages(next());
      },
      rows,
    );
    await consumers.until(1 + sequential);
    await measure(
      "send, one message per call, 32 in flight",
      total,
      async () => {
        let left = total;
        await Promise.all(
          Array.from({ length: 32 }, async () => {
            while (left-- > 0) await sender.sendMessages(next());
          }),
        );
      },
      rows,
    );
    await consumers.until(1 + sequential + total);
    // From here on the consumers are outpaced: the queue fills, then is drained below.
    await measure(
      "send, batches of 100",
      2 * total,
      async () => {
        for (let i = 0; i < 2 * total; i += 100) {
          const batch = await sender.createMessageBatch();
          for (let j = 0; j < 100 && i + j < 2 * total; j++) batch.tryAddMessage(next());
          await sender.sendMessages(batch);
        }
      },
      rows,
    );
    const base = consumers.completed;
    const backlog = 1 + sequential + 3 * total - base;
    const half = Math.floor(backlog / 2);
    await measure(
      "receive (peek-lock) + complete, 1 receiver x 16 concurrent calls",
      half,
      () => consumers.until(base + half),
      rows,
    );
    for (let i = 0; i < 3; i++) consumers.add(16);
    await measure(
      "receive + complete, 4 receivers x 16 concurrent calls",
      backlog - half,
      () => consumers.until(base + backlog),
      rows,
    );
    await consumers.close();
  } finally {
    await sender.close();
    await client.close();
    await emulator.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const mode = values["in-process"] ? "emulator in the same process" : "emulator in a child process (CLI)";
  console.log(`\nService Bus emulator throughput, real @azure/service-bus client, ${mode}, node ${process.version}\n`);
  const header = ["scenario", "messages", "seconds", "msg/s"];
  const lines = rows.map((r) => [
    r.scenario,
    String(r.messages),
    r.seconds.toFixed(2),
    Math.round(r.messages / r.seconds).toString(),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const format = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(format(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const line of lines) console.log(format(line));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
