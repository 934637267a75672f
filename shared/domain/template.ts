import type {
  CatalogCustomizer,
  CatalogImage,
  CatalogSource,
  CatalogTargetRegion,
  CatalogValidator,
} from "../catalog/schema.js";
import { DomainRuleError } from "./errors.js";
import { imageVersionIdOf, type ImageDefinitionRef } from "./gallery.js";
import { managedByValue, runOutputNameFor, stagingResourceGroupNameFor, tagNames, tagsOf } from "./names.js";

/**
 * The Image Builder template of one build, in the pipeline's own terms (the adapter maps it to
 * `@azure/arm-imagebuilder`'s model). Field names follow Image Builder's, so the mapping is 1:1.
 */
export interface ImageTemplateSpec {
  location: string;
  tags: Record<string, string>;
  /** The user-assigned identity Image Builder runs as. */
  identityId: string;
  source: CatalogSource;
  customize: CatalogCustomizer[];
  validate?: {
    continueDistributeOnFailure: boolean;
    sourceValidationOnly: boolean;
    inVMValidations: CatalogValidator[];
  };
  distribute: SharedImageDistribution[];
  vmProfile: { vmSize?: string; osDiskSizeGB?: number };
  buildTimeoutInMinutes: number;
  /** Full id of a staging resource group of this template's own, or undefined for Image Builder's `IT_...` group. */
  stagingResourceGroupId?: string;
  errorHandling: { onCustomizerError: "cleanup" | "abort"; onValidationError: "cleanup" | "abort" };
  /** Tags Image Builder puts on what it creates in the staging resource group. */
  managedResourceTags: Record<string, string>;
}

/** A region Image Builder replicates the new version to, as its SharedImage distributor takes it. */
export interface DistributionTargetRegion {
  name: string;
  replicaCount: number;
  storageAccountType: "Standard_LRS" | "Standard_ZRS" | "Premium_LRS";
}

/** Image Builder's SharedImage distributor: the run writes the gallery image version itself. */
export interface SharedImageDistribution {
  type: "SharedImage";
  /** `.../images/{definition}/versions/{version}`: the version the pipeline allocated (explicit versioning). */
  galleryImageId: string;
  runOutputName: string;
  artifactTags: Record<string, string>;
  targetRegions: DistributionTargetRegion[];
  excludeFromLatest: true;
  replicationMode: "Full" | "Shallow";
}

/** What one build adds to the catalog entry to make an image template. */
export interface ImageTemplateBuild {
  buildId: string;
  version: string;
  commit?: string;
  ref?: string;
  requestedBy?: string;
  catalogHash: string;
  /** W3C traceparent of the step that creates the template and its version: timers continue the build's trace. */
  traceparent?: string;
  /** When the pipeline created the template (an abandoned template is swept after a while). */
  createdAt: Date;
  /** Subscription of the pipeline: templates and their staging resource groups live there. */
  subscriptionId: string;
  /** Where the image definition lives. */
  definition: ImageDefinitionRef;
  /**
   * Region of the image definition, where the new version is created. Image Builder takes a version's location from
   * its definition, so this is the only region the run replicates to; the pipeline adds the others afterwards.
   */
  homeRegion: string;
  /** Identity used when the catalog entry names none (the pipeline's setting). */
  defaultIdentityId?: string;
}

/** Thrown when neither the catalog entry nor the settings name a user-assigned identity for Image Builder. */
export class MissingIdentityError extends DomainRuleError {
  readonly code = "IdentityMissing";
  constructor(readonly imageName: string) {
    super(
      `image ${imageName}: Image Builder needs a user-assigned identity: set build.userAssignedIdentityId in the catalog or the pipeline's default identity setting`,
    );
  }
}

const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** The storage type of a target region, as the version will hold it. */
export function storageAccountTypeOf(image: CatalogImage, region: CatalogTargetRegion) {
  return region.storageAccountType ?? image.distribution.storageAccountType;
}

/** The replica count of a target region, as the version will hold it. */
export function replicaCountOf(image: CatalogImage, region: CatalogTargetRegion): number {
  return region.regionalReplicaCount ?? image.distribution.replicaCount;
}

