import { describe, expect, it } from "vitest";
import { catalogEntryHash } from "../../../shared/catalog/load.js";
import { CatalogEntryChangedError } from "../../../shared/errors.js";
import type { BuildRequested } from "../../../shared/messages/index.js";
import { requestBuild } from "../../../shared/usecases/requestBuild.js";
import { aCatalogImage } from "../../factories.js";
import { fakePipeline } from "../../fakes/pipeline.js";

describe("requestBuild with the catalog entry hash the requester saw", () => {
  const published = aCatalogImage({ name: "ubuntu-2404", build: { vmSize: "Standard_D4s_v5" } });
  const seenBefore = aCatalogImage({ name: "ubuntu-2404" });

  it("queues the build when the hash is the published entry's, and the message carries it", async () => {
    const world = fakePipeline([published]);

    await requestBuild(world.deps, {
      image: "ubuntu-2404",
      commit: "abc1234",
      reason: "push",
      requestedBy: "ci",
      catalogHash: catalogEntryHash(published),
    });

    const [sent] = world.bus.take("build-requests");
    expect((sent!.body as BuildRequested).catalogHash).toBe(catalogEntryHash(published));
  });

  it("refuses it, naming both hashes, when the published entry differs, and queues nothing", async () => {
    const world = fakePipeline([published]);

    const error = await requestBuild(world.deps, {
      image: "ubuntu-2404",
      commit: "abc1234",
      reason: "push",
      requestedBy: "ci",
      catalogHash: catalogEntryHash(seenBefore),
    }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(CatalogEntryChangedError);
    expect(error).toMatchObject({
      requestedCatalogHash: catalogEntryHash(seenBefore),
      publishedCatalogHash: catalogEntryHash(published),
    });
    expect(world.bus.take("build-requests")).toEqual([]);
  });

  it("records the published entry's hash on the message when the request names none", async () => {
    const world = fakePipeline([published]);

    await requestBuild(world.deps, { image: "ubuntu-2404", reason: "manual", requestedBy: "cli" });

    const [sent] = world.bus.take("build-requests");
    expect((sent!.body as BuildRequested).catalogHash).toBe(catalogEntryHash(published));
  });
});
