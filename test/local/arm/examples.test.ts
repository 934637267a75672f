import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exampleFiles, examplesDir, replayExample, type ExampleResult } from "./examples.js";
import { startHarness, type Harness } from "./helpers.js";

/**
 * The request/response examples of `Azure/azure-rest-api-specs` (../shared/azure-samples/spec-examples: Compute
 * GalleryRP 2025-03-03, ComputeRP 2025-04-01, Image Builder 2025-10-01) replayed against the emulator: each answers
 * with a status the example documents, the headers it shows, and every property path of its body (recordings of real
 * traffic win where the two differ). Examples of features the emulator does not model are listed with the reason.
 */
describe("the ARM emulator answers the spec examples", () => {
  let h: Harness;
  const results: ExampleResult[] = [];

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.stop();
    const replayed = results.filter((r) => r.outcome !== "notModelled");
    console.log(
      `spec examples: ${results.length} examples, ${replayed.length} on what the emulator models, ` +
        `${results.filter((r) => r.outcome === "matched").length} matched ` +
        `(${replayed.reduce((n, r) => n + r.compared, 0)} property paths compared); not modelled: ` +
        results
          .filter((r) => r.outcome === "notModelled")
          .map((r) => `${r.file} (${r.reason})`)
          .join("; "),
    );
  });

  it("finds the examples beside the repository (../shared/azure-samples)", () => {
    expect(existsSync(examplesDir)).toBe(true);
    expect(exampleFiles().length).toBeGreaterThanOrEqual(75);
  });

  for (const file of exampleFiles()) {
    it(`replays ${file}`, async () => {
      const result = await replayExample(h, file);
      results.push(result);
      expect(result.differences).toEqual([]);
    });
  }
});
