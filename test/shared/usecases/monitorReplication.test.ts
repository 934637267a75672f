import { describe, expect, it } from "vitest";
import { readFailures } from "../../../shared/domain/failures.js";
import { tagNames } from "../../../shared/domain/names.js";
import type { BuildRequested, BuildWatch, PublishVersion } from "../../../shared/messages/index.js";
import { monitorReplication } from "../../../shared/usecases/monitorReplication.js";
import { publishVersion } from "../../../shared/usecases/publishVersion.js";
import { requestBuild } from "../../../shared/usecases/requestBuild.js";
import { startBuild } from "../../../shared/usecases/startBuild.js";
import { watchBuild } from "../../../shared/usecases/watchBuild.js";
import { aCatalogImage } from "../../factories.js";
import { fakePipeline } from "../../fakes/pipeline.js";

const image = aCatalogImage({
  name: "ubuntu-2404",
  distribution: { targetRegions: [{ name: "westeurope" }, { name: "northeurope" }, { name: "swedencentral" }] },
});
const all = (state: string) => ({ westeurope: state, northeurope: state, swedencentral: state });

type World = ReturnType<typeof fakePipeline>;

/** Runs a build of `forImage` through start, a run with the given outcome and watch; returns its template's name. */
async function runBuild(world: World, forImage = image, outcome: "Succeeded" | "Failed" = "Succeeded", message = "") {
  await requestBuild(world.deps, { image: forImage.name, commit: "abc1234", reason: "push", requestedBy: "octocat" });
  await startBuild(world.deps, world.bus.take("build-requests")[0]!.body as BuildRequested);
  const template = [...world.imageBuilder.templates.values()].find((t) => t.tags[tagNames.image] === forImage.name)!;
  world.imageBuilder.finishRun(template.name, outcome, message);
  await watchBuild(world.deps, world.bus.take("build-watch")[0]!.body as BuildWatch);
  return template.name;
}

/** A world with version 1.0.0 distributed by a build and taken over by the pipeline: replicating to 3 regions. */
async function publishedVersion(settings = {}) {
  const world = fakePipeline([image], settings);
  const templateName = await runBuild(world);
  await publishVersion(world.deps, world.bus.take("version-publish")[0]!.body as PublishVersion);
  world.gallery.calls = [];
  world.gallery.updates = [];
  return { ...world, ref: world.refOf(image), templateName };
}

