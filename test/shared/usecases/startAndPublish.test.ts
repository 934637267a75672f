import { describe, expect, it } from "vitest";
import { tagNames } from "../../../shared/domain/names.js";
import { PermanentAzureError, UnknownImageError, VersionConflictError } from "../../../shared/errors.js";
import type { BuildRequested, BuildWatch, PublishVersion } from "../../../shared/messages/index.js";
import { renderGalleryImage } from "../../../shared/domain/imageVersion.js";
import { publishVersion } from "../../../shared/usecases/publishVersion.js";
import { requestBuild } from "../../../shared/usecases/requestBuild.js";
import { startBuild } from "../../../shared/usecases/startBuild.js";
import { watchBuild } from "../../../shared/usecases/watchBuild.js";
import { readFailures } from "../../../shared/domain/failures.js";
import { aCatalogImage } from "../../factories.js";
import { fakePipeline } from "../../fakes/pipeline.js";

const image = aCatalogImage({ name: "ubuntu-2404" });

async function requested(world: ReturnType<typeof fakePipeline>, commit: string) {
  await requestBuild(world.deps, { image: image.name, commit, reason: "push", requestedBy: "octocat" });
  return world.bus.take("build-requests").at(-1)!.body as BuildRequested;
}

describe("startBuild", () => {
  it("allocates the next version, submits the template named from image and version and schedules a check", async () => {
    const world = fakePipeline([image]);
    const result = await startBuild(world.deps, await requested(world, "abc1234"));
    expect(result).toMatchObject({ outcome: "started", version: "1.0.0" });
    const template = [...world.imageBuilder.templates.values()][0]!;
    expect(template.name).toContain("1.0.0");
    // Not run yet: Image Builder refuses a run while the template provisions; the first check runs it.
    expect(template.lastRunStatus).toBeUndefined();
    expect(world.imageBuilder.calls).not.toContain("runTemplate");
    // Image Builder writes that very version into the gallery, in the definition's region only.
    expect(template.body.distribute).toEqual([
      expect.objectContaining({
        type: "SharedImage",
        galleryImageId: expect.stringMatching(/\/images\/ubuntu-2404\/versions\/1\.0\.0$/),
        targetRegions: [{ name: "westeurope", replicaCount: 2, storageAccountType: "Standard_LRS" }],
        excludeFromLatest: true,
      }),
    ]);
    // The source was checked against the definition before the template was created.
    expect(world.gallery.calls).toContain("describeSourceImage");
    // The create is submitted, not awaited, and the template is not read back.
    expect(world.imageBuilder.calls).not.toContain("getTemplate");
    const [watch] = world.bus.take("build-watch");
    expect(watch!.messageId).toMatch(/:watch:0$/);
    expect(watch!.scheduledEnqueueTimeUtc!.getTime()).toBe(world.clock.now().getTime() + 60_000);
  });

  it("resumes a redelivered request without a second template or run", async () => {
    const world = fakePipeline([image]);
    const request = await requested(world, "abc1234");
    await startBuild(world.deps, request);
    world.imageBuilder.calls = [];
    expect(await startBuild(world.deps, request)).toMatchObject({ outcome: "resumed", version: "1.0.0" });
    expect(world.imageBuilder.calls).not.toContain("createTemplate");
    expect(world.imageBuilder.calls).not.toContain("runTemplate");
    expect(world.imageBuilder.templates.size).toBe(1);
  });

  it("resumes a redelivered request whose run distributed the version before the watch was sent", async () => {
    const world = fakePipeline([image]);
    const request = await requested(world, "abc1234");
    // The host dies after starting the run, before sending the watch.
    const dying = { send: async () => Promise.reject(new Error("host killed")) };
    await expect(startBuild({ ...world.deps, bus: dying }, request)).rejects.toThrow("host killed");
    world.imageBuilder.finishRun([...world.imageBuilder.templates.values()][0]!.name, "Succeeded");
    expect(world.gallery.versionsOf(world.refOf(image))[0]!.tags[tagNames.state]).toBe("distributing");

    expect(await startBuild(world.deps, request)).toMatchObject({ outcome: "resumed", version: "1.0.0" });
    const [watch] = world.bus.take("build-watch");
    await watchBuild(world.deps, watch!.body as BuildWatch);
    const [publish] = world.bus.take("version-publish");
    expect(await publishVersion(world.deps, publish!.body as PublishVersion)).toEqual({
      outcome: "published",
      version: "1.0.0",
    });
  });

  it("requeues a request that lost the race for a version to another build's template", async () => {
    const world = fakePipeline([image]);
    const first = await requested(world, "aaaa111");
    const second = await requested(world, "bbbb222");
    // Both read the gallery before either created its template: simulate by hiding the first template from the list.
    await startBuild(world.deps, first);
    const listTemplates = world.imageBuilder.listTemplates.bind(world.imageBuilder);
    world.imageBuilder.listTemplates = async () => [];
    const result = await startBuild(world.deps, second);
    world.imageBuilder.listTemplates = listTemplates;
    expect(result).toMatchObject({ outcome: "waiting", blockingBuildId: first.buildId });
    expect(world.imageBuilder.templates.size).toBe(1);
    expect(world.bus.take("build-requests")[0]!.body).toMatchObject({ buildId: second.buildId, attempt: 1 });
  });

  it("refuses a request for an image no longer in the catalog, so it is dead-lettered", async () => {
    const world = fakePipeline([image]);
    const request = { ...(await requested(world, "abc1234")), image: "retired-image" };
    await expect(startBuild(world.deps, request)).rejects.toBeInstanceOf(UnknownImageError);
  });
});

