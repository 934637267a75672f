import { describe, expect, it } from "vitest";
import { managedByValue, tagNames } from "../../../shared/domain/names.js";
import { renderGalleryImageVersion } from "../../../shared/domain/imageVersion.js";
import { monitorReplication } from "../../../shared/usecases/monitorReplication.js";
import { readFailures } from "../../../shared/usecases/failure.js";
import { aCatalogImage } from "../../factories.js";
import { fakePipeline } from "../../fakes/pipeline.js";

const image = aCatalogImage({
  name: "ubuntu-2404",
  distribution: { targetRegions: [{ name: "westeurope" }, { name: "northeurope" }, { name: "swedencentral" }] },
});
const stagingImageId = `/subscriptions/s/resourceGroups/rg-image-builder/providers/Microsoft.Compute/images/ubuntu-2404-1.0.4-staging`;

/** A world with one version 1.0.4 published by build b-…4, replicating, with its template and staging image. */
async function publishedVersion() {
  const world = fakePipeline([image]);
  const ref = world.refOf(image);
  await world.gallery.createImageDefinition(ref);
  const body = renderGalleryImageVersion(image, {
    buildId: "b-00000000000000000004",
    catalogHash: "0123456789abcdef",
    sourceImageId: stagingImageId,
    templateName: "ubuntu-2404-1.0.4",
    now: world.clock.now(),
  });
  body.tags = { ...body.tags, [tagNames.stagingImageId]: stagingImageId };
  await world.gallery.createVersion(ref, "1.0.4", body);
  world.gallery.managedImages.set(stagingImageId.toLowerCase(), {
    id: stagingImageId,
    name: "ubuntu-2404-1.0.4-staging",
    tags: { [tagNames.managedBy]: managedByValue, [tagNames.buildId]: "b-00000000000000000004" },
  });
  world.imageBuilder.templates.set("ubuntu-2404-1.0.4", {
    name: "ubuntu-2404-1.0.4",
    tags: {
      [tagNames.managedBy]: managedByValue,
      [tagNames.buildId]: "b-00000000000000000004",
      [tagNames.image]: "ubuntu-2404",
      [tagNames.stagingImageId]: stagingImageId,
    },
    runOutputNames: ["out"],
    lastRunStatus: { runState: "Succeeded", endTime: world.clock.now() },
    body: {} as never,
  });
  world.gallery.calls = [];
  return { ...world, ref };
}

