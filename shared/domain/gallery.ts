import type { CatalogImage } from "../catalog/schema.js";

/** Where an image definition lives. */
export interface ImageDefinitionRef {
  subscriptionId: string;
  resourceGroup: string;
  gallery: string;
  definition: string;
}

/** Full id of an image definition. */
export function imageDefinitionIdOf(ref: ImageDefinitionRef): string {
  return (
    `/subscriptions/${ref.subscriptionId}/resourceGroups/${ref.resourceGroup}` +
    `/providers/Microsoft.Compute/galleries/${ref.gallery}/images/${ref.definition}`
  );
}

/** Full id of a gallery image version. */
export function imageVersionIdOf(ref: ImageDefinitionRef, version: string): string {
  return `${imageDefinitionIdOf(ref)}/versions/${version}`;
}

/**
 * The region a catalog image's definition (and so each of its versions) lives in: the gallery's region, else the
 * build's. Image Builder creates a version in its definition's region ("Image Builder currently doesn't have a
 * location parameter for the image version resource, we take it from its parent image definition",
 * image-builder-json.md), and replicates it from there.
 */
export function homeRegionOf(image: CatalogImage): string {
  return image.gallery.location ?? image.build.location;
}

/** Region names compared as ARM does: `West Europe` is `westeurope`. */
export function normalizeRegion(name: string): string {
  return name.toLowerCase().replace(/[\s_-]/g, "");
}
