import { createHash } from "node:crypto";
import { request } from "node:https";
import { ComputeManagementClient } from "@azure/arm-compute";
import type { Catalog } from "../shared/catalog/schema.js";
import type { ArmEmulator } from "./arm/index.js";
import type { Azurite } from "./azurite/index.js";
import { localAzure } from "./settings.js";

/** What `azd provision` makes that the pipeline relies on (infra/main.bicep, infra/app/rbac.bicep). */
export interface LocalInfrastructure {
  /** The pipeline's subscription (setting AZURE_SUBSCRIPTION_ID): galleries without their own, Image Builder's group. */
  subscriptionId: string;
  /** Resource group of Image Builder templates (infra: `imageBuilderRg`, setting IMAGE_BUILDER_RESOURCE_GROUP). */
  imageBuilderResourceGroup: string;
  /** The Image Builder identity (infra: `builderIdentity`, setting IMAGE_BUILDER_IDENTITY_ID). */
  imageBuilderIdentityId: string;
  location: string;
}

const defaultInfrastructure: LocalInfrastructure = {
  subscriptionId: localAzure.subscriptionId,
  imageBuilderResourceGroup: localAzure.imageBuilderResourceGroup,
  imageBuilderIdentityId: localAzure.imageBuilderIdentityId,
  location: "westeurope",
};

/** PUTs an ARM resource on the emulator as the local identity (what `azd provision` would deploy). */
export function armPut(arm: ArmEmulator, path: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, arm.endpoint),
      {
        method: "PUT",
        ca: arm.caCertPem,
        headers: { authorization: "Bearer local", "content-type": "application/json" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 500;
          if (status >= 300) reject(new Error(`PUT ${path}: ${status} ${text}`));
          else resolve({ status, body: text ? (JSON.parse(text) as unknown) : undefined });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** A role definition id as `guid(...)` makes it in rbac.bicep: stable for the same inputs. */
function roleGuid(...parts: string[]): string {
  const h = createHash("sha256").update(parts.join("|")).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function parseIdentityId(id: string): { subscriptionId: string; resourceGroup: string; name: string } {
  const match =
    /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/([^/]+)$/i.exec(
      id,
    );
  if (!match) throw new Error(`not a user-assigned identity id: ${id}`);
  return { subscriptionId: match[1]!, resourceGroup: match[2]!, name: match[3]! };
}

/**
 * Creates on the local ARM emulator what `azd provision` creates in Azure and the pipeline needs: the resource groups
 * (the pipeline's, Image Builder's, each gallery's), the user-assigned identities Image Builder templates use (the
 * infra's and any named in the catalog), the galleries the catalog names, and the builder identity's role
 * assignments of infra/app/rbac.bicep. The pipeline itself manages image definitions and versions, never these.
 */
export async function provisionLocalAzure(
  arm: ArmEmulator,
  catalog: Catalog,
  infrastructure: Partial<LocalInfrastructure> = {},
): Promise<void> {
  const infra = { ...defaultInfrastructure, ...infrastructure };
  const groups = new Map<string, { subscriptionId: string; name: string; location: string }>();
  const addGroup = (subscriptionId: string, name: string, location: string) => {
    const key = `${subscriptionId}/${name}`.toLowerCase();
    if (!groups.has(key)) groups.set(key, { subscriptionId, name, location });
  };
  const identities = new Map<string, string>();
  const builder = parseIdentityId(infra.imageBuilderIdentityId);
  identities.set(infra.imageBuilderIdentityId.toLowerCase(), infra.imageBuilderIdentityId);
  addGroup(builder.subscriptionId, builder.resourceGroup, infra.location);
  addGroup(infra.subscriptionId, infra.imageBuilderResourceGroup, infra.location);
  for (const image of catalog.images) {
    const subscriptionId = image.gallery.subscriptionId ?? infra.subscriptionId;
    addGroup(subscriptionId, image.gallery.resourceGroup, image.gallery.location ?? image.build.location);
    const identityId = image.build.userAssignedIdentityId;
    if (identityId) {
      identities.set(identityId.toLowerCase(), identityId);
      const parsed = parseIdentityId(identityId);
      addGroup(parsed.subscriptionId, parsed.resourceGroup, image.build.location);
    }
  }
  for (const group of groups.values()) {
    await armPut(arm, `/subscriptions/${group.subscriptionId}/resourcegroups/${group.name}?api-version=2022-09-01`, {
      location: group.location,
    });
  }
  const principals: string[] = [];
  for (const identityId of identities.values()) {
    const parsed = parseIdentityId(identityId);
    const created = await armPut(
      arm,
      `/subscriptions/${parsed.subscriptionId}/resourceGroups/${parsed.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${parsed.name}?api-version=2023-01-31`,
      { location: infra.location },
    );
    principals.push((created.body as { properties: { principalId: string } }).properties.principalId);
  }

  const credential = { getToken: async () => ({ token: "local", expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const seenGalleries = new Set<string>();
  for (const image of catalog.images) {
    const subscriptionId = image.gallery.subscriptionId ?? infra.subscriptionId;
    const key = `${subscriptionId}/${image.gallery.resourceGroup}/${image.gallery.name}`.toLowerCase();
    if (seenGalleries.has(key)) continue;
    seenGalleries.add(key);
    const compute = new ComputeManagementClient(credential, subscriptionId, {
      endpoint: arm.endpoint,
      tlsOptions: { ca: arm.caCertPem },
    });
    await compute.galleries.createOrUpdate(image.gallery.resourceGroup, image.gallery.name, {
      location: image.gallery.location ?? image.build.location,
      description: "Golden images (local stack)",
    });
    // rbac.bicep: the Image Builder identity distributes into the gallery (the gallery-distribution role, on the
    // gallery); Image Builder gives itself Contributor on the staging group it creates, so nothing is assigned there.
    const galleryScope = `/subscriptions/${subscriptionId}/resourceGroups/${image.gallery.resourceGroup}/providers/Microsoft.Compute/galleries/${image.gallery.name}`;
    for (const principalId of principals) {
      const roleDefinitionId = `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleGuid(subscriptionId, image.gallery.resourceGroup, "image-pipeline-gallery-distribution")}`;
      await armPut(
        arm,
        `${galleryScope}/providers/Microsoft.Authorization/roleAssignments/${roleGuid(galleryScope, roleDefinitionId, principalId)}?api-version=2022-04-01`,
        { properties: { roleDefinitionId, principalId, principalType: "ServicePrincipal" } },
      );
    }
  }
}

/**
 * Provisions the local Azure for a catalog (see provisionLocalAzure); kept under its former name for the callers
 * that only mentioned galleries.
 */
export function provisionGalleries(arm: ArmEmulator, catalog: Catalog): Promise<void> {
  return provisionLocalAzure(arm, catalog);
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
