import { describe, expect, it } from "vitest";
import { managedByValue, tagNames } from "../../../shared/domain/names.js";
import type { ImageTemplateSpec, TemplateSummary, VersionDetails } from "../../../shared/ports.js";
import { getDashboard } from "../../../shared/usecases/dashboard.js";
import { viewFleetMaxAgeInMs } from "../../../shared/usecases/usage.js";
import { failureTagPrefix } from "../../../shared/domain/failures.js";
import { aCatalogImage } from "../../factories.js";
import { fakePipeline } from "../../fakes/pipeline.js";

const day = 86_400_000;
const ubuntu = aCatalogImage({
  name: "ubuntu-2404",
  definition: { description: "Ubuntu <b>hardened</b>" },
  retention: { keepLatest: 1, minAgeDays: 7, maxDeletionsPerRun: 1 },
});
const windows = aCatalogImage({ name: "windows-2022", definition: { sku: "2022" } });
const options = { refreshAfterInSeconds: 30 };
const buildId = (n: number) => `b-${String(n).padStart(20, "0")}`;

/** A gallery with ubuntu-2404 at 1.0.0 (expired), 1.0.1 and 1.0.2 (promoted) and 1.0.3 (replicating). */
function world(settings = {}) {
  const w = fakePipeline([ubuntu, windows], settings);
  const ref = w.refOf(ubuntu);
  const key = `${ref.subscriptionId}/${ref.resourceGroup}/${ref.gallery}/${ref.definition}`;
  const now = w.clock.now().getTime();
  w.gallery.definitions.set(key, { tags: {} });
  const regions = [{ name: "West Europe", regionalReplicaCount: 2 }, { name: "North Europe" }];
  const version = (n: number, extra: Partial<VersionDetails> = {}): VersionDetails => ({
    name: `1.0.${n}`,
    provisioningState: "Succeeded",
    publishedDate: new Date(now - (40 - n * 10) * day),
    endOfLifeDate: new Date(now + (n === 0 ? -1 : 60) * day),
    excludeFromLatest: false,
    targetRegions: regions,
    tags: {
      [tagNames.managedBy]: managedByValue,
      [tagNames.state]: "promoted",
      [tagNames.buildId]: buildId(n),
      [tagNames.commit]: `c0mm1t${n}`,
    },
    ...extra,
  });
  w.gallery.versions.set(
    key,
    new Map([
      ["1.0.0", version(0)],
      ["1.0.1", version(1)],
      ["1.0.2", version(2)],
      [
        "1.0.3",
        version(3, {
          provisioningState: "Creating",
          excludeFromLatest: true,
          tags: {
            [tagNames.managedBy]: managedByValue,
            [tagNames.state]: "replicating",
            [tagNames.buildId]: buildId(3),
          },
          replication: {
            aggregatedState: "InProgress",
            summary: [
              { region: "West Europe", state: "Completed", progress: 100 },
              { region: "North Europe", state: "Replicating", progress: 40 },
            ],
          },
        }),
      ],
    ]),
  );
  return { ...w, ref, key };
}

function template(
  name: string,
  tags: Record<string, string>,
  run?: TemplateSummary["lastRunStatus"],
): TemplateSummary & { body: ImageTemplateSpec } {
  return {
    name,
    tags: { [tagNames.managedBy]: managedByValue, ...tags },
    provisioningState: "Succeeded",
    lastRunStatus: run,
    body: { location: "westeurope" } as ImageTemplateSpec,
  };
}

