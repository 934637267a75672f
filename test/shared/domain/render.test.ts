import { ComputeManagementClient } from "@azure/arm-compute";
import { ImageBuilderClient } from "@azure/arm-imagebuilder";
import { describe, expect, it } from "vitest";
import { managedByValue, tagNames } from "../../../shared/domain/names.js";
import { renderGalleryImage, renderGalleryImageVersion } from "../../../shared/domain/imageVersion.js";
import { MissingIdentityError, renderImageTemplate } from "../../../shared/domain/template.js";
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
  galleryImageVersionCreateExample,
  imageTemplateCreateExample,
} from "../../fixtures/catalog/specShapes.js";
import { capturingClientOptions, propertyPaths, stubCredential } from "./wire.js";

const stagingImageId = `/subscriptions/${subscriptionId}/resourceGroups/rg-image-staging/providers/Microsoft.Compute/images/ubuntu-2404-1.0.3-staging`;
const build: ImageTemplateBuild = {
  buildId: "b-20261123-0001",
  version: "1.0.3",
  commit: "4f2c9e1",
  ref: "refs/heads/main",
  catalogHash: "c".repeat(64),
  subscriptionId,
  stagingImageId,
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
  it("puts the Linux template on the wire in the shape of the 2025-10-01 create example", async () => {
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
      build: { osDiskSizeGB: 64, stagingResourceGroup: "rg-staging-ubuntu" },
    });
    const template = renderImageTemplate(image, build);
    const { request, body } = await wireBody((options) =>
      new ImageBuilderClient(stubCredential, subscriptionId, options).virtualMachineImageTemplates.createOrUpdate(
        "rg-image-pipeline",
        "ubuntu-2404-1.0.3",
        template,
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
        distribute: [
          {
            type: "ManagedImage",
            imageId: stagingImageId,
            location: "westeurope",
            runOutputName: "ubuntu-2404-1.0.3-staging",
          },
        ],
        vmProfile: { vmSize: "Standard_D2s_v5", osDiskSizeGB: 64 },
        buildTimeoutInMinutes: 90,
        stagingResourceGroup: `/subscriptions/${subscriptionId}/resourceGroups/rg-staging-ubuntu`,
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
    expect(body.tags).toEqual({
      [tagNames.managedBy]: managedByValue,
      [tagNames.buildId]: build.buildId,
      [tagNames.image]: "ubuntu-2404",
      [tagNames.version]: "1.0.3",
      [tagNames.commit]: "4f2c9e1",
      [tagNames.ref]: "refs/heads/main",
      [tagNames.catalogHash]: build.catalogHash,
    });
  });

  it("maps Windows customizers 1:1 as in the Windows create example", async () => {
    const template = renderImageTemplate(aWindowsCatalogImage(), build);
    const { body } = await wireBody((options) =>
      new ImageBuilderClient(stubCredential, subscriptionId, options).virtualMachineImageTemplates.createOrUpdate(
        "rg",
        "windows-2022-1.0.3",
        template,
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
    expect(Object.keys(withOwn.identity.userAssignedIdentities ?? {})).toEqual([own]);
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

describe("renderGalleryImageVersion", () => {
  const publish = {
    buildId: build.buildId,
    commit: "4f2c9e1",
    ref: "refs/heads/main",
    catalogHash: build.catalogHash,
    sourceImageId: stagingImageId,
    baseImageVersion: "24.04.202611180",
    templateName: "ubuntu-2404-1.0.3",
    now,
  };

  it("puts the version on the wire in the shape of the 2025-12-03 create example, excluded from latest", async () => {
    const image = aCatalogImage({
      distribution: {
        targetRegions: [
          { name: "westeurope", regionalReplicaCount: 2, storageAccountType: "Standard_ZRS" },
          { name: "northeurope", excludeFromLatest: true },
        ],
        storageAccountType: "Standard_ZRS",
      },
    });
    const version = renderGalleryImageVersion(image, publish);
    const { request, body } = await wireBody((options) =>
      new ComputeManagementClient(stubCredential, subscriptionId, options).galleryImageVersions.createOrUpdate(
        "rg-golden-images",
        "acg_golden",
        "ubuntu-2404",
        "1.0.3",
        version,
      ),
    );
    expect(request.url).toContain("api-version=2025-12-03");
    const { unknown, typeMismatches } = compareShapes(
      propertyPaths(body),
      propertyPaths(galleryImageVersionCreateExample),
      allowedGalleryImageVersionPaths,
    );
    expect(unknown).toEqual([]);
    expect(typeMismatches).toEqual([]);
    expect(body).toEqual({
      location: "westeurope",
      tags: {
        [tagNames.managedBy]: managedByValue,
        [tagNames.image]: "ubuntu-2404",
        [tagNames.buildId]: build.buildId,
        [tagNames.commit]: "4f2c9e1",
        [tagNames.ref]: "refs/heads/main",
        [tagNames.catalogHash]: build.catalogHash,
        [tagNames.baseImageVersion]: "24.04.202611180",
        [tagNames.state]: "replicating",
        [tagNames.replicationRetries]: "0",
        [tagNames.templateName]: "ubuntu-2404-1.0.3",
        [tagNames.stagingImageId]: stagingImageId,
      },
      properties: {
        publishingProfile: {
          targetRegions: [
            { name: "westeurope", regionalReplicaCount: 2, storageAccountType: "Standard_ZRS" },
            { name: "northeurope", excludeFromLatest: true },
          ],
          replicaCount: 1,
          storageAccountType: "Standard_ZRS",
          replicationMode: "Full",
          excludeFromLatest: true,
          endOfLifeDate: "2027-02-21T10:00:00.000Z",
        },
        storageProfile: { source: { id: stagingImageId } },
        safetyProfile: { allowDeletionOfReplicatedLocations: true },
      },
    });
  });

  it("renders the image definition in the shape of the GalleryImage create example", async () => {
    const definition = renderGalleryImage(aCatalogImage({ gallery: { location: "westeurope" } }));
    const { body } = await wireBody((options) =>
      new ComputeManagementClient(stubCredential, subscriptionId, options).galleryImages.createOrUpdate(
        "rg-golden-images",
        "acg_golden",
        "ubuntu-2404",
        definition,
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
      features: [{ name: "SecurityType", value: "TrustedLaunch" }],
    });
  });
});
