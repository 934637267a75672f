import { describe, expect, it } from "vitest";
import { latestVersionOf } from "../../../shared/domain/latest.js";
import { tagNames } from "../../../shared/domain/names.js";
import type { BuildRequested, BuildWatch, PublishVersion } from "../../../shared/messages/index.js";
import type { HealthCheckRequest, HealthGate } from "../../../shared/ports.js";
import { getDashboard } from "../../../shared/usecases/dashboard.js";
import { monitorReplication } from "../../../shared/usecases/monitorReplication.js";
import { publishVersion } from "../../../shared/usecases/publishVersion.js";
import { requestBuild } from "../../../shared/usecases/requestBuild.js";
import { startBuild } from "../../../shared/usecases/startBuild.js";
import { getImageStatus } from "../../../shared/usecases/status.js";
import { watchBuild } from "../../../shared/usecases/watchBuild.js";
import { aCatalogImage, type CatalogImageInput } from "../../factories.js";
import { fakePipeline } from "../../fakes/pipeline.js";

const regions = ["westeurope", "northeurope", "eastus2"] as const;
const rolloutImage = (rollout: Partial<NonNullable<CatalogImageInput["distribution"]["rollout"]>> = {}) =>
  aCatalogImage({
    distribution: {
      targetRegions: regions.map((name) => ({ name })),
      rollout: {
        soakInMinutes: 30,
        waves: [{ regions: ["westeurope"] }, { regions: ["northeurope", "eastus2"] }],
        ...rollout,
      },
    },
  });

/** A gate answering from a list (last answer repeats), recording what it was asked. */
class ScriptedGate implements HealthGate {
  asked: HealthCheckRequest[] = [];
  constructor(private readonly answers: boolean[]) {}
  async check(request: HealthCheckRequest) {
    this.asked.push(request);
    const healthy = this.answers[Math.min(this.asked.length, this.answers.length) - 1]!;
    return { healthy, detail: healthy ? "answered 200" : "answered 503" };
  }
}

/** Version 1.0.0 built, published, replicated everywhere and promoted into wave 1 by one monitor sweep. */
async function promotedIntoWave1(image = rolloutImage(), gate?: HealthGate) {
  const world = fakePipeline([image]);
  if (gate) world.deps.healthGate = gate;
  await requestBuild(world.deps, { image: image.name, commit: "abc1234", reason: "push", requestedBy: "octocat" });
  await startBuild(world.deps, world.bus.take("build-requests")[0]!.body as BuildRequested);
  const template = [...world.imageBuilder.templates.values()][0]!;
  world.imageBuilder.finishRun(template.name, "Succeeded", "");
  await watchBuild(world.deps, world.bus.take("build-watch")[0]!.body as BuildWatch);
  await publishVersion(world.deps, world.bus.take("version-publish")[0]!.body as PublishVersion);
  const ref = world.refOf(image);
  world.gallery.setReplication(ref, "1.0.0", Object.fromEntries(regions.map((r) => [r, "Completed"])));
  expect((await monitorReplication(world.deps)).promoted).toEqual([`${image.name}@1.0.0`]);
  world.gallery.updates = [];
  const version = () => world.gallery.versionsOf(ref)[0]!;
  const latestIn = () =>
    Object.fromEntries(regions.map((r) => [r, latestVersionOf(world.gallery.versionsOf(ref), r)?.name]));
  return { ...world, ref, version, latestIn };
}