describe("monitorReplication", () => {
  it("waits while regions are still replicating, and never promotes early", async () => {
    const world = await publishedVersion();
    world.gallery.setReplication(world.ref, "1.0.0", { ...all("Completed"), northeurope: "Replicating" });
    const result = await monitorReplication(world.deps);
    expect(result).toMatchObject({ checked: 1, promoted: [], retried: [], failed: [], errors: [] });
    expect(world.gallery.versionsOf(world.ref)[0]).toMatchObject({ excludeFromLatest: true });
    expect(world.imageBuilder.templates.size).toBe(1);
  });

  it("promotes a version every region has, then removes its template", async () => {
    const world = await publishedVersion();
    world.gallery.setReplication(world.ref, "1.0.0", all("Completed"));
    const result = await monitorReplication(world.deps);
    expect(result.promoted).toEqual(["ubuntu-2404@1.0.0"]);
    const version = world.gallery.versionsOf(world.ref)[0]!;
    expect(version.excludeFromLatest).toBe(false);
    expect(version.tags[tagNames.state]).toBe("promoted");
    expect(world.imageBuilder.templates.size).toBe(0);
  });

  it("keeps each region's storage type as the version holds it when the catalog's changed since (Azure refuses a change)", async () => {
    const world = await publishedVersion();
    world.deps.catalog = {
      images: [aCatalogImage({ ...image, distribution: { ...image.distribution, storageAccountType: "Premium_LRS" } })],
    };
    world.gallery.setReplication(world.ref, "1.0.0", all("Completed"));
    expect((await monitorReplication(world.deps)).promoted).toEqual(["ubuntu-2404@1.0.0"]);
    expect(world.gallery.updates.at(-1)!.update.targetRegions?.map((r) => r.storageAccountType)).toEqual([
      "Standard_LRS",
      "Standard_LRS",
      "Standard_LRS",
    ]);
  });

  it("recovers a region that fails twice: a same-regions retry, then removal and re-adding, then promotes", async () => {
    const world = await publishedVersion();
    const failing = { ...all("Completed"), northeurope: "Failed" };
    world.gallery.setReplication(world.ref, "1.0.0", failing);
    expect((await monitorReplication(world.deps)).retried).toEqual(["ubuntu-2404@1.0.0: retry northeurope"]);
    expect(world.gallery.updates.at(-1)!.update.targetRegions?.map((r) => r.name)).toEqual([
      "westeurope",
      "northeurope",
      "swedencentral",
    ]);

    world.gallery.setReplication(world.ref, "1.0.0", failing);
    expect((await monitorReplication(world.deps)).retried).toEqual(["ubuntu-2404@1.0.0: remove northeurope"]);
    expect(world.gallery.versionsOf(world.ref)[0]!.targetRegions.map((r) => r.name)).toEqual([
      "westeurope",
      "swedencentral",
    ]);

    world.gallery.setReplication(world.ref, "1.0.0", { westeurope: "Completed", swedencentral: "Completed" });
    expect((await monitorReplication(world.deps)).retried).toEqual(["ubuntu-2404@1.0.0: add northeurope"]);
    const version = world.gallery.versionsOf(world.ref)[0]!;
    expect(version.targetRegions.map((r) => r.name)).toContain("northeurope");
    expect(version.tags[tagNames.replicationAttempt]).toMatch(/^2 add northeurope /);

    world.gallery.setReplication(world.ref, "1.0.0", all("Completed"));
    expect((await monitorReplication(world.deps)).promoted).toEqual(["ubuntu-2404@1.0.0"]);
  });

  it("fails a version whose region never recovers, keeps it out of latest and its template for inspection", async () => {
    const world = await publishedVersion({ replicationMaxRetries: 1 });
    const failing = { ...all("Completed"), northeurope: "Failed" };
    world.gallery.setReplication(world.ref, "1.0.0", failing);
    expect((await monitorReplication(world.deps)).retried).toHaveLength(1);
    world.gallery.setReplication(world.ref, "1.0.0", failing);
    expect((await monitorReplication(world.deps)).failed).toEqual(["ubuntu-2404@1.0.0"]);
    const version = world.gallery.versionsOf(world.ref)[0]!;
    expect(version.tags[tagNames.state]).toBe("failed");
    expect(version.excludeFromLatest).toBe(true);
    const failures = readFailures((await world.gallery.getImageDefinition(world.ref))!.tags);
    expect(failures[0]).toMatchObject({ reason: expect.stringContaining("replication failed in northeurope") });
    expect(world.imageBuilder.templates.get(world.templateName)?.tags[tagNames.failedAt]).toBeDefined();
  });

  it("reads the status only of versions in flight: one list per image, one GET per replicating version", async () => {
    const world = await publishedVersion();
    for (const name of ["0.9.1", "0.9.2", "0.9.3"]) {
      world.gallery.distributeVersion(world.ref, name, {
        location: "westeurope",
        tags: { [tagNames.managedBy]: "image-pipeline", [tagNames.state]: "promoted" },
      });
    }
    world.gallery.setReplication(world.ref, "1.0.0", all("Replicating"));
    world.gallery.calls = [];
    await monitorReplication(world.deps);
    expect(world.gallery.calls.filter((c) => c === "listVersions")).toHaveLength(1);
    expect(world.gallery.calls.filter((c) => c === "getVersion")).toHaveLength(1);
  });

  it("goes on with the other images when one image's calls all fail, and reports it", async () => {
    const broken = aCatalogImage({ name: "broken", definition: { sku: "broken" } });
    const world = fakePipeline([broken, image]);
    await runBuild(world);
    await publishVersion(world.deps, world.bus.take("version-publish")[0]!.body as PublishVersion);
    world.gallery.setReplication(world.refOf(image), "1.0.0", all("Completed"));
    const listVersions = world.gallery.listVersions.bind(world.gallery);
    world.gallery.listVersions = async (ref) => {
      if (ref.definition === "broken") throw new Error("403 AuthorizationFailed");
      return listVersions(ref);
    };
    const result = await monitorReplication(world.deps);
    expect(result.promoted).toEqual(["ubuntu-2404@1.0.0"]);
    expect(result.errors).toEqual([{ item: { image: "broken" }, error: "403 AuthorizationFailed" }]);
  });
});

