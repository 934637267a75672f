import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { GalleryImage, GalleryImageVersion } from "@azure/arm-compute";
import {
  fastConfig,
  lroFailureOf,
  managedImageId,
  poll,
  restErrorOf,
  startHarness,
  subscriptionId,
  type Harness,
} from "./helpers.js";

/**
 * The Compute Gallery rules of local/arm/README.md ("Rules"), each through @azure/arm-compute: the test name gives the
 * rule id and its source.
 */

const rg = "rg-gallery-rules";
const gallery = "gal";
const base = `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute`;

function definitionBody(overrides: Partial<GalleryImage> = {}): GalleryImage {
  return {
    location: "westeurope",
    osType: "Linux",
    osState: "Generalized",
    hyperVGeneration: "V2",
    identifier: { publisher: "contoso", offer: "golden", sku: "ubuntu" },
    ...overrides,
  };
}

const withSecurityType = (value: string): Partial<GalleryImage> => ({
  features: [{ name: "SecurityType", value }],
});

function versionBody(sourceId: string, regions = ["westeurope"], extra: Partial<GalleryImageVersion> = {}) {
  return {
    location: "westeurope",
    publishingProfile: { targetRegions: regions.map((name) => ({ name })) },
    storageProfile: { source: { id: sourceId } },
    ...extra,
  } as GalleryImageVersion;
}

