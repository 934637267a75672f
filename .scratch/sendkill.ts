import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { startServiceBusProcess } from "../test/reliability/support.js";

const downMs = Number(process.argv[2] ?? 2600);
const mode = process.argv[3] ?? "default";
const dir = mkdtempSync(path.join(tmpdir(), "sendkill-"));
const queuesFile = path.join(dir, "queues.json");
writeFileSync(queuesFile, JSON.stringify({ queues: [{ name: "q", properties: { lockDuration: "PT5S" } }] }));
const sb = await startServiceBusProcess(path.join(dir, "sb"), queuesFile);
const t0 = performance.now();
const now = () => Math.round(performance.now() - t0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const client = new ServiceBusClient(
  sb.connectionString,
  mode === "tuned" ? { retryOptions: { mode: 1, retryDelayInMs: 800, maxRetryDelayInMs: 10_000, maxRetries: 5, timeoutInMs: 15_000 } } : {},
);
const sender = client.createSender("q");
for (let round = 0; round < 4; round++) {
  let stop = false;
  const lat: number[] = [];
  const loop = (async () => {
    while (!stop) {
      const t = now();
      try {
        await sender.sendMessages({ body: { t } });
        lat.push(now() - t);
      } catch (e) {
        console.log(now(), "send failed after", now() - t, String(e).slice(0, 100));
      }
      await sleep(50);
    }
  })();
  await sleep(1000);
  await sb.kill("SIGKILL");
  await sleep(downMs);
  await sb.restart();
  await sleep(3000);
  stop = true;
  const t = now();
  await loop;
  console.log(now(), `round ${round}: slowest send ${Math.max(...lat)} ms, loop ended ${now() - t} ms after stop`);
}
await client.close();
await sb.kill("SIGTERM");
