import { ComputeManagementClient } from "@azure/arm-compute";
import { ImageBuilderClient } from "@azure/arm-imagebuilder";
import { describe, expect, it } from "vitest";
import { managedByValue, tagNames } from "../../../shared/domain/names.js";
import { renderGalleryImage, renderVersionExpansion } from "../../../shared/domain/imageVersion.js";
import {
  MissingIdentityError,
  renderImageTemplate,
  UnsupportedDistributionError,
} from "../../../shared/domain/template.js";
import { toSdkDefinition, toSdkVersionUpdate } from "../../../shared/adapters/gallery.js";
import { toSdkTemplate } from "../../../shared/adapters/imageBuilder.js";
import type { ImageTemplateBuild } from "../../../shared/domain/template.js";
import { catalogImageSchema } from "../../../shared/catalog/schema.js";
import {
  aCatalogImage,
  aCatalogImageInput,
  aWindowsCatalogImage,
  identityId,
  subscriptionId,
} from "../../factories.js";
import {
  allowedGalleryImagePaths,
  allowedGalleryImageVersionPaths,
  allowedImageTemplatePaths,
  galleryImageCreateExample,
  galleryImageVersionUpdateExample,
  imageTemplateCreateExample,
} from "../../fixtures/catalog/specShapes.js";
import { capturingClientOptions, propertyPaths, stubCredential } from "./wire.js";

const definition = {
  subscriptionId,
  resourceGroup: "rg-golden-images",
  gallery: "acg_golden",
  definition: "ubuntu-2404",
};
const versionId = `/subscriptions/${subscriptionId}/resourceGroups/rg-golden-images/providers/Microsoft.Compute/galleries/acg_golden/images/ubuntu-2404/versions/1.0.3`;
const build: ImageTemplateBuild = {
  buildId: "b-20261123-0001",
  version: "1.0.3",
  commit: "4f2c9e1",
  ref: "refs/heads/main",
  requestedBy: "octocat",
  catalogHash: "c".repeat(64),
  createdAt: new Date("2026-11-23T09:00:00Z"),
  subscriptionId,
  definition,
  homeRegion: "westeurope",
  defaultIdentityId: identityId,
};
const now = new Date("2026-11-23T10:00:00Z");

/** Sends a model through the real SDK client and returns the JSON body it put on the wire. */
async function wireBody(send: (options: ReturnType<typeof capturingClientOptions>["options"]) => Promise<unknown>) {
  const { options, requests } = capturingClientOptions();
  await expect(send(options)).rejects.toThrow(/captured/);
  expect(requests).toHaveLength(1);
  return { request: requests[0]!, body: JSON.parse(String(requests[0]!.body)) as Record<string, unknown> };
}

/** Paths of `ours` not in the example nor in the allowed list, and example paths whose JSON type differs. */
function compareShapes(ours: Map<string, string>, example: Map<string, string>, allowed: readonly string[]) {
  // A path is known when the example has it, or it is an allowed path, lies under one, or is an ancestor of one.
  const isKnown = (p: string) =>
    example.has(p) ||
    allowed.some(
      (a) =>
        p === a || p.startsWith(`${a}.`) || p.startsWith(`${a}[]`) || a.startsWith(`${p}.`) || a.startsWith(`${p}[]`),
    );
  const unknown = [...ours.keys()].filter((p) => !isKnown(p));
  const typeMismatches = [...ours].filter(([p, t]) => example.has(p) && example.get(p) !== t).map(([p]) => p);
  return { unknown, typeMismatches };
}