describe("startBuild checking the source first", () => {
  it("fails a build whose source Azure would refuse, before creating any template", async () => {
    const world = fakePipeline([image]);
    await world.gallery.createImageDefinition(world.refOf(image), renderGalleryImage(image, "westeurope"));
    world.gallery.sourceFacts = { hyperVGeneration: "V1" };
    const request = await requested(world, "abc1234");
    const result = await startBuild(world.deps, request);
    expect(result).toMatchObject({ outcome: "failed", reason: expect.stringContaining("generation V1") });
    expect(world.imageBuilder.templates.size).toBe(0);
    expect(readFailures((await world.gallery.getImageDefinition(world.refOf(image)))!.tags)[0]).toMatchObject({
      buildId: request.buildId,
      reason: expect.stringContaining("image definition is V2"),
    });
  });

  it("records it on the definition it creates for the image, so the status says why", async () => {
    const world = fakePipeline([image]);
    world.gallery.sourceFacts = { osType: "Windows" };
    const request = await requested(world, "abc1234");
    expect(await startBuild(world.deps, request)).toMatchObject({
      outcome: "failed",
      reason: expect.stringContaining("the source image is Windows but the image definition is Linux"),
    });
    expect(world.imageBuilder.templates.size).toBe(0);
    expect(readFailures((await world.gallery.getImageDefinition(world.refOf(image)))!.tags)[0]?.buildId).toBe(
      request.buildId,
    );
  });
});