describe("monitorReplication", () => {
  it("waits while regions are still replicating, and never promotes early", async () => {
    const world = await publishedVersion();
    world.gallery.setReplication(world.ref, "1.0.4", {
      westeurope: "Completed",
      northeurope: "Replicating",
      swedencentral: "Completed",
    });
    const result = await monitorReplication(world.deps);
    expect(result).toMatchObject({ checked: 1, promoted: [], retried: [], failed: [] });
    expect(world.gallery.versionsOf(world.ref)[0]).toMatchObject({ excludeFromLatest: true });
    expect(world.imageBuilder.templates.size).toBe(1);
  });

  it("promotes a version every region has, then removes its template and staging image", async () => {
    const world = await publishedVersion();
    world.gallery.setReplication(world.ref, "1.0.4", {
      westeurope: "Completed",
      northeurope: "Completed",
      swedencentral: "Completed",
    });
    const result = await monitorReplication(world.deps);
    expect(result.promoted).toEqual(["ubuntu-2404@1.0.4"]);
    const version = world.gallery.versionsOf(world.ref)[0]!;
    expect(version.excludeFromLatest).toBe(false);
    expect(version.tags[tagNames.state]).toBe("promoted");
    expect(world.imageBuilder.templates.size).toBe(0);
    expect(world.gallery.managedImages.size).toBe(0);
  });

  it("retries a failed region a bounded number of times, then fails the version and keeps it out of latest", async () => {
    const world = await publishedVersion();
    const failing = { westeurope: "Completed", northeurope: "Failed", swedencentral: "Completed" };
    for (let retry = 1; retry <= 2; retry++) {
      world.gallery.setReplication(world.ref, "1.0.4", failing);
      expect((await monitorReplication(world.deps)).retried).toEqual(["ubuntu-2404@1.0.4"]);
      expect(world.gallery.versionsOf(world.ref)[0]!.tags[tagNames.replicationRetries]).toBe(String(retry));
    }
    world.gallery.setReplication(world.ref, "1.0.4", failing);
    expect((await monitorReplication(world.deps)).failed).toEqual(["ubuntu-2404@1.0.4"]);
    const version = world.gallery.versionsOf(world.ref)[0]!;
    expect(version.tags[tagNames.state]).toBe("failed");
    expect(version.excludeFromLatest).toBe(true);
    const failures = readFailures((await world.gallery.getImageDefinition(world.ref))!.tags);
    expect(failures[0]).toMatchObject({
      buildId: "b-00000000000000000004",
      reason: expect.stringContaining("replication failed"),
    });
    expect(world.imageBuilder.templates.size).toBe(0);
  });

  it("promotes a version whose failed region succeeded on retry", async () => {
    const world = await publishedVersion();
    world.gallery.setReplication(world.ref, "1.0.4", {
      westeurope: "Completed",
      northeurope: "Failed",
      swedencentral: "Completed",
    });
    await monitorReplication(world.deps);
    world.gallery.setReplication(world.ref, "1.0.4", {
      westeurope: "Completed",
      northeurope: "Completed",
      swedencentral: "Completed",
    });
    expect((await monitorReplication(world.deps)).promoted).toEqual(["ubuntu-2404@1.0.4"]);
  });

  it("reads the status only of versions in flight: one list per image, one GET per replicating version", async () => {
    const world = await publishedVersion();
    for (const name of ["1.0.1", "1.0.2", "1.0.3"]) {
      await world.gallery.createVersion(world.ref, name, {
        location: "westeurope",
        tags: { [tagNames.managedBy]: managedByValue, [tagNames.state]: "promoted" },
      });
    }
    world.gallery.calls = [];
    world.gallery.setReplication(world.ref, "1.0.4", {
      westeurope: "Replicating",
      northeurope: "Replicating",
      swedencentral: "Replicating",
    });
    await monitorReplication(world.deps);
    expect(world.gallery.calls.filter((c) => c === "listVersions")).toHaveLength(1);
    expect(world.gallery.calls.filter((c) => c === "getVersion")).toHaveLength(1);
  });

  it("removes a promoted build's template and staging image as the sweep listed them, without reading them again", async () => {
    const world = await publishedVersion();
    world.gallery.setReplication(world.ref, "1.0.4", {
      westeurope: "Completed",
      northeurope: "Completed",
      swedencentral: "Completed",
    });
    world.gallery.calls = [];
    world.imageBuilder.calls = [];
    const result = await monitorReplication(world.deps);
    expect(result.promoted).toEqual(["ubuntu-2404@1.0.4"]);
    expect(world.imageBuilder.templates.size).toBe(0);
    expect(world.gallery.managedImages.size).toBe(0);
    expect(world.imageBuilder.calls).not.toContain("getTemplate");
    expect(world.gallery.calls).not.toContain("getManagedImage");
  });

  it("sweeps the template and staging image of a build whose run failed long ago and nobody cleaned", async () => {
    const world = await publishedVersion();
    world.gallery.versions.clear();
    const template = world.imageBuilder.templates.get("ubuntu-2404-1.0.4")!;
    template.lastRunStatus = { runState: "Failed", message: "boom", endTime: world.clock.now() };
    world.clock.advance(2 * 3_600_000);
    const result = await monitorReplication(world.deps);
    expect(result.swept).toContain("ubuntu-2404-1.0.4");
    expect(world.imageBuilder.templates.size).toBe(0);
    expect(world.gallery.managedImages.size).toBe(0);
  });

  it("leaves a build in progress alone", async () => {
    const world = await publishedVersion();
    world.gallery.versions.clear();
    world.imageBuilder.templates.get("ubuntu-2404-1.0.4")!.lastRunStatus = {
      runState: "Running",
      runSubState: "Customizing",
    };
    const result = await monitorReplication(world.deps);
    expect(result.swept).toEqual([]);
    expect(world.imageBuilder.templates.size).toBe(1);
    expect(world.gallery.managedImages.size).toBe(1);
  });
});

describe("monitorReplication's sweep, racing a fast build", () => {
  it("never deletes the staging image of a build that started and finished while it was sweeping", async () => {
    const world = await publishedVersion();
    world.gallery.setReplication(world.ref, "1.0.4", {
      westeurope: "Completed",
      northeurope: "Replicating",
      swedencentral: "Completed",
    });
    const freshId = stagingImageId.replace("1.0.4", "1.0.5");
    const listTemplates = world.imageBuilder.listTemplates.bind(world.imageBuilder);
    world.imageBuilder.listTemplates = async (...args) => {
      const listed = await listTemplates(...args);
      // Right after the template list was read, a new build's template is created, runs and distributes.
      world.imageBuilder.templates.set("ubuntu-2404-1.0.5", {
        name: "ubuntu-2404-1.0.5",
        tags: {
          [tagNames.managedBy]: managedByValue,
          [tagNames.buildId]: "b-00000000000000000005",
          [tagNames.image]: "ubuntu-2404",
          [tagNames.stagingImageId]: freshId,
        },
        runOutputNames: ["out"],
        lastRunStatus: { runState: "Succeeded", endTime: world.clock.now() },
        body: {} as never,
      });
      world.gallery.managedImages.set(freshId.toLowerCase(), {
        id: freshId,
        name: "ubuntu-2404-1.0.5-staging",
        tags: { [tagNames.managedBy]: managedByValue, [tagNames.buildId]: "b-00000000000000000005" },
      });
      return listed;
    };
    await monitorReplication(world.deps);
    expect(world.gallery.managedImages.has(freshId.toLowerCase())).toBe(true);
  });
});