describe("renderImageTemplate", () => {
  it("puts the Linux template on the wire in the shape of the 2025-10-01 create example, distributing to the gallery", async () => {
    const image = aCatalogImage({
      customize: [
        {
          type: "Shell",
          name: "harden",
          scriptUri: "https://artifacts.contoso.example/harden.sh",
          sha256Checksum: "b".repeat(64),
        },
        { type: "Shell", name: "updates", inline: ["sudo apt-get update"] },
      ],
      validate: { inVMValidations: [{ type: "Shell", name: "check", inline: ["test -f /etc/os-release"] }] },
      build: { osDiskSizeGB: 64, stagingResourceGroupPrefix: "rg-staging" },
      distribution: { storageAccountType: "Standard_ZRS" },
    });
    const template = renderImageTemplate(image, build);
    const { request, body } = await wireBody((options) =>
      new ImageBuilderClient(stubCredential, subscriptionId, options).virtualMachineImageTemplates.createOrUpdate(
        "rg-image-pipeline",
        "ubuntu-2404-1.0.3",
        toSdkTemplate(template),
      ),
    );
    expect(request.method).toBe("PUT");
    expect(request.url).toContain("api-version=2025-10-01");
    const ours = propertyPaths(body);
    const { unknown, typeMismatches } = compareShapes(
      ours,
      propertyPaths(imageTemplateCreateExample),
      allowedImageTemplatePaths,
    );
    expect(unknown).toEqual([]);
    expect(typeMismatches).toEqual([]);
    for (const path of [
      "identity.type",
      "identity.userAssignedIdentities.<key>",
      "location",
      "properties.source.type",
      "properties.distribute[].runOutputName",
    ]) {
      expect(ours.has(path), path).toBe(true);
    }
    const tags = {
      [tagNames.managedBy]: managedByValue,
      [tagNames.buildId]: build.buildId,
      [tagNames.image]: "ubuntu-2404",
      [tagNames.version]: "1.0.3",
      [tagNames.commit]: "4f2c9e1",
      [tagNames.ref]: "refs/heads/main",
      [tagNames.requestedBy]: "octocat",
      [tagNames.catalogHash]: build.catalogHash,
    };
    expect(body).toMatchObject({
      location: "westeurope",
      identity: { type: "UserAssigned", userAssignedIdentities: { [identityId]: {} } },
      properties: {
        source: {
          type: "PlatformImage",
          publisher: "Canonical",
          offer: "ubuntu-24_04-lts",
          sku: "server",
          version: "latest",
        },
        // The version the pipeline allocated, in the definition's region only, excluded from latest.
        distribute: [
          {
            type: "SharedImage",
            galleryImageId: versionId,
            runOutputName: "ubuntu-2404-1.0.3-gallery",
            targetRegions: [{ name: "westeurope", replicaCount: 2, storageAccountType: "Standard_ZRS" }],
            excludeFromLatest: true,
            replicationMode: "Full",
            artifactTags: { ...tags, [tagNames.state]: "distributing" },
          },
        ],
        vmProfile: { vmSize: "Standard_D2s_v5", osDiskSizeGB: 64 },
        buildTimeoutInMinutes: 90,
        stagingResourceGroup: `/subscriptions/${subscriptionId}/resourceGroups/rg-staging-ubuntu-2404-1.0.3`,
        errorHandling: { onCustomizerError: "cleanup", onValidationError: "cleanup" },
      },
    });
    const properties = body.properties as { distribute: unknown[]; customize: unknown[] };
    expect(properties.distribute).toHaveLength(1);
    expect(properties.customize).toEqual([
      {
        type: "Shell",
        name: "harden",
        scriptUri: "https://artifacts.contoso.example/harden.sh",
        sha256Checksum: "b".repeat(64),
      },
      { type: "Shell", name: "updates", inline: ["sudo apt-get update"] },
    ]);
    expect(body.tags).toEqual({ ...tags, [tagNames.createdAt]: "2026-11-23T09:00:00.000Z" });
  });

  it("lets Image Builder name the staging resource group when the catalog gives no prefix", () => {
    expect(renderImageTemplate(aCatalogImage(), build).stagingResourceGroupId).toBeUndefined();
  });

  it("refuses a home region whose storage type Image Builder cannot write", () => {
    const image = aCatalogImage({ gallery: { location: "northeurope" } });
    const premiumV2 = {
      ...image,
      distribution: { ...image.distribution, storageAccountType: "PremiumV2_LRS" as const },
    };
    expect(() => renderImageTemplate(premiumV2, { ...build, homeRegion: "northeurope" })).toThrow(
      UnsupportedDistributionError,
    );
  });

  it("maps Windows customizers 1:1 as in the Windows create example", async () => {
    const template = renderImageTemplate(aWindowsCatalogImage(), build);
    const { body } = await wireBody((options) =>
      new ImageBuilderClient(stubCredential, subscriptionId, options).virtualMachineImageTemplates.createOrUpdate(
        "rg",
        "windows-2022-1.0.3",
        toSdkTemplate(template),
      ),
    );
    const { unknown, typeMismatches } = compareShapes(
      propertyPaths(body),
      propertyPaths(imageTemplateCreateExample),
      allowedImageTemplatePaths,
    );
    expect(unknown).toEqual([]);
    expect(typeMismatches).toEqual([]);
    expect((body.properties as { customize: unknown }).customize).toEqual([
      {
        type: "PowerShell",
        name: "baseline",
        inline: ["Install-WindowsFeature Web-Server"],
        runElevated: true,
        runAsSystem: false,
      },
      { type: "WindowsRestart", name: "restart", restartTimeout: "10m" },
      { type: "WindowsUpdate", name: "updates", searchCriteria: "IsInstalled=0", updateLimit: 40 },
    ]);
  });

  it("prefers the catalog's identity and fails clearly when there is none", () => {
    const own = `/subscriptions/${subscriptionId}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/own`;
    const withOwn = renderImageTemplate(aCatalogImage({ build: { userAssignedIdentityId: own } }), build);
    expect(withOwn.identityId).toBe(own);
    const { defaultIdentityId: _, ...noDefault } = build;
    expect(() => renderImageTemplate(aCatalogImage(), noDefault)).toThrow(MissingIdentityError);
  });

  it("renders a gallery image version source", () => {
    const imageVersionId = `/subscriptions/${subscriptionId}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/base/versions/latest`;
    const image = catalogImageSchema.parse({
      ...aCatalogImageInput(),
      source: { type: "SharedImageVersion", imageVersionId },
    });
    const template = renderImageTemplate(image, build);
    expect(template.source).toEqual({ type: "SharedImageVersion", imageVersionId });
  });
});

