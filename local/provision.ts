import { ComputeManagementClient } from "@azure/arm-compute";
import type { Catalog } from "../shared/catalog/schema.js";
import type { ArmEmulator } from "./arm/index.js";
import type { Azurite } from "./azurite/index.js";
import { localAzure } from "./settings.js";

/**
 * Creates the galleries the catalog names, as `azd provision` does in Azure (infra/ declares the gallery): the
 * pipeline manages image definitions and versions, never galleries.
 */
export async function provisionGalleries(arm: ArmEmulator, catalog: Catalog): Promise<void> {
  const credential = { getToken: async () => ({ token: "local", expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const seen = new Set<string>();
  for (const image of catalog.images) {
    const subscriptionId = image.gallery.subscriptionId ?? localAzure.subscriptionId;
    const key = `${subscriptionId}/${image.gallery.resourceGroup}/${image.gallery.name}`.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    const compute = new ComputeManagementClient(credential, subscriptionId, {
      endpoint: arm.endpoint,
      tlsOptions: { ca: arm.caCertPem },
    });
    await compute.galleries.createOrUpdate(image.gallery.resourceGroup, image.gallery.name, {
      location: image.gallery.location ?? image.build.location,
      description: "Golden images (local stack)",
    });
  }
}

/** Creates the catalog's blob container in Azurite, as `azd provision` does in the app's storage account. */
export async function provisionCatalogContainer(azurite: Azurite): Promise<string> {
  const { BlobServiceClient } = await import("@azure/storage-blob");
  const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
    localAzure.catalogContainer,
  );
  await container.createIfNotExists();
  return `${container.url}/${localAzure.catalogBlob}`;
}
