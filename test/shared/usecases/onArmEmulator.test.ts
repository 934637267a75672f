import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { noTracer } from "../../../shared/observability/tracing.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ComputeManagementClient } from "@azure/arm-compute";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startArmEmulator, type ArmEmulator } from "../../../local/arm/index.js";
import { armAdmin, configureSimulation, instantSimulation, withoutThrottling } from "../../../local/armAdmin.js";
import { provisionGalleries } from "../../../local/provision.js";
import { ArmClients } from "../../../shared/adapters/armClients.js";
import { ArmGalleryClient } from "../../../shared/adapters/gallery.js";
import { ArmImageBuilderClient } from "../../../shared/adapters/imageBuilder.js";
import { parseSettings } from "../../../shared/config/settings.js";
import { pipelineSettingsOf } from "../../../functions/composition.js";
import { ResourceGraphFleetReader } from "../../../shared/adapters/resourceGraph.js";
import { tagNames } from "../../../shared/domain/names.js";
import type { BuildRequested, BuildWatch, PublishVersion } from "../../../shared/messages/index.js";
import type { PipelineDeps } from "../../../shared/usecases/context.js";
import { monitorReplication } from "../../../shared/usecases/monitorReplication.js";
import { publishVersion } from "../../../shared/usecases/publishVersion.js";
import { requestBuild } from "../../../shared/usecases/requestBuild.js";
import { startBuild } from "../../../shared/usecases/startBuild.js";
import { watchBuild } from "../../../shared/usecases/watchBuild.js";
import { localAzure } from "../../../local/settings.js";
import { aCatalogImage } from "../../factories.js";
import { FakeBus, FakeEventPublisher, MemoryLogger } from "../../fakes/azure.js";

/**
 * The use-cases through the real ARM adapters and SDK clients, against the ARM emulator; only the bus is a fake,
 * so each step's messages are handed on by the test.
 */
