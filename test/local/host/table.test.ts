import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { functionTable } from "../../../functions/table.js";
import { queues } from "../../../shared/messages/index.js";
import { startTestHost, stopTestHosts } from "./helpers.js";

/** A loopback port nothing listens on. */
async function aClosedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

afterEach(stopTestHosts);

describe("the app's own function table in the local host", () => {
  it("starts with the settings infra/ declares, serves its routes, and survives an unreachable broker", async () => {
    const port = await aClosedPort();
    const sharedAccessKey = "a2V5LXZhbHVlLWZvci10ZXN0cw==";
    const host = await startTestHost(functionTable, {
      env: {
        ServiceBusConnection: `Endpoint=sb://localhost:${port};SharedAccessKeyName=k;SharedAccessKey=${sharedAccessKey};UseDevelopmentEmulator=true`,
        NIGHTLY_SCHEDULE: "0 0 * * * *",
        REPLICATION_MONITOR_SCHEDULE: "0 */2 * * * *",
        PRUNE_SCHEDULE: "0 30 3 * * *",
      },
    });
    expect((await fetch(`${host.url}/api/builds`, { method: "POST", body: "{}" })).status).toBe(401);
    expect((await fetch(`${host.url}/api/images`)).status).toBe(401);
    expect((await fetch(`${host.url}/api/images/ubuntu-2404/versions`)).status).toBe(404);
    expect(host.records.filter((r) => r.event === "servicebus.listening")).toHaveLength(Object.keys(queues).length);

    // The receivers cannot connect: the SDK retries, the host logs it and carries on.
    const error = await host.waitForRecord((r) => r.event === "servicebus.error");
    expect(error.message).toContain("ECONNREFUSED");
    await host.stop();
    expect(host.records.at(-1)?.event).toBe("host.stopped");
    expect(JSON.stringify(host.records)).not.toContain(sharedAccessKey);
  });
});