/**
 * The tags every resource of a build carries (template, version): who made it and for which build. The version also
 * carries its lifecycle state, starting at `distributing` until the pipeline has added its other regions.
 */
export function buildTagsOf(image: CatalogImage, build: ImageTemplateBuild): Record<string, string> {
  return tagsOf({
    [tagNames.managedBy]: managedByValue,
    [tagNames.buildId]: build.buildId,
    [tagNames.image]: image.name,
    [tagNames.version]: build.version,
    [tagNames.commit]: build.commit,
    [tagNames.ref]: build.ref,
    [tagNames.requestedBy]: build.requestedBy,
    [tagNames.catalogHash]: build.catalogHash,
    [tagNames.traceparent]: build.traceparent,
  });
}

/**
 * The image template for one build of `image`: the catalog's source, customizers and validation, and one SharedImage
 * distributor that writes the version the pipeline allocated straight into the gallery, excluded from `latest`, in
 * the definition's region only. The pipeline then adds the other target regions and watches their replication
 * (a managed image cannot be the source of a Trusted Launch version, so the gallery is the only path that works for
 * every security type Image Builder can build).
 */
export function renderImageTemplate(image: CatalogImage, build: ImageTemplateBuild): ImageTemplateSpec {
  const identityId = image.build.userAssignedIdentityId ?? build.defaultIdentityId;
  if (!identityId) throw new MissingIdentityError(image.name);
  const tags = buildTagsOf(image, build);
  const home =
    image.distribution.targetRegions.find((r) => r.name === build.homeRegion) ??
    ({ name: build.homeRegion } satisfies CatalogTargetRegion);
  const homeStorage = storageAccountTypeOf(image, home);
  if (homeStorage === "PremiumV2_LRS") {
    throw new UnsupportedDistributionError(
      `image ${image.name}: Image Builder cannot write a version to ${homeStorage} storage (its region ${home.name} is the version's home region); use Standard_LRS, Standard_ZRS or Premium_LRS there`,
    );
  }
  return defined({
    location: image.build.location,
    tags: { ...tags, [tagNames.createdAt]: build.createdAt.toISOString() },
    identityId,
    source: image.source,
    customize: image.customize.map((step) => defined({ ...step })),
    validate: image.validate
      ? {
          continueDistributeOnFailure: image.validate.continueDistributeOnFailure,
          sourceValidationOnly: image.validate.sourceValidationOnly,
          inVMValidations: image.validate.inVMValidations.map((step) => defined({ ...step })),
        }
      : undefined,
    distribute: [
      {
        type: "SharedImage",
        galleryImageId: imageVersionIdOf(build.definition, build.version),
        runOutputName: runOutputNameFor(image.name, build.version),
        artifactTags: { ...tags, [tagNames.state]: "distributing" },
        targetRegions: [
          { name: home.name, replicaCount: replicaCountOf(image, home), storageAccountType: homeStorage },
        ],
        excludeFromLatest: true,
        replicationMode: image.distribution.replicationMode,
      },
    ],
    vmProfile: defined({ vmSize: image.build.vmSize, osDiskSizeGB: image.build.osDiskSizeGB }),
    buildTimeoutInMinutes: image.build.buildTimeoutInMinutes,
    stagingResourceGroupId: image.build.stagingResourceGroupPrefix
      ? `/subscriptions/${build.subscriptionId}/resourceGroups/${stagingResourceGroupNameFor(image.build.stagingResourceGroupPrefix, image.name, build.version)}`
      : undefined,
    errorHandling: { ...image.build.errorHandling },
    // Lets an operator (and a sweeper) find what a build left in its staging resource group.
    managedResourceTags: tagsOf({
      [tagNames.managedBy]: managedByValue,
      [tagNames.buildId]: build.buildId,
      [tagNames.image]: image.name,
    }),
  });
}

/** A distribution Image Builder cannot make. */
export class UnsupportedDistributionError extends DomainRuleError {
  readonly code = "UnsupportedDistribution";
}