describe("a progressive rollout, moved on by the monitor", () => {
  it("promotes into wave 1 only: latest there, the later wave's regions held back, the version's own flag off", async () => {
    const world = await promotedIntoWave1();
    expect(world.version().excludeFromLatest).toBe(false);
    expect(world.latestIn()).toEqual({ westeurope: "1.0.0", northeurope: undefined, eastus2: undefined });
    expect(world.version().tags).toMatchObject({
      [tagNames.state]: "promoted",
      [tagNames.rollout]: "rolling",
      [tagNames.rolloutWave]: "1",
      [tagNames.rolloutWaveAt]: world.clock.now().toISOString(),
    });
  });

  it("shows in status which version latest is in each region, and when and where the next wave moves", async () => {
    const world = await promotedIntoWave1();
    const status = await getImageStatus(world.deps, world.deps.catalog.images[0]!, { withReplication: false });
    expect(status.latestByRegion).toEqual({ westeurope: "1.0.0", northeurope: null, eastus2: null });
    expect(status.rollouts).toEqual([
      {
        version: "1.0.0",
        state: "rolling",
        wave: 1,
        waves: 2,
        nextWaveAt: new Date(world.clock.now().getTime() + 30 * 60_000).toISOString(),
        nextRegions: ["northeurope", "eastus2"],
      },
    ]);
  });

  it("marks the later wave's regions on the dashboard with the version they get next", async () => {
    const world = await promotedIntoWave1();
    const [image] = (await getDashboard(world.deps, { refreshAfterInSeconds: 30 })).images;
    expect(image!.regions.map((r) => [r.name, r.latest, r.rolloutTarget])).toEqual([
      ["westeurope", "1.0.0", undefined],
      ["northeurope", undefined, "1.0.0"],
      ["eastus2", undefined, "1.0.0"],
    ]);
  });

  it("moves wave 2 only once wave 1 has soaked, then records the rollout complete", async () => {
    const world = await promotedIntoWave1();
    world.clock.advance(29 * 60_000);
    expect((await monitorReplication(world.deps)).rollouts).toEqual([]);
    expect(world.gallery.updates).toEqual([]);

    world.clock.advance(60_000);
    expect((await monitorReplication(world.deps)).rollouts).toEqual([
      "ubuntu-2404@1.0.0: wave 2 (complete): latest in northeurope, eastus2",
    ]);
    expect(world.latestIn()).toEqual({ westeurope: "1.0.0", northeurope: "1.0.0", eastus2: "1.0.0" });
    expect(world.version().tags).toMatchObject({ [tagNames.rollout]: "complete", [tagNames.rolloutWave]: "2" });
    expect(world.gallery.updates).toHaveLength(1);
    expect(world.gallery.updates[0]).toMatchObject({ wait: false });
    expect(world.bus.take("events").map((m) => m.body)).toContainEqual(
      expect.objectContaining({
        type: "ImagePipeline.RolloutWaveMoved",
        data: expect.objectContaining({
          version: "1.0.0",
          wave: 2,
          waves: 2,
          regions: ["northeurope", "eastus2"],
          complete: true,
        }),
      }),
    );
    // Only the flags change: replica counts and storage types stay as the version holds them.
    expect(world.gallery.updates[0]!.update.targetRegions).toEqual([
      { name: "westeurope", regionalReplicaCount: 1, storageAccountType: "Standard_LRS" },
      { name: "northeurope", regionalReplicaCount: 1, storageAccountType: "Standard_LRS" },
      { name: "eastus2", regionalReplicaCount: 1, storageAccountType: "Standard_LRS" },
    ]);

    world.clock.advance(24 * 3_600_000);
    expect((await monitorReplication(world.deps)).rollouts).toEqual([]);
  });

  it("stops for good when the version is rolled back during the soak: wave 2 never gets it, and the rollback stays", async () => {
    const world = await promotedIntoWave1();
    // The README's "Roll back latest": the version excluded, globally and in each region.
    world.version().excludeFromLatest = true;
    world.version().targetRegions = world.version().targetRegions.map((r) => ({ ...r, excludeFromLatest: true }));
    world.clock.advance(31 * 60_000);
    expect((await monitorReplication(world.deps)).rollouts).toEqual([
      "ubuntu-2404@1.0.0: stopped in wave 1 (rolled back)",
    ]);
    expect(world.gallery.updates.map((u) => Object.keys(u.update))).toEqual([["tags"]]);
    expect(world.version().tags).toMatchObject({ [tagNames.rollout]: "stopped", [tagNames.rolloutWave]: "1" });
    expect(world.bus.take("events").map((m) => m.body)).toContainEqual(
      expect.objectContaining({
        type: "ImagePipeline.RolloutStopped",
        data: expect.objectContaining({ version: "1.0.0", state: "stopped", wave: 1 }),
      }),
    );
    expect(world.latestIn()).toEqual({ westeurope: undefined, northeurope: undefined, eastus2: undefined });

    world.clock.advance(24 * 3_600_000);
    await monitorReplication(world.deps);
    expect(world.gallery.updates).toHaveLength(1);
  });

  it("asks the health check before wave 2 with what it is about, and moves on when it answers 2xx", async () => {
    const gate = new ScriptedGate([true]);
    const url = "https://health.contoso.example/rollout";
    const world = await promotedIntoWave1(rolloutImage({ healthCheck: { url, timeoutInSeconds: 5 } }), gate);
    world.clock.advance(30 * 60_000);
    expect((await monitorReplication(world.deps)).rollouts).toEqual([
      "ubuntu-2404@1.0.0: wave 2 (complete): latest in northeurope, eastus2",
    ]);
    expect(gate.asked).toEqual([
      { url, timeoutInMs: 5000, image: "ubuntu-2404", version: "1.0.0", wave: 2, regions: ["northeurope", "eastus2"] },
    ]);
  });

  it("halts after failuresBeforeHalt failed health checks in a row, one per sweep, recording why", async () => {
    const gate = new ScriptedGate([false]);
    const healthCheck = { url: "https://health.contoso.example/", failuresBeforeHalt: 2 };
    const world = await promotedIntoWave1(rolloutImage({ healthCheck }), gate);
    world.clock.advance(30 * 60_000);
    expect((await monitorReplication(world.deps)).rollouts).toEqual([
      "ubuntu-2404@1.0.0: health check failed before wave 2",
    ]);
    expect(world.version().tags).toMatchObject({ [tagNames.rollout]: "rolling", [tagNames.rolloutGateFailures]: "1" });
    expect((await monitorReplication(world.deps)).rollouts).toEqual(["ubuntu-2404@1.0.0: halted before wave 2"]);
    expect(world.version().tags[tagNames.rolloutNote]).toBe("health check before wave 2 failed (2/2): answered 503");
    const stops = world.bus
      .take("events")
      .filter((m) => (m.body as { type: string }).type === "ImagePipeline.RolloutStopped");
    expect(stops.map((m) => (m.body as { data: unknown }).data)).toEqual([
      expect.objectContaining({ state: "halted", wave: 1, reason: expect.stringContaining("answered 503") }),
    ]);
    expect(world.latestIn()).toEqual({ westeurope: "1.0.0", northeurope: undefined, eastus2: undefined });
    await monitorReplication(world.deps);
    expect(gate.asked).toHaveLength(2);
  });

  it("counts a health check as failed when the app has no gate to ask", async () => {
    const world = await promotedIntoWave1(rolloutImage({ healthCheck: { url: "https://health.contoso.example/" } }));
    world.clock.advance(30 * 60_000);
    await monitorReplication(world.deps);
    expect(world.version().tags[tagNames.rolloutNote]).toContain("this app has no health gate to ask");
    expect(world.latestIn().northeurope).toBeUndefined();
  });
});
