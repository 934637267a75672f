import { describe, expect, it } from "vitest";
import { catalogEntryHash } from "../../../shared/catalog/load.js";
import { managedByValue, tagNames } from "../../../shared/domain/names.js";
import { compareDottedNumbers } from "../../../shared/domain/versions.js";
import { nightlyRebuild, nightlyRebuildSinceLastRun } from "../../../shared/usecases/nightlyRebuild.js";
import { aCatalogImage } from "../../factories.js";
import { fakePipeline } from "../../fakes/pipeline.js";

const nightly = aCatalogImage({
  name: "ubuntu-2404",
  schedule: { cron: "0 0 2 * * *", skipIfUnchanged: true },
  source: {
    type: "PlatformImage",
    publisher: "Canonical",
    offer: "ubuntu-24_04-lts",
    sku: "server",
    version: "latest",
  },
});
const window = { since: new Date("2026-11-23T01:00:00Z"), now: new Date("2026-11-23T02:00:30Z") };

function withPublished(baseImageVersion: string, catalogHash = catalogEntryHash(nightly)) {
  const world = fakePipeline([nightly]);
  const ref = world.refOf(nightly);
  world.gallery.versions.set(
    `${ref.subscriptionId}/${ref.resourceGroup}/${ref.gallery}/${ref.definition}`,
    new Map([
      [
        "1.0.3",
        {
          name: "1.0.3",
          provisioningState: "Succeeded",
          excludeFromLatest: false,
          targetRegions: [],
          tags: {
            [tagNames.managedBy]: managedByValue,
            [tagNames.state]: "promoted",
            [tagNames.baseImageVersion]: baseImageVersion,
            [tagNames.catalogHash]: catalogHash,
          },
        },
      ],
    ]),
  );
  return world;
}

describe("nightlyRebuild", () => {
  it("skips an image whose base image and catalog entry are unchanged, and says so", async () => {
    const world = withPublished("24.04.202411030");
    const [decision] = await nightlyRebuild(world.deps, window);
    expect(decision).toMatchObject({ action: "skipped", reason: expect.stringContaining("unchanged since 1.0.3") });
    expect(world.bus.sent).toHaveLength(0);
    expect(world.log.lines.some((l) => l.message === "nightly: skipped")).toBe(true);
  });

  it("builds an image whose base image has a newer version", async () => {
    const world = withPublished("24.04.202410010");
    const [decision] = await nightlyRebuild(world.deps, window);
    expect(decision).toMatchObject({ action: "requested" });
    // Its BuildRequested event first, then the request.
    expect(world.bus.sent.map((m) => m.queue)).toEqual(["events", "build-requests"]);
    expect(world.bus.take("build-requests")[0]!.body).toMatchObject({
      image: "ubuntu-2404",
      reason: "schedule",
      requestedBy: "schedule",
    });
  });

  it("builds an image whose catalog entry changed", async () => {
    const world = withPublished("24.04.202411030", "ffffffffffffffff");
    expect((await nightlyRebuild(world.deps, window))[0]).toMatchObject({ action: "requested" });
  });

  it("does nothing for an image whose schedule did not fall due", async () => {
    const world = withPublished("24.04.202410010");
    const early = { since: new Date("2026-11-23T02:01:00Z"), now: new Date("2026-11-23T03:00:00Z") };
    expect((await nightlyRebuild(world.deps, early))[0]).toEqual({ image: "ubuntu-2404", action: "notDue" });
    expect(world.bus.sent).toHaveLength(0);
  });

  it("covers the time since the host's record of its previous run, up to the pipeline's clock", async () => {
    // The clock says 02:00:30: the 02:00 schedule fell due after a run recorded at 01:00, not after one at 02:00:10.
    const world = withPublished("24.04.202410010");
    world.clock.current = new Date("2026-11-23T02:00:30Z");
    expect((await nightlyRebuildSinceLastRun(world.deps, new Date("2026-11-23T02:00:10Z")))[0]).toMatchObject({
      action: "notDue",
    });
    expect((await nightlyRebuildSinceLastRun(world.deps, new Date("2026-11-23T01:00:00Z")))[0]).toMatchObject({
      action: "requested",
    });
  });

  it("looks back an hour on a first run, when the host has no record (or says 0001-01-01)", async () => {
    const world = withPublished("24.04.202410010");
    world.clock.current = new Date("2026-11-23T02:59:00Z");
    expect((await nightlyRebuildSinceLastRun(world.deps, undefined))[0]).toMatchObject({ action: "requested" });
    world.clock.current = new Date("2026-11-23T03:01:00Z");
    expect((await nightlyRebuildSinceLastRun(world.deps, new Date("0001-01-01T00:00:00Z")))[0]).toMatchObject({
      action: "notDue",
    });
  });

  it("asks for the same build twice in a day only once", async () => {
    const world = withPublished("24.04.202410010");
    const [first] = await nightlyRebuild(world.deps, window);
    const [second] = await nightlyRebuild(world.deps, window);
    expect(first).toMatchObject({ action: "requested" });
    expect(second).toMatchObject({ action: "requested", buildId: (first as { buildId: string }).buildId });
    expect(world.bus.take("build-requests")).toHaveLength(1);
    expect(world.bus.take("events")).toHaveLength(1);
  });

  it("orders Marketplace versions numerically", () => {
    expect(["24.04.202411030", "24.04.99", "24.10.1"].sort(compareDottedNumbers)).toEqual([
      "24.04.99",
      "24.04.202411030",
      "24.10.1",
    ]);
  });
});
