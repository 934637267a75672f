import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { linuxDefinition, startHarness, subscriptionId, type Harness } from "./helpers.js";

const rg = "rg-scale";
const gallery = "galScale";

describe("the ARM emulator at gallery scale", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
    const imageDefinitions = Array.from({ length: 1000 }, (_, d) => ({
      resourceGroup: rg,
      gallery,
      name: `image-${d}`,
      properties: { ...linuxDefinition, identifier: { ...linuxDefinition.identifier, sku: `sku-${d}` } },
    }));
    const imageVersions = imageDefinitions.flatMap((definition) =>
      Array.from({ length: 10 }, (_, v) => ({
        resourceGroup: rg,
        gallery,
        imageDefinition: definition.name,
        name: `1.0.${v}`,
        properties: {
          publishingProfile: {
            targetRegions: [{ name: "westeurope" }, { name: "northeurope" }],
            excludeFromLatest: v === 9,
            ...(v === 0 ? { endOfLifeDate: "2020-01-01T00:00:00Z" } : {}),
          },
        },
        ...(v === 8 ? { replicatingRegions: ["northeurope"], remainingInMs: 600_000 } : {}),
        ...(v === 7 ? { failedRegions: ["northeurope"] } : {}),
      })),
    );
    await h.admin("POST", "seed", {
      subscriptionId,
      galleries: [{ resourceGroup: rg, name: gallery, location: "westeurope" }],
      imageDefinitions,
      imageVersions,
    });
  });
  afterAll(async () => h.stop());

  it("holds 1,000 image definitions with 10 versions each, seeded in one request", async () => {
    const inventory = await h.admin<{ counts: Record<string, number> }>("GET", "resources?type=none");
    expect(inventory.counts).toEqual({
      "Microsoft.Compute/galleries": 1,
      "Microsoft.Compute/galleries/images": 1000,
      "Microsoft.Compute/galleries/images/versions": 10_000,
    });
    let definitions = 0;
    for await (const _ of h.compute.galleryImages.listByGallery(rg, gallery)) definitions++;
    expect(definitions).toBe(1000);
  });

  it("reports the seeded states: replicating, failed region, expired end of life, excluded from latest", async () => {
    const versions = new Map<string, { state?: string; eol?: Date; excluded?: boolean }>();
    for await (const v of h.compute.galleryImageVersions.listByGalleryImage(rg, gallery, "image-500")) {
      versions.set(v.name ?? "", {
        state: v.provisioningState,
        eol: v.publishingProfile?.endOfLifeDate,
        excluded: v.publishingProfile?.excludeFromLatest,
      });
    }
    expect(versions.size).toBe(10);
    expect(versions.get("1.0.8")?.state).toBe("Creating");
    expect(versions.get("1.0.7")?.state).toBe("Failed");
    expect(versions.get("1.0.0")?.eol?.getTime()).toBeLessThan(Date.now());
    expect(versions.get("1.0.9")?.excluded).toBe(true);
    const replicating = await h.compute.galleryImageVersions.get(rg, gallery, "image-500", "1.0.8", {
      expand: "ReplicationStatus",
    });
    expect(replicating.replicationStatus?.summary?.map((s) => s.state)).toEqual(["Completed", "Replicating"]);
  });
});
