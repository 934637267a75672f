import type { GalleryImage, GalleryImageVersion, TargetRegion } from "@azure/arm-compute";
import type { CatalogImage } from "../catalog/schema.js";
import { managedByValue, tagNames, tagsOf } from "./names.js";

/** What the pipeline knows when it publishes a build's staging image as a gallery image version. */
export interface PublishInput {
  buildId: string;
  commit?: string;
  ref?: string;
  requestedBy?: string;
  catalogHash: string;
  /** Id of the staging managed image the version is made from. */
  sourceImageId: string;
  /** Exact version of the build's source image, when known. */
  baseImageVersion?: string;
  templateName: string;
  now: Date;
}

const dayInMs = 86_400_000;

/**
 * Per-region entries. A region the catalog excludes from `latest` is rendered excluded; the other regions inherit
 * the version-wide `excludeFromLatest: true` until promotion, so `latest` cannot move to a half-replicated version.
 */
function renderTargetRegions(image: CatalogImage): TargetRegion[] {
  return image.distribution.targetRegions.map((region) => {
    const target: TargetRegion = { name: region.name };
    if (region.regionalReplicaCount !== undefined) target.regionalReplicaCount = region.regionalReplicaCount;
    if (region.storageAccountType !== undefined) target.storageAccountType = region.storageAccountType;
    if (region.excludeFromLatest === true) target.excludeFromLatest = true;
    return target;
  });
}

/**
 * The gallery image version the pipeline creates from a build's staging image (`@azure/arm-compute` 25.x model,
 * api-version 2025-12-03). It is excluded from `latest` until every target region has it; the state tag starts at
 * `replicating`. `allowDeletionOfReplicatedLocations` lets the pipeline drop and re-add a region whose replication
 * failed; `blockDeletionBeforeEndOfLife` stays unset so a failed version can be cleaned up.
 */
export function renderGalleryImageVersion(image: CatalogImage, publish: PublishInput): GalleryImageVersion {
  const endOfLifeDate = new Date(publish.now.getTime() + image.retention.endOfLifeDays * dayInMs);
  return {
    location: image.build.location,
    tags: tagsOf({
      [tagNames.managedBy]: managedByValue,
      [tagNames.image]: image.name,
      [tagNames.buildId]: publish.buildId,
      [tagNames.commit]: publish.commit,
      [tagNames.ref]: publish.ref,
      [tagNames.requestedBy]: publish.requestedBy,
      [tagNames.catalogHash]: publish.catalogHash,
      [tagNames.baseImageVersion]: publish.baseImageVersion,
      [tagNames.state]: "replicating",
      [tagNames.replicationRetries]: "0",
      [tagNames.templateName]: publish.templateName,
      [tagNames.stagingImageId]: publish.sourceImageId,
    }),
    publishingProfile: {
      targetRegions: renderTargetRegions(image),
      replicaCount: image.distribution.replicaCount,
      storageAccountType: image.distribution.storageAccountType,
      replicationMode: image.distribution.replicationMode,
      excludeFromLatest: true,
      endOfLifeDate,
    },
    storageProfile: { source: { id: publish.sourceImageId } },
    safetyProfile: { allowDeletionOfReplicatedLocations: true },
  };
}

/** The gallery image definition of a catalog image (created once, before its first version). */
export function renderGalleryImage(image: CatalogImage): GalleryImage {
  const d = image.definition;
  const definition: GalleryImage = {
    location: image.gallery.location ?? image.build.location,
    tags: tagsOf({ [tagNames.managedBy]: managedByValue, [tagNames.image]: image.name }),
    osType: d.osType,
    osState: d.osState,
    hyperVGeneration: d.hyperVGeneration,
    architecture: d.architecture,
    identifier: { publisher: d.publisher, offer: d.offer, sku: d.sku },
  };
  if (d.features.length > 0) definition.features = d.features.map((f) => ({ name: f.name, value: f.value }));
  if (d.description !== undefined) definition.description = d.description;
  if (d.endOfLifeDate !== undefined) definition.endOfLifeDate = new Date(d.endOfLifeDate);
  return definition;
}
