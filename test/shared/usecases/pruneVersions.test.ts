import { describe, expect, it } from "vitest";
import { managedByValue, tagNames } from "../../../shared/domain/names.js";
import { pruneVersions } from "../../../shared/usecases/pruneVersions.js";
import { aCatalogImage } from "../../factories.js";
import { fakePipeline } from "../../fakes/pipeline.js";

const image = aCatalogImage({
  name: "ubuntu-2404",
  retention: { keepLatest: 2, minAgeDays: 7, maxDeletionsPerRun: 2 },
});
const day = 86_400_000;

/** Versions 1.0.0 … 1.0.5, promoted, published a week apart, all past their end of life but the newest two. */
function gallery(settings = {}) {
  const world = fakePipeline([image], settings);
  const ref = world.refOf(image);
  const now = world.clock.now().getTime();
  world.gallery.definitions.set(`${ref.subscriptionId}/${ref.resourceGroup}/${ref.gallery}/${ref.definition}`, {
    tags: {},
  });
  const versions = new Map();
  for (let i = 0; i <= 5; i++) {
    versions.set(`1.0.${i}`, {
      name: `1.0.${i}`,
      provisioningState: "Succeeded",
      publishedDate: new Date(now - (60 - i * 7) * day),
      endOfLifeDate: new Date(now + (i >= 4 ? 30 : -1) * day),
      excludeFromLatest: false,
      targetRegions: [{ name: "westeurope" }],
      tags: {
        [tagNames.managedBy]: managedByValue,
        [tagNames.state]: "promoted",
        [tagNames.buildId]: `b-${String(i).padStart(20, "0")}`,
      },
    });
  }
  world.gallery.versions.set(`${ref.subscriptionId}/${ref.resourceGroup}/${ref.gallery}/${ref.definition}`, versions);
  return { ...world, ref };
}

describe("pruneVersions", () => {
  it("deletes expired versions oldest first, within the per-run budget, and says why for each version", async () => {
    const world = gallery();
    const {
      images: [result],
    } = await pruneVersions(world.deps);
    expect(result!.deleted.map((d) => d.version)).toEqual(["1.0.0", "1.0.1"]);
    expect(world.gallery.versionsOf(world.ref).map((v) => v.name)).toEqual(["1.0.2", "1.0.3", "1.0.4", "1.0.5"]);
    const decided = [...result!.deleted, ...result!.kept].map((d) => d.version).sort();
    expect(decided).toEqual(["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5"]);
    for (const d of [...result!.deleted, ...result!.kept]) expect(d.reason.length).toBeGreaterThan(5);
  });

  it("finishes the work on the next run, and never deletes latest or the newest healthy versions", async () => {
    const world = gallery();
    await pruneVersions(world.deps);
    await pruneVersions(world.deps);
    await pruneVersions(world.deps);
    expect(world.gallery.versionsOf(world.ref).map((v) => v.name)).toEqual(["1.0.4", "1.0.5"]);
  });

  it("only logs the plan in a dry run", async () => {
    const world = gallery({ pruneDryRun: true });
    const {
      images: [result],
    } = await pruneVersions(world.deps);
    expect(result!.dryRun).toBe(true);
    expect(result!.deleted).toHaveLength(2);
    expect(world.gallery.versionsOf(world.ref)).toHaveLength(6);
    expect(world.log.lines.filter((l) => l.message.includes("would delete"))).toHaveLength(2);
  });

  it("keeps going when a deletion fails, and reports it for the next run", async () => {
    const world = gallery();
    const original = world.gallery.deleteVersion.bind(world.gallery);
    world.gallery.deleteVersion = async (ref, version) => {
      if (version === "1.0.0") throw new Error("503 ServiceUnavailable");
      return original(ref, version);
    };
    const {
      images: [result],
    } = await pruneVersions(world.deps);
    expect(result!.errors).toEqual([{ version: "1.0.0", error: "503 ServiceUnavailable" }]);
    expect(result!.deleted.map((d) => d.version)).toEqual(["1.0.1"]);
  });
});