describe("the ARM emulator's Compute Gallery rules", () => {
  let h: Harness;
  let definitions = 0;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.stop());
  beforeEach(async () => {
    await h.admin("POST", "reset");
    await h.admin("PUT", "config", fastConfig);
    await h.resourceGroup(rg);
    await h.compute.galleries.createOrUpdate(rg, gallery, { location: "westeurope" }, poll);
  });

  /** A definition with a unique identifier (G6 refuses duplicates). */
  async function definition(name: string, overrides: Partial<GalleryImage> = {}): Promise<void> {
    definitions += 1;
    await h.compute.galleryImages.createOrUpdate(
      rg,
      gallery,
      name,
      definitionBody({
        identifier: { publisher: "contoso", offer: "golden", sku: `sku-${definitions}` },
        ...overrides,
      }),
      poll,
    );
  }

  async function managedImage(
    name: string,
    options: { generation?: "V1" | "V2"; osType?: "Linux" | "Windows"; location?: string; dataDisks?: number } = {},
  ): Promise<string> {
    await h.compute.images.createOrUpdate(
      rg,
      name,
      {
        location: options.location ?? "westeurope",
        hyperVGeneration: options.generation ?? "V2",
        storageProfile: {
          osDisk: { osType: options.osType ?? "Linux", osState: "Generalized", diskSizeGB: 40 },
          dataDisks: Array.from({ length: options.dataDisks ?? 0 }, (_, lun) => ({ lun, diskSizeGB: 8 })),
        },
      },
      poll,
    );
    return managedImageId(rg, name);
  }

  /** Seeds a VM, disk or snapshot (the emulator holds them without serving them). */
  async function seed(type: "virtualMachines" | "disks" | "snapshots", name: string, properties: object) {
    const id = `${base}/${type}/${name}`;
    await h.admin("POST", "seed", { subscriptionId, resources: [{ id, location: "westeurope", properties }] });
    return id;
  }

  describe("image definitions", () => {
    it("[G1] refuses a gallery name with a dash: 400 InvalidParameter (troubleshooting-shared-images.md)", async () => {
      const error = await restErrorOf(() =>
        h.compute.galleries.createOrUpdate(rg, "bad-name", { location: "westeurope" }, poll),
      );
      expect([error.statusCode, error.code]).toEqual([400, "InvalidParameter"]);
    });

    it("[G2] refuses a definition in a missing gallery: 404 ParentResourceNotFound (troubleshooting-shared-images.md)", async () => {
      const error = await restErrorOf(() =>
        h.compute.galleryImages.createOrUpdate(rg, "nowhere", "d", definitionBody(), poll),
      );
      expect([error.statusCode, error.code]).toEqual([404, "ParentResourceNotFound"]);
      expect(error.message).toBe(
        "Can not perform requested operation on nested resource. Parent resource 'nowhere' not found.",
      );
    });

    it("[G3] refuses a definition without osState: 400 InvalidParameter (GalleryRP spec, required properties)", async () => {
      const body = definitionBody() as Partial<GalleryImage>;
      delete body.osState;
      const error = await restErrorOf(() =>
        h.compute.galleryImages.createOrUpdate(rg, gallery, "d", body as GalleryImage, poll),
      );
      expect([error.statusCode, error.code]).toEqual([400, "InvalidParameter"]);
      expect(error.message).toBe("Required parameter 'galleryImage.properties.osState' is missing (null).");
    });

    it("[G4] refuses a change of Hyper-V generation: 400 PropertyChangeNotAllowed (troubleshooting-shared-images.md)", async () => {
      await definition("d");
      const error = await restErrorOf(() =>
        h.compute.galleryImages.createOrUpdate(rg, gallery, "d", definitionBody({ hyperVGeneration: "V1" }), poll),
      );
      expect([error.statusCode, error.code]).toEqual([400, "PropertyChangeNotAllowed"]);
    });

    it("[G5] defaults a new definition to Gen2 and TrustedLaunchSupported from api-version 2025-03-03, to Gen1 before (compute-gallery-whats-new.md)", async () => {
      const body = definitionBody();
      delete body.hyperVGeneration;
      const modern = await h.compute.galleryImages.createOrUpdate(rg, gallery, "modern", body, poll);
      expect(modern.hyperVGeneration).toBe("V2");
      expect(modern.architecture).toBe("x64");
      expect(modern.features).toEqual([{ name: "SecurityType", value: "TrustedLaunchSupported" }]);

      const legacy = await h.raw("PUT", `${base}/galleries/${gallery}/images/legacy?api-version=2022-03-03`, {
        token: "t",
        body: {
          location: "westeurope",
          properties: {
            osType: "Linux",
            osState: "Generalized",
            identifier: { publisher: "contoso", offer: "golden", sku: "legacy" },
          },
        },
      });
      expect(legacy.status).toBe(201);
      const props = (legacy.body as { properties: Record<string, unknown> }).properties;
      expect(props["hyperVGeneration"]).toBe("V1");
      expect(props["features"]).toBeUndefined();
    });

    it("[G6] refuses a second definition with the same publisher, offer and sku: 409 Conflict (troubleshooting-shared-images.md; code unconfirmed)", async () => {
      await h.compute.galleryImages.createOrUpdate(rg, gallery, "first", definitionBody(), poll);
      const error = await restErrorOf(() =>
        h.compute.galleryImages.createOrUpdate(rg, gallery, "second", definitionBody(), poll),
      );
      expect([error.statusCode, error.code]).toEqual([409, "Conflict"]);
      expect(error.message).toContain("identified by (publisher:contoso, offer:golden, sku:ubuntu) already exists");
    });

    it("[G7] refuses to delete a gallery that still has a definition: 409 CannotDeleteResource (troubleshooting-shared-images.md)", async () => {
      await definition("d");
      const error = await restErrorOf(() => h.compute.galleries.delete(rg, gallery, poll));
      expect([error.statusCode, error.code]).toEqual([409, "CannotDeleteResource"]);
    });
  });

  describe("image versions: name, sources and security types", () => {
    it("[V1] refuses a version name that is not Major.Minor.Patch: 400 InvalidParameter (troubleshooting-shared-images.md)", async () => {
      await definition("d");
      const source = await managedImage("img");
      const error = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "d", "1.0", versionBody(source), poll),
      );
      expect([error.statusCode, error.code]).toEqual([400, "InvalidParameter"]);
      expect(error.message).toMatch(/^The image version name is invalid/);
    });

    it("[V2] refuses a managed image source in another region: 404 NotFound (troubleshooting-shared-images.md; status unconfirmed)", async () => {
      await definition("d");
      const source = await managedImage("far-away", { location: "eastus" });
      const error = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "d", "1.0.0", versionBody(source), poll),
      );
      expect([error.statusCode, error.code]).toEqual([404, "NotFound"]);
      expect(error.message).toContain("is in the same region as gallery image version being created");
    });

    it("[V3] refuses a VM as the source of a TrustedLaunchSupported definition: 400 InvalidParameter (packer-plugin-azure#304, microsoft/STL#4682)", async () => {
      await definition("d", withSecurityType("TrustedLaunchSupported"));
      const vm = await seed("virtualMachines", "vm", {
        storageProfile: { osDisk: { osType: "Linux" } },
        instanceView: { hyperVGeneration: "V2", statuses: [{ code: "OSState/generalized" }] },
      });
      const error = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "d", "1.0.0", versionBody(vm), poll),
      );
      expect([error.statusCode, error.code]).toEqual([400, "InvalidParameter"]);
      expect(error.message).toContain(
        "Currently only Vhd Blob, User Image and Gallery Image Version sources are supported for 'TrustedLaunchSupported' images.",
      );
    });

    it("[V4] refuses a managed image as the source of a TrustedLaunch definition, accepts a managed disk: 400 InvalidParameter (trusted-launch-portal.md)", async () => {
      await definition("tl", withSecurityType("TrustedLaunch"));
      const image = await managedImage("img");
      const refused = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "tl", "1.0.0", versionBody(image), poll),
      );
      expect([refused.statusCode, refused.code]).toEqual([400, "InvalidParameter"]);
      const disk = await seed("disks", "os", { osType: "Linux", hyperVGeneration: "V2", diskSizeGB: 64 });
      const accepted = await h.compute.galleryImageVersions.createOrUpdate(
        rg,
        gallery,
        "tl",
        "1.0.0",
        versionBody(disk),
        poll,
      );
      expect(accepted.provisioningState).toBe("Succeeded");
      expect(accepted.storageProfile?.osDiskImage?.sizeInGB).toBe(64);
    });

    it("[V5] refuses a ConfidentialVM version without per-region confidential encryption: 400 InvalidParameter (GalleryRP spec OSDiskImageSecurityProfile; text unconfirmed)", async () => {
      await definition("cvm", withSecurityType("ConfidentialVM"));
      const snapshot = await seed("snapshots", "os", { osType: "Linux", hyperVGeneration: "V2" });
      const error = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "cvm", "1.0.0", versionBody(snapshot), poll),
      );
      expect([error.statusCode, error.code]).toEqual([400, "InvalidParameter"]);
      const encrypted = await h.compute.galleryImageVersions.createOrUpdate(
        rg,
        gallery,
        "cvm",
        "1.0.0",
        {
          ...versionBody(snapshot),
          publishingProfile: {
            targetRegions: [
              {
                name: "westeurope",
                encryption: { osDiskImage: { securityProfile: { confidentialVMEncryptionType: "EncryptedWithPmk" } } },
              },
            ],
          },
        },
        poll,
      );
      expect(encrypted.provisioningState).toBe("Succeeded");
    });

    it("[V6] accepts a Gen1 source into a Gen2 definition with 201, then fails the operation with Conflict (MicrosoftDocs/azure-docs#118774)", async () => {
      await definition("d");
      const source = await managedImage("gen1", { generation: "V1" });
      let initialStatus = 0;
      const failure = await lroFailureOf(
        h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "d", "1.0.0", versionBody(source), {
          ...poll,
          onResponse: (r) => (initialStatus ||= r.status),
        }),
      );
      expect(initialStatus).toBe(201);
      expect(failure.code).toBe("Conflict");
      expect(failure.message).toBe(
        `The resource with id '${source}' has a different Hypervisor generation ['V1'] than the parent gallery image Hypervisor generation ['V2'].`,
      );
      const version = await h.compute.galleryImageVersions.get(rg, gallery, "d", "1.0.0");
      expect(version.provisioningState).toBe("Failed");
    });

    it("[V19] fails a Trusted Launch VM as the source of a TrustedLaunchSupported definition with Conflict (public AVD runbook quoting Azure's error)", async () => {
      await definition("d", withSecurityType("TrustedLaunchSupported"));
      const vm = await seed("virtualMachines", "tlvm", {
        storageProfile: { osDisk: { osType: "Linux" } },
        securityProfile: { securityType: "TrustedLaunch" },
        instanceView: { hyperVGeneration: "V2", statuses: [{ code: "OSState/generalized" }] },
      });
      const failure = await lroFailureOf(
        h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "d", "1.0.0", versionBody(vm), poll),
      );
      expect(failure.code).toBe("Conflict");
      expect(failure.message).toBe(
        `The source '${vm}' contains TrustedLaunch or ConfidentialVM security data that cannot be used in image with ` +
          "'TrustedLaunchSupported' security type. Please use either TrustedLaunch or ConfidentialVM security type.",
      );
    });

    it("[V7] fails a Windows source into a Linux definition with Conflict (troubleshooting-shared-images.md)", async () => {
      await definition("d");
      const source = await managedImage("win", { osType: "Windows" });
      const failure = await lroFailureOf(
        h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "d", "1.0.0", versionBody(source), poll),
      );
      expect(failure.code).toBe("Conflict");
      expect(failure.message).toContain("has a different OS type ['Windows'] than the parent gallery image OS type");
    });

    it("[V8] fails a generalized managed image into a Specialized definition with Conflict (troubleshooting-shared-images.md)", async () => {
      await definition("d", { osState: "Specialized" });
      const source = await managedImage("img");
      const failure = await lroFailureOf(
        h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "d", "1.0.0", versionBody(source), poll),
      );
      expect(failure.code).toBe("Conflict");
      expect(failure.message).toBe(
        `Cannot create Gallery Image Version from: ${source} since the OS State in the parent gallery image (Specialized) is not Generalized`,
      );
    });

    it("[C1] refuses a managed image of a Trusted Launch VM: 409 OperationNotAllowed (hashicorp/packer#13189)", async () => {
      const vm = await seed("virtualMachines", "tl-vm", {
        securityProfile: { securityType: "TrustedLaunch" },
        storageProfile: { osDisk: { osType: "Linux" } },
      });
      const error = await restErrorOf(() =>
        h.compute.images.createOrUpdate(
          rg,
          "captured",
          { location: "westeurope", sourceVirtualMachine: { id: vm } },
          poll,
        ),
      );
      expect([error.statusCode, error.code]).toEqual([409, "OperationNotAllowed"]);
      expect(error.message).toBe(
        "Creation of managed images are not supported for virtual machine with TrustedLaunch security type.",
      );
    });
  });

  describe("image versions: publishing profile and lifecycle", () => {
    it("[V9] refuses target regions without the version's own region: 400 InvalidParameter (troubleshooting-shared-images.md)", async () => {
      await definition("d");
      const source = await managedImage("img");
      const error = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(
          rg,
          gallery,
          "d",
          "1.0.0",
          versionBody(source, ["northeurope"]),
          poll,
        ),
      );
      expect([error.statusCode, error.code]).toEqual([400, "InvalidParameter"]);
      expect(error.message).toContain("must contain the location of image version 'westeurope'");
    });

    it("[V10] refuses duplicate target regions: 400 InvalidParameter (troubleshooting-shared-images.md)", async () => {
      await definition("d");
      const source = await managedImage("img");
      const error = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(
          rg,
          gallery,
          "d",
          "1.0.0",
          versionBody(source, ["westeurope", "West Europe"]),
          poll,
        ),
      );
      expect([error.statusCode, error.code]).toEqual([400, "InvalidParameter"]);
      expect(error.message).toBe("Duplicate regions are not allowed in target publishing regions.");
    });

    it("[V11] refuses 101 replicas in a region: 400 InvalidParameter (troubleshooting-shared-images.md; limit 100)", async () => {
      await definition("d");
      const source = await managedImage("img");
      const error = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(
          rg,
          gallery,
          "d",
          "1.0.0",
          {
            ...versionBody(source),
            publishingProfile: { targetRegions: [{ name: "westeurope", regionalReplicaCount: 101 }] },
          },
          poll,
        ),
      );
      expect([error.statusCode, error.code]).toEqual([400, "InvalidParameter"]);
      expect(error.message).toMatch(/is out of range\. The value must be between 1 and 100, inclusive\.$/);
    });

    it("[V12] refuses a change of the version's source: 400 PropertyChangeNotAllowed (troubleshooting-shared-images.md)", async () => {
      await definition("d");
      const first = await managedImage("first");
      const second = await managedImage("second");
      await h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "d", "1.0.0", versionBody(first), poll);
      const error = await restErrorOf(() =>
        h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "d", "1.0.0", versionBody(second), poll),
      );
      expect([error.statusCode, error.code]).toEqual([400, "PropertyChangeNotAllowed"]);
    });

    it("[V13] refuses to remove a target region until allowDeletionOfReplicatedLocations is true, which PATCH may set (GalleryRP spec; code unconfirmed)", async () => {
      await definition("d");
      const source = await managedImage("img");
      const created = await h.compute.galleryImageVersions.createOrUpdate(
        rg,
        gallery,
        "d",
        "1.0.0",
        versionBody(source, ["westeurope", "northeurope"]),
        poll,
      );
      expect(created.safetyProfile?.allowDeletionOfReplicatedLocations).toBe(false);
      const refused = await restErrorOf(() =>
        h.compute.galleryImageVersions.update(
          rg,
          gallery,
          "d",
          "1.0.0",
          { publishingProfile: { targetRegions: [{ name: "westeurope" }] } },
          poll,
        ),
      );
      expect([refused.statusCode, refused.code]).toEqual([409, "OperationNotAllowed"]);
      const removed = await h.compute.galleryImageVersions.update(
        rg,
        gallery,
        "d",
        "1.0.0",
        {
          publishingProfile: { targetRegions: [{ name: "westeurope" }] },
          safetyProfile: { allowDeletionOfReplicatedLocations: true },
        },
        poll,
      );
      expect(removed.publishingProfile?.targetRegions?.map((t) => t.name)).toEqual(["West Europe"]);
      expect(removed.safetyProfile?.allowDeletionOfReplicatedLocations).toBe(true);
    });

    it("[V14] reports Deleting while a version is deleted and refuses updates meanwhile: 409 OperationNotAllowed (troubleshooting-shared-images.md)", async () => {
      await definition("d");
      const source = await managedImage("img");
      await h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "d", "1.0.0", versionBody(source), poll);
      await h.admin("PUT", "config", { deleteDurationInMs: 60_000 });
      const deletion = h.compute.galleryImageVersions.delete(rg, gallery, "d", "1.0.0", poll);
      await deletion.submitted();
      expect((await h.compute.galleryImageVersions.get(rg, gallery, "d", "1.0.0")).provisioningState).toBe("Deleting");
      const error = await restErrorOf(() =>
        h.compute.galleryImageVersions.update(
          rg,
          gallery,
          "d",
          "1.0.0",
          { publishingProfile: { excludeFromLatest: true } },
          poll,
        ),
      );
      expect([error.statusCode, error.code]).toEqual([409, "OperationNotAllowed"]);
      expect(error.message).toContain("since it is marked for deletion");
      const definitionDelete = await restErrorOf(() => h.compute.galleryImages.delete(rg, gallery, "d", poll));
      expect(definitionDelete.code).toBe("CannotDeleteResource");
      await h.admin("POST", "clock", { advanceByMs: 60_000 });
      await deletion.pollUntilDone();
      const gone = await restErrorOf(() => h.compute.galleryImageVersions.get(rg, gallery, "d", "1.0.0"));
      expect([gone.statusCode, gone.code]).toEqual([404, "ResourceNotFound"]);
    });

    it("[V15] refuses to delete a version before its end of life when blocked: 409 DeleteGalleryImageVersionBlockedBeforeEndOfLife (troubleshooting-shared-images.md)", async () => {
      await definition("d");
      const source = await managedImage("img");
      await h.compute.galleryImageVersions.createOrUpdate(
        rg,
        gallery,
        "d",
        "1.0.0",
        {
          ...versionBody(source),
          publishingProfile: { targetRegions: [{ name: "westeurope" }], endOfLifeDate: new Date("2099-01-01") },
          safetyProfile: { blockDeletionBeforeEndOfLife: true },
        },
        poll,
      );
      const error = await restErrorOf(() => h.compute.galleryImageVersions.delete(rg, gallery, "d", "1.0.0", poll));
      expect([error.statusCode, error.code]).toEqual([409, "DeleteGalleryImageVersionBlockedBeforeEndOfLife"]);
    });

    it("[V16] keeps a region failed on same-region retries until it is removed and added back (Azure/azure-cli#15539)", async () => {
      await definition("d");
      const source = await managedImage("img");
      await h.admin("POST", "rules/versions", { imageDefinition: "d", failRegion: "northeurope", recovery: "readd" });
      const failure = await lroFailureOf(
        h.compute.galleryImageVersions.createOrUpdate(
          rg,
          gallery,
          "d",
          "1.0.0",
          versionBody(source, ["westeurope", "northeurope"], {
            safetyProfile: { allowDeletionOfReplicatedLocations: true },
          }),
          poll,
        ),
      );
      expect(failure.code).toBe("ReplicationFailed");
      expect(failure.message).toBe(
        "Gallery replication jobs failed in one or more regions. The failing regions' details are as follows: " +
          "'{region:northeurope, detail:Replication failed in this region due to 'Failed with internal server error.'}'. " +
          "If retry does not work, then please do an update by removing the failed regions and update again by adding them back.",
      );
      const both = { publishingProfile: { targetRegions: [{ name: "westeurope" }, { name: "northeurope" }] } };
      const retry = await lroFailureOf(h.compute.galleryImageVersions.update(rg, gallery, "d", "1.0.0", both, poll));
      expect(retry.code).toBe("ReplicationFailed");
      await h.compute.galleryImageVersions.update(
        rg,
        gallery,
        "d",
        "1.0.0",
        { publishingProfile: { targetRegions: [{ name: "westeurope" }] } },
        poll,
      );
      const readded = await h.compute.galleryImageVersions.update(rg, gallery, "d", "1.0.0", both, poll);
      expect(readded.provisioningState).toBe("Succeeded");
      const status = await h.compute.galleryImageVersions.get(rg, gallery, "d", "1.0.0", {
        expand: "ReplicationStatus",
      });
      expect(status.replicationStatus?.summary?.map((s) => s.state)).toEqual(["Completed", "Completed"]);
    });

    it("[V16] keeps a region failed for good when its rule never recovers, even after it is added back (Azure/azure-cli#15539)", async () => {
      await definition("d");
      const source = await managedImage("img");
      await h.admin("POST", "rules/versions", { imageDefinition: "d", failRegion: "northeurope", recovery: "never" });
      const body = versionBody(source, ["westeurope", "northeurope"], {
        safetyProfile: { allowDeletionOfReplicatedLocations: true },
      });
      await lroFailureOf(h.compute.galleryImageVersions.createOrUpdate(rg, gallery, "d", "1.0.0", body, poll));
      await h.compute.galleryImageVersions.update(
        rg,
        gallery,
        "d",
        "1.0.0",
        { publishingProfile: { targetRegions: [{ name: "westeurope" }] } },
        poll,
      );
      const again = await lroFailureOf(
        h.compute.galleryImageVersions.update(
          rg,
          gallery,
          "d",
          "1.0.0",
          { publishingProfile: { targetRegions: [{ name: "westeurope" }, { name: "northeurope" }] } },
          poll,
        ),
      );
      expect(again.code).toBe("ReplicationFailed");
    });

    it("[V17] answers Azure's version defaults: deletion of replicated regions not allowed, no per-region excludeFromLatest, disks from the source (recordings)", async () => {
      await definition("d");
      const source = await managedImage("img", { dataDisks: 2 });
      const version = await h.compute.galleryImageVersions.createOrUpdate(
        rg,
        gallery,
        "d",
        "1.0.0",
        versionBody(source, ["westeurope", "northeurope"]),
        poll,
      );
      expect(version.safetyProfile).toEqual({
        reportedForPolicyViolation: false,
        allowDeletionOfReplicatedLocations: false,
      });
      expect(version.publishingProfile?.excludeFromLatest).toBe(false);
      expect(version.publishingProfile?.targetRegions?.map((t) => t.excludeFromLatest)).toEqual([undefined, undefined]);
      expect(version.storageProfile?.osDiskImage).toMatchObject({ sizeInGB: 40, hostCaching: "ReadWrite" });
      expect(version.storageProfile?.dataDiskImages?.map((d) => [d.lun, d.sizeInGB])).toEqual([
        [0, 8],
        [1, 8],
      ]);
    });

    it("[V20] changes a region's replica count over time: Replicating and Updating meanwhile, latest still served there (Azure/azure-cli#15539, Azure/AgentBaker#82 and #6741)", async () => {
      await definition("d");
      const source = await managedImage("img");
      const definitionId = `${base}/galleries/${gallery}/images/d`;
      const latestIn = async (region: string) =>
        (
          await h.admin<{ version: string | null }>(
            "GET",
            `latest?imageDefinitionId=${encodeURIComponent(definitionId)}&region=${region}`,
          )
        ).version;
      await h.compute.galleryImageVersions.createOrUpdate(
        rg,
        gallery,
        "d",
        "1.0.0",
        versionBody(source, ["westeurope", "northeurope"]),
        poll,
      );
      await h.admin("PUT", "config", { replication: { regionDurationInMs: 60_000 } });
      const withCounts = (northeurope: number) => ({
        publishingProfile: {
          targetRegions: [
            { name: "westeurope", regionalReplicaCount: 1 },
            { name: "northeurope", regionalReplicaCount: northeurope },
          ],
        },
      });
      const stateOf = async () => {
        const v = await h.compute.galleryImageVersions.get(rg, gallery, "d", "1.0.0", { expand: "ReplicationStatus" });
        return {
          provisioningState: v.provisioningState,
          regions: v.replicationStatus?.summary?.map((r) => [r.region, r.state]),
          counts: v.publishingProfile?.targetRegions?.map((r) => r.regionalReplicaCount),
        };
      };

      for (const count of [3, 1]) {
        await h.compute.galleryImageVersions.update(rg, gallery, "d", "1.0.0", withCounts(count)).submitted();
        expect(await stateOf()).toEqual({
          provisioningState: "Updating",
          regions: [
            ["West Europe", "Completed"],
            ["North Europe", "Replicating"],
          ],
          counts: [1, count],
        });
        // The replicas the region already had keep serving VMs that ask for latest.
        expect(await latestIn("northeurope")).toBe("1.0.0");
        await h.admin("POST", "clock", { advanceByMs: 60_000 });
        expect(await stateOf()).toMatchObject({
          provisioningState: "Succeeded",
          regions: [
            ["West Europe", "Completed"],
            ["North Europe", "Completed"],
          ],
        });
      }
      // Only a region whose count changes replicates again.
      await h.compute.galleryImageVersions.update(rg, gallery, "d", "1.0.0", withCounts(1)).submitted();
      expect((await stateOf()).regions).toEqual([
        ["West Europe", "Completed"],
        ["North Europe", "Completed"],
      ]);
    });

    it("[V21] refuses to change the storage account type of a region the version holds: 400 (Azure/azure-powershell#9911; code unconfirmed)", async () => {
      await definition("d");
      const source = await managedImage("img");
      await h.compute.galleryImageVersions.createOrUpdate(
        rg,
        gallery,
        "d",
        "1.0.0",
        versionBody(source, ["westeurope", "northeurope"], {
          publishingProfile: {
            targetRegions: [
              { name: "westeurope", storageAccountType: "Standard_ZRS" },
              { name: "northeurope", storageAccountType: "Standard_LRS" },
            ],
          },
        }),
        poll,
      );
      const error = await restErrorOf(() =>
        h.compute.galleryImageVersions.update(
          rg,
          gallery,
          "d",
          "1.0.0",
          {
            publishingProfile: {
              targetRegions: [
                { name: "westeurope", regionalReplicaCount: 2, storageAccountType: "Standard_LRS" },
                { name: "northeurope", storageAccountType: "Standard_LRS" },
              ],
            },
          },
          poll,
        ),
      );
      expect([error.statusCode, error.code]).toEqual([400, "InvalidParameter"]);
      expect(error.message).toBe(
        "Global storage account type does not match the storage account type in the existing TargetRegion: " +
          "'West Europe'. Please specify 'Standard_ZRS' as the storage account type for this region.",
      );
      const changed = await h.compute.galleryImageVersions.update(
        rg,
        gallery,
        "d",
        "1.0.0",
        {
          publishingProfile: {
            targetRegions: [
              { name: "westeurope", regionalReplicaCount: 2, storageAccountType: "Standard_ZRS" },
              { name: "northeurope", storageAccountType: "Standard_LRS" },
            ],
          },
        },
        poll,
      );
      expect(
        changed.publishingProfile?.targetRegions?.map((t) => [t.regionalReplicaCount, t.storageAccountType]),
      ).toEqual([
        [2, "Standard_ZRS"],
        [1, "Standard_LRS"],
      ]);
    });

    it("[V18] resolves latest per region from the region's own flag, else the version's (troubleshooting-shared-images.md)", async () => {
      await definition("d");
      const source = await managedImage("img");
      const definitionId = `${base}/galleries/${gallery}/images/d`;
      const latest = async (region?: string) =>
        (
          await h.admin<{ version: string | null }>(
            "GET",
            `latest?imageDefinitionId=${encodeURIComponent(definitionId)}${region ? `&region=${region}` : ""}`,
          )
        ).version;
      await h.compute.galleryImageVersions.createOrUpdate(
        rg,
        gallery,
        "d",
        "1.0.0",
        versionBody(source, ["westeurope", "northeurope"]),
        poll,
      );
      await h.compute.galleryImageVersions.createOrUpdate(
        rg,
        gallery,
        "d",
        "1.1.0",
        {
          ...versionBody(source),
          publishingProfile: {
            targetRegions: [{ name: "westeurope" }, { name: "northeurope", excludeFromLatest: true }],
          },
        },
        poll,
      );
      expect(await latest()).toBe("1.1.0");
      expect(await latest("westeurope")).toBe("1.1.0");
      expect(await latest("northeurope")).toBe("1.0.0");
    });
  });

  describe("platform images", () => {
    it("[P1] sorts versions by name as strings with $orderby=name desc, as Azure does (Azure/azure-rest-api-specs#30142)", async () => {
      await h.admin("PUT", "platform-images", {
        publisher: "RedHat",
        offer: "RHEL",
        sku: "8-lvm-gen2",
        versions: ["8.9.2024022012", "8.10.2024070513"],
        hyperVGeneration: "V2",
      });
      const newest = await h.compute.virtualMachineImages.list("westeurope", "RedHat", "RHEL", "8-lvm-gen2", {
        orderby: "name desc",
        top: 1,
      });
      expect(newest.map((v) => v.name)).toEqual(["8.9.2024022012"]);
      const latest = await h.compute.virtualMachineImages.get("westeurope", "RedHat", "RHEL", "8-lvm-gen2", "latest");
      expect(latest.name).toBe("8.10.2024070513");
    });

    it("[P2] reports each SKU's Hyper-V generation and features, settable by the admin API (test_vm_image_show recording)", async () => {
      const gen1 = await h.compute.virtualMachineImages.get(
        "westeurope",
        "Canonical",
        "0001-com-ubuntu-server-jammy",
        "22_04-lts",
        "22.04.202503180",
      );
      expect(gen1.hyperVGeneration).toBe("V1");
      expect(gen1.features?.some((f) => f.name === "SecurityType")).toBe(false);
      const gen2 = await h.compute.virtualMachineImages.get(
        "westeurope",
        "Canonical",
        "ubuntu-24_04-lts",
        "server",
        "24.04.202503260",
      );
      expect(gen2.hyperVGeneration).toBe("V2");
      expect(gen2.architecture).toBe("x64");
      expect(gen2.features).toContainEqual({ name: "SecurityType", value: "TrustedLaunchSupported" });
      expect(gen2.osDiskImage?.operatingSystem).toBe("Linux");

      // A new version published through the admin API keeps the SKU's properties.
      await h.admin("PUT", "platform-images", {
        publisher: "Canonical",
        offer: "ubuntu-24_04-lts",
        sku: "server",
        versions: ["24.04.202503260", "24.04.202504150"],
      });
      const newer = await h.compute.virtualMachineImages.get(
        "westeurope",
        "Canonical",
        "ubuntu-24_04-lts",
        "server",
        "24.04.202504150",
      );
      expect(newer.hyperVGeneration).toBe("V2");
      expect(newer.features).toContainEqual({ name: "SecurityType", value: "TrustedLaunchSupported" });
    });

    it("[P3] answers a missing platform image with 404 NotFound (Compute RP)", async () => {
      const error = await restErrorOf(() =>
        h.compute.virtualMachineImages.get("westeurope", "Canonical", "nope", "none", "1.0.0"),
      );
      expect([error.statusCode, error.code]).toEqual([404, "NotFound"]);
    });
  });
});
