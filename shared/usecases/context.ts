import type { Catalog, CatalogImage } from "../catalog/schema.js";
import { findImage } from "../catalog/load.js";
import { UnknownImageError } from "../errors.js";
export { managedImageId, parseArmId } from "../armIds.js";
import type { Clock, GalleryClient, ImageBuilderClient, ImageDefinitionRef, Logger, MessageSender } from "../ports.js";

/** The settings the use-cases read (a slice of the app settings, so tests build them in one line). */
export interface PipelineSettings {
  subscriptionId: string;
  imageBuilderResourceGroup: string;
  imageBuilderIdentityId: string;
  buildWatchInitialDelayInSeconds: number;
  buildWatchMaxDelayInSeconds: number;
  buildRequeueDelayInSeconds: number;
  replicationMaxRetries: number;
  replicationTimeoutInMinutes: number;
  pruneDryRun: boolean;
}

/** Everything a use-case may touch. Built once per process by `shared/adapters/composition.ts`. */
export interface PipelineDeps {
  catalog: Catalog;
  gallery: GalleryClient;
  imageBuilder: ImageBuilderClient;
  bus: MessageSender;
  clock: Clock;
  log: Logger;
  settings: PipelineSettings;
}

/** The catalog entry of an image named in a message; a name no longer in the catalog cannot be processed. */
export function requireImage(catalog: Catalog, name: string): CatalogImage {
  const image = findImage(catalog, name);
  if (!image) throw new UnknownImageError(name);
  return image;
}

/** Where an image's definition lives. */
export function definitionRefOf(image: CatalogImage, settings: Pick<PipelineSettings, "subscriptionId">) {
  return {
    subscriptionId: image.gallery.subscriptionId ?? settings.subscriptionId,
    resourceGroup: image.gallery.resourceGroup,
    gallery: image.gallery.name,
    definition: image.definition.name,
  } satisfies ImageDefinitionRef;
}

/** Image Builder run states after which nothing more happens. */
export const terminalRunStates = new Set(["Succeeded", "PartiallySucceeded", "Failed", "Canceled"]);
