import { describe, expect, it } from "vitest";
import { runRetention } from "../../../shared/usecases/retentionRun.js";
import { aCatalogImage } from "../../factories.js";
import { fakePipeline } from "../../fakes/pipeline.js";

const image = aCatalogImage({
  retention: { shrinkSuperseded: { afterNewerVersions: 1, regionalReplicaCount: 1, keepRegions: "home" } },
});

describe("runRetention", () => {
  it("reads where the images run once for both the retention plan and the replica shrink", async () => {
    const world = fakePipeline([image]);
    const { prune, shrink } = await runRetention(world.deps, { dryRun: true });
    expect(world.fleet.sweeps).toHaveLength(1);
    expect(world.fleet.maxAges).toEqual([undefined]); // a new sweep: never a view's recent one
    expect(prune.images.map((r) => [r.image, r.dryRun])).toEqual([[image.name, true]]);
    expect(shrink.failedImages).toEqual([]);
  });

  it("deletes and shrinks nothing when that one read fails, and says why in both results", async () => {
    const world = fakePipeline([image]);
    world.fleet.unavailable = "Resource Graph answered 403";
    const { prune, shrink } = await runRetention(world.deps);
    expect(world.fleet.sweeps).toHaveLength(1);
    expect(prune.usageUnavailable).toContain("403");
    expect(shrink.usageUnavailable).toContain("403");
  });
});
