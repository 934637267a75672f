import { describe, expect, it } from "vitest";
import { managedByValue, tagNames } from "../../../shared/domain/names.js";
import { imageVersionIdOf } from "../../../shared/domain/gallery.js";
import { shrinkReplicas } from "../../../shared/usecases/shrinkReplicas.js";
import { aCatalogImage } from "../../factories.js";
import { fakePipeline } from "../../fakes/pipeline.js";

const image = aCatalogImage({
  gallery: { location: "westeurope" },
  distribution: { targetRegions: [{ name: "westeurope", regionalReplicaCount: 3 }, { name: "northeurope" }] },
  retention: { shrinkSuperseded: { afterNewerVersions: 1, regionalReplicaCount: 1, keepRegions: "home" } },
});

/** A gallery with promoted versions 1.0.0..1.0.<n-1>, each in both regions (3 and 1 replicas). */
function galleryWith(n: number, settings = {}) {
  const world = fakePipeline([image], settings);
  const ref = world.refOf(image);
  for (let i = 0; i < n; i++) {
    const name = `1.0.${i}`;
    world.gallery.distributeVersion(ref, name, {
      location: "westeurope",
      tags: { [tagNames.managedBy]: managedByValue, [tagNames.state]: "promoted" },
    });
    const v = world.gallery.versionsOf(ref).find((x) => x.name === name)!;
    v.excludeFromLatest = false;
    v.targetRegions = [
      { name: "westeurope", regionalReplicaCount: 3, storageAccountType: "Standard_LRS" },
      { name: "northeurope", regionalReplicaCount: 1, storageAccountType: "Standard_LRS" },
    ];
  }
  return {
    ...world,
    ref,
    regionsOf: (name: string) => world.gallery.versionsOf(ref).find((v) => v.name === name)!.targetRegions,
  };
}

describe("shrinkReplicas", () => {
  it("keeps superseded versions in their home region with one replica, logging a reason per change, never latest", async () => {
    const world = galleryWith(3);
    const result = await shrinkReplicas(world.deps);
    expect(result.images[0]!.shrunk.map((s) => s.version)).toEqual(["1.0.1", "1.0.0"]);
    expect(world.regionsOf("1.0.0")).toEqual([
      { name: "westeurope", regionalReplicaCount: 1, storageAccountType: "Standard_LRS" },
    ]);
    expect(world.regionsOf("1.0.2")).toHaveLength(2);
    expect(world.gallery.updates[0]).toMatchObject({
      wait: false,
      update: { allowDeletionOfReplicatedLocations: true },
    });
    expect(world.gallery.versionsOf(world.ref)[0]!.tags[tagNames.replicasShrunk]).toBe(
      "2026-11-23T02:00:00.000Z superseded by 2 newer healthy versions (1.0.1, 1.0.2): westeurope 3 → 1 replicas; northeurope removed (keepRegions: home)",
    );
    const logged = world.log.lines.filter((l) => l.message === "shrinking replicas of a superseded version");
    expect(logged.map((l) => l.fields?.["reason"])).toEqual([
      expect.stringContaining("northeurope removed"),
      expect.stringContaining("northeurope removed"),
    ]);
    expect(result.images[0]!.kept).toContainEqual({
      version: "1.0.2",
      reason: "latest resolves to it (without a region, westeurope, northeurope)",
    });
  });

  it("changes nothing on a second run", async () => {
    const world = galleryWith(3);
    await shrinkReplicas(world.deps);
    world.gallery.updates = [];
    const again = await shrinkReplicas(world.deps);
    expect(world.gallery.updates).toEqual([]);
    expect(again.images[0]!.kept.filter((k) => k.reason === "already shrunk").map((k) => k.version)).toEqual([
      "1.0.1",
      "1.0.0",
    ]);
  });

  it("leaves a version in use alone, reading where the images run once for every image", async () => {
    const world = galleryWith(3);
    const set = `/subscriptions/${world.ref.subscriptionId}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachineScaleSets/web`;
    world.fleet.members = [
      {
        id: `${set}/virtualMachines/0`,
        kind: "scaleSetInstance",
        subscriptionId: world.ref.subscriptionId,
        resourceGroup: "rg-app",
        imageId: imageVersionIdOf(world.ref, "1.0.0"),
        scaleSetId: set,
      },
    ];
    const result = await shrinkReplicas(world.deps);
    expect(world.fleet.sweeps).toHaveLength(1);
    expect(result.images[0]!.shrunk.map((s) => s.version)).toEqual(["1.0.1"]);
    expect(result.images[0]!.kept).toContainEqual({
      version: "1.0.0",
      reason: `in use: 1 scale set with 1 instance (${world.ref.subscriptionId}/rg-app)`,
    });
    expect(world.regionsOf("1.0.0")).toHaveLength(2);
  });

  it("shrinks nothing when usage cannot be read", async () => {
    const world = galleryWith(3);
    world.fleet.unavailable = "403 AccessDenied";
    expect(await shrinkReplicas(world.deps)).toMatchObject({
      usageUnavailable: expect.stringContaining("403 AccessDenied"),
      images: [],
    });
    expect(world.gallery.updates).toEqual([]);
  });

  it("only reports in a dry run, and defers what the time budget does not reach", async () => {
    const dry = galleryWith(3, { pruneDryRun: true });
    expect((await shrinkReplicas(dry.deps)).images[0]!.shrunk).toHaveLength(2);
    expect(dry.gallery.updates).toEqual([]);

    const late = galleryWith(3);
    const startedAt = late.clock.now();
    late.clock.advance(480_000);
    const result = await shrinkReplicas(late.deps, { startedAt });
    expect(result.stoppedAtBudget).toBe(true);
    expect(result.images[0]!.deferred.map((d) => d.version)).toEqual(["1.0.1", "1.0.0"]);
    expect(late.gallery.updates).toEqual([]);
  });
});
