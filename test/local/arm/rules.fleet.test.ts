import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { fastConfig, poll, restErrorOf, startHarness, subscriptionId, type Harness } from "./helpers.js";

/**
 * Rules F1-F6 of local/arm/README.md: virtual machines, scale sets and their instances, as the real
 * `@azure/arm-compute` client creates and reads them. The test name gives the rule id and its source.
 */

const rg = "rg-fleet";
const definitionId = `/subscriptions/${subscriptionId}/resourceGroups/rg-gallery/providers/Microsoft.Compute/galleries/gal/images/ubuntu`;
const versionId = (v: string) => `${definitionId}/versions/${v}`;

describe("the ARM emulator's virtual machines and scale sets", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.stop());
  beforeEach(async () => {
    await h.admin("POST", "reset");
    await h.admin("PUT", "config", { ...fastConfig, operationDurationInMs: 0 });
    await h.admin("POST", "seed", {
      subscriptionId,
      resourceGroups: [
        { name: rg, location: "westeurope" },
        { name: "rg-gallery", location: "westeurope" },
      ],
      galleries: [{ resourceGroup: "rg-gallery", name: "gal", location: "westeurope" }],
      imageDefinitions: [
        {
          resourceGroup: "rg-gallery",
          gallery: "gal",
          name: "ubuntu",
          properties: { osType: "Linux", osState: "Generalized", identifier: { publisher: "p", offer: "o", sku: "s" } },
        },
      ],
      imageVersions: ["1.0.0", "1.0.1"].map((name) => ({
        resourceGroup: "rg-gallery",
        gallery: "gal",
        imageDefinition: "ubuntu",
        name,
        properties: { publishingProfile: { targetRegions: [{ name: "westeurope" }] } },
      })),
    });
  });

  const vm = (name: string, imageReference: Record<string, unknown>, location = "westeurope") =>
    h.compute.virtualMachines.createOrUpdate(rg, name, { location, storageProfile: { imageReference } }, poll);

  it("[F1] refuses an image reference with both id and version: 400 InvalidParameter (error quoted in MicrosoftDocs/azure-docs#68214)", async () => {
    const error = await restErrorOf(() => vm("vm1", { id: definitionId, version: "latest" }));
    expect([error.statusCode, error.code]).toEqual([400, "InvalidParameter"]);
    expect(error.message).toBe(
      "The property 'imageReference.id' cannot be used together with property 'imageReference.version'.",
    );
  });

  it("[F2] refuses a gallery version that does not exist or has not replicated to the VM's region: 404 GalleryImageNotFound (error quoted in pulumi/pulumi-aws#5129)", async () => {
    const missing = await restErrorOf(() => vm("vm1", { id: versionId("9.9.9") }));
    expect([missing.statusCode, missing.code]).toEqual([404, "GalleryImageNotFound"]);
    expect(missing.message).toBe(
      `The gallery image ${versionId("9.9.9")} is not available in westeurope region. Please contact image owner to replicate to this region, or change your requested region.`,
    );
    const elsewhere = await restErrorOf(() => vm("vm2", { id: versionId("1.0.0") }, "eastus"));
    expect([elsewhere.statusCode, elsewhere.code]).toEqual([404, "GalleryImageNotFound"]);
    const created = await vm("vm3", { id: versionId("1.0.0") });
    expect(created.storageProfile?.imageReference).toEqual({ id: versionId("1.0.0") });
  });

  it("[F3] resolves a definition reference to the latest version in the region, reported as exactVersion (REST spec ImageReference)", async () => {
    const created = await vm("vm1", { id: definitionId });
    expect(created.storageProfile?.imageReference).toEqual({ id: definitionId, exactVersion: "1.0.1" });
    const read = await h.compute.virtualMachines.get(rg, "vm1");
    expect(read.storageProfile?.imageReference?.exactVersion).toBe("1.0.1");
    expect(read.provisioningState).toBe("Succeeded");
    // A version excluded from latest is not what a definition reference gets.
    await h.compute.galleryImageVersions.update(
      "rg-gallery",
      "gal",
      "ubuntu",
      "1.0.1",
      { publishingProfile: { excludeFromLatest: true } },
      poll,
    );
    expect((await vm("vm2", { id: definitionId })).storageProfile?.imageReference?.exactVersion).toBe("1.0.0");
    // The VM keeps what it was created from.
    expect((await h.compute.virtualMachines.get(rg, "vm1")).storageProfile?.imageReference?.exactVersion).toBe("1.0.1");
  });

  it("[F4] refuses a change of a VM's image reference: 400 PropertyChangeNotAllowed (AKS troubleshooting, 'Changing property imageReference is not allowed')", async () => {
    await vm("vm1", { id: versionId("1.0.0") });
    const error = await restErrorOf(() => vm("vm1", { id: versionId("1.0.1") }));
    expect([error.statusCode, error.code]).toEqual([400, "PropertyChangeNotAllowed"]);
    expect(error.message).toBe("Changing property 'imageReference' is not allowed.");
    const tagged = await h.compute.virtualMachines.createOrUpdate(
      rg,
      "vm1",
      { location: "westeurope", tags: { team: "a" }, storageProfile: { imageReference: { id: versionId("1.0.0") } } },
      poll,
    );
    expect(tagged.tags).toEqual({ team: "a" });
  });

  it("[F5] creates a Uniform scale set's instances from its model, new ones at scale-out from the latest then, and scales in from the highest instance id (Azure/azure-rest-api-specs#4446; Learn, scale-in policy)", async () => {
    const model = { storageProfile: { imageReference: { id: definitionId } } };
    const set = await h.compute.virtualMachineScaleSets.createOrUpdate(
      rg,
      "vmss",
      { location: "westeurope", sku: { name: "Standard_B2s", capacity: 2 }, virtualMachineProfile: model },
      poll,
    );
    expect(set.orchestrationMode).toBe("Uniform");
    const instances = async () => {
      const out = [];
      for await (const i of h.compute.virtualMachineScaleSetVMs.list(rg, "vmss")) out.push(i);
      return out.map((i) => [i.instanceId, i.storageProfile?.imageReference?.exactVersion]);
    };
    expect(await instances()).toEqual([
      ["0", "1.0.1"],
      ["1", "1.0.1"],
    ]);
    await h.admin("POST", "seed", {
      subscriptionId,
      imageVersions: [
        {
          resourceGroup: "rg-gallery",
          gallery: "gal",
          imageDefinition: "ubuntu",
          name: "1.0.2",
          properties: { publishingProfile: { targetRegions: [{ name: "westeurope" }] } },
        },
      ],
    });
    await h.compute.virtualMachineScaleSets.createOrUpdate(
      rg,
      "vmss",
      { location: "westeurope", sku: { name: "Standard_B2s", capacity: 3 }, virtualMachineProfile: model },
      poll,
    );
    expect(await instances()).toEqual([
      ["0", "1.0.1"],
      ["1", "1.0.1"],
      ["2", "1.0.2"],
    ]);
    const one = await h.compute.virtualMachineScaleSetVMs.get(rg, "vmss", "2");
    expect(one.id).toBe(
      `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/vmss/virtualMachines/2`,
    );
    await h.compute.virtualMachineScaleSets.createOrUpdate(
      rg,
      "vmss",
      { location: "westeurope", sku: { name: "Standard_B2s", capacity: 1 }, virtualMachineProfile: model },
      poll,
    );
    expect(await instances()).toEqual([["0", "1.0.1"]]);
  });

  it("[F5] makes a Flexible scale set's instances VMs of their own, pointing back at the set (Learn, Flexible orchestration)", async () => {
    await h.compute.virtualMachineScaleSets.createOrUpdate(
      rg,
      "flex",
      {
        location: "westeurope",
        orchestrationMode: "Flexible",
        platformFaultDomainCount: 1,
        sku: { name: "Standard_B2s", capacity: 2 },
        virtualMachineProfile: { storageProfile: { imageReference: { id: versionId("1.0.0") } } },
      },
      poll,
    );
    const vms = [];
    for await (const v of h.compute.virtualMachines.list(rg)) vms.push(v);
    expect(vms).toHaveLength(2);
    for (const v of vms) {
      expect(v.name).toMatch(/^flex_[0-9a-f]{8}$/);
      expect(v.virtualMachineScaleSet?.id?.toLowerCase()).toBe(
        `/subscriptions/${subscriptionId}/resourcegroups/${rg}/providers/microsoft.compute/virtualmachinescalesets/flex`,
      );
      expect(v.storageProfile?.imageReference?.id).toBe(versionId("1.0.0"));
    }
    const uniformList = [];
    for await (const i of h.compute.virtualMachineScaleSetVMs.list(rg, "flex")) uniformList.push(i);
    expect(uniformList).toEqual([]);
  });

  it("[F6] refuses a change of a scale set's orchestration mode: 400 PropertyChangeNotAllowed (Learn, orchestration modes)", async () => {
    await h.compute.virtualMachineScaleSets.createOrUpdate(
      rg,
      "vmss",
      { location: "westeurope", sku: { capacity: 0 } },
      poll,
    );
    const error = await restErrorOf(() =>
      h.compute.virtualMachineScaleSets.createOrUpdate(
        rg,
        "vmss",
        { location: "westeurope", orchestrationMode: "Flexible", sku: { capacity: 0 } },
        poll,
      ),
    );
    expect([error.statusCode, error.code]).toEqual([400, "PropertyChangeNotAllowed"]);
  });

  it("lets a gallery version in use be deleted, as Azure does (Compute Gallery FAQ: scale-out then fails)", async () => {
    await vm("vm1", { id: versionId("1.0.0") });
    await h.compute.galleryImageVersions.delete("rg-gallery", "gal", "ubuntu", "1.0.0", poll);
    const error = await restErrorOf(() => vm("vm2", { id: versionId("1.0.0") }));
    expect(error.code).toBe("GalleryImageNotFound");
    expect((await h.compute.virtualMachines.get(rg, "vm1")).storageProfile?.imageReference?.id).toBe(
      versionId("1.0.0"),
    );
  });
});