describe("the build use-cases on the ARM emulator", () => {
  let arm: ArmEmulator;
  let stateDir: string;
  let deps: PipelineDeps;
  let bus: FakeBus;
  const image = aCatalogImage({ name: "ubuntu-2404" });
  const compute = () =>
    new ComputeManagementClient(
      { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 3.6e6 }) },
      localAzure.subscriptionId,
      {
        endpoint: arm.endpoint,
        tlsOptions: { ca: arm.caCertPem },
      },
    );

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "arm-usecases-"));
    arm = await startArmEmulator({ stateDir, port: 0 });
    const caPath = join(stateDir, "ca.pem");
    writeFileSync(caPath, arm.caCertPem);
    const settings = parseSettings({
      AZURE_SUBSCRIPTION_ID: localAzure.subscriptionId,
      IMAGE_BUILDER_RESOURCE_GROUP: "rg-image-builder",
      IMAGE_BUILDER_IDENTITY_ID: localAzure.imageBuilderIdentityId,
      ServiceBusConnection: "unused",
      ARM_ENDPOINT: arm.endpoint,
      ARM_AUTH: "emulator",
      ARM_CA_CERT_PATH: caPath,
      ARM_MAX_READS_PER_SECOND: "1000",
      ARM_MAX_WRITES_PER_SECOND: "1000",
    });
    const clients = new ArmClients(settings);
    bus = new FakeBus();
    deps = {
      catalog: { images: [image] },
      gallery: new ArmGalleryClient(clients),
      imageBuilder: new ArmImageBuilderClient(clients),
      fleet: new ResourceGraphFleetReader(clients),
      bus,
      eventPublisher: new FakeEventPublisher(),
      clock: { now: () => new Date() },
      log: new MemoryLogger(),
      tracer: noTracer,
      settings: pipelineSettingsOf(settings),
    };
  });
  afterAll(async () => {
    await arm.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await armAdmin(arm, "POST", "reset");
    await configureSimulation(arm, { ...instantSimulation, ...withoutThrottling });
    await armAdmin(arm, "PUT", "config", { replication: { regionDurationInMs: 60_000 } });
    // What azd provision creates: resource groups, the Image Builder identity, the gallery.
    await provisionGalleries(arm, { images: [image] });
    bus = new FakeBus();
    deps.bus = bus;
  });

  async function untilPublished(request: BuildRequested) {
    const started = await startBuild(deps, request);
    expect(started.outcome).toBe("started");
    for (let i = 0; i < 50; i++) {
      const watch = bus.take("build-watch").at(-1)!.body as BuildWatch;
      const result = await watchBuild(deps, watch);
      if (result.outcome === "succeeded") break;
      expect(result.outcome).toBe("running");
      // The run distributes into the gallery: its regions replicate for a minute of the emulator's clock.
      await armAdmin(arm, "POST", "clock", { advanceByMs: 60_000 });
    }
    const publish = bus.take("version-publish")[0]!.body as PublishVersion;
    expect(await publishVersion(deps, publish)).toEqual({ outcome: "published", version: publish.version });
    return publish;
  }

  it("takes a request to a promoted version, and leaves no template behind", async () => {
    const request = await requestBuild(deps, {
      image: image.name,
      commit: "a1b2c3d4",
      reason: "push",
      requestedBy: "octocat",
    });
    const published = await untilPublished(bus.take("build-requests")[0]!.body as BuildRequested);
    expect(request.buildId).toBe(published.buildId);

    // Each region replicates for a minute of the emulator's clock, one after the other: northeurope, added at
    // publication, is still replicating 59 s later; two minutes later every region has completed.
    await armAdmin(arm, "POST", "clock", { advanceByMs: 59_000 });
    expect((await monitorReplication(deps)).promoted).toHaveLength(0);
    await armAdmin(arm, "POST", "clock", { advanceByMs: 120_000 });
    expect((await monitorReplication(deps)).promoted).toHaveLength(1);

    const version = await compute().galleryImageVersions.get(
      "rg-golden-images",
      image.gallery.name,
      image.definition.name,
      published.version,
      {
        expand: "ReplicationStatus",
      },
    );
    expect(version.publishingProfile?.excludeFromLatest).toBe(false);
    expect(version.tags?.[tagNames.state]).toBe("promoted");
    expect(version.tags?.[tagNames.buildId]).toBe(request.buildId);
    expect(version.replicationStatus?.aggregatedState).toBe("Completed");
    const latest = await armAdmin<{ version: string }>(
      arm,
      "GET",
      `latest?imageDefinitionId=${encodeURIComponent(version.id!.replace(/\/versions\/.*$/, ""))}`,
    );
    expect(latest.version).toBe(published.version);
    const resources = await armAdmin<{ counts: Record<string, number> }>(
      arm,
      "GET",
      "resources?resourceGroup=rg-image-builder",
    );
    expect(resources.counts["Microsoft.VirtualMachineImages/imageTemplates"] ?? 0).toBe(0);
    expect(resources.counts["Microsoft.Compute/images"] ?? 0).toBe(0);
  });

  it("treats a redelivered request as the same build: one template, one version", async () => {
    await requestBuild(deps, { image: image.name, commit: "a1b2c3d4", reason: "push", requestedBy: "octocat" });
    const request = bus.take("build-requests")[0]!.body as BuildRequested;
    const published = await untilPublished(request);
    expect(await startBuild(deps, request)).toEqual({ outcome: "alreadyPublished", version: published.version });
    expect(await publishVersion(deps, published)).toEqual({ outcome: "alreadyPublished", version: published.version });
    const versions = [];
    for await (const v of compute().galleryImageVersions.listByGalleryImage(
      "rg-golden-images",
      image.gallery.name,
      image.definition.name,
    ))
      versions.push(v.name);
    expect(versions).toEqual([published.version]);
  });

  it("makes a second build of the image wait while the first runs", async () => {
    // The first run lasts long enough to still be running when the second request comes.
    await armAdmin(arm, "PUT", "config", { imageBuilder: { phaseDurationsInMs: { Customizing: 600_000 } } });
    await requestBuild(deps, { image: image.name, commit: "aaaa1111", reason: "push", requestedBy: "a" });
    await requestBuild(deps, { image: image.name, commit: "bbbb2222", reason: "push", requestedBy: "b" });
    const [first, second] = bus.take("build-requests").map((m) => m.body as BuildRequested);
    expect((await startBuild(deps, first!)).outcome).toBe("started");
    const waiting = await startBuild(deps, second!);
    expect(waiting).toMatchObject({ outcome: "waiting", blockingBuildId: first!.buildId });
    const requeued = bus.take("build-requests");
    expect(requeued).toHaveLength(1);
    expect(requeued[0]!.body).toMatchObject({ buildId: second!.buildId, attempt: 1 });
    expect(requeued[0]!.scheduledEnqueueTimeUtc).toBeInstanceOf(Date);
  });

  it("fails a build whose run fails, records why on the definition, and keeps its template for inspection", async () => {
    await armAdmin(arm, "POST", "rules/templates", {
      templateName: "*",
      failAt: "Customizing",
      failureMessage: "script harden.sh exited 1",
    });
    await requestBuild(deps, { image: image.name, commit: "dead0001", reason: "push", requestedBy: "a" });
    const request = bus.take("build-requests")[0]!.body as BuildRequested;
    await startBuild(deps, request);
    let result;
    for (let i = 0; i < 50; i++) {
      result = await watchBuild(deps, bus.take("build-watch").at(-1)!.body as BuildWatch);
      if (result.outcome !== "running") break;
    }
    expect(result).toMatchObject({ outcome: "failed", reason: expect.stringContaining("script harden.sh exited 1") });
    const definition = await compute().galleryImages.get("rg-golden-images", image.gallery.name, image.definition.name);
    expect(Object.entries(definition.tags ?? {}).find(([k]) => k.endsWith(request.buildId))?.[1]).toContain(
      "harden.sh",
    );
    const resources = await armAdmin<{ counts: Record<string, number> }>(
      arm,
      "GET",
      "resources?resourceGroup=rg-image-builder",
    );
    expect(resources.counts["Microsoft.VirtualMachineImages/imageTemplates"] ?? 0).toBe(1);
    expect(bus.take("version-publish")).toHaveLength(0);
  });
});