describe("watchBuild", () => {
  it("runs the template once Image Builder has provisioned it, checking again at the first delay until then", async () => {
    const world = fakePipeline([image], { buildWatchInitialDelayInSeconds: 60, buildWatchMaxDelayInSeconds: 600 });
    await startBuild(world.deps, await requested(world, "abc1234"));
    const template = [...world.imageBuilder.templates.values()][0]!;
    template.provisioningState = "Creating";
    let watch = world.bus.take("build-watch")[0]!.body as BuildWatch;
    for (let i = 0; i < 2; i++) {
      expect(await watchBuild(world.deps, watch)).toMatchObject({ outcome: "running" });
      const next = world.bus.take("build-watch")[0]!;
      expect(next.scheduledEnqueueTimeUtc!.getTime() - world.clock.now().getTime()).toBe(60_000);
      watch = next.body as BuildWatch;
    }
    expect(world.imageBuilder.calls).not.toContain("runTemplate");
    template.provisioningState = "Succeeded";
    await watchBuild(world.deps, watch);
    expect(world.imageBuilder.calls.filter((c) => c === "runTemplate")).toHaveLength(1);
    expect(template.lastRunStatus?.runState).toBe("Running");
    // The run started: from now on the checks back off.
    expect((world.bus.take("build-watch")[0]!.body as BuildWatch).nextDelayInSeconds).toBe(120);
  });

  it("takes a run that a redelivered check started meanwhile as started", async () => {
    const world = fakePipeline([image]);
    await startBuild(world.deps, await requested(world, "abc1234"));
    const watch = world.bus.take("build-watch")[0]!.body as BuildWatch;
    const template = [...world.imageBuilder.templates.values()][0]!;
    // The other delivery's run lands between this check's read and its own run request, which Image Builder refuses.
    const getTemplate = world.imageBuilder.getTemplate.bind(world.imageBuilder);
    world.imageBuilder.getTemplate = async (...args) => {
      const read = structuredClone(await getTemplate(...args));
      template.lastRunStatus = { runState: "Running", runSubState: "Queued", startTime: world.clock.now() };
      return read;
    };
    world.imageBuilder.runTemplate = async () => {
      throw new PermanentAzureError("run image template: OperationNotAllowed run state: running", "Conflict", 409);
    };
    expect(await watchBuild(world.deps, watch)).toMatchObject({ outcome: "running" });
    expect(readFailures((await world.gallery.getImageDefinition(world.refOf(image)))!.tags)).toEqual([]);
  });

  it("fails the build when Image Builder refuses its run for good, saying why", async () => {
    const world = fakePipeline([image]);
    const request = await requested(world, "abc1234");
    await startBuild(world.deps, request);
    world.imageBuilder.runTemplate = async () => {
      throw new PermanentAzureError("run image template: AuthorizationFailed", "AuthorizationFailed", 403);
    };
    const result = await watchBuild(world.deps, world.bus.take("build-watch")[0]!.body as BuildWatch);
    expect(result).toMatchObject({ outcome: "failed", reason: expect.stringContaining("AuthorizationFailed") });
    expect(readFailures((await world.gallery.getImageDefinition(world.refOf(image)))!.tags)[0]).toMatchObject({
      buildId: request.buildId,
      reason: expect.stringContaining("refused to run"),
    });
    expect(world.bus.take("build-watch")).toEqual([]);
  });

  it("backs off, doubling the delay up to its maximum, and cancels a run that passes its deadline", async () => {
    const world = fakePipeline([image], { buildWatchInitialDelayInSeconds: 60, buildWatchMaxDelayInSeconds: 200 });
    await startBuild(world.deps, await requested(world, "abc1234"));
    let watch = world.bus.take("build-watch")[0]!.body as BuildWatch;
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      await watchBuild(world.deps, watch);
      const next = world.bus.take("build-watch")[0]!;
      delays.push((next.scheduledEnqueueTimeUtc!.getTime() - world.clock.now().getTime()) / 1000);
      watch = next.body as BuildWatch;
    }
    expect(delays).toEqual([60, 120, 200, 200]);
    world.clock.advance(image.build.buildTimeoutInMinutes * 60_000 + 31 * 60_000);
    await watchBuild(world.deps, watch);
    expect(world.imageBuilder.calls).toContain("cancelRun");
    const canceled = world.bus.take("build-watch")[0]!.body as BuildWatch;
    expect(canceled.timedOut).toBe(true);
    const result = await watchBuild(world.deps, canceled);
    expect(result).toMatchObject({ outcome: "failed", reason: expect.stringContaining("timed out") });
  });

  it("keeps a failed build's template, with its staging group and log, and records where the log is", async () => {
    const world = fakePipeline([image]);
    const request = await requested(world, "abc1234");
    await startBuild(world.deps, request);
    const template = [...world.imageBuilder.templates.values()][0]!;
    const logUri = "https://a1b2c3.blob.core.windows.net/packerlogs/5f0e/customization.log";
    world.imageBuilder.finishRun(
      template.name,
      "Failed",
      `Failed while waiting for packerizer: Packer build command has failed: exit status 1. Image Build log location: ${logUri}. OperationId: 42.`,
    );
    const result = await watchBuild(world.deps, world.bus.take("build-watch")[0]!.body as BuildWatch);
    expect(result).toMatchObject({ outcome: "failed", logUri });
    expect(world.imageBuilder.templates.get(template.name)?.tags[tagNames.failedAt]).toBe(
      world.clock.now().toISOString(),
    );
    expect(world.imageBuilder.calls).not.toContain("deleteTemplate");
    expect(readFailures((await world.gallery.getImageDefinition(world.refOf(image)))!.tags)[0]).toMatchObject({
      buildId: request.buildId,
      logUri,
      reason: expect.stringContaining("exit status 1"),
    });
  });
});