describe("renderVersionExpansion", () => {
  it("adds every target region, the end of life and region removal on the wire in the shape of the update example", async () => {
    const image = aCatalogImage({
      distribution: {
        targetRegions: [
          { name: "westeurope", regionalReplicaCount: 2, storageAccountType: "Standard_ZRS" },
          { name: "northeurope", excludeFromLatest: true },
        ],
        storageAccountType: "Standard_LRS",
      },
    });
    const distributedTags = {
      [tagNames.managedBy]: managedByValue,
      [tagNames.buildId]: build.buildId,
      [tagNames.state]: "distributing",
    };
    const update = renderVersionExpansion(image, {
      tags: distributedTags,
      baseImageVersion: "24.04.202611180",
      templateName: "ubuntu-2404-1.0.3",
      now,
    });
    const { request, body } = await wireBody((options) =>
      new ComputeManagementClient(stubCredential, subscriptionId, options).galleryImageVersions.update(
        "rg-golden-images",
        "acg_golden",
        "ubuntu-2404",
        "1.0.3",
        toSdkVersionUpdate(update),
      ),
    );
    expect(request.method).toBe("PATCH");
    expect(request.url).toContain("api-version=2025-12-03");
    const { unknown, typeMismatches } = compareShapes(
      propertyPaths(body),
      propertyPaths(galleryImageVersionUpdateExample),
      allowedGalleryImageVersionPaths,
    );
    expect(unknown).toEqual([]);
    expect(typeMismatches).toEqual([]);
    expect(body).toEqual({
      tags: {
        ...distributedTags,
        [tagNames.baseImageVersion]: "24.04.202611180",
        [tagNames.templateName]: "ubuntu-2404-1.0.3",
        [tagNames.state]: "replicating",
        [tagNames.replicationRetries]: "0",
      },
      properties: {
        publishingProfile: {
          targetRegions: [
            { name: "westeurope", regionalReplicaCount: 2, storageAccountType: "Standard_ZRS" },
            {
              name: "northeurope",
              regionalReplicaCount: 1,
              storageAccountType: "Standard_LRS",
              excludeFromLatest: true,
            },
          ],
          excludeFromLatest: true,
          endOfLifeDate: "2027-02-21T10:00:00.000Z",
        },
        safetyProfile: { allowDeletionOfReplicatedLocations: true },
      },
    });
  });
});

describe("renderGalleryImage", () => {
  it("renders the image definition in the shape of the GalleryImage create example", async () => {
    const spec = renderGalleryImage(aCatalogImage({ gallery: { location: "westeurope" } }), "westeurope");
    const { body } = await wireBody((options) =>
      new ComputeManagementClient(stubCredential, subscriptionId, options).galleryImages.createOrUpdate(
        "rg-golden-images",
        "acg_golden",
        "ubuntu-2404",
        toSdkDefinition(spec),
      ),
    );
    const { unknown, typeMismatches } = compareShapes(
      propertyPaths(body),
      propertyPaths(galleryImageCreateExample),
      allowedGalleryImagePaths,
    );
    expect(unknown).toEqual([]);
    expect(typeMismatches).toEqual([]);
    expect(body.properties).toEqual({
      osType: "Linux",
      osState: "Generalized",
      hyperVGeneration: "V2",
      architecture: "x64",
      identifier: { publisher: "contoso", offer: "ubuntu-server", sku: "24_04-lts-gen2" },
      features: [{ name: "SecurityType", value: "TrustedLaunchSupported" }],
    });
  });
});