describe("monitorReplication's leftovers sweep", () => {
  it("keeps a failed build's template for the retention window, then removes it", async () => {
    const world = fakePipeline([image], { failedBuildRetentionInHours: 24 });
    const templateName = await runBuild(world, image, "Failed", "exit status 1");
    world.clock.advance(23 * 3_600_000);
    expect((await monitorReplication(world.deps)).swept).toEqual([]);
    world.clock.advance(2 * 3_600_000);
    expect((await monitorReplication(world.deps)).swept).toEqual([templateName]);
    expect(world.imageBuilder.templates.size).toBe(0);
  });

  it("records a failed run whose watch message was lost, with its log, and starts its retention then", async () => {
    const world = fakePipeline([image]);
    await requestBuild(world.deps, { image: image.name, commit: "abc1234", reason: "push", requestedBy: "octocat" });
    await startBuild(world.deps, world.bus.take("build-requests")[0]!.body as BuildRequested);
    const template = [...world.imageBuilder.templates.values()][0]!;
    const logUri = "https://st0.blob.core.windows.net/packerlogs/1/customization.log";
    world.imageBuilder.finishRun(template.name, "Failed", `exit status 1. Image Build log location: ${logUri}. x`);
    await monitorReplication(world.deps);
    expect(readFailures((await world.gallery.getImageDefinition(world.refOf(image)))!.tags)[0]).toMatchObject({
      reason: expect.stringContaining("exit status 1"),
    });
    expect(template.tags[tagNames.failedAt]).toBe(world.clock.now().toISOString());
    expect(world.imageBuilder.templates.size).toBe(1);
  });

  it("publishes a distributed version whose publish message was lost", async () => {
    const world = fakePipeline([image]);
    await runBuild(world);
    world.bus.take("version-publish");
    world.clock.advance(20 * 60_000);
    const result = await monitorReplication(world.deps);
    expect(result.published).toEqual(["ubuntu-2404@1.0.0"]);
    expect(world.gallery.versionsOf(world.refOf(image))[0]!.tags[tagNames.state]).toBe("replicating");
  });

  it("leaves a build in progress alone", async () => {
    const world = fakePipeline([image]);
    await requestBuild(world.deps, { image: image.name, commit: "abc1234", reason: "push", requestedBy: "octocat" });
    await startBuild(world.deps, world.bus.take("build-requests")[0]!.body as BuildRequested);
    await watchBuild(world.deps, world.bus.take("build-watch")[0]!.body as BuildWatch);
    world.clock.advance(3 * 3_600_000);
    world.imageBuilder.calls = [];
    const result = await monitorReplication(world.deps);
    expect(result.swept).toEqual([]);
    expect(world.imageBuilder.templates.size).toBe(1);
    expect(world.imageBuilder.calls).toEqual(["listTemplates"]);
  });

  it("runs a provisioned template whose first check was lost, once it has waited long enough", async () => {
    const world = fakePipeline([image]);
    await requestBuild(world.deps, { image: image.name, commit: "abc1234", reason: "push", requestedBy: "octocat" });
    await startBuild(world.deps, world.bus.take("build-requests")[0]!.body as BuildRequested);
    world.bus.take("build-watch");
    const template = [...world.imageBuilder.templates.values()][0]!;
    world.clock.advance(60_000);
    await monitorReplication(world.deps);
    expect(template.lastRunStatus).toBeUndefined();
    world.clock.advance(20 * 60_000);
    await monitorReplication(world.deps);
    expect(template.lastRunStatus?.runState).toBe("Running");
    // The run then ends like any other, and the sweep takes over what it distributed (publish stalled).
    world.imageBuilder.finishRun(template.name, "Succeeded");
    world.clock.advance(20 * 60_000);
    expect((await monitorReplication(world.deps)).published).toEqual(["ubuntu-2404@1.0.0"]);
  });

  it("removes the template of an image no longer in the catalog", async () => {
    const world = fakePipeline([image]);
    await runBuild(world);
    world.deps.catalog = { images: [] };
    expect((await monitorReplication(world.deps)).swept).toHaveLength(1);
  });
});