describe("pruneVersions and where the versions run", () => {
  const onVersion = (world: ReturnType<typeof gallery>, version: string, kind: "virtualMachine" | "scaleSet") => ({
    id: `/subscriptions/${world.ref.subscriptionId}/resourceGroups/rg-web/providers/Microsoft.Compute/${kind === "scaleSet" ? "virtualMachineScaleSets" : "virtualMachines"}/web-${version}`,
    kind,
    subscriptionId: world.ref.subscriptionId,
    resourceGroup: "rg-web",
    imageId: `/subscriptions/${world.ref.subscriptionId}/resourceGroups/${world.ref.resourceGroup}/providers/Microsoft.Compute/galleries/${world.ref.gallery}/images/${world.ref.definition}/versions/${version}`,
  });

  it("keeps a version in use past its end of life, says where it runs, reports it, and deletes the next one", async () => {
    const world = gallery();
    world.fleet.members = [onVersion(world, "1.0.0", "scaleSet"), onVersion(world, "1.0.0", "virtualMachine")];
    const {
      images: [result],
    } = await pruneVersions(world.deps);
    expect(result!.deleted.map((d) => d.version)).toEqual(["1.0.1", "1.0.2"]);
    const kept = result!.kept.find((k) => k.version === "1.0.0")!;
    expect(kept.code).toBe("in-use");
    expect(kept.reason).toBe(
      `in use by 1 VM, 1 scale set (${world.ref.subscriptionId}/rg-web); the catalog does not allow deleting versions in use`,
    );
    expect(result!.inUsePastEndOfLife).toEqual([
      {
        version: "1.0.0",
        endOfLifeDate: expect.any(String),
        usage: `1 VM, 1 scale set (${world.ref.subscriptionId}/rg-web)`,
      },
    ]);
    expect(world.log.lines).toContainEqual(
      expect.objectContaining({
        level: "warn",
        message: "version in use past its end of life: its owners should move",
      }),
    );
    const skipped = world.bus
      .take("events")
      .map((m) => m.body)
      .filter((e) => e["type"] === "ImagePipeline.RetentionSkipped");
    expect(skipped.map((e) => e["data"])).toContainEqual(
      expect.objectContaining({ version: "1.0.0", rule: "in-use", reason: kept.reason }),
    );
  });

  it("deletes a version in use only when the catalog opts in", async () => {
    const world = gallery();
    world.deps.catalog.images[0] = { ...image, retention: { ...image.retention, deleteInUse: true } };
    world.fleet.members = [onVersion(world, "1.0.0", "virtualMachine")];
    const {
      images: [result],
    } = await pruneVersions(world.deps);
    expect(result!.deleted.map((d) => d.version)).toEqual(["1.0.0", "1.0.1"]);
  });

  it("deletes nothing, and says why, when where the versions run cannot be read", async () => {
    const world = gallery();
    world.fleet.unavailable = "Resource Graph denied access (403 AccessDenied)";
    const result = await pruneVersions(world.deps);
    expect(result.usageUnavailable).toBe("Resource Graph denied access (403 AccessDenied)");
    expect(result.images[0]!.deleted).toEqual([]);
    expect(result.images[0]!.kept.filter((k) => k.code === "usage-unknown").map((k) => k.version)).toEqual([
      "1.0.3",
      "1.0.2",
      "1.0.1",
      "1.0.0",
    ]);
    expect(world.gallery.versionsOf(world.ref)).toHaveLength(6);
    expect(world.log.lines).toContainEqual(
      expect.objectContaining({ level: "warn", message: "deleting nothing this run: where the images run is unknown" }),
    );
  });

  it("reads the fleet once per run, for every image, across the configured subscriptions", async () => {
    const a = aCatalogImage({ name: "a", definition: { sku: "a" } });
    const b = aCatalogImage({ name: "b", definition: { sku: "b" } });
    const world = fakePipeline([a, b], { usageSubscriptionIds: ["s1", "s2"] });
    await pruneVersions(world.deps);
    expect(world.fleet.sweeps).toEqual([["s1", "s2"]]);
  });
});

