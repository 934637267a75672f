import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { startLocalHost } from "../local/host/index.js";
import { startServiceBusProcess } from "../test/reliability/support.js";

const downMs = Number(process.argv[2] ?? 2600);
const rounds = Number(process.argv[3] ?? 6);
const dir = mkdtempSync(path.join(tmpdir(), "sbkill-"));
const queuesFile = path.join(dir, "queues.json");
writeFileSync(queuesFile, JSON.stringify({ queues: [{ name: "q", properties: { lockDuration: "PT5S" } }] }));
const sb = await startServiceBusProcess(path.join(dir, "sb"), queuesFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const received = new Map<string, number>();
const t0 = performance.now();
const now = () => Math.round(performance.now() - t0);
const host = await startLocalHost({
  functions: [
    {
      trigger: "serviceBusQueue",
      name: "f",
      options: {
        connection: "C",
        queueName: "q",
        handler: async (body: unknown) => {
          const id = String((body as { id: string }).id);
          received.set(id, now());
          if (id.startsWith("busy")) await sleep(Number(process.argv[4] ?? 4000));
        },
      },
    },
  ],
  env: { C: sb.connectionString },
  port: 0,
  timers: { enabled: false },
  logger: (r) => {
    if (r.level !== "information") console.log(now(), r.event, r.message.slice(0, 140));
  },
});
for (let i = 0; i < rounds; i++) {
  await sleep(1000);
  const busy = new ServiceBusClient(sb.connectionString);
  await busy.createSender("q").sendMessages(Array.from({ length: 20 }, (_, k) => ({ body: { id: `busy-${i}-${k}` } })));
  await busy.close();
  await sleep(Number(process.argv[5] ?? 2700));
  await sb.kill("SIGKILL");
  console.log(now(), `killed, down ${downMs} ms`);
  await sleep(downMs);
  await sb.restart();
  const id = `m${i}`;
  const client = new ServiceBusClient(sb.connectionString);
  const sentAt = now();
  await client.createSender("q").sendMessages({ body: { id } });
  await client.close();
  for (let w = 0; w < 1200 && !received.has(id); w++) await sleep(100);
  console.log(now(), `round ${i}: received after ${received.has(id) ? received.get(id)! - sentAt : "(not in 120 s)"} ms`);
}
await host.stop();
await sb.kill("SIGTERM");
