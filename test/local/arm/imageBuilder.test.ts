import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ImageTemplate } from "@azure/arm-imagebuilder";
import {
  fastConfig,
  managedImageId,
  poll,
  restErrorOf,
  startHarness,
  subscriptionId,
  type Harness,
} from "./helpers.js";

const rg = "rg-builds";
const identityId = `/subscriptions/${subscriptionId}/resourcegroups/rg-identity/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aib`;

function templateBody(overrides: Partial<ImageTemplate> = {}): ImageTemplate {
  return {
    location: "westeurope",
    tags: { pipeline: "golden-images", image: "ubuntu" },
    identity: { type: "UserAssigned", userAssignedIdentities: { [identityId]: {} } },
    source: {
      type: "PlatformImage",
      publisher: "Canonical",
      offer: "ubuntu-24_04-lts",
      sku: "server",
      version: "latest",
    },
    customize: [{ type: "Shell", name: "harden", inline: ["echo hardening"] }],
    distribute: [
      {
        type: "ManagedImage",
        imageId: managedImageId(rg, "ubuntu-staging"),
        location: "westeurope",
        runOutputName: "managed",
        artifactTags: { build: "42" },
      },
      { type: "VHD", runOutputName: "vhd" },
    ],
    vmProfile: { vmSize: "Standard_D2s_v3", osDiskSizeGB: 64 },
    buildTimeoutInMinutes: 120,
    ...overrides,
  };
}