describe("publishVersion", () => {
  async function succeeded() {
    const world = fakePipeline([image]);
    await startBuild(world.deps, await requested(world, "abc1234"));
    const template = [...world.imageBuilder.templates.values()][0]!;
    world.imageBuilder.finishRun(template.name, "Succeeded");
    await watchBuild(world.deps, world.bus.take("build-watch")[0]!.body as BuildWatch);
    return { world, publish: world.bus.take("version-publish")[0]!.body as PublishVersion };
  }

  it("takes over the distributed version: every target region, end of life, still excluded from latest", async () => {
    const { world, publish } = await succeeded();
    expect(publish.versionId).toMatch(/\/versions\/1\.0\.0$/);
    expect(await publishVersion(world.deps, publish)).toEqual({ outcome: "published", version: "1.0.0" });
    const [version] = world.gallery.versionsOf(world.refOf(image));
    expect(version).toMatchObject({ name: "1.0.0", excludeFromLatest: true });
    expect(version!.targetRegions.map((r) => r.name)).toEqual(["westeurope", "northeurope"]);
    expect(version!.endOfLifeDate).toEqual(new Date(world.clock.now().getTime() + 90 * 86_400_000));
    expect(version!.tags).toMatchObject({
      [tagNames.buildId]: publish.buildId,
      [tagNames.commit]: "abc1234",
      [tagNames.catalogHash]: publish.catalogHash,
      [tagNames.state]: "replicating",
    });
    const [update] = world.gallery.updates;
    expect(update).toMatchObject({ wait: false, update: { allowDeletionOfReplicatedLocations: true } });
  });

  it("accepts a version it already took over, and refuses one from another build", async () => {
    const { world, publish } = await succeeded();
    await publishVersion(world.deps, publish);
    expect(await publishVersion(world.deps, publish)).toEqual({ outcome: "alreadyPublished", version: "1.0.0" });
    const other = { ...publish, buildId: "b-ffffffffffffffffffff" };
    await expect(publishVersion(world.deps, other)).rejects.toBeInstanceOf(VersionConflictError);
    const failures = readFailures((await world.gallery.getImageDefinition(world.refOf(image)))!.tags);
    expect(failures[0]).toMatchObject({ buildId: other.buildId, reason: expect.stringContaining(publish.buildId) });
    expect(world.gallery.versionsOf(world.refOf(image))[0]!.tags[tagNames.state]).toBe("replicating");
  });

  it("fails the build when the run said success but wrote no version", async () => {
    const { world, publish } = await succeeded();
    world.gallery.versions.clear();
    expect(await publishVersion(world.deps, publish)).toMatchObject({
      outcome: "failed",
      reason: expect.stringContaining("does not exist"),
    });
  });
});

