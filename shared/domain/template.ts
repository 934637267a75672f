import type {
  ImageTemplate,
  ImageTemplateCustomizerUnion,
  ImageTemplateInVMValidatorUnion,
  ImageTemplateSourceUnion,
} from "@azure/arm-imagebuilder";
import type { CatalogCustomizer, CatalogImage, CatalogSource, CatalogValidator } from "../catalog/schema.js";
import { managedByValue, runOutputNameFor, tagNames, tagsOf } from "./names.js";

/** What one build adds to the catalog entry to make an image template. */
export interface ImageTemplateBuild {
  buildId: string;
  version: string;
  commit?: string;
  ref?: string;
  catalogHash: string;
  /** Subscription of the pipeline (for the staging resource group id). */
  subscriptionId: string;
  /** Full id of the managed image the run distributes to; the pipeline publishes the gallery version from it. */
  stagingImageId: string;
  /** Identity used when the catalog entry names none (the pipeline's setting). */
  defaultIdentityId?: string;
}

/** Thrown when neither the catalog entry nor the settings name a user-assigned identity for Image Builder. */
export class MissingIdentityError extends Error {
  readonly code = "IDENTITY_MISSING";
  constructor(readonly imageName: string) {
    super(
      `image ${imageName}: Image Builder needs a user-assigned identity: set build.userAssignedIdentityId in the catalog or the pipeline's default identity setting`,
    );
    this.name = "MissingIdentityError";
  }
}

const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

function renderSource(source: CatalogSource): ImageTemplateSourceUnion {
  switch (source.type) {
    case "PlatformImage":
      return defined({
        type: "PlatformImage",
        publisher: source.publisher,
        offer: source.offer,
        sku: source.sku,
        version: source.version,
        planInfo: source.planInfo,
      });
    case "SharedImageVersion":
      return { type: "SharedImageVersion", imageVersionId: source.imageVersionId };
    case "ManagedImage":
      return { type: "ManagedImage", imageId: source.imageId };
  }
}

// Catalog steps already use Image Builder's field names: the mapping is 1:1, minus fields left unset.
function renderCustomizer(step: CatalogCustomizer): ImageTemplateCustomizerUnion {
  return defined({ ...step }) as ImageTemplateCustomizerUnion;
}
function renderValidator(step: CatalogValidator): ImageTemplateInVMValidatorUnion {
  return defined({ ...step }) as ImageTemplateInVMValidatorUnion;
}

/**
 * The image template for one build of `image`: the catalog's source, customizers and validation; one ManagedImage
 * distributor to `build.stagingImageId` in the build location, so that the pipeline itself publishes the gallery
 * version (with `excludeFromLatest`) and watches its replication. Shape of `@azure/arm-imagebuilder` 5.x, whose
 * model flattens the wire format's `properties`.
 */
export function renderImageTemplate(image: CatalogImage, build: ImageTemplateBuild): ImageTemplate {
  const identityId = image.build.userAssignedIdentityId ?? build.defaultIdentityId;
  if (!identityId) throw new MissingIdentityError(image.name);
  const traceTags = {
    [tagNames.managedBy]: managedByValue,
    [tagNames.buildId]: build.buildId,
    [tagNames.image]: image.name,
    [tagNames.version]: build.version,
  };
  return defined({
    location: image.build.location,
    tags: tagsOf({
      ...traceTags,
      [tagNames.commit]: build.commit,
      [tagNames.ref]: build.ref,
      [tagNames.catalogHash]: build.catalogHash,
    }),
    identity: { type: "UserAssigned", userAssignedIdentities: { [identityId]: {} } },
    source: renderSource(image.source),
    customize: image.customize.length > 0 ? image.customize.map(renderCustomizer) : undefined,
    validate: image.validate
      ? {
          continueDistributeOnFailure: image.validate.continueDistributeOnFailure,
          sourceValidationOnly: image.validate.sourceValidationOnly,
          inVMValidations: image.validate.inVMValidations.map(renderValidator),
        }
      : undefined,
    distribute: [
      {
        type: "ManagedImage",
        imageId: build.stagingImageId,
        location: image.build.location,
        runOutputName: runOutputNameFor(image.name, build.version),
        artifactTags: tagsOf(traceTags),
      },
    ],
    vmProfile: defined({ vmSize: image.build.vmSize, osDiskSizeGB: image.build.osDiskSizeGB }),
    buildTimeoutInMinutes: image.build.buildTimeoutInMinutes,
    stagingResourceGroup: image.build.stagingResourceGroup
      ? `/subscriptions/${build.subscriptionId}/resourceGroups/${image.build.stagingResourceGroup}`
      : undefined,
    errorHandling: { ...image.build.errorHandling },
    // Lets a sweeper find what a build left in the staging resource group.
    managedResourceTags: tagsOf(traceTags),
  });
}
