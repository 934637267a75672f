import type { CatalogImage } from "../catalog/schema.js";
import { normalizeRegion } from "./gallery.js";
import { managedByValue, tagNames, tagsOf } from "./names.js";
import { replicaCountOf, storageAccountTypeOf } from "./template.js";

/** The gallery image definition the pipeline creates for a catalog image (before its first version). */
export interface ImageDefinitionSpec {
  location: string;
  tags: Record<string, string>;
  osType: "Linux" | "Windows";
  osState: "Generalized" | "Specialized";
  hyperVGeneration: "V1" | "V2";
  architecture: "x64" | "Arm64";
  identifier: { publisher: string; offer: string; sku: string };
  features: { name: string; value: string }[];
  description?: string;
  endOfLifeDate?: Date;
}

/** A target region of a gallery image version, as the pipeline writes it. */
export interface TargetRegionSpec {
  name: string;
  regionalReplicaCount: number;
  storageAccountType: "Standard_LRS" | "Standard_ZRS" | "Premium_LRS" | "PremiumV2_LRS";
  /** Set only where the catalog keeps `latest` away from this region; unset regions follow the version's flag. */
  excludeFromLatest?: boolean;
}

/** A change to a gallery image version (PATCH): only what is set changes. */
export interface VersionUpdate {
  tags?: Record<string, string>;
  /** The whole list: regions left out are removed (which needs `allowDeletionOfReplicatedLocations`). */
  targetRegions?: TargetRegionSpec[];
  excludeFromLatest?: boolean;
  endOfLifeDate?: Date;
  /** Lets the pipeline remove a failed region and add it back, as Azure's replication error asks. */
  allowDeletionOfReplicatedLocations?: boolean;
}

const dayInMs = 86_400_000;

/** Every target region of the catalog entry, as the version holds them once the pipeline added them. */
export function renderTargetRegions(image: CatalogImage): TargetRegionSpec[] {
  return image.distribution.targetRegions.map((region) => {
    const target: TargetRegionSpec = {
      name: region.name,
      regionalReplicaCount: replicaCountOf(image, region),
      storageAccountType: storageAccountTypeOf(image, region),
    };
    if (region.excludeFromLatest === true) target.excludeFromLatest = true;
    return target;
  });
}

/** The target regions of `image` whose names are in `names` (compared as ARM does), in catalog order. */
export function targetRegionsNamed(image: CatalogImage, names: readonly string[]): TargetRegionSpec[] {
  const wanted = new Set(names.map(normalizeRegion));
  return renderTargetRegions(image).filter((r) => wanted.has(normalizeRegion(r.name)));
}

/** What the pipeline knows when it takes over a version Image Builder wrote. */
export interface ExpansionInput {
  /** The version's tags as Image Builder wrote them (its artifactTags). */
  tags: Record<string, string>;
  /** Exact version of the build's source image, when Image Builder reported it. */
  baseImageVersion?: string;
  templateName: string;
  now: Date;
  /** W3C traceparent of the step that takes the version over: the monitor continues the build's trace from it. */
  traceparent?: string;
}

/**
 * The update that takes over a version Image Builder wrote to its home region: every other target region (with its
 * replica count and storage type), the end-of-life date, permission to drop and re-add a region whose replication
 * fails, still excluded from `latest`; its state moves to `replicating`, which the monitor watches.
 */
export function renderVersionExpansion(image: CatalogImage, input: ExpansionInput): VersionUpdate {
  return {
    tags: {
      ...input.tags,
      ...tagsOf({
        [tagNames.managedBy]: managedByValue,
        [tagNames.baseImageVersion]: input.baseImageVersion,
        [tagNames.templateName]: input.templateName,
        [tagNames.state]: "replicating",
        [tagNames.replicationRetries]: "0",
        [tagNames.traceparent]: input.traceparent,
      }),
    },
    targetRegions: renderTargetRegions(image),
    excludeFromLatest: true,
    endOfLifeDate: new Date(input.now.getTime() + image.retention.endOfLifeDays * dayInMs),
    allowDeletionOfReplicatedLocations: true,
  };
}

/** The gallery image definition of a catalog image (created once, before its first version). */
export function renderGalleryImage(image: CatalogImage, location: string): ImageDefinitionSpec {
  const d = image.definition;
  const definition: ImageDefinitionSpec = {
    location,
    tags: tagsOf({ [tagNames.managedBy]: managedByValue, [tagNames.image]: image.name }),
    osType: d.osType,
    osState: d.osState,
    hyperVGeneration: d.hyperVGeneration,
    architecture: d.architecture,
    identifier: { publisher: d.publisher, offer: d.offer, sku: d.sku },
    features: d.features.map((f) => ({ name: f.name, value: f.value })),
  };
  if (d.description !== undefined) definition.description = d.description;
  if (d.endOfLifeDate !== undefined) definition.endOfLifeDate = new Date(d.endOfLifeDate);
  return definition;
}