describe("startBuild when Azure refuses for good", () => {
  it("dead-letters the request when there is no definition to record the failure on", async () => {
    const world = fakePipeline([image]);
    world.gallery.createImageDefinition = async () => {
      throw new PermanentAzureError(
        "create image definition: ParentResourceNotFound gallery acg_golden not found",
        "ParentResourceNotFound",
        404,
      );
    };
    await expect(startBuild(world.deps, await requested(world, "abc1234"))).rejects.toMatchObject({
      disposition: "deadLetter",
      message: expect.stringContaining("ParentResourceNotFound"),
    });
    expect(world.imageBuilder.templates.size).toBe(0);
  });

  it("records the failure and completes when the definition exists", async () => {
    const world = fakePipeline([image]);
    await world.gallery.createImageDefinition(world.refOf(image), renderGalleryImage(image, "westeurope"));
    world.imageBuilder.createTemplate = async () => {
      throw new PermanentAzureError(
        "create image template: ValidationFailed source image not found",
        "ValidationFailed",
        400,
      );
    };
    const request = await requested(world, "abc1234");
    expect(await startBuild(world.deps, request)).toMatchObject({
      outcome: "failed",
      reason: expect.stringContaining("ValidationFailed"),
    });
    expect(readFailures((await world.gallery.getImageDefinition(world.refOf(image)))!.tags)[0]).toMatchObject({
      buildId: request.buildId,
    });
  });
});

describe("startBuild after the build failed", () => {
  it("does not start a failed build again when its request is redelivered late", async () => {
    const world = fakePipeline([image]);
    const request = await requested(world, "abc1234");
    await startBuild(world.deps, request);
    const template = [...world.imageBuilder.templates.values()][0]!;
    world.imageBuilder.finishRun(template.name, "Failed", "harden.sh exited 1");
    await watchBuild(world.deps, world.bus.take("build-watch")[0]!.body as BuildWatch);
    world.imageBuilder.calls = [];
    expect(await startBuild(world.deps, request)).toMatchObject({
      outcome: "alreadyFailed",
      reason: expect.stringContaining("harden.sh"),
    });
    expect(world.imageBuilder.calls).not.toContain("runTemplate");
    expect(world.imageBuilder.templates.size).toBe(1);
  });

  it("lets the next build of the image start while the failed one's template is kept", async () => {
    const world = fakePipeline([image]);
    await startBuild(world.deps, await requested(world, "abc1234"));
    const failed = [...world.imageBuilder.templates.values()][0]!;
    world.imageBuilder.finishRun(failed.name, "Failed", "harden.sh exited 1");
    await watchBuild(world.deps, world.bus.take("build-watch")[0]!.body as BuildWatch);
    expect(await startBuild(world.deps, await requested(world, "def5678"))).toMatchObject({
      outcome: "started",
      version: "1.0.1",
    });
  });
});

describe("startBuild racing a build that finishes while it reads", () => {
  it("allocates after a version that was published, promoted and cleaned up between its two reads", async () => {
    const world = fakePipeline([image]);
    const first = await requested(world, "aaaa111");
    await startBuild(world.deps, first);
    const firstTemplate = [...world.imageBuilder.templates.values()][0]!;
    world.imageBuilder.finishRun(firstTemplate.name, "Succeeded");
    await watchBuild(world.deps, world.bus.take("build-watch")[0]!.body as BuildWatch);
    const publish = world.bus.take("version-publish")[0]!.body as PublishVersion;
    // Right after the second build's first read, the first build publishes, is promoted and its template removed.
    let raced = false;
    const finishFirst = async () => {
      if (raced) return;
      raced = true;
      await publishVersion(world.deps, publish);
      world.imageBuilder.templates.delete(firstTemplate.name);
    };
    const listVersions = world.gallery.listVersions.bind(world.gallery);
    const listTemplates = world.imageBuilder.listTemplates.bind(world.imageBuilder);
    world.gallery.listVersions = async (ref) => {
      const listed = await listVersions(ref);
      await finishFirst();
      return listed;
    };
    world.imageBuilder.listTemplates = async () => {
      const listed = await listTemplates();
      await finishFirst();
      return listed;
    };
    const second = await startBuild(world.deps, await requested(world, "bbbb222"));
    expect(second).toMatchObject({ outcome: "started", version: "1.0.1" });
  });
});