describe("pruneVersions across images", () => {
  it("prunes the other images when one image's versions cannot be read, and reports that image", async () => {
    const healthy = aCatalogImage({ name: "healthy", definition: { sku: "healthy" } });
    const broken = aCatalogImage({ name: "broken", definition: { sku: "broken" } });
    const world = fakePipeline([broken, healthy]);
    const original = world.gallery.listVersions.bind(world.gallery);
    world.gallery.listVersions = async (ref) => {
      if (ref.definition === "broken") throw new Error("403 AuthorizationFailed");
      return original(ref);
    };
    const result = await pruneVersions(world.deps);
    expect(result.failedImages).toEqual([{ image: "broken", error: "403 AuthorizationFailed" }]);
    expect(result.images.map((r) => r.image)).toEqual(["healthy"]);
  });
});

describe("pruneVersions within a time budget", () => {
  /** `count` images, each with six expired promoted versions of which four are due for deletion. */
  function galleries(count: number) {
    const images = Array.from({ length: count }, (_, i) =>
      aCatalogImage({
        name: `img-${String(i).padStart(3, "0")}`,
        definition: { sku: `sku-${i}` },
        retention: { keepLatest: 2, minAgeDays: 7, maxDeletionsPerRun: 10 },
      }),
    );
    const world = fakePipeline(images);
    const now = world.clock.now().getTime();
    for (const [i, image] of images.entries()) {
      const ref = world.refOf(image);
      const versions = new Map();
      for (let v = 0; v < 6; v++) {
        versions.set(`1.0.${v}`, {
          name: `1.0.${v}`,
          provisioningState: "Succeeded",
          // Images later in the catalog expired earlier: fairness must not follow catalog order.
          publishedDate: new Date(now - (60 - v) * day - i * 3_600_000),
          endOfLifeDate: new Date(now - (30 - v) * day - i * 3_600_000),
          excludeFromLatest: false,
          targetRegions: [],
          tags: { [tagNames.managedBy]: managedByValue, [tagNames.state]: "promoted" },
        });
      }
      world.gallery.versions.set(
        `${ref.subscriptionId}/${ref.resourceGroup}/${ref.gallery}/${ref.definition}`,
        versions,
      );
    }
    // Each deletion takes a second of the run's time.
    const deleteVersion = world.gallery.deleteVersion.bind(world.gallery);
    world.gallery.deleteVersion = async (ref, version) => {
      world.clock.advance(1000);
      return deleteVersion(ref, version);
    };
    return { world, images };
  }

  it("stops at its budget, defers the rest with a reason, and the next runs finish without starving any image", async () => {
    const { world, images } = galleries(10);
    const runs: { deleted: number; stopped: boolean }[] = [];
    for (let run = 0; run < 10; run++) {
      const result = await pruneVersions(world.deps, { timeBudgetInMs: 15_000 });
      const deleted = result.images.reduce((n, r) => n + r.deleted.length, 0);
      runs.push({ deleted, stopped: result.stoppedAtBudget });
      if (run === 0) {
        // Round by round: every image lost one version before any lost two.
        const perImage = result.images.map((r) => r.deleted.length);
        expect(Math.max(...perImage) - Math.min(...perImage)).toBeLessThanOrEqual(1);
        const deferred = result.images.flatMap((r) => r.deferred);
        expect(deferred.length).toBe(40 - 15);
        expect(deferred[0]!.reason).toMatch(/time budget \(15 s\) is spent: the next run starts with it/);
      }
      if (!result.stoppedAtBudget) break;
    }
    expect(runs.map((r) => r.deleted)).toEqual([15, 15, 10]);
    for (const image of images) {
      expect(world.gallery.versionsOf(world.refOf(image)).map((v) => v.name)).toEqual(["1.0.4", "1.0.5"]);
    }
  });
});
