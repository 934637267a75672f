import type * as z from "zod";
import { catalogImageSchema } from "../shared/catalog/schema.js";
import type { CatalogImage } from "../shared/catalog/schema.js";
import { managedByValue, tagNames } from "../shared/domain/names.js";
import type { VersionSnapshot } from "../shared/domain/retention.js";
import {
  buildRequestedSchema,
  deriveBuildId,
  messageSchemaVersion,
  type BuildRequested,
} from "../shared/messages/index.js";

export type CatalogImageInput = z.input<typeof catalogImageSchema>;
type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

export const subscriptionId = "5d9c2b1a-7e3f-4a6b-9c8d-0e1f2a3b4c5d";
export const identityId = `/subscriptions/${subscriptionId}/resourceGroups/rg-image-pipeline/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-image-builder`;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; arrays and scalars replace; `undefined` removes the key. */
export function deepMerge<T>(base: T, overrides: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(overrides)) return (overrides === undefined ? base : overrides) as T;
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete result[key];
    else result[key] = isPlainObject(value) && isPlainObject(result[key]) ? deepMerge(result[key], value) : value;
  }
  return result as T;
}

/** Raw catalog entry of a Linux Gen2 image that supports Trusted Launch, replicated to two regions. */
export function aCatalogImageInput(overrides: DeepPartial<CatalogImageInput> = {}): CatalogImageInput {
  const base: CatalogImageInput = {
    name: "ubuntu-2404",
    gallery: { resourceGroup: "rg-golden-images", name: "acg_golden" },
    definition: {
      publisher: "contoso",
      offer: "ubuntu-server",
      sku: "24_04-lts-gen2",
      osType: "Linux",
      hyperVGeneration: "V2",
      features: [{ name: "SecurityType", value: "TrustedLaunchSupported" }],
    },
    source: { type: "PlatformImage", publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server" },
    customize: [
      { type: "Shell", name: "apply-os-updates", inline: ["sudo apt-get update", "sudo apt-get -y dist-upgrade"] },
      {
        type: "File",
        name: "install-baseline-config",
        sourceUri: "https://artifacts.contoso.example/golden/baseline.conf",
        destination: "/tmp/baseline.conf",
        sha256Checksum: "a".repeat(64),
      },
    ],
    build: { location: "westeurope", vmSize: "Standard_D2s_v5", buildTimeoutInMinutes: 90 },
    distribution: { targetRegions: [{ name: "westeurope", regionalReplicaCount: 2 }, { name: "northeurope" }] },
    versioning: { scheme: "semver", major: 1, minor: 0 },
    retention: { endOfLifeDays: 90, keepLatest: 3, minAgeDays: 7, maxDeletionsPerRun: 10 },
  };
  return deepMerge(base, overrides);
}

/** A parsed catalog image (defaults applied). */
export function aCatalogImage(overrides: DeepPartial<CatalogImageInput> = {}): CatalogImage {
  return catalogImageSchema.parse(aCatalogImageInput(overrides));
}

/** A Windows Server 2022 catalog image. */
export function aWindowsCatalogImage(overrides: DeepPartial<CatalogImageInput> = {}): CatalogImage {
  return aCatalogImage(
    deepMerge(
      {
        name: "windows-2022",
        definition: { offer: "windows-server", sku: "2022-datacenter-azure-edition", osType: "Windows" },
        source: {
          type: "PlatformImage",
          publisher: "MicrosoftWindowsServer",
          offer: "WindowsServer",
          sku: "2022-datacenter-azure-edition",
        },
        customize: [
          { type: "PowerShell", name: "baseline", inline: ["Install-WindowsFeature Web-Server"], runElevated: true },
          { type: "WindowsRestart", name: "restart", restartTimeout: "10m" },
          { type: "WindowsUpdate", name: "updates", searchCriteria: "IsInstalled=0", updateLimit: 40 },
        ],
      },
      overrides,
    ),
  );
}

/** A healthy, promoted version the pipeline created a year before 2026-06-01. */
export function aVersionSnapshot(overrides: Partial<VersionSnapshot> = {}): VersionSnapshot {
  return {
    name: "1.0.0",
    publishedDate: new Date("2025-06-01T00:00:00Z"),
    endOfLifeDate: new Date("2025-09-01T00:00:00Z"),
    excludeFromLatest: false,
    provisioningState: "Succeeded",
    tags: { [tagNames.managedBy]: managedByValue, [tagNames.state]: "promoted" },
    ...overrides,
  };
}

/** A valid build request message for a commit of an image, as the webhook sends it (checked by its schema). */
export function aBuildRequestMessage(image: string, commit: string): BuildRequested {
  return buildRequestedSchema.parse({
    schemaVersion: messageSchemaVersion,
    kind: "BuildRequested",
    buildId: deriveBuildId({ image, commit }),
    image,
    commit,
    reason: "push",
    requestedBy: "octocat",
    requestedAt: new Date().toISOString(),
    traceparent: `00-${"1".repeat(32)}-${"2".repeat(16)}-01`,
    attempt: 0,
    force: false,
  });
}
