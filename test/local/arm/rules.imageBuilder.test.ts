import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { GalleryImage } from "@azure/arm-compute";
import type { ImageTemplate, ImageTemplateDistributorUnion } from "@azure/arm-imagebuilder";
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
 * The Image Builder rules of local/arm/README.md ("Rules"), each through @azure/arm-imagebuilder: the test name gives
 * the rule id and its source.
 */

const rg = "rg-ib-rules";
const galleryId = `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries/gal`;
const contributor = `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c`;

const ubuntu24 = {
  type: "PlatformImage",
  publisher: "Canonical",
  offer: "ubuntu-24_04-lts",
  sku: "server",
  version: "latest",
} as const;
const jammyGen1 = {
  type: "PlatformImage",
  publisher: "Canonical",
  offer: "0001-com-ubuntu-server-jammy",
  sku: "22_04-lts",
  version: "latest",
} as const;
const windows = {
  type: "PlatformImage",
  publisher: "MicrosoftWindowsServer",
  offer: "WindowsServer",
  sku: "2022-datacenter-azure-edition",
  version: "latest",
} as const;

describe("the ARM emulator's Image Builder rules", () => {
  let h: Harness;
  let identity: { id: string; principalId: string };

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.stop());
  beforeEach(async () => {
    await h.admin("POST", "reset");
    await h.admin("PUT", "config", fastConfig);
    await h.resourceGroup(rg);
    identity = await h.identity(rg, "aib");
    await h.compute.galleries.createOrUpdate(rg, "gal", { location: "westeurope" }, poll);
  });

  let skus = 0;
  async function definition(name: string, overrides: Partial<GalleryImage> = {}): Promise<string> {
    skus += 1;
    await h.compute.galleryImages.createOrUpdate(
      rg,
      "gal",
      name,
      {
        location: "westeurope",
        osType: "Linux",
        osState: "Generalized",
        identifier: { publisher: "contoso", offer: "golden", sku: `sku-${skus}` },
        ...overrides,
      },
      poll,
    );
    return `${galleryId}/images/${name}`;
  }

  function template(overrides: Partial<ImageTemplate> = {}): ImageTemplate {
    return {
      location: "westeurope",
      identity: { type: "UserAssigned", userAssignedIdentities: { [identity.id]: {} } },
      source: ubuntu24,
      customize: [{ type: "Shell", name: "harden", inline: ["echo hardening"] }],
      distribute: [{ type: "VHD", runOutputName: "vhd" }],
      ...overrides,
    };
  }

  const create = (name: string, body: ImageTemplate) =>
    h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(rg, name, body, poll);

  async function refusal(body: ImageTemplate) {
    const error = await restErrorOf(() => create("t", body));
    expect([error.statusCode, error.code]).toEqual([400, "ValidationFailed"]);
    expect(error.message).toMatch(/^Validation failed: /);
    return error;
  }

  const sharedImage = (galleryImageId: string, extra: Partial<ImageTemplateDistributorUnion> = {}) =>
    ({
      type: "SharedImage",
      galleryImageId,
      runOutputName: "sig",
      targetRegions: [{ name: "westeurope", replicaCount: 1 }],
      ...extra,
    }) as ImageTemplateDistributorUnion;

  describe("template submission", () => {
    it("[I1] refuses a template without identity, or with two: 400 ValidationFailed (image-builder-json.md, image-builder-troubleshoot.md)", async () => {
      const noIdentity = await h.raw(
        "PUT",
        `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.VirtualMachineImages/imageTemplates/t?api-version=2025-10-01`,
        {
          token: "t",
          body: {
            location: "westeurope",
            properties: { source: ubuntu24, distribute: [{ type: "VHD", runOutputName: "v" }] },
          },
        },
      );
      expect(noIdentity.status).toBe(400);
      expect(noIdentity.body).toMatchObject({
        error: { code: "ValidationFailed", message: expect.stringContaining("Missing field 'identity'") as unknown },
      });
      const second = await h.identity(rg, "other");
      await refusal(
        template({
          identity: { type: "UserAssigned", userAssignedIdentities: { [identity.id]: {}, [second.id]: {} } },
        }),
      );
    });

    it("[I2] refuses an identity that does not exist: 400 ValidationFailed (image-builder-json.md; text unconfirmed)", async () => {
      const missing = identity.id.replace(/aib$/, "nobody");
      const error = await refusal(
        template({ identity: { type: "UserAssigned", userAssignedIdentities: { [missing]: {} } } }),
      );
      expect(error.message).toContain(missing);
    });

    it("[I3] refuses a Shell customizer with both scriptUri and inline, and a File without destination: 400 ValidationFailed (image-builder-json.md)", async () => {
      await refusal(
        template({ customize: [{ type: "Shell", scriptUri: "https://example.com/a.sh", inline: ["echo"] }] }),
      );
      await refusal(template({ customize: [{ type: "File", sourceUri: "https://example.com/a.conf" }] }));
      await refusal(template({ validate: { inVMValidations: [{ type: "Shell", name: "none" }] } }));
    });

    it("[I4] refuses Windows-only steps on a Linux source and Shell on a Windows source: 400 ValidationFailed (image-builder-json.md)", async () => {
      await refusal(template({ customize: [{ type: "PowerShell", inline: ["Write-Host hi"] }] }));
      await refusal(template({ customize: [{ type: "WindowsRestart" }] }));
      await refusal(template({ source: windows, customize: [{ type: "Shell", inline: ["echo"] }] }));
      const ok = await create("win", template({ source: windows, customize: [{ type: "WindowsUpdate" }] }));
      expect(ok.provisioningState).toBe("Succeeded");
    });

    it("[I5] accepts buildTimeoutInMinutes 0 or 6..960 and refuses 5 and 961: 400 ValidationFailed (image-builder-json.md)", async () => {
      await refusal(template({ buildTimeoutInMinutes: 5 }));
      await refusal(template({ buildTimeoutInMinutes: 961 }));
      expect((await create("t6", template({ buildTimeoutInMinutes: 6 }))).buildTimeoutInMinutes).toBe(6);
      expect((await create("t0", template({ buildTimeoutInMinutes: 0 }))).buildTimeoutInMinutes).toBe(0);
    });

    it("[I6] refuses two distributors with the same runOutputName: 400 ValidationFailed (image-builder-json.md)", async () => {
      await refusal(
        template({
          distribute: [
            { type: "VHD", runOutputName: "same" },
            { type: "VHD", runOutputName: "SAME" },
          ],
        }),
      );
    });

    it("[I7] refuses a TrustedLaunch or ConfidentialVM image as source or SharedImage target: 400 ValidationFailed (image-builder-overview.md)", async () => {
      const tl = await definition("tl", {
        hyperVGeneration: "V2",
        features: [{ name: "SecurityType", value: "TrustedLaunch" }],
      });
      await refusal(template({ distribute: [sharedImage(tl)] }));
      const cvm = await definition("cvm", {
        hyperVGeneration: "V2",
        features: [{ name: "SecurityType", value: "ConfidentialVM" }],
      });
      await refusal(template({ distribute: [sharedImage(cvm)] }));
      // A version of a TrustedLaunch definition as the source ("Not supported as a source image").
      await h.admin("POST", "seed", {
        subscriptionId,
        imageVersions: [
          {
            resourceGroup: rg,
            gallery: "gal",
            imageDefinition: "tl",
            name: "1.0.0",
            properties: { publishingProfile: { targetRegions: [{ name: "westeurope" }] } },
          },
        ],
      });
      const error = await refusal(
        template({ source: { type: "SharedImageVersion", imageVersionId: `${tl}/versions/1.0.0` } }),
      );
      expect(error.message).toContain("not support as a source image");
    });

    it("[I8] refuses a Trusted-Launch-capable source into a standard Gen2 definition, and a standard source into a TrustedLaunchSupported one (image-builder-overview.md)", async () => {
      const standard = await definition("standard", {
        hyperVGeneration: "V2",
        features: [{ name: "SecurityType", value: "Standard" }],
      });
      const error = await refusal(template({ distribute: [sharedImage(standard)] }));
      expect(error.message).toContain("TrustedLaunchSupported");
      await h.admin("PUT", "platform-images", {
        publisher: "Contoso",
        offer: "plain",
        sku: "gen2",
        versions: ["1.0.0"],
        hyperVGeneration: "V2",
      });
      const supported = await definition("supported");
      await refusal(
        template({
          source: { type: "PlatformImage", publisher: "Contoso", offer: "plain", sku: "gen2", version: "latest" },
          distribute: [sharedImage(supported)],
        }),
      );
      const accepted = await create("ok", template({ distribute: [sharedImage(supported)] }));
      expect(accepted.provisioningState).toBe("Succeeded");
    });

    it("[I9] refuses a Gen1 source into a Gen2 definition: 400 ValidationFailed, cross-generation (image-builder-overview.md; MicrosoftDocs/azure-compute-docs#189)", async () => {
      const gen2 = await definition("gen2");
      const error = await refusal(template({ source: jammyGen1, distribute: [sharedImage(gen2)] }));
      expect(error.message).toBe(
        "Validation failed: Error with Hyper-V Version validation (cross-generation for multiple Hyper-V Versions is " +
          `not supported). The provided SIG: ${gen2}, has a different Hyper-V Generation: V2, than source image: V1.`,
      );
    });

    it("[I10] refuses an update in place: 409 Conflict (image-builder-troubleshoot.md)", async () => {
      await create("fixed", template());
      const error = await restErrorOf(() => create("fixed", template({ buildTimeoutInMinutes: 60 })));
      expect([error.statusCode, error.code]).toEqual([409, "Conflict"]);
      expect(error.message).toMatch(/^Update\/Upgrade of image templates is currently not supported/);
    });
  });

  describe("staging resource group and network", () => {
    const stagingId = (name: string) => `/subscriptions/${subscriptionId}/resourceGroups/${name}`;
    const grantContributor = (scope: string) =>
      h.admin("POST", "seed", {
        subscriptionId,
        roleAssignments: [{ scope, roleDefinitionId: contributor, principalId: identity.principalId }],
      });

    async function provisioningFailure(name: string, body: ImageTemplate) {
      let initialStatus = 0;
      const failure = await lroFailureOf(
        h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(rg, name, body, {
          ...poll,
          onResponse: (r) => (initialStatus ||= r.status),
        }),
      );
      expect(initialStatus).toBe(201);
      const t = await h.imageBuilder.virtualMachineImageTemplates.get(rg, name);
      expect(t.provisioningState).toBe("Failed");
      return { failure, provisioningError: t.provisioningError };
    }

    it("[I11] accepts an existing empty staging group in the template's region with Contributor for the identity, and tags it (image-builder-json.md)", async () => {
      await h.resourceGroup("rg-staging");
      await grantContributor(stagingId("rg-staging"));
      const t = await create("staged", template({ stagingResourceGroup: stagingId("rg-staging") }));
      expect(t.provisioningState).toBe("Succeeded");
      expect(t.exactStagingResourceGroup).toBe(stagingId("rg-staging"));
      const groups = await h.admin<{ resourceGroups: { name: string }[] }>("GET", "resources");
      expect(groups.resourceGroups.map((g) => g.name)).toContain("rg-staging");
      const group = await h.raw(
        "GET",
        `/subscriptions/${subscriptionId}/resourcegroups/rg-staging?api-version=2022-09-01`,
        { token: "t" },
      );
      expect((group.body as { tags: Record<string, string> }).tags).toMatchObject({
        imageTemplateName: "staged",
        imageTemplateResourceGroupName: rg,
      });
    });

    it("[I11] fails provisioning when the staging group is used by another template: BadStagingResourceGroup (image-builder-json.md)", async () => {
      await h.resourceGroup("rg-staging");
      await grantContributor(stagingId("rg-staging"));
      await create("first", template({ stagingResourceGroup: stagingId("rg-staging") }));
      const { failure, provisioningError } = await provisioningFailure(
        "second",
        template({ stagingResourceGroup: stagingId("rg-staging") }),
      );
      expect(failure.code).toBe("BadStagingResourceGroup");
      expect(provisioningError).toMatchObject({ provisioningErrorCode: "BadStagingResourceGroup" });
      expect(provisioningError?.message).toContain("already used by another image template");
      const resubmitted = await restErrorOf(() =>
        create("second", template({ stagingResourceGroup: stagingId("rg-staging") })),
      );
      expect([resubmitted.statusCode, resubmitted.code]).toEqual([409, "Conflict"]);
    });

    it("[I11] fails provisioning for a staging group that is not empty, in another region, or without the identity's role (image-builder-json.md)", async () => {
      await h.resourceGroup("rg-full");
      await grantContributor(stagingId("rg-full"));
      await h.identity("rg-full", "occupant");
      expect(
        (await provisioningFailure("full", template({ stagingResourceGroup: stagingId("rg-full") }))).provisioningError
          ?.message,
      ).toContain("is not empty");
      await h.resourceGroup("rg-far", "eastus");
      await grantContributor(stagingId("rg-far"));
      expect(
        (await provisioningFailure("far", template({ stagingResourceGroup: stagingId("rg-far") }))).provisioningError
          ?.message,
      ).toContain("not in the image template's region");
      await h.resourceGroup("rg-no-role");
      expect(
        (await provisioningFailure("norole", template({ stagingResourceGroup: stagingId("rg-no-role") })))
          .provisioningError?.message,
      ).toContain("'Contributor' or 'Owner'");
    });

    it("[I11] creates a named staging group that does not exist, and the IT_ group when unset; both go with the template (image-builder-json.md, recordings)", async () => {
      const named = await create("named", template({ stagingResourceGroup: stagingId("rg-made-by-aib") }));
      expect(named.exactStagingResourceGroup).toBe(stagingId("rg-made-by-aib"));
      const unset = await create("a-template-with-a-rather-long-name", template());
      expect(unset.exactStagingResourceGroup).toMatch(
        new RegExp(
          `^/subscriptions/${subscriptionId}/resourceGroups/IT_${`${rg}_a-template-with-a-rather-long-name`.slice(0, 40)}_[0-9a-f-]{36}$`,
        ),
      );
      await h.imageBuilder.virtualMachineImageTemplates.delete(rg, "named", poll);
      await h.imageBuilder.virtualMachineImageTemplates.delete(rg, "a-template-with-a-rather-long-name", poll);
      const left = await h.admin<{ resourceGroups: { name: string }[] }>("GET", "resources");
      expect(left.resourceGroups.map((g) => g.name)).toEqual([rg]);
    });

    it("[I12] fails provisioning when the identity has no role on the build network: Other / Unauthorized (test_image_builder_vm_profile recording)", async () => {
      const vnet = `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/vnet`;
      await h.admin("POST", "seed", { subscriptionId, resources: [{ id: vnet, location: "westeurope" }] });
      const body = template({ vmProfile: { vnetConfig: { subnetId: `${vnet}/subnets/build` } } });
      const { failure, provisioningError } = await provisioningFailure("isolated", body);
      expect(failure.code).toBe("Unauthorized");
      expect(provisioningError).toEqual({
        provisioningErrorCode: "Other",
        message: `Not authorized to access the resource: ${vnet}. Please check the user assigned identity has the correct permissions. For more details, go to https://aka.ms/azvmimagebuilderts.`,
      });
      await grantContributor(`/subscriptions/${subscriptionId}/resourceGroups/${rg}`);
      expect((await create("connected", body)).provisioningState).toBe("Succeeded");
    });
  });

  describe("runs", () => {
    it("[I13] refuses to run a running template: 409 OperationNotAllowed (azvmimagebuilder issues #38, #116)", async () => {
      await h.admin("PUT", "config", { imageBuilder: { phaseDurationsInMs: { Queued: 60_000 } } });
      await create("busy", template());
      await h.imageBuilder.virtualMachineImageTemplates.run(rg, "busy", poll).submitted();
      const error = await restErrorOf(() => h.imageBuilder.virtualMachineImageTemplates.run(rg, "busy", poll));
      expect([error.statusCode, error.code]).toEqual([409, "OperationNotAllowed"]);
    });

    it("[I14] answers with Azure's defaults, a 202 PATCH, a 204 cancel and an unset end time while running (test_image_builder_cancel recording)", async () => {
      await h.admin("PUT", "config", {
        operationDurationInMs: 1_000,
        imageBuilder: { phaseDurationsInMs: { Queued: 0, Building: 60_000 } },
      });
      const put = await h.raw(
        "PUT",
        `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.VirtualMachineImages/imageTemplates/d?api-version=2022-07-01`,
        {
          token: "t",
          body: {
            location: "westeurope",
            identity: { type: "UserAssigned", userAssignedIdentities: { [identity.id]: {} } },
            properties: {
              source: { ...ubuntu24, version: "24.04.202503260" },
              distribute: [{ type: "VHD", runOutputName: "vhd" }],
            },
          },
        },
      );
      expect(put.status).toBe(201);
      expect((put.body as { properties: Record<string, unknown> }).properties).toMatchObject({
        provisioningState: "Creating",
        buildTimeoutInMinutes: 0,
        vmProfile: { vmSize: "", osDiskSizeGB: 0 },
        stagingResourceGroup: "",
        exactStagingResourceGroup: "",
        source: { exactVersion: "24.04.202503260" },
        distribute: [{ artifactTags: {} }],
      });
      await h.admin("POST", "clock", { advanceByMs: 1_000 });
      let patchStatus = 0;
      await h.imageBuilder.virtualMachineImageTemplates
        .update(
          rg,
          "d",
          { tags: { a: "b" } },
          {
            ...poll,
            onResponse: (r) => (patchStatus ||= r.status),
          },
        )
        .submitted();
      expect(patchStatus).toBe(202);
      await h.admin("POST", "clock", { advanceByMs: 1_000 });
      await h.imageBuilder.virtualMachineImageTemplates.run(rg, "d", poll).submitted();
      const running = await h.raw(
        "GET",
        `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.VirtualMachineImages/imageTemplates/d?api-version=2022-07-01`,
        { token: "t" },
      );
      expect(
        (running.body as { properties: { lastRunStatus: Record<string, unknown> } }).properties.lastRunStatus,
      ).toMatchObject({
        endTime: "0001-01-01T00:00:00Z",
        runState: "Running",
        runSubState: "Building",
        message: "",
      });
      const cancel = await h.raw(
        "POST",
        `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.VirtualMachineImages/imageTemplates/d/cancel?api-version=2022-07-01`,
        { token: "t" },
      );
      expect(cancel.status).toBe(204);
    });

    it("[I15] distributes into the gallery: the named version with its tags, regions and storage type; the run stays Distributing until it replicated (image-builder-json.md, test_image_build_shared_image recording)", async () => {
      await h.admin("PUT", "config", { replication: { regionDurationInMs: 60_000 } });
      const definitionId = await definition("ubuntu");
      await create(
        "to-gallery",
        template({
          distribute: [
            sharedImage(`${definitionId}/versions/1.2.3`, {
              artifactTags: { build: "b-1" },
              excludeFromLatest: true,
              targetRegions: [{ name: "westeurope", replicaCount: 2, storageAccountType: "Standard_ZRS" }],
            } as Partial<ImageTemplateDistributorUnion>),
          ],
        }),
      );
      const run = h.imageBuilder.virtualMachineImageTemplates.run(rg, "to-gallery", poll);
      await run.submitted();
      await h.admin("POST", "clock", { advanceByMs: 100 });
      const version = await h.compute.galleryImageVersions.get(rg, "gal", "ubuntu", "1.2.3");
      expect(version.provisioningState).toBe("Creating");
      expect(version.tags).toMatchObject({
        build: "b-1",
        VMImageBuilderSource: "PlatformImage Canonical::ubuntu-24_04-lts::server::24.04.202503260",
      });
      expect(version.tags?.["correlationId"]).toMatch(/^[0-9a-f-]{36}$/);
      expect(version.publishingProfile).toMatchObject({ excludeFromLatest: true });
      expect(version.publishingProfile?.targetRegions).toEqual([
        { name: "West Europe", regionalReplicaCount: 2, storageAccountType: "Standard_ZRS" },
      ]);
      const distributing = await h.imageBuilder.virtualMachineImageTemplates.get(rg, "to-gallery");
      expect(distributing.lastRunStatus).toMatchObject({ runState: "Running", runSubState: "Distributing" });
      await h.admin("POST", "clock", { advanceByMs: 60_000 });
      await run.pollUntilDone();
      const output = await h.imageBuilder.virtualMachineImageTemplates.getRunOutput(rg, "to-gallery", "sig");
      expect(output.artifactId).toBe(`${definitionId}/versions/1.2.3`);
    });

    it("[I15] numbers versions by versioning: Latest (major -1 = unset, or a major), Source, and 1.0.0 first (image-builder-json.md, recordings)", async () => {
      const definitionId = await definition("ubuntu");
      const build = async (name: string, versioning?: object) => {
        await create(
          name,
          template({ distribute: [sharedImage(definitionId, versioning ? ({ versioning } as object) : {})] }),
        );
        await h.imageBuilder.virtualMachineImageTemplates.run(rg, name, poll);
        return (await h.imageBuilder.virtualMachineImageTemplates.getRunOutput(rg, name, "sig")).artifactId
          ?.split("/")
          .pop();
      };
      expect(await build("first")).toBe("1.0.0");
      expect(await build("unset", { scheme: "Latest", major: -1 })).toBe("1.0.1");
      expect(await build("major", { scheme: "Latest", major: 2 })).toBe("2.0.0");
      expect(await build("next", { scheme: "Latest" })).toBe("2.0.1");
      expect(await build("source", { scheme: "Source" })).toBe("24.4.202503260");
    });

    it("[I15] gives a managed image output the source's Hyper-V generation and Image Builder's tag (test_image_build_managed_image recording)", async () => {
      await create(
        "gen1",
        template({
          source: jammyGen1,
          distribute: [
            {
              type: "ManagedImage",
              imageId: managedImageId(rg, "out"),
              location: "westeurope",
              runOutputName: "mi",
              artifactTags: { a: "b" },
            },
          ],
        }),
      );
      await h.imageBuilder.virtualMachineImageTemplates.run(rg, "gen1", poll);
      const image = await h.compute.images.get(rg, "out");
      expect(image.hyperVGeneration).toBe("V1");
      expect(image.tags).toEqual({
        a: "b",
        VMImageBuilderSource: "PlatformImage Canonical::0001-com-ubuntu-server-jammy::22_04-lts::22.04.202503180",
      });
    });

    it("[I16] fails the run at Distributing when the named version already exists (image-builder-json.md)", async () => {
      const definitionId = await definition("ubuntu");
      await create("once", template({ distribute: [sharedImage(`${definitionId}/versions/1.0.0`)] }));
      await h.imageBuilder.virtualMachineImageTemplates.run(rg, "once", poll);
      await create("twice", template({ distribute: [sharedImage(`${definitionId}/versions/1.0.0`)] }));
      const failure = await lroFailureOf(h.imageBuilder.virtualMachineImageTemplates.run(rg, "twice", poll));
      expect(failure.code).toBe("InternalOperationError");
      const t = await h.imageBuilder.virtualMachineImageTemplates.get(rg, "twice");
      expect(t.lastRunStatus).toMatchObject({ runState: "Failed", runSubState: "Distributing" });
      expect(t.lastRunStatus?.message).toContain("already exists");
    });

    it("[I17] ends PartiallySucceeded when one distribution of two fails (imagebuilder spec RunState)", async () => {
      await h.admin("POST", "rules/templates", { templateName: "partly", failDistribution: "second" });
      await create(
        "partly",
        template({
          distribute: [
            { type: "VHD", runOutputName: "first" },
            { type: "VHD", runOutputName: "second" },
          ],
        }),
      );
      await lroFailureOf(h.imageBuilder.virtualMachineImageTemplates.run(rg, "partly", poll));
      const t = await h.imageBuilder.virtualMachineImageTemplates.get(rg, "partly");
      expect(t.lastRunStatus?.runState).toBe("PartiallySucceeded");
      expect(t.lastRunStatus?.message).toMatch(/^Failed in distributing 1 images out of total 2: /);
    });

    it("[I18] names the customization log in a failed run's message; the log is readable until the template is deleted (image-builder-troubleshoot.md)", async () => {
      await h.admin("POST", "rules/templates", { templateName: "broken", failAt: "Customizing" });
      await create("broken", template());
      await lroFailureOf(h.imageBuilder.virtualMachineImageTemplates.run(rg, "broken", poll));
      const t = await h.imageBuilder.virtualMachineImageTemplates.get(rg, "broken");
      const message = t.lastRunStatus?.message ?? "";
      const uri =
        /Image Build log location: (https:\/\/[a-z0-9]{24}\.blob\.core\.windows\.net\/packerlogs\/[0-9a-f-]{36}\/customization\.log)\. OperationId: [0-9a-f-]{36}\. Use this operationId to search packer logs\.$/.exec(
          message,
        )?.[1];
      expect(message).toMatch(/^Failed while waiting for packerizer: Microservice has failed: /);
      expect(uri).toBeDefined();
      const log = await h.raw("GET", `/_emulator/blob?uri=${encodeURIComponent(uri!)}`);
      expect(log.status).toBe(200);
      await h.imageBuilder.virtualMachineImageTemplates.delete(rg, "broken", poll);
      const gone = await h.raw("GET", `/_emulator/blob?uri=${encodeURIComponent(uri!)}`);
      expect(gone.status).toBe(404);
    });

    it("[I19] fails a run at Building when its managed image source is gone, with the Compute error inside (image-builder-troubleshoot.md)", async () => {
      const imageId = `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/images/base`;
      await h.compute.images.createOrUpdate(
        rg,
        "base",
        {
          location: "westeurope",
          hyperVGeneration: "V2",
          storageProfile: { osDisk: { osType: "Linux", osState: "Generalized", diskSizeGB: 30 } },
        },
        poll,
      );
      await create("from-base", template({ source: { type: "ManagedImage", imageId } }));
      await h.compute.images.delete(rg, "base", poll);
      const failure = await lroFailureOf(h.imageBuilder.virtualMachineImageTemplates.run(rg, "from-base", poll));
      expect(failure.code).toBe("InternalOperationError");
      const t = await h.imageBuilder.virtualMachineImageTemplates.get(rg, "from-base");
      expect(t.lastRunStatus).toMatchObject({ runState: "Failed", runSubState: "Building" });
      expect(t.lastRunStatus?.message).toMatch(
        new RegExp(
          `^Build \\(Managed Image\\) step failed: Error getting Managed Image '${imageId}': compute\\.ImagesClient#Get: .*StatusCode=404`,
        ),
      );
    });

    it("[I18] keeps a log for a successful run too, in the staging group's storage account (image-builder-troubleshoot.md)", async () => {
      const t = await create("fine", template());
      await h.imageBuilder.virtualMachineImageTemplates.run(rg, "fine", poll);
      const staging = t.exactStagingResourceGroup!.split("/").pop()!;
      const blobs = await h.admin<{ blobs: { uri: string }[] }>("GET", `blobs?resourceGroup=${staging}`);
      expect(blobs.blobs).toHaveLength(1);
      expect(blobs.blobs[0]?.uri).toMatch(/\/packerlogs\/[0-9a-f-]{36}\/customization\.log$/);
    });
  });
});
