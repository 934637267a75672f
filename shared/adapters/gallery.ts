import type {
  GalleryImage,
  GalleryImageVersion as SdkVersion,
  GalleryImageVersionUpdate,
  TargetRegion,
} from "@azure/arm-compute";
import type { CatalogSource } from "../catalog/schema.js";
import { securityTypeOf } from "../domain/securityType.js";
import { compareDottedNumbers } from "../domain/versions.js";
import type {
  GalleryClient,
  ImageDefinitionRef,
  ImageDefinitionSpec,
  SourceImageFacts,
  VersionDetails,
  VersionSummary,
  VersionUpdate,
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
      // Azure answers null for a region that does not set its own value (the version's flag applies there).
      excludeFromLatest: r.excludeFromLatest ?? undefined,
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

export function toSdkDefinition(spec: ImageDefinitionSpec): GalleryImage {
  const definition: GalleryImage = {
    location: spec.location,
    tags: spec.tags,
    osType: spec.osType,
    osState: spec.osState,
    hyperVGeneration: spec.hyperVGeneration,
    architecture: spec.architecture,
    identifier: spec.identifier,
  };
  if (spec.features.length > 0) definition.features = spec.features;
  if (spec.description !== undefined) definition.description = spec.description;
  if (spec.endOfLifeDate !== undefined) definition.endOfLifeDate = spec.endOfLifeDate;
  return definition;
}

export function toSdkVersionUpdate(update: VersionUpdate): GalleryImageVersionUpdate {
  const sdk: GalleryImageVersionUpdate = {};
  if (update.tags) sdk.tags = update.tags;
  const profile: NonNullable<GalleryImageVersionUpdate["publishingProfile"]> = {};
  if (update.targetRegions) {
    profile.targetRegions = update.targetRegions.map((r) => {
      const target: TargetRegion = {
        name: r.name,
        regionalReplicaCount: r.regionalReplicaCount,
        storageAccountType: r.storageAccountType,
      };
      if (r.excludeFromLatest !== undefined) target.excludeFromLatest = r.excludeFromLatest;
      return target;
    });
  }
  if (update.excludeFromLatest !== undefined) profile.excludeFromLatest = update.excludeFromLatest;
  if (update.endOfLifeDate !== undefined) profile.endOfLifeDate = update.endOfLifeDate;
  if (Object.keys(profile).length > 0) sdk.publishingProfile = profile;
  if (update.allowDeletionOfReplicatedLocations !== undefined) {
    sdk.safetyProfile = { allowDeletionOfReplicatedLocations: update.allowDeletionOfReplicatedLocations };
  }
  return sdk;
}

const asGeneration = (value: string | undefined) => (value === "V1" || value === "V2" ? value : undefined);
const asOsType = (value: string | undefined) => (value === "Linux" || value === "Windows" ? value : undefined);
const asArchitecture = (value: string | undefined) => (value === "x64" || value === "Arm64" ? value : undefined);
const featureList = (features: { name?: string; value?: string }[] | undefined) =>
  (features ?? []).flatMap((f) => (f.name && f.value ? [{ name: f.name, value: f.value }] : []));

/** {@link GalleryClient} on `@azure/arm-compute`. */
export class ArmGalleryClient implements GalleryClient {
  constructor(private readonly clients: ArmClients) {}

  async getImageDefinition(ref: ImageDefinitionRef) {
    const client = await this.clients.computeFor(ref.subscriptionId);
    const definition = await armGet("read image definition", () =>
      client.galleryImages.get(ref.resourceGroup, ref.gallery, ref.definition),
    );
    return definition ? { location: definition.location, tags: definition.tags ?? {} } : undefined;
  }

  async createImageDefinition(ref: ImageDefinitionRef, definition: ImageDefinitionSpec) {
    const client = await this.clients.computeFor(ref.subscriptionId);
    await armCall(`create image definition ${ref.definition}`, () =>
      client.galleryImages.createOrUpdate(ref.resourceGroup, ref.gallery, ref.definition, toSdkDefinition(definition)),
    );
  }

  async updateImageDefinitionTags(ref: ImageDefinitionRef, tags: Record<string, string>) {
    const client = await this.clients.computeFor(ref.subscriptionId);
    const current = await armCall(`read image definition ${ref.definition}`, () =>
      client.galleryImages.get(ref.resourceGroup, ref.gallery, ref.definition),
    );
    // PATCH of a gallery image requires its identity; send it back unchanged with the new tags. The tags apply when
    // ARM accepts the PATCH: its operation is not awaited (nothing reads its result).
    await armCall(`update tags of image definition ${ref.definition}`, () =>
      client.galleryImages
        .update(ref.resourceGroup, ref.gallery, ref.definition, {
          osType: current.osType,
          osState: current.osState,
          identifier: current.identifier,
          tags,
        })
        .submitted(),
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

  async updateVersion(ref: ImageDefinitionRef, version: string, update: VersionUpdate, options: { wait: boolean }) {
    const client = await this.clients.computeFor(ref.subscriptionId);
    await armCall(`update image version ${version}`, async () => {
      const poller = client.galleryImageVersions.update(
        ref.resourceGroup,
        ref.gallery,
        ref.definition,
        version,
        toSdkVersionUpdate(update),
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

  async describeSourceImage(
    subscriptionId: string,
    location: string,
    source: CatalogSource,
  ): Promise<SourceImageFacts> {
    switch (source.type) {
      case "PlatformImage": {
        const client = await this.clients.computeFor(subscriptionId);
        const { publisher, offer, sku } = source;
        let version = source.version;
        if (version === "latest") {
          // Sorted here: Marketplace version parts are numbers, and the service's own order is not documented.
          const listed = await armCall(`list versions of ${publisher}:${offer}:${sku} in ${location}`, () =>
            client.virtualMachineImages.list(location, publisher, offer, sku),
          );
          const newest = listed
            .map((v) => v.name)
            .sort(compareDottedNumbers)
            .at(-1);
          if (!newest) return {};
          version = newest;
        }
        const exact = version;
        const image = await armCall(`read platform image ${publisher}:${offer}:${sku}:${exact}`, () =>
          client.virtualMachineImages.get(location, publisher, offer, sku, exact),
        );
        return {
          exactVersion: exact,
          hyperVGeneration: asGeneration(image.hyperVGeneration),
          osType: asOsType(image.osDiskImage?.operatingSystem),
          architecture: asArchitecture(image.architecture),
          securityType: securityTypeOf(featureList(image.features)),
        };
      }
      case "ManagedImage": {
        const { subscriptionId: sub, resourceGroup, name } = parseArmId(source.imageId);
        const client = await this.clients.computeFor(sub);
        const image = await armCall(`read managed image ${name}`, () => client.images.get(resourceGroup, name));
        return {
          hyperVGeneration: asGeneration(image.hyperVGeneration),
          osType: asOsType(image.storageProfile?.osDisk?.osType),
        };
      }
      case "SharedImageVersion": {
        const match =
          /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/galleries\/([^/]+)\/images\/([^/]+)\/versions\/([^/]+)$/i.exec(
            source.imageVersionId,
          );
        if (!match) return {};
        const [, sub, resourceGroup, gallery, definitionName, version] = match as unknown as string[];
        const client = await this.clients.computeFor(sub!);
        const definition = await armCall(`read image definition ${definitionName}`, () =>
          client.galleryImages.get(resourceGroup!, gallery!, definitionName!),
        );
        return {
          exactVersion: version!.toLowerCase() === "latest" ? undefined : version,
          hyperVGeneration: asGeneration(definition.hyperVGeneration),
          osType: asOsType(definition.osType),
          architecture: asArchitecture(definition.architecture),
          securityType: securityTypeOf(featureList(definition.features)),
        };
      }
    }
  }
}
