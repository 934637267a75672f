import { ComputeManagementClient } from "@azure/arm-compute";
import { ServiceBusClient } from "@azure/service-bus";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { armAdmin, configureSimulation, instantSimulation, withoutThrottling } from "../../local/armAdmin.js";
import { localAzure } from "../../local/settings.js";
import { provisionGalleries } from "../../local/provision.js";
import { tagNames } from "../../shared/domain/names.js";
import { normalizeRegion } from "../../shared/domain/replication.js";
import { api, eventually, startTestStack } from "./harness.js";

type Stack = Awaited<ReturnType<typeof startTestStack>>;

/** The pipeline end to end: the local host runs the function table on both emulators, through the real SDKs. */
describe("the pipeline on the local stack", () => {
  let stack: Stack;
  const image = "ubuntu-2404";
  const compute = () =>
    new ComputeManagementClient(
      { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 3.6e6 }) },
      localAzure.subscriptionId,
      { endpoint: stack.arm.endpoint, tlsOptions: { ca: stack.arm.caCertPem } },
    );
  const catalogImage = () => stack.catalog.images.find((i) => i.name === image)!;
  const versionsOf = async () => {
    const i = catalogImage();
    const names = [];
    for await (const v of compute().galleryImageVersions.listByGalleryImage(
      i.gallery.resourceGroup,
      i.gallery.name,
      i.definition.name,
    )) {
      names.push(v);
    }
    return names;
  };
  const leftovers = async () =>
    (
      await armAdmin<{ counts: Record<string, number> }>(
        stack.arm,
        "GET",
        `resources?resourceGroup=${localAzure.imageBuilderResourceGroup}`,
      )
    ).counts;

  /** Fires the replication monitor until the build's status reaches one of the stages. */
  async function monitorUntil(buildId: string, stages: string[]) {
    return eventually(`build ${buildId} to reach ${stages.join("/")}`, async () => {
      await stack.host.invokeTimer("monitorReplication");
      const { status, body } = await api(stack, `/builds/${buildId}`);
      return status === 200 && stages.includes(body.stage) ? body : undefined;
    });
  }

  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack?.dispose();
  });
  beforeEach(async () => {
    await configureSimulation(stack.arm, { ...instantSimulation, ...withoutThrottling });
    await armAdmin(stack.arm, "DELETE", "rules");
    await provisionGalleries(stack.arm, stack.catalog);
  });

  it("takes a webhook to a version published in every target region, then promoted to latest", async () => {
    // Slow enough for the status endpoint to show each stage on the way.
    await configureSimulation(stack.arm, {
      replication: { regionDurationInMs: 400 },
      imageBuilder: {
        phaseDurationsInMs: { Queued: 100, Building: 200, Customizing: 200, Validating: 100, Distributing: 100 },
      },
    });
    const requested = await api(stack, "/builds", {
      method: "POST",
      body: JSON.stringify({ image, commit: "1111111111111111111111111111111111111111", reason: "push" }),
    });
    expect(requested.status).toBe(202);
    expect(requested.body).toMatchObject({
      image,
      status: "queued",
      statusUrl: expect.stringContaining(`/api/builds/${requested.body.buildId}`),
    });
    const { buildId } = requested.body;

    const stagesSeen = new Set<string>();
    const replicating = await eventually("the version to be published", async () => {
      const { status, body } = await api(stack, `/builds/${buildId}`);
      if (status === 200) stagesSeen.add(body.stage);
      return body?.stage === "replicating" ? body : undefined;
    });
    expect(replicating.version).toMatch(/^\d+\.\d+\.\d+$/);
    const promoted = await eventually("promotion", async () => {
      await stack.host.invokeTimer("monitorReplication");
      const { status, body } = await api(stack, `/builds/${buildId}`);
      if (status === 200) stagesSeen.add(body.stage);
      return body?.stage === "promoted" ? body : undefined;
    });
    expect([...stagesSeen]).toEqual(expect.arrayContaining(["building", "replicating", "promoted"]));
    expect(promoted.regions.map((r: { state: string }) => r.state)).toEqual(
      catalogImage().distribution.targetRegions.map(() => "Completed"),
    );

    const [version] = await versionsOf();
    expect(version!.name).toBe(promoted.version);
    expect(version!.publishingProfile?.excludeFromLatest).toBe(false);
    // Azure answers display names ("West Europe") for the names it was given ("westeurope").
    expect(version!.publishingProfile?.targetRegions?.map((r) => normalizeRegion(r.name)).sort()).toEqual(
      catalogImage()
        .distribution.targetRegions.map((r) => normalizeRegion(r.name))
        .sort(),
    );
    expect(version!.tags?.[tagNames.buildId]).toBe(buildId);
    const images = await api(stack, `/images/${image}`);
    expect(images.body).toMatchObject({ latest: promoted.version, buildsInFlight: [] });
    expect(await leftovers()).not.toHaveProperty(["Microsoft.VirtualMachineImages/imageTemplates"]);
    expect((await leftovers())["Microsoft.Compute/images"] ?? 0).toBe(0);
  });

  it("answers a duplicate webhook with the same build, and a redelivered message yields one build and one version", async () => {
    const body = JSON.stringify({ image, commit: "2222222222222222222222222222222222222222" });
    const first = await api(stack, "/builds", { method: "POST", body });
    const second = await api(stack, "/builds", { method: "POST", body });
    expect(second.body.buildId).toBe(first.body.buildId);
    // A redelivery of the request itself, past duplicate detection (new message id, same content).
    const client = new ServiceBusClient(stack.settings.ServiceBusConnection!);
    const sender = client.createSender("build-requests");
    const status = await eventually("the build to start", async () => {
      const r = await api(stack, `/builds/${first.body.buildId}`);
      return r.status === 200 ? r.body : undefined;
    });
    const message = {
      schemaVersion: 1,
      kind: "BuildRequested",
      buildId: first.body.buildId,
      image,
      commit: "2222222222222222222222222222222222222222",
      reason: "api",
      requestedBy: "api",
      requestedAt: new Date().toISOString(),
      traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01`,
      attempt: 0,
      force: false,
    };
    await sender.sendMessages({ body: message, messageId: "redelivery-1" });
    await sender.close();
    await client.close();
    await monitorUntil(first.body.buildId, ["promoted"]);
    const versions = (await versionsOf()).filter((v) => v.tags?.[tagNames.buildId] === first.body.buildId);
    expect(versions).toHaveLength(1);
    expect(versions[0]!.name).toBe(status.version);
  });

  it("fails a build whose Image Builder run fails: no version, status says why and where the log is, which stays readable", async () => {
    await armAdmin(stack.arm, "POST", "rules/templates", {
      templateName: "*",
      failAt: "Customizing",
      failureMessage: "harden.sh exited with code 3",
    });
    const before = (await versionsOf()).length;
    const { body } = await api(stack, "/builds", {
      method: "POST",
      body: JSON.stringify({ image, commit: "3333333" }),
    });
    const failed = await eventually("the build to fail", async () => {
      const r = await api(stack, `/builds/${body.buildId}`);
      return r.body?.stage === "failed" ? r.body : undefined;
    });
    expect(failed.failure.reason).toContain("harden.sh exited with code 3");
    expect((await versionsOf()).length).toBe(before);
    // The template, with its staging resource group and customization log, is kept for inspection.
    expect((await leftovers())["Microsoft.VirtualMachineImages/imageTemplates"] ?? 0).toBe(1);
  });

  it("retries a region whose replication failed, then promotes the version", async () => {
    const region = catalogImage().distribution.targetRegions.at(-1)!.name;
    await armAdmin(stack.arm, "POST", "rules/versions", {
      failRegion: region,
      failTimes: 1,
      failureMessage: "storage account throttled",
    });
    const { body } = await api(stack, "/builds", {
      method: "POST",
      body: JSON.stringify({ image, commit: "4444444" }),
    });
    const promoted = await monitorUntil(body.buildId, ["promoted", "failed"]);
    expect(promoted.stage).toBe("promoted");
    const version = (await versionsOf()).find((v) => v.tags?.[tagNames.buildId] === body.buildId)!;
    expect(version.tags?.[tagNames.replicationRetries]).toBe("1");
  });

  it("fails a version whose region keeps failing after the bound, and never makes it latest", async () => {
    const region = catalogImage().distribution.targetRegions.at(-1)!.name;
    await armAdmin(stack.arm, "POST", "rules/versions", { failRegion: region, failTimes: 100 });
    const latestBefore = (await api(stack, `/images/${image}`)).body.latest;
    const { body } = await api(stack, "/builds", {
      method: "POST",
      body: JSON.stringify({ image, commit: "5555555" }),
    });
    const failed = await monitorUntil(body.buildId, ["promoted", "failed"]);
    expect(failed.stage).toBe("failed");
    const version = (await versionsOf()).find((v) => v.tags?.[tagNames.buildId] === body.buildId)!;
    expect(version.publishingProfile?.excludeFromLatest).toBe(true);
    expect((await api(stack, `/images/${image}`)).body.latest).toBe(latestBefore);
  });

  it("dead-letters a malformed queue message with its reason on the first delivery", async () => {
    const client = new ServiceBusClient(stack.settings.ServiceBusConnection!);
    const sender = client.createSender("build-watch");
    await sender.sendMessages({ body: { kind: "BuildWatch", buildId: "not-a-build-id" }, messageId: "malformed-1" });
    await sender.close();
    const receiver = client.createReceiver("build-watch", { subQueueType: "deadLetter" });
    const [dead] = await eventually("the message to be dead-lettered", async () => {
      const peeked = await receiver.peekMessages(10);
      const found = peeked.filter((m) => m.messageId === "malformed-1");
      return found.length ? found : undefined;
    });
    await receiver.close();
    await client.close();
    expect(dead!.deadLetterReason).toBe("SchemaValidationFailed");
    expect(dead!.deadLetterErrorDescription).toContain("buildId");
    expect(dead!.deliveryCount).toBe(0);
  });
});
