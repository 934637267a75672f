import { describe, expect, it } from "vitest";
import { tagNames } from "../../../shared/domain/names.js";
import { PermanentAzureError } from "../../../shared/errors.js";
import type { BuildRequested, BuildWatch, PublishVersion } from "../../../shared/messages/index.js";
import type { GalleryClient, ImageDefinitionRef } from "../../../shared/ports.js";
import { monitorReplication } from "../../../shared/usecases/monitorReplication.js";
import { nightlyRebuild } from "../../../shared/usecases/nightlyRebuild.js";
import { pruneVersions } from "../../../shared/usecases/pruneVersions.js";
import { publishVersion } from "../../../shared/usecases/publishVersion.js";
import { startBuild } from "../../../shared/usecases/startBuild.js";
import { watchBuild } from "../../../shared/usecases/watchBuild.js";
import { aCatalogImage } from "../../factories.js";
import { fakePipeline } from "../../fakes/pipeline.js";

const day = 86_400_000;
const schedule = { cron: "0 0 2 * * *", skipIfUnchanged: false, disableAfterFailedBuilds: 3 };
const retention = { keepLatest: 1, minAgeDays: 0, endOfLifeDays: 1, maxDeletionsPerRun: 5 };
const images = ["alpha", "broken", "gamma"].map((name) =>
  aCatalogImage({ name, definition: { sku: name }, schedule, retention }),
);
const forbidden = () =>
  new PermanentAzureError("AuthorizationFailed: the client has no authorization", "AuthorizationFailed", 403);

/** Every gallery call about the `broken` image's definition answers 403, as a missing role assignment does. */
function failingFor(gallery: GalleryClient, definition: string): GalleryClient {
  return new Proxy(gallery, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const ref = args[0] as Partial<ImageDefinitionRef> | undefined;
        if (ref?.definition === definition) return Promise.reject(forbidden());
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

describe("one image whose every call fails, beside two that work", () => {
  it("never stops the others: both are built, promoted, pruned and rebuilt on schedule, and the failing one is reported", async () => {
    const world = fakePipeline(images);
    world.deps.gallery = failingFor(world.gallery, "broken");

    // Two nights of builds, each promoted; the first night's versions expire before the prune.
    for (const night of [0, 1]) {
      world.clock.advance(night * day);
      const now = world.clock.now();
      const decisions = await nightlyRebuild(world.deps, { since: new Date(now.getTime() - 3_600_000), now });
      // The broken image's definition cannot be read, so nor can whether its schedule disabled itself: reported.
      expect(decisions.map((d) => [d.image, d.action])).toEqual([
        ["alpha", "requested"],
        ["broken", "error"],
        ["gamma", "requested"],
      ]);
      expect(decisions[1]).toMatchObject({ error: expect.stringContaining("AuthorizationFailed") });
      for (const request of world.bus.take("build-requests")) {
        await startBuild(world.deps, request.body as BuildRequested);
      }
      for (const template of world.imageBuilder.templates.values()) {
        if (!template.lastRunStatus?.endTime) world.imageBuilder.finishRun(template.name, "Succeeded");
      }
      for (const watch of world.bus.take("build-watch")) await watchBuild(world.deps, watch.body as BuildWatch);
      for (const publish of world.bus.take("version-publish")) {
        await publishVersion(world.deps, publish.body as PublishVersion);
      }
      for (const image of images.filter((i) => i.name !== "broken")) {
        const ref = world.refOf(image);
        for (const v of world.gallery.versionsOf(ref)) {
          if (v.tags[tagNames.state] === "replicating") {
            world.gallery.setReplication(ref, v.name, { westeurope: "Completed", northeurope: "Completed" });
          }
        }
      }
      const monitored = await monitorReplication(world.deps);
      expect(monitored.promoted.sort()).toEqual([`alpha@1.0.${night}`, `gamma@1.0.${night}`]);
      expect(monitored.errors).toEqual([
        { item: { image: "broken" }, error: expect.stringContaining("AuthorizationFailed") },
      ]);
    }

    world.clock.advance(2 * day);
    const pruned = await pruneVersions(world.deps);
    expect(pruned.images.map((r) => [r.image, r.deleted.map((d) => d.version)])).toEqual([
      ["alpha", ["1.0.0"]],
      ["gamma", ["1.0.0"]],
    ]);
    expect(pruned.failedImages).toEqual([{ image: "broken", error: expect.stringContaining("AuthorizationFailed") }]);
    const reported = world.log.lines.filter((l) => l.level === "error" && JSON.stringify(l.fields).includes("broken"));
    expect(reported.length).toBeGreaterThan(0);
  });

  it("still decides every image's nightly build when one image's check fails", async () => {
    const world = fakePipeline(images.map((i) => ({ ...i, schedule: { ...schedule, skipIfUnchanged: true } })));
    world.deps.gallery = failingFor(world.gallery, "broken");
    const now = world.clock.now();
    const decisions = await nightlyRebuild(world.deps, { since: new Date(now.getTime() - 3_600_000), now });
    expect(decisions.map((d) => [d.image, d.action])).toEqual([
      ["alpha", "requested"],
      ["broken", "error"],
      ["gamma", "requested"],
    ]);
    expect(world.bus.take("build-requests")).toHaveLength(2);
  });
});