describe("getDashboard", () => {
  it("reads the template list once, one definition and one version list per image, one GET per replicating version", async () => {
    const w = world();
    await getDashboard(w.deps, options);
    expect(w.imageBuilder.calls).toEqual(["listTemplates"]);
    // windows-2022 has no definition yet: its versions are not listed.
    expect(w.gallery.calls.sort()).toEqual(["getImageDefinition", "getImageDefinition", "getVersion", "listVersions"]);
  });

  it("gives each version a cell per region with its replication state, progress and replica count", async () => {
    const { images } = await getDashboard(world().deps, options);
    const image = images[0]!;
    expect(image.regions.map((r) => r.name)).toEqual(["westeurope", "northeurope"]);
    expect(image.versions.map((v) => v.name)).toEqual(["1.0.3", "1.0.2", "1.0.1", "1.0.0"]);
    const replicating = image.versions[0]!;
    expect(replicating.cells).toEqual([
      { state: "Completed", observed: true, progress: 100, replicaCount: 2, excludedFromLatest: true },
      { state: "Replicating", observed: true, progress: 40, excludedFromLatest: true },
    ]);
    // Promoted versions are not read one by one: their regions are inferred from provisioningState Succeeded.
    expect(image.versions[2]!.cells[0]).toEqual({ state: "Completed", replicaCount: 2 });
  });

  it("says which version latest resolves to in each region, and marks that cell", async () => {
    const w = world();
    // 1.0.2 is kept out of latest in North Europe only: latest there is 1.0.1.
    const v102 = w.gallery.versions.get(w.key)!.get("1.0.2")!;
    v102.targetRegions = [
      { name: "West Europe", regionalReplicaCount: 2 },
      { name: "North Europe", excludeFromLatest: true },
    ];
    const image = (await getDashboard(w.deps, options)).images[0]!;
    expect(image.latest).toBe("1.0.2");
    expect(image.regions.map((r) => [r.name, r.latest])).toEqual([
      ["westeurope", "1.0.2"],
      ["northeurope", "1.0.1"],
    ]);
    const latestCells = image.versions.flatMap((v) => v.cells.map((c, i) => (c?.latest ? `${v.name}@${i}` : "")));
    expect(latestCells.filter(Boolean)).toEqual(["1.0.2@0", "1.0.1@1"]);
  });

  it("adds a column for a region that only an older version targets", async () => {
    const w = world();
    w.gallery.versions.get(w.key)!.get("1.0.0")!.targetRegions = [{ name: "East US" }];
    const image = (await getDashboard(w.deps, options)).images[0]!;
    expect(image.regions).toEqual([
      expect.objectContaining({ name: "westeurope", target: true }),
      expect.objectContaining({ name: "northeurope", target: true }),
      { name: "East US", target: false, latest: "1.0.0" },
    ]);
    expect(image.versions[0]!.cells[2]).toBeNull();
  });

  it("carries the retention plan of the next prune run, a reason for every version", async () => {
    const { images } = await getDashboard(world().deps, options);
    const image = images[0]!;
    expect(image.retention).toMatchObject({ dryRun: false, keepLatest: 1, maxDeletionsPerRun: 1 });
    expect(image.retention.deletions).toEqual([{ version: "1.0.0", code: "superseded", reason: expect.any(String) }]);
    expect(image.versions.map((v) => [v.name, v.retention.action, v.retention.code])).toEqual([
      ["1.0.3", "keep", "in-progress"],
      ["1.0.2", "keep", "latest"],
      ["1.0.1", "keep", "before-end-of-life"],
      ["1.0.0", "delete", "superseded"],
    ]);
  });

  it("reports a dry run when the setting or the catalog asks for one", async () => {
    const { images } = await getDashboard(world({ pruneDryRun: true }).deps, options);
    expect(images[0]!.retention.dryRun).toBe(true);
  });

  it("lists builds in flight with their stage and Image Builder's run state, and the version still replicating", async () => {
    const w = world();
    w.imageBuilder.templates.set(
      "ubuntu-2404-1.0.4",
      template(
        "ubuntu-2404-1.0.4",
        { [tagNames.image]: "ubuntu-2404", [tagNames.buildId]: buildId(4), [tagNames.version]: "1.0.4" },
        { runState: "Running", runSubState: "Customizing", startTime: new Date("2026-11-23T01:00:00Z") },
      ),
    );
    // The template of a published build that the sweep has not removed yet is not a build in flight.
    w.imageBuilder.templates.set(
      "ubuntu-2404-1.0.3",
      template(
        "ubuntu-2404-1.0.3",
        { [tagNames.image]: "ubuntu-2404", [tagNames.buildId]: buildId(3) },
        { runState: "Succeeded" },
      ),
    );
    const { images, summary } = await getDashboard(w.deps, options);
    expect(images[0]!.builds).toEqual([
      {
        buildId: buildId(4),
        version: "1.0.4",
        stage: "building",
        runState: "Running",
        runSubState: "Customizing",
        startTime: "2026-11-23T01:00:00.000Z",
      },
      { buildId: buildId(3), version: "1.0.3", stage: "replicating", progress: 70 },
    ]);
    expect(images[1]!.builds).toEqual([]);
    expect(summary.buildsInFlight).toBe(2);
  });

  it("shows a build whose run succeeded and has no version yet as publishing", async () => {
    const w = world();
    w.imageBuilder.templates.set(
      "t",
      template("t", { [tagNames.image]: "windows-2022", [tagNames.buildId]: buildId(9) }, { runState: "Succeeded" }),
    );
    const { images } = await getDashboard(w.deps, options);
    expect(images[1]!.builds).toEqual([expect.objectContaining({ buildId: buildId(9), stage: "publishing" })]);
  });

  it("lists recorded failures newest first, and a failed run whose template is kept as a failure, not in flight", async () => {
    const w = world();
    w.gallery.definitions.set(w.key, {
      tags: {
        [`${failureTagPrefix}${buildId(7)}`]: "2026-11-20T10:00:00.000Z Image Builder run Failed: <img src=x>",
        [`${failureTagPrefix}${buildId(8)}`]: "2026-11-22T10:00:00.000Z replication failed in northeurope",
      },
    });
    w.imageBuilder.templates.set(
      "kept",
      template(
        "kept",
        { [tagNames.image]: "ubuntu-2404", [tagNames.buildId]: buildId(6), [tagNames.version]: "1.0.6" },
        { runState: "Failed", message: "harden.sh exited with code 3", endTime: new Date("2026-11-21T00:00:00Z") },
      ),
    );
    const { images, summary } = await getDashboard(w.deps, options);
    expect(images[0]!.failures).toEqual([
      { buildId: buildId(8), at: "2026-11-22T10:00:00.000Z", reason: "replication failed in northeurope" },
      {
        buildId: buildId(6),
        at: "2026-11-21T00:00:00.000Z",
        reason: "Image Builder run Failed: harden.sh exited with code 3",
        version: "1.0.6",
      },
      { buildId: buildId(7), at: "2026-11-20T10:00:00.000Z", reason: "Image Builder run Failed: <img src=x>" },
    ]);
    expect(images[0]!.builds.map((b) => b.stage)).toEqual(["replicating"]);
    expect(summary.recentFailures).toBe(3);
  });

  it("links each build in flight and each failure to its trace when a trace viewer is known", async () => {
    const w = world({ traceUrlTemplate: "http://127.0.0.1:4318/_collector/traces?attribute=id&value={buildId}" });
    w.gallery.definitions.set(w.key, {
      tags: { [`${failureTagPrefix}${buildId(8)}`]: "2026-11-22T10:00:00.000Z replication failed in northeurope" },
    });
    w.imageBuilder.templates.set(
      "ubuntu-2404-1.0.4",
      template(
        "ubuntu-2404-1.0.4",
        { [tagNames.image]: "ubuntu-2404", [tagNames.buildId]: buildId(4), [tagNames.version]: "1.0.4" },
        { runState: "Running" },
      ),
    );
    const { images } = await getDashboard(w.deps, options);
    const link = (n: number) => `http://127.0.0.1:4318/_collector/traces?attribute=id&value=${buildId(n)}`;
    expect(images[0]!.builds.map((b) => [b.buildId, b.traceUrl])).toEqual([
      [buildId(4), link(4)],
      [buildId(3), link(3)],
    ]);
    expect(images[0]!.failures.map((f) => [f.buildId, f.traceUrl])).toEqual([[buildId(8), link(8)]]);
    // Without a viewer there is no link (the page names the CLI command instead).
    const plain = await getDashboard(world().deps, options);
    expect(plain.images[0]!.builds.every((b) => b.traceUrl === undefined)).toBe(true);
  });

  it("marks an image whose reads fail and still reads the others", async () => {
    const w = world();
    const listVersions = w.gallery.listVersions.bind(w.gallery);
    w.gallery.listVersions = async (ref) => {
      if (ref.definition === "ubuntu-2404") throw new Error("403 AuthorizationFailed");
      return listVersions(ref);
    };
    const windowsRef = w.refOf(windows);
    w.gallery.definitions.set(
      `${windowsRef.subscriptionId}/${windowsRef.resourceGroup}/${windowsRef.gallery}/${windowsRef.definition}`,
      { tags: {} },
    );
    const { images, summary } = await getDashboard(w.deps, options);
    expect(images[0]).toMatchObject({ image: "ubuntu-2404", error: "403 AuthorizationFailed", versions: [] });
    expect(images[1]).toMatchObject({ image: "windows-2022", exists: true });
    expect(images[1]!.error).toBeUndefined();
    expect(summary.imagesUnreadable).toBe(1);
    expect(w.log.lines).toContainEqual(
      expect.objectContaining({ level: "warn", message: "dashboard: could not read image" }),
    );
  });

  it("still reads every image when the template list fails, and says builds are unknown", async () => {
    const w = world();
    w.imageBuilder.listTemplates = async () => {
      throw new Error("throttled");
    };
    const dashboard = await getDashboard(w.deps, options);
    expect(dashboard.images[0]!.versions).toHaveLength(4);
    expect(dashboard.warnings).toEqual([expect.stringContaining("throttled")]);
  });

  it("summarizes across images", async () => {
    const dashboard = await getDashboard(world().deps, options);
    expect(dashboard.readAt).toBe("2026-11-23T02:00:00.000Z");
    expect(dashboard.refreshAfterInSeconds).toBe(30);
    expect(dashboard.summary).toEqual({
      images: 2,
      imagesUnreadable: 0,
      versions: 4,
      versionsByState: { promoted: 3, replicating: 1 },
      buildsInFlight: 1,
      recentFailures: 0,
      pendingDeletions: 1,
      regionsWithoutLatest: 0,
      pastEndOfLife: 1,
      instances: 0,
    });
  });

  it("shows how many machines run each version, and keeps the one past its end of life that some still run", async () => {
    const w = world();
    const definitionId = `/subscriptions/${w.refOf(ubuntu).subscriptionId}/resourceGroups/${w.refOf(ubuntu).resourceGroup}/providers/Microsoft.Compute/galleries/${w.refOf(ubuntu).gallery}/images/${w.refOf(ubuntu).definition}`;
    const set = `/subscriptions/${w.refOf(ubuntu).subscriptionId}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachineScaleSets/web`;
    w.fleet.members = [0, 1, 2].map((i) => ({
      id: `${set}/virtualMachines/${i}`,
      kind: "scaleSetInstance" as const,
      subscriptionId: w.refOf(ubuntu).subscriptionId,
      resourceGroup: "rg-web",
      imageId: definitionId,
      exactVersion: "1.0.0",
      scaleSetId: set,
    }));
    const { images, summary } = await getDashboard(w.deps, options);
    const expired = images[0]!.versions.find((v) => v.name === "1.0.0")!;
    expect(expired.instances).toBe(3);
    expect(expired.retention).toMatchObject({ action: "keep", code: "in-use" });
    expect(images[0]!.retention.deletions).toEqual([]);
    expect(images[0]!.usage).toEqual({ instances: 3, readAt: expect.any(String) });
    expect(summary.instances).toBe(3);
    expect(w.fleet.maxAges).toEqual([viewFleetMaxAgeInMs]); // a view may share a sweep of the last minute
  });

  it("leaves out what is unknown: usage, log locations, trace links, descriptions not in the catalog", async () => {
    const w = world();
    w.fleet.unavailable = "403 AccessDenied";
    const { images, summary, warnings } = await getDashboard(w.deps, options);
    expect(warnings).toEqual(["Where the versions run is unknown: 403 AccessDenied."]);
    expect(summary.instances).toBeUndefined();
    expect(images[0]!.description).toBe("Ubuntu <b>hardened</b>");
    expect(images[1]).not.toHaveProperty("description");
    expect(images[1]).not.toHaveProperty("usage");
    for (const v of images[0]!.versions) {
      expect(v).not.toHaveProperty("instances");
      expect(v).not.toHaveProperty("traceUrl");
    }
  });

  it("counts target regions of existing images where latest resolves to nothing", async () => {
    const w = world();
    for (const v of w.gallery.versions.get(w.key)!.values()) v.excludeFromLatest = true;
    const { summary, images } = await getDashboard(w.deps, options);
    expect(images[0]!.regions.every((r) => r.latest === undefined)).toBe(true);
    expect(summary.regionsWithoutLatest).toBe(2);
  });
});