describe("the ARM emulator's Image Builder, driven by @azure/arm-imagebuilder", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.stop());
  beforeEach(async () => {
    await h.admin("POST", "reset");
    await h.admin("PUT", "config", fastConfig);
    for (const group of [rg, "rg-identity", "rg-other"]) await h.resourceGroup(group);
    await h.identity("rg-identity", "aib");
  });

  it("creates a template, runs it through every sub-state and reads the run outputs", async () => {
    await h.admin("PUT", "config", {
      imageBuilder: {
        phaseDurationsInMs: {
          Queued: 10_000,
          Building: 10_000,
          Customizing: 10_000,
          Validating: 10_000,
          Distributing: 10_000,
        },
      },
    });
    const created = await h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(
      rg,
      "ubuntu-1",
      templateBody(),
      poll,
    );
    expect(created.provisioningState).toBe("Succeeded");
    expect(created.exactStagingResourceGroup).toMatch(
      new RegExp(`^/subscriptions/${subscriptionId}/resourceGroups/IT_${rg}_ubuntu-1_[0-9a-f-]{36}$`),
    );
    expect(created.identity.userAssignedIdentities?.[identityId]?.principalId).toMatch(/^[0-9a-f-]{36}$/);

    const run = h.imageBuilder.virtualMachineImageTemplates.run(rg, "ubuntu-1", poll);
    await run.submitted();
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      const t = await h.imageBuilder.virtualMachineImageTemplates.get(rg, "ubuntu-1");
      expect(t.lastRunStatus?.runState).toBe("Running");
      seen.push(t.lastRunStatus?.runSubState ?? "");
      await h.admin("POST", "clock", { advanceByMs: 10_000 });
    }
    expect(seen).toEqual(["Queued", "Building", "Customizing", "Validating", "Distributing"]);
    await run.pollUntilDone();

    const done = await h.imageBuilder.virtualMachineImageTemplates.get(rg, "ubuntu-1");
    expect(done.lastRunStatus?.runState).toBe("Succeeded");
    expect(done.lastRunStatus?.endTime).toBeInstanceOf(Date);
    expect(done.source).toMatchObject({ type: "PlatformImage", exactVersion: "24.04.202503260" });

    const outputs = [];
    for await (const o of h.imageBuilder.virtualMachineImageTemplates.listRunOutputs(rg, "ubuntu-1")) outputs.push(o);
    expect(outputs.map((o) => o.name)).toEqual(["managed", "vhd"]);
    const managed = await h.imageBuilder.virtualMachineImageTemplates.getRunOutput(rg, "ubuntu-1", "managed");
    expect(managed.artifactId).toBe(managedImageId(rg, "ubuntu-staging"));
    expect(managed.provisioningState).toBe("Succeeded");
    expect(outputs[1]?.artifactUri).toMatch(/^https:\/\/.+\.vhd$/);

    const image = await h.compute.images.get(rg, "ubuntu-staging");
    expect(image.storageProfile?.osDisk?.osType).toBe("Linux");
    expect(image.tags).toEqual({
      build: "42",
      VMImageBuilderSource: "PlatformImage Canonical::ubuntu-24_04-lts::server::24.04.202503260",
    });
    expect(image.hyperVGeneration).toBe("V2");
  });

  it("refuses to run a template that is already running, or to delete it, with OperationNotAllowed", async () => {
    await h.admin("PUT", "config", { imageBuilder: { phaseDurationsInMs: { Queued: 60_000 } } });
    await h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(rg, "busy", templateBody(), poll);
    await h.imageBuilder.virtualMachineImageTemplates.run(rg, "busy", poll).submitted();
    const again = await restErrorOf(() => h.imageBuilder.virtualMachineImageTemplates.run(rg, "busy", poll));
    expect([again.statusCode, again.code]).toEqual([409, "OperationNotAllowed"]);
    expect(again.message).toContain("run state: running");
    const deletion = await restErrorOf(() => h.imageBuilder.virtualMachineImageTemplates.delete(rg, "busy", poll));
    expect([deletion.statusCode, deletion.code]).toEqual([409, "OperationNotAllowed"]);
  });

  it("refuses to update a template in place with Conflict, but accepts an identical PUT", async () => {
    await h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(rg, "fixed", templateBody(), poll);
    await h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(rg, "fixed", templateBody(), poll);
    const error = await restErrorOf(() =>
      h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(
        rg,
        "fixed",
        templateBody({ vmProfile: { vmSize: "Standard_D4s_v3" } }),
        poll,
      ),
    );
    expect([error.statusCode, error.code]).toEqual([409, "Conflict"]);
    expect(error.message).toMatch(/^Update\/Upgrade of image templates is currently not supported/);
  });

  it("updates tags in place with PATCH", async () => {
    await h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(rg, "tagged", templateBody(), poll);
    const updated = await h.imageBuilder.virtualMachineImageTemplates.update(
      rg,
      "tagged",
      { tags: { owner: "me" } },
      poll,
    );
    expect(updated.tags).toEqual({ owner: "me" });
  });

  it("cancels a running build: Canceling, then Canceled", async () => {
    await h.admin("PUT", "config", {
      imageBuilder: { phaseDurationsInMs: { Customizing: 60_000 }, cancelDurationInMs: 5_000 },
    });
    await h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(rg, "cancel-me", templateBody(), poll);
    const run = h.imageBuilder.virtualMachineImageTemplates.run(rg, "cancel-me", poll);
    await run.submitted();
    const runResult = run.pollUntilDone().then(
      () => "succeeded",
      (e: Error) => e.message,
    );
    const cancel = h.imageBuilder.virtualMachineImageTemplates.cancel(rg, "cancel-me", poll);
    await cancel.submitted();
    const canceling = await h.imageBuilder.virtualMachineImageTemplates.get(rg, "cancel-me");
    expect(canceling.lastRunStatus?.runState).toBe("Canceling");
    await h.admin("POST", "clock", { advanceByMs: 5_000 });
    await cancel.pollUntilDone();
    const canceled = await h.imageBuilder.virtualMachineImageTemplates.get(rg, "cancel-me");
    expect(canceled.lastRunStatus?.runState).toBe("Canceled");
    expect(await runResult).toBe("Operation was canceled");
    const notRunning = await restErrorOf(() =>
      h.imageBuilder.virtualMachineImageTemplates.cancel(rg, "cancel-me", poll),
    );
    expect([notRunning.statusCode, notRunning.code]).toEqual([409, "OperationNotAllowed"]);
  });

  it("fails a run scripted by tag at the chosen sub-state, once, and the next run succeeds", async () => {
    await h.admin("POST", "rules/templates", {
      tag: { name: "pipeline", value: "golden-images" },
      failAt: "Customizing",
      failureMessage: "customizer 'harden' exited with 1",
      failTimes: 1,
    });
    await h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(rg, "flaky", templateBody(), poll);
    await expect(h.imageBuilder.virtualMachineImageTemplates.run(rg, "flaky", poll)).rejects.toThrow(
      /InternalOperationError. customizer 'harden' exited with 1/,
    );
    const failed = await h.imageBuilder.virtualMachineImageTemplates.get(rg, "flaky");
    expect(failed.lastRunStatus).toMatchObject({
      runState: "Failed",
      runSubState: "Customizing",
      message: "customizer 'harden' exited with 1",
    });
    const outputs = [];
    for await (const o of h.imageBuilder.virtualMachineImageTemplates.listRunOutputs(rg, "flaky")) outputs.push(o);
    expect(outputs).toEqual([]);
    await h.imageBuilder.virtualMachineImageTemplates.run(rg, "flaky", poll);
    expect((await h.imageBuilder.virtualMachineImageTemplates.get(rg, "flaky")).lastRunStatus?.runState).toBe(
      "Succeeded",
    );
  });

  it("deletes a template and its staging resource group, leaving no template behind", async () => {
    await h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(rg, "short-lived", templateBody(), poll);
    await h.imageBuilder.virtualMachineImageTemplates.run(rg, "short-lived", poll);
    await h.imageBuilder.virtualMachineImageTemplates.delete(rg, "short-lived", poll);
    await h.compute.images.delete(rg, "ubuntu-staging", poll);
    const left = await h.admin<{ counts: Record<string, number>; resourceGroups: { name: string }[] }>(
      "GET",
      "resources",
    );
    expect(left.counts).toEqual({ "Microsoft.ManagedIdentity/userAssignedIdentities": 1 });
    expect(left.resourceGroups.map((g) => g.name).sort()).toEqual([rg, "rg-identity", "rg-other"]);
    const gone = await restErrorOf(() => h.imageBuilder.virtualMachineImageTemplates.get(rg, "short-lived"));
    expect([gone.statusCode, gone.code]).toEqual([404, "ResourceNotFound"]);
  });

  it("lists templates by resource group and by subscription", async () => {
    await h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(rg, "a", templateBody(), poll);
    await h.imageBuilder.virtualMachineImageTemplates.createOrUpdate("rg-other", "b", templateBody(), poll);
    const inGroup = [];
    for await (const t of h.imageBuilder.virtualMachineImageTemplates.listByResourceGroup(rg)) inGroup.push(t.name);
    const all = [];
    for await (const t of h.imageBuilder.virtualMachineImageTemplates.list()) all.push(t.name);
    expect(inGroup).toEqual(["a"]);
    expect(all.sort()).toEqual(["a", "b"]);
  });

  it("builds from the newest platform image version once a new one is published", async () => {
    const before = await h.compute.virtualMachineImages.list("westeurope", "Canonical", "ubuntu-24_04-lts", "server");
    expect(before.map((v) => v.name)).toContain("24.04.202503260");
    await h.admin("PUT", "platform-images", {
      publisher: "Canonical",
      offer: "ubuntu-24_04-lts",
      sku: "server",
      versions: ["24.04.202503260", "24.04.202504150"],
    });
    const newest = await h.compute.virtualMachineImages.list("westeurope", "Canonical", "ubuntu-24_04-lts", "server", {
      orderby: "name desc",
      top: 1,
    });
    expect(newest.map((v) => v.name)).toEqual(["24.04.202504150"]);
    await h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(rg, "fresh", templateBody(), poll);
    await h.imageBuilder.virtualMachineImageTemplates.run(rg, "fresh", poll);
    const t = await h.imageBuilder.virtualMachineImageTemplates.get(rg, "fresh");
    expect(t.source).toMatchObject({ exactVersion: "24.04.202504150" });
  });

  it("distributes to a gallery image version and names the version in the run output", async () => {
    await h.compute.galleries.createOrUpdate(rg, "gal", { location: "westeurope" }, poll);
    await h.compute.galleryImages.createOrUpdate(
      rg,
      "gal",
      "ubuntu",
      {
        location: "westeurope",
        osType: "Linux",
        osState: "Generalized",
        identifier: { publisher: "contoso", offer: "golden", sku: "ubuntu" },
      },
      poll,
    );
    const galleryImageId = `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries/gal/images/ubuntu/versions/3.1.4`;
    await h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(
      rg,
      "to-gallery",
      templateBody({
        distribute: [
          {
            type: "SharedImage",
            galleryImageId,
            runOutputName: "sig",
            targetRegions: [{ name: "westeurope", replicaCount: 1 }],
            excludeFromLatest: true,
          },
        ],
      }),
      poll,
    );
    await h.imageBuilder.virtualMachineImageTemplates.run(rg, "to-gallery", poll);
    const output = await h.imageBuilder.virtualMachineImageTemplates.getRunOutput(rg, "to-gallery", "sig");
    expect(output.artifactId).toBe(galleryImageId);
    const version = await h.compute.galleryImageVersions.get(rg, "gal", "ubuntu", "3.1.4");
    expect(version.publishingProfile?.excludeFromLatest).toBe(true);
  });

  it("rejects a template without distribution targets with ValidationFailed", async () => {
    const error = await restErrorOf(() =>
      h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(rg, "invalid", templateBody({ distribute: [] }), poll),
    );
    expect([error.statusCode, error.code]).toEqual([400, "ValidationFailed"]);
  });
});
