import type { InvocationContext, Timer } from "@azure/functions";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { FunctionDefinition } from "../../../functions/definitions.js";
import { LocalHostConfigurationError } from "../../../local/host/index.js";
import { deferred, masterKey, startTestHost, stopTestHosts } from "./helpers.js";

/** A timer function like the pipeline's replication monitor, recording what each run received. */
function aReplicationMonitor(
  overrides: Partial<Extract<FunctionDefinition, { trigger: "timer" }>["options"]> = {},
  run: (timer: Timer, context: InvocationContext) => Promise<void> = async () => undefined,
) {
  const runs: Timer[] = [];
  const definition: FunctionDefinition = {
    trigger: "timer",
    name: "monitorReplication",
    options: {
      schedule: "%REPLICATION_MONITOR_SCHEDULE%",
      handler: async (timer, context) => {
        runs.push(timer);
        await run(timer, context);
      },
      ...overrides,
    },
  };
  return { definition, runs };
}

afterEach(async () => {
  await stopTestHosts();
  vi.useRealTimers();
});

describe("the local host's timers", () => {
  it("fire on a */1 second schedule read from a %SETTING%, and keep firing after a failed run", async () => {
    vi.useFakeTimers({ now: new Date("2026-03-01T02:00:00.250Z"), toFake: ["setTimeout", "clearTimeout", "Date"] });
    let calls = 0;
    const { definition, runs } = aReplicationMonitor({}, async (_timer, context) => {
      calls++;
      context.log(`run ${calls}`);
      if (calls === 1) throw new Error("ARM throttled the sweep");
    });
    const host = await startTestHost([definition], {
      env: { REPLICATION_MONITOR_SCHEDULE: "*/1 * * * * *" },
      timers: { enabled: true },
    });
    const ends = () => host.records.filter((r) => r.event === "invocation.end");
    await vi.advanceTimersByTimeAsync(750); // 02:00:01
    await vi.advanceTimersByTimeAsync(1000); // 02:00:02
    await host.waitForRecord((r) => r.event === "invocation.end" && ends().length >= 2);
    expect(ends().map((r) => r.outcome)).toEqual(["failed", "succeeded"]);
    expect(runs[0]).toMatchObject({ isPastDue: false, schedule: { adjustForDST: true } });
    expect(runs[0]?.scheduleStatus.last).toBe("0001-01-01T00:00:00.000Z");
    expect(runs[1]?.scheduleStatus).toMatchObject({
      last: "2026-03-01T02:00:01.000Z",
      next: "2026-03-01T02:00:03.000Z",
    });
    expect(host.records.some((r) => r.category === "function" && r.message === "run 2")).toBe(true);
  });

  it("skip a tick that comes while the previous run is still going, never running twice at once", async () => {
    vi.useFakeTimers({ now: new Date("2026-03-01T02:00:00.250Z"), toFake: ["setTimeout", "clearTimeout", "Date"] });
    const release = deferred();
    let running = 0;
    let maxRunning = 0;
    const { definition, runs } = aReplicationMonitor({ schedule: "*/1 * * * * *" }, async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await release.promise;
      running--;
    });
    const host = await startTestHost([definition], { timers: { enabled: true } });
    await vi.advanceTimersByTimeAsync(800); // 02:00:01 fires, the run blocks
    expect(runs).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2000); // 02:00:02 and 02:00:03 come while it runs
    const skipped = host.records.filter((r) => r.event === "timer.skipped");
    expect(skipped.map((r) => r.message)).toEqual([
      expect.stringContaining("2026-03-01T02:00:02.000Z"),
      expect.stringContaining("2026-03-01T02:00:03.000Z"),
    ]);
    release.resolve();
    await vi.advanceTimersByTimeAsync(1000); // 02:00:04 runs again
    expect(runs).toHaveLength(2);
    expect(maxRunning).toBe(1);
  });

  it("report a run as past due when it starts late", async () => {
    vi.useFakeTimers({ now: new Date("2026-03-01T02:00:00.000Z"), toFake: ["setTimeout", "clearTimeout", "Date"] });
    const { definition, runs } = aReplicationMonitor({ schedule: "0 */2 * * * *" });
    await startTestHost([definition], { timers: { enabled: true } });
    // The clock jumps past the occurrence before the timeout gets to run (a machine waking from sleep).
    vi.setSystemTime(new Date("2026-03-01T02:02:30.000Z"));
    await vi.advanceTimersByTimeAsync(120_000);
    expect(runs[0]?.isPastDue).toBe(true);
  });

  it("run on demand with invokeTimer, even with schedules off, resolving once the run ended", async () => {
    const { definition, runs } = aReplicationMonitor({ schedule: "0 0 0 1 1 *" });
    const host = await startTestHost([definition]);
    await host.invokeTimer("monitorReplication");
    expect(runs).toHaveLength(1);
    expect(host.records.filter((r) => r.event === "invocation.end").map((r) => r.outcome)).toEqual(["succeeded"]);
    await expect(host.invokeTimer("noSuchTimer")).rejects.toThrow(/no timer function/);
  });

  it("make invokeTimer wait for a run in progress instead of overlapping it", async () => {
    const release = deferred();
    let running = 0;
    let maxRunning = 0;
    const { definition, runs } = aReplicationMonitor({ schedule: "0 0 0 1 1 *" }, async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      if (runs.length === 1) await release.promise;
      running--;
    });
    const host = await startTestHost([definition]);
    const first = host.invokeTimer("monitorReplication");
    const second = host.invokeTimer("monitorReplication");
    await host.waitForRecord((r) => r.event === "invocation.start");
    release.resolve();
    await Promise.all([first, second]);
    expect(runs).toHaveLength(2);
    expect(maxRunning).toBe(1);
  });

  it("run a runOnStartup timer once at start, and not at all with timers off", async () => {
    const onStartup = aReplicationMonitor({ schedule: "0 30 3 * * *", runOnStartup: true });
    const host = await startTestHost([onStartup.definition], { timers: { enabled: true } });
    await host.waitForRecord((r) => r.event === "invocation.end");
    expect(onStartup.runs).toHaveLength(1);

    const off = aReplicationMonitor({ schedule: "0 30 3 * * *", runOnStartup: true });
    const quiet = await startTestHost([off.definition], { timers: { enabled: false } });
    await quiet.stop();
    expect(off.runs).toHaveLength(0);
  });

  it("run through the admin API: POST /admin/functions/{name} with the master key answers 202", async () => {
    const { definition, runs } = aReplicationMonitor({ schedule: "0 0 0 1 1 *" });
    const host = await startTestHost([definition]);
    const url = `${host.url}/admin/functions/monitorReplication`;
    expect((await fetch(url, { method: "POST", body: "{}" })).status).toBe(401);
    const res = await fetch(url, { method: "POST", body: "{}", headers: { "x-functions-key": masterKey } });
    expect(res.status).toBe(202);
    await host.waitForRecord((r) => r.event === "invocation.end");
    expect(runs).toHaveLength(1);
    expect(
      (await fetch(`${host.url}/admin/functions/nope`, { method: "POST", headers: { "x-functions-key": masterKey } }))
        .status,
    ).toBe(404);
  });

  it("let a graceful stop wait for a run in progress", async () => {
    const release = deferred();
    let finished = false;
    const { definition } = aReplicationMonitor({ schedule: "0 0 0 1 1 *" }, async () => {
      await release.promise;
      finished = true;
    });
    const host = await startTestHost([definition]);
    void host.invokeTimer("monitorReplication");
    await host.waitForRecord((r) => r.event === "invocation.start");
    let stopped = false;
    const stopping = host.stop().then(() => {
      stopped = true;
    });
    await host.waitForRecord((r) => r.event === "host.stopping");
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    release.resolve();
    await stopping;
    expect(finished).toBe(true);
  });

  it("bound the wait for runs in progress on stop", async () => {
    const never = deferred();
    const { definition } = aReplicationMonitor({ schedule: "0 0 0 1 1 *" }, () => never.promise);
    const host = await startTestHost([definition], { shutdownTimeoutInMs: 50 });
    void host.invokeTimer("monitorReplication");
    await host.waitForRecord((r) => r.event === "invocation.start");
    await host.stop();
    expect(host.records.some((r) => r.event === "host.drainTimeout")).toBe(true);
  });

  it("refuse to start when a schedule names a setting that is not set, or does not parse", async () => {
    const missing = aReplicationMonitor();
    await expect(startTestHost([missing.definition], { env: {} })).rejects.toThrow(LocalHostConfigurationError);
    await expect(startTestHost([missing.definition], { env: {} })).rejects.toThrow(/REPLICATION_MONITOR_SCHEDULE/);
    const invalid = aReplicationMonitor({ schedule: "0 61 * * * *" });
    await expect(startTestHost([invalid.definition])).rejects.toThrow(LocalHostConfigurationError);
  });
});
