import type { GalleryImageVersion as SdkVersion } from "@azure/arm-compute";
import type {
  GalleryClient,
  ImageDefinitionRef,
  ManagedImageSummary,
  VersionDetails,
  VersionSummary,
} from "../ports.js";
import type { ArmClients } from "./armClients.js";
import { armCall, armGet, isNotFound } from "./armErrors.js";
import { parseArmId } from "../armIds.js";

function toSummary(v: SdkVersion): VersionSummary {
  const profile = v.publishingProfile;
  return {
    name: v.name ?? "",
    location: v.location,
    provisioningState: v.provisioningState,
    publishedDate: profile?.publishedDate,
    endOfLifeDate: profile?.endOfLifeDate,
    excludeFromLatest: profile?.excludeFromLatest ?? false,
    targetRegions: (profile?.targetRegions ?? []).map((r) => ({
      name: r.name,
      regionalReplicaCount: r.regionalReplicaCount,
      storageAccountType: r.storageAccountType,
      excludeFromLatest: r.excludeFromLatest,
    })),
    tags: v.tags ?? {},
  };
}

function toDetails(v: SdkVersion): VersionDetails {
  const status = v.replicationStatus;
  return {
    ...toSummary(v),
    replication: status
      ? {
          aggregatedState: status.aggregatedState ?? "Unknown",
          summary: (status.summary ?? []).map((s) => ({
            region: s.region ?? "",
            state: s.state ?? "Unknown",
            details: s.details,
            progress: s.progress,
          })),
        }
      : undefined,
  };
}

/** {@link GalleryClient} on `@azure/arm-compute`. */
export class ArmGalleryClient implements GalleryClient {
  constructor(private readonly clients: ArmClients) {}

  async getImageDefinition(ref: ImageDefinitionRef) {
    const client = await this.clients.computeFor(ref.subscriptionId);
    const definition = await armGet("read image definition", () =>
      client.galleryImages.get(ref.resourceGroup, ref.gallery, ref.definition),
    );
    return definition ? { tags: definition.tags ?? {} } : undefined;
  }

  async createImageDefinition(
    ref: ImageDefinitionRef,
    definition: Parameters<GalleryClient["createImageDefinition"]>[1],
  ) {
    const client = await this.clients.computeFor(ref.subscriptionId);
    await armCall(`create image definition ${ref.definition}`, () =>
      client.galleryImages.createOrUpdate(ref.resourceGroup, ref.gallery, ref.definition, definition),
    );
  }

  async updateImageDefinitionTags(ref: ImageDefinitionRef, tags: Record<string, string>) {
    const client = await this.clients.computeFor(ref.subscriptionId);
    const current = await client.galleryImages.get(ref.resourceGroup, ref.gallery, ref.definition);
    // PATCH of a gallery image requires its identity; send it back unchanged with the new tags.
    await armCall(`update tags of image definition ${ref.definition}`, () =>
      client.galleryImages.update(ref.resourceGroup, ref.gallery, ref.definition, {
        osType: current.osType,
        osState: current.osState,
        identifier: current.identifier,
        tags,
      }),
    );
  }

  async listVersions(ref: ImageDefinitionRef): Promise<VersionSummary[]> {
    const client = await this.clients.computeFor(ref.subscriptionId);
    const versions: VersionSummary[] = [];
    try {
      for await (const v of client.galleryImageVersions.listByGalleryImage(
        ref.resourceGroup,
        ref.gallery,
        ref.definition,
      )) {
        versions.push(toSummary(v));
      }
    } catch (error) {
      if (isNotFound(error)) return [];
      return armCall("list image versions", () => Promise.reject(error));
    }
    return versions;
  }

  async getVersion(ref: ImageDefinitionRef, version: string) {
    const client = await this.clients.computeFor(ref.subscriptionId);
    const v = await armGet(`read image version ${version}`, () =>
      client.galleryImageVersions.get(ref.resourceGroup, ref.gallery, ref.definition, version, {
        expand: "ReplicationStatus",
      }),
    );
    return v ? toDetails(v) : undefined;
  }

  async createVersion(ref: ImageDefinitionRef, version: string, body: SdkVersion) {
    const client = await this.clients.computeFor(ref.subscriptionId);
    await armCall(`create image version ${version}`, () =>
      client.galleryImageVersions
        .createOrUpdate(ref.resourceGroup, ref.gallery, ref.definition, version, body)
        .submitted(),
    );
  }

  async updateVersion(
    ref: ImageDefinitionRef,
    version: string,
    update: Parameters<GalleryClient["updateVersion"]>[2],
    options: { wait: boolean } = { wait: true },
  ) {
    const client = await this.clients.computeFor(ref.subscriptionId);
    await armCall(`update image version ${version}`, async () => {
      const poller = client.galleryImageVersions.update(
        ref.resourceGroup,
        ref.gallery,
        ref.definition,
        version,
        update,
      );
      if (options.wait) await poller;
      else await poller.submitted();
    });
  }

  async deleteVersion(ref: ImageDefinitionRef, version: string) {
    const client = await this.clients.computeFor(ref.subscriptionId);
    await armCall(`delete image version ${version}`, () =>
      client.galleryImageVersions.delete(ref.resourceGroup, ref.gallery, ref.definition, version).submitted(),
    );
  }

  async getManagedImage(id: string): Promise<ManagedImageSummary | undefined> {
    const { subscriptionId, resourceGroup, name } = parseArmId(id);
    const client = await this.clients.computeFor(subscriptionId);
    const image = await armGet(`read managed image ${name}`, () => client.images.get(resourceGroup, name));
    return image
      ? { id: image.id ?? id, name: image.name ?? name, location: image.location, tags: image.tags ?? {} }
      : undefined;
  }

  async listManagedImages(subscriptionId: string, resourceGroup: string): Promise<ManagedImageSummary[]> {
    const client = await this.clients.computeFor(subscriptionId);
    const images: ManagedImageSummary[] = [];
    try {
      for await (const image of client.images.listByResourceGroup(resourceGroup)) {
        images.push({ id: image.id ?? "", name: image.name ?? "", location: image.location, tags: image.tags ?? {} });
      }
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
    return images;
  }

  async deleteManagedImage(id: string) {
    const { subscriptionId, resourceGroup, name } = parseArmId(id);
    const client = await this.clients.computeFor(subscriptionId);
    try {
      await client.images.delete(resourceGroup, name).submitted();
    } catch (error) {
      if (!isNotFound(error)) await armCall(`delete managed image ${name}`, () => Promise.reject(error));
    }
  }

  async listPlatformImageVersions(
    subscriptionId: string,
    location: string,
    publisher: string,
    offer: string,
    sku: string,
  ) {
    const client = await this.clients.computeFor(subscriptionId);
    const versions = await armCall(`list versions of ${publisher}:${offer}:${sku}`, () =>
      client.virtualMachineImages.list(location, publisher, offer, sku),
    );
    return versions.map((v) => v.name);
  }
}
