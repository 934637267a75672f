import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseIsoDurationInMs, toQueueSettings } from "../../../local/servicebus/config.js";
import { EmulatorConfigError, startServiceBusEmulator } from "../../../local/servicebus/index.js";
import { queueDefinition, temporaryStateDir } from "./fixtures.js";

const repoRoot = new URL("../../../", import.meta.url).pathname;

describe("queue declarations for the Service Bus emulator", () => {
  it("reads ISO 8601 durations as Azure writes them", () => {
    expect(parseIsoDurationInMs("PT5M")).toBe(300_000);
    expect(parseIsoDurationInMs("P7D")).toBe(7 * 86_400_000);
    expect(parseIsoDurationInMs("PT6H")).toBe(6 * 3_600_000);
    expect(parseIsoDurationInMs("PT0.5S")).toBe(500);
    expect(parseIsoDurationInMs("P1DT2H3M4S")).toBe(86_400_000 + 2 * 3_600_000 + 3 * 60_000 + 4_000);
    for (const bad of ["5M", "P", "PT", "P1Y", "P1M", "PT-5S", "-PT5S", "1 minute"]) {
      expect(() => parseIsoDurationInMs(bad), bad).toThrow(EmulatorConfigError);
    }
  });

  it("takes the shape of a queue definition file, applies the service's defaults and ignores extra keys", () => {
    const [settings] = toQueueSettings([
      { name: "build-requests", description: "ignored", properties: { lockDuration: "PT5M" } } as never,
    ]);
    expect(settings).toEqual({
      name: "build-requests",
      lockDurationInMs: 300_000,
      maxDeliveryCount: 10,
      defaultMessageTimeToLiveInMs: Infinity,
      requiresDuplicateDetection: false,
      duplicateDetectionHistoryTimeWindowInMs: 600_000,
      deadLetteringOnMessageExpiration: false,
      maxSizeInBytes: 1024 * 1024 * 1024,
    });
  });

  it("allows lock durations under Azure's 5 s minimum for tests, with a warning", () => {
    const warnings: string[] = [];
    toQueueSettings([queueDefinition("fast", { lockDuration: "PT2S" })], (w) => warnings.push(w));
    expect(warnings).toEqual([expect.stringContaining("below Azure's minimum of PT5S")]);
  });

  it("refuses session-enabled queues, duplicates and malformed properties at start", async () => {
    expect(() => toQueueSettings([queueDefinition("sessions", { requiresSession: true })])).toThrow(
      /does not support session/,
    );
    expect(() => toQueueSettings([queueDefinition("twice"), queueDefinition("TWICE")])).toThrow(/declared twice/);
    expect(() => toQueueSettings([queueDefinition("bad", { lockDuration: "five minutes" })])).toThrow(
      EmulatorConfigError,
    );
    const state = temporaryStateDir();
    await expect(
      startServiceBusEmulator({
        stateDir: state.path,
        port: 0,
        queues: [queueDefinition("s", { requiresSession: true })],
      }),
    ).rejects.toBeInstanceOf(EmulatorConfigError);
    state.remove();
  });

  it("makes the CLI exit with status 2 and a clear message on a queue it cannot serve", () => {
    const state = temporaryStateDir();
    const file = join(state.path, "queues.json");
    writeFileSync(file, JSON.stringify({ queues: [queueDefinition("sessions", { requiresSession: true })] }));
    const result = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "local/servicebus/main.ts",
        "--port",
        "0",
        "--state",
        join(state.path, "s"),
        "--queues",
        file,
      ],
      { cwd: repoRoot, encoding: "utf8", timeout: 30_000 },
    );
    state.remove();
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("queue 'sessions' requires sessions");
  });
});
