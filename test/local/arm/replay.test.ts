import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "./helpers.js";
import { recordingFiles, replayRecording, samplesDir, type ReplayResult } from "./replay.js";

/**
 * Recorded real Azure traffic (../shared/azure-samples/cli-recordings, the Azure CLI's test recordings) replayed
 * against the emulator: every interaction on an operation the emulator serves must answer as Azure did.
 */
describe("the ARM emulator answers as Azure answered", () => {
  let h: Harness;
  const results: ReplayResult[] = [];

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.stop();
    const total = results.reduce((n, r) => n + r.interactions, 0);
    const replayed = results.reduce((n, r) => n + r.replayed, 0);
    const matched = results.reduce((n, r) => n + r.matched, 0);
    const notServed: Record<string, number> = {};
    for (const r of results)
      for (const [kind, n] of Object.entries(r.notServed)) notServed[kind] = (notServed[kind] ?? 0) + n;
    console.log(
      `replay: ${total} recorded interactions, ${replayed} on operations the emulator serves, ${matched} matched; ` +
        `not served: ${JSON.stringify(Object.fromEntries(Object.entries(notServed).sort((a, b) => b[1] - a[1])))}`,
    );
  });

  it("finds the recordings beside the repository (../shared/azure-samples)", () => {
    expect(existsSync(samplesDir)).toBe(true);
    expect(recordingFiles().length).toBeGreaterThanOrEqual(17);
  });

  for (const file of recordingFiles()) {
    it(`replays ${file.split("/").pop()}`, async () => {
      const result = await replayRecording(h, file);
      results.push(result);
      expect(result.mismatches).toEqual([]);
      expect(result.matched).toBe(result.replayed);
    });
  }
});
