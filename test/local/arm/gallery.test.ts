import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { GalleryImageVersion } from "@azure/arm-compute";
import {
  fastConfig,
  linuxDefinition,
  managedImageId,
  poll,
  restErrorOf,
  startHarness,
  subscriptionId,
  type Harness,
} from "./helpers.js";

const rg = "rg-images";
const gallery = "galImages";

describe("the ARM emulator's Compute Gallery, driven by @azure/arm-compute", () => {
  let h: Harness;

  async function sourceImage(name = "staging-image"): Promise<string> {
    await h.compute.images.createOrUpdate(
      rg,
      name,
      {
        location: "westeurope",
        hyperVGeneration: "V2",
        storageProfile: { osDisk: { osType: "Linux", osState: "Generalized", diskSizeGB: 64 } },
      },
      poll,
    );
    return managedImageId(rg, name);
  }

  async function definition(name: string): Promise<void> {
    await h.compute.galleries.createOrUpdate(rg, gallery, { location: "westeurope" }, poll);
    await h.compute.galleryImages.createOrUpdate(
      rg,
      gallery,
      name,
      { ...linuxDefinition, identifier: { ...linuxDefinition.identifier, sku: name } },
      poll,
    );
  }

  function versionBody(sourceId: string, regions = ["westeurope", "northeurope"]): GalleryImageVersion {
    return {
      location: "westeurope",
      publishingProfile: { targetRegions: regions.map((name) => ({ name })), excludeFromLatest: true },
      storageProfile: { source: { id: sourceId } },
    };
  }

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.stop());
  beforeEach(async () => {
    await h.admin("POST", "reset");
    await h.admin("PUT", "config", fastConfig);
    await h.resourceGroup(rg);
  });

  it("creates a gallery, a definition and a version from a managed image, and reports replication region by region", async () => {
    await h.admin("PUT", "config", { replication: { regionDurationInMs: 60_000 } });
    await definition("ubuntu");
    const source = await sourceImage();
    const poller = h.compute.galleryImageVersions.createOrUpdate(
      rg,
      gallery,
      "ubuntu",
      "1.0.0",
      versionBody(source),
      poll,
    );
    await poller.submitted();

    const first = await h.compute.galleryImageVersions.get(rg, gallery, "ubuntu", "1.0.0", {
      expand: "ReplicationStatus",
    });
    expect(first.provisioningState).toBe("Creating");
    expect(first.replicationStatus?.aggregatedState).toBe("InProgress");
    expect(first.replicationStatus?.summary?.map((s) => s.state)).toEqual(["Replicating", "Replicating"]);

    await h.admin("POST", "clock", { advanceByMs: 90_000 });
    const middle = await h.compute.galleryImageVersions.get(rg, gallery, "ubuntu", "1.0.0", {
      expand: "ReplicationStatus",
    });
    expect(middle.replicationStatus?.summary?.[0]).toMatchObject({
      region: "West Europe",
      state: "Completed",
      progress: 100,
    });
    expect(middle.replicationStatus?.summary?.[1]).toMatchObject({
      region: "North Europe",
      state: "Replicating",
      progress: 50,
    });
    expect(middle.provisioningState).toBe("Creating");

    await h.admin("POST", "clock", { advanceByMs: 30_000 });
    const done = await poller.pollUntilDone();
    expect(done.provisioningState).toBe("Succeeded");
    expect(done.storageProfile?.osDiskImage?.sizeInGB).toBe(64);
    expect(done.publishingProfile?.targetRegions?.map((t) => t.name)).toEqual(["West Europe", "North Europe"]);
    const expanded = await h.compute.galleryImageVersions.get(rg, gallery, "ubuntu", "1.0.0", {
      expand: "ReplicationStatus",
    });
    expect(expanded.replicationStatus?.aggregatedState).toBe("Completed");
    const plain = await h.compute.galleryImageVersions.get(rg, gallery, "ubuntu", "1.0.0");
    expect(plain.replicationStatus).toBeUndefined();
  });

  it("updates excludeFromLatest and endOfLifeDate, and latest follows the highest version not excluded", async () => {
    await definition("ubuntu");
    const source = await sourceImage();
    for (const v of ["1.0.0", "1.2.0", "1.10.0"]) {
      await h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "ubuntu", v, versionBody(source), poll);
    }
    const definitionId = `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries/${gallery}/images/ubuntu`;
    const latest = async (region?: string) =>
      (
        await h.admin<{ version: string | null }>(
          "GET",
          `latest?imageDefinitionId=${encodeURIComponent(definitionId)}${region ? `&region=${region}` : ""}`,
        )
      ).version;
    expect(await latest()).toBeNull();

    const endOfLifeDate = new Date("2030-01-01T00:00:00Z");
    const promoted = await h.compute.galleryImageVersions.update(
      rg,
      gallery,
      "ubuntu",
      "1.2.0",
      { publishingProfile: { excludeFromLatest: false, endOfLifeDate } },
      poll,
    );
    expect(promoted.publishingProfile?.excludeFromLatest).toBe(false);
    // Per-region flags stay unset (the version-level flag applies), as Azure answers [V17].
    expect(promoted.publishingProfile?.targetRegions?.every((t) => t.excludeFromLatest === undefined)).toBe(true);
    expect(promoted.publishingProfile?.endOfLifeDate?.toISOString()).toBe(endOfLifeDate.toISOString());
    expect(await latest()).toBe("1.2.0");

    await h.compute.galleryImageVersions.update(
      rg,
      gallery,
      "ubuntu",
      "1.10.0",
      {
        publishingProfile: {
          targetRegions: [
            { name: "westeurope", excludeFromLatest: false },
            { name: "northeurope", excludeFromLatest: true },
          ],
          excludeFromLatest: false,
        },
      },
      poll,
    );
    expect(await latest()).toBe("1.10.0");
    expect(await latest("westeurope")).toBe("1.10.0");
    expect(await latest("northeurope")).toBe("1.2.0");
  });

  it("fails a scripted region, then a retry through an update replicates it", async () => {
    await definition("retry");
    const source = await sourceImage();
    await h.admin("POST", "rules/versions", { imageDefinition: "retry", failRegion: "North Europe", failTimes: 1 });

    await expect(
      h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "retry", "2.0.0", versionBody(source), poll),
    ).rejects.toThrow(/ReplicationFailed/);
    const failed = await h.compute.galleryImageVersions.get(rg, gallery, "retry", "2.0.0", {
      expand: "ReplicationStatus",
    });
    expect(failed.provisioningState).toBe("Failed");
    expect(failed.replicationStatus?.aggregatedState).toBe("Failed");
    expect(failed.replicationStatus?.summary?.find((s) => s.region === "North Europe")?.state).toBe("Failed");
    expect(failed.replicationStatus?.summary?.find((s) => s.region === "West Europe")?.state).toBe("Completed");

    const retried = await h.compute.galleryImageVersions.update(
      rg,
      gallery,
      "retry",
      "2.0.0",
      { publishingProfile: { targetRegions: [{ name: "westeurope" }, { name: "northeurope" }] } },
      poll,
    );
    expect(retried.provisioningState).toBe("Succeeded");
    const after = await h.compute.galleryImageVersions.get(rg, gallery, "retry", "2.0.0", {
      expand: "ReplicationStatus",
    });
    expect(after.replicationStatus?.summary?.map((s) => s.state)).toEqual(["Completed", "Completed"]);
  });

  it("lists 1,000 versions across pages with nextLink", async () => {
    await h.admin("POST", "seed", {
      subscriptionId,
      galleries: [{ resourceGroup: rg, name: gallery, location: "westeurope" }],
      imageDefinitions: [{ resourceGroup: rg, gallery, name: "big", properties: linuxDefinition }],
      imageVersions: Array.from({ length: 1000 }, (_, i) => ({
        resourceGroup: rg,
        gallery,
        imageDefinition: "big",
        name: `1.${Math.floor(i / 100)}.${i % 100}`,
        properties: { publishingProfile: { targetRegions: [{ name: "westeurope" }] } },
      })),
    });
    await h.admin("POST", "counters/reset");
    const names = new Set<string>();
    for await (const v of h.compute.galleryImageVersions.listByGalleryImage(rg, gallery, "big"))
      names.add(v.name ?? "");
    expect(names.size).toBe(1000);
    const counters = await h.admin<{ operations: Record<string, number> }>("GET", "counters");
    expect(counters.operations["GalleryImageVersions_ListByGalleryImage"]).toBe(10);
  });

  it("deletes a version, then its definition and gallery", async () => {
    await definition("ubuntu");
    const source = await sourceImage();
    await h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "ubuntu", "1.0.0", versionBody(source), poll);
    await h.compute.galleryImageVersions.delete(rg, gallery, "ubuntu", "1.0.0", poll);
    await h.compute.galleryImages.delete(rg, gallery, "ubuntu", poll);
    await h.compute.galleries.delete(rg, gallery, poll);
    const left = await h.admin<{ counts: Record<string, number> }>("GET", "resources");
    expect(left.counts).toEqual({ "Microsoft.Compute/images": 1 });
  });

  describe("answers errors as ARM does, surfacing as RestError", () => {
    it("ParentResourceNotFound for a definition in a missing gallery", async () => {
      const error = await restErrorOf(() =>
        h.compute.galleryImages.createOrUpdate(rg, "noSuchGallery", "x", linuxDefinition, poll),
      );
      expect(error.statusCode).toBe(404);
      expect(error.code).toBe("ParentResourceNotFound");
      expect(error.message).toBe(
        "Can not perform requested operation on nested resource. Parent resource 'noSuchGallery' not found.",
      );
    });

    it("ParentResourceNotFound for a version of a missing definition", async () => {
      await definition("ubuntu");
      const error = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "nope", "1.0.0", versionBody("/x"), poll),
      );
      expect([error.statusCode, error.code]).toEqual([404, "ParentResourceNotFound"]);
    });

    it("ResourceNotFound for a missing version", async () => {
      await definition("ubuntu");
      const error = await restErrorOf(() => h.compute.galleryImageVersions.get(rg, gallery, "ubuntu", "9.9.9"));
      expect([error.statusCode, error.code]).toEqual([404, "ResourceNotFound"]);
      expect(error.message).toContain("Microsoft.Compute/galleries/images/versions");
    });

    it("ResourceGroupNotFound when resource groups are explicit", async () => {
      await h.admin("PUT", "config", { implicitResourceGroups: false });
      const error = await restErrorOf(() =>
        h.compute.galleries.createOrUpdate("rg-missing", "g1", { location: "westeurope" }, poll),
      );
      expect([error.statusCode, error.code]).toEqual([404, "ResourceGroupNotFound"]);
      await h.raw("PUT", `/subscriptions/${subscriptionId}/resourcegroups/rg-made?api-version=2021-04-01`, {
        token: "t",
        body: { location: "westeurope" },
      });
      await h.compute.galleries.createOrUpdate("rg-made", "g1", { location: "westeurope" }, poll);
    });

    it("CannotDeleteResource for a definition with versions and a gallery with definitions", async () => {
      await definition("ubuntu");
      const source = await sourceImage();
      await h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "ubuntu", "1.0.0", versionBody(source), poll);
      const definitionError = await restErrorOf(() => h.compute.galleryImages.delete(rg, gallery, "ubuntu", poll));
      expect([definitionError.statusCode, definitionError.code]).toEqual([409, "CannotDeleteResource"]);
      expect(definitionError.message).toContain("/versions/1.0.0");
      const galleryError = await restErrorOf(() => h.compute.galleries.delete(rg, gallery, poll));
      expect([galleryError.statusCode, galleryError.code]).toEqual([409, "CannotDeleteResource"]);
    });

    it("refuses to delete a version before its end of life when deletion is blocked", async () => {
      await definition("ubuntu");
      const source = await sourceImage();
      await h.compute.galleryImageVersions.createOrUpdate(
        rg,
        gallery,
        "ubuntu",
        "1.0.0",
        {
          ...versionBody(source),
          publishingProfile: { endOfLifeDate: new Date(Date.now() + 86_400_000) },
          safetyProfile: { blockDeletionBeforeEndOfLife: true },
        },
        poll,
      );
      const error = await restErrorOf(() =>
        h.compute.galleryImageVersions.delete(rg, gallery, "ubuntu", "1.0.0", poll),
      );
      expect([error.statusCode, error.code]).toEqual([409, "DeleteGalleryImageVersionBlockedBeforeEndOfLife"]);
      await h.admin("POST", "clock", { advanceByMs: 2 * 86_400_000 });
      await h.compute.galleryImageVersions.delete(rg, gallery, "ubuntu", "1.0.0", poll);
    });

    it("NotFound for a version whose source managed image does not exist", async () => {
      await definition("ubuntu");
      const error = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(
          rg,
          gallery,
          "ubuntu",
          "1.0.0",
          versionBody(managedImageId(rg, "gone")),
          poll,
        ),
      );
      expect([error.statusCode, error.code]).toEqual([404, "NotFound"]);
    });

    it("InvalidParameter for a malformed version name, a replica count out of range and a missing storage profile", async () => {
      await definition("ubuntu");
      const source = await sourceImage();
      const badName = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "ubuntu", "1.0", versionBody(source), poll),
      );
      expect([badName.statusCode, badName.code]).toEqual([400, "InvalidParameter"]);
      const overflow = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(
          rg,
          gallery,
          "ubuntu",
          "1.0.2147483648",
          versionBody(source),
          poll,
        ),
      );
      expect(overflow.code).toBe("InvalidParameter");
      const replicas = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(
          rg,
          gallery,
          "ubuntu",
          "1.0.0",
          {
            ...versionBody(source),
            publishingProfile: { targetRegions: [{ name: "westeurope", regionalReplicaCount: 101 }] },
          },
          poll,
        ),
      );
      expect([replicas.statusCode, replicas.code]).toEqual([400, "InvalidParameter"]);
      const missing = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(
          rg,
          gallery,
          "ubuntu",
          "1.0.0",
          { location: "westeurope" } as GalleryImageVersion,
          poll,
        ),
      );
      expect([missing.statusCode, missing.code]).toEqual([400, "InvalidParameter"]);
      expect(missing.message).toContain("storageProfile");
    });

    it("InvalidParameter for a definition without osType, and PropertyChangeNotAllowed when its identifier changes", async () => {
      await definition("ubuntu");
      const missing = await restErrorOf(() =>
        h.compute.galleryImages.createOrUpdate(
          rg,
          gallery,
          "x",
          { ...linuxDefinition, osType: undefined as unknown as "Linux" },
          poll,
        ),
      );
      expect([missing.statusCode, missing.code]).toEqual([400, "InvalidParameter"]);
      const changed = await restErrorOf(() =>
        h.compute.galleryImages.createOrUpdate(
          rg,
          gallery,
          "ubuntu",
          { ...linuxDefinition, identifier: { publisher: "other", offer: "golden", sku: "ubuntu" } },
          poll,
        ),
      );
      expect([changed.statusCode, changed.code]).toEqual([400, "PropertyChangeNotAllowed"]);
    });
  });
});
