import type { CatalogImage } from "../catalog/schema.js";
import { tagNames, truncateTagValue } from "../domain/names.js";
import type { PipelineDeps } from "./context.js";
import { definitionRefOf } from "./context.js";

/** Tag key prefix under which an image definition records its recent build failures. */
export const failureTagPrefix = "imagePipeline.failure.";
/** How many failures a definition keeps in its tags (Azure allows 50 tags per resource). */
export const failuresKept = 5;

/** A build failure as recorded on the image definition. */
export interface RecordedFailure {
  buildId: string;
  at: string;
  reason: string;
}

/** Reads the failures recorded in a definition's tags, newest first. */
export function readFailures(tags: Record<string, string>): RecordedFailure[] {
  return Object.entries(tags)
    .filter(([key]) => key.startsWith(failureTagPrefix))
    .map(([key, value]) => {
      const space = value.indexOf(" ");
      return {
        buildId: key.slice(failureTagPrefix.length),
        at: space > 0 ? value.slice(0, space) : "",
        reason: space > 0 ? value.slice(space + 1) : value,
      };
    })
    .sort((a, b) => b.at.localeCompare(a.at));
}

/**
 * Records why a build failed on its image definition (there is no database: the gallery records outcomes), keeping
 * the newest few, then removes what the build left behind: its template and its staging image. Resolves to false
 * when there was no definition to record on (the caller must then make the failure visible another way).
 */
export async function failBuild(
  deps: PipelineDeps,
  image: CatalogImage,
  build: { buildId: string; templateName?: string; stagingImageId?: string },
  reason: string,
): Promise<boolean> {
  const { gallery, settings, clock, log } = deps;
  log.warn("build failed", { buildId: build.buildId, image: image.name, reason });
  const ref = definitionRefOf(image, settings);
  const definition = await gallery.getImageDefinition(ref);
  if (definition) {
    const others = Object.fromEntries(
      Object.entries(definition.tags).filter(([key]) => !key.startsWith(failureTagPrefix)),
    );
    const kept = readFailures(definition.tags)
      .filter((f) => f.buildId !== build.buildId)
      .slice(0, failuresKept - 1);
    const entries = [{ buildId: build.buildId, at: clock.now().toISOString(), reason }, ...kept].map(
      (f) => [`${failureTagPrefix}${f.buildId}`, truncateTagValue(`${f.at} ${f.reason}`)] as const,
    );
    await gallery.updateImageDefinitionTags(ref, { ...others, ...Object.fromEntries(entries) });
  }
  await cleanUpBuild(deps, build);
  return definition !== undefined;
}

/**
 * Deletes a build's template and staging image, whichever exist. With a build id, only what that build owns (by its
 * tags): a duplicate or conflicting message must never remove another build's resources.
 */
export async function cleanUpBuild(
  deps: PipelineDeps,
  build: { buildId?: string; templateName?: string; stagingImageId?: string },
): Promise<void> {
  const { settings, imageBuilder, gallery } = deps;
  const { subscriptionId, imageBuilderResourceGroup: resourceGroup } = settings;
  // With a build id, a resource is deleted only if that build made it (a name can be reused by a later build). Without
  // one the caller found the resources itself (the leftovers sweep lists them): no read before the delete, which
  // tolerates a resource already gone.
  const mayDelete = async (read: () => Promise<{ tags: Record<string, string> } | undefined>) =>
    !build.buildId || (await read())?.tags[tagNames.buildId] === build.buildId;
  const { templateName, stagingImageId } = build;
  if (templateName && (await mayDelete(() => imageBuilder.getTemplate(subscriptionId, resourceGroup, templateName)))) {
    await imageBuilder.deleteTemplate(subscriptionId, resourceGroup, templateName);
  }
  if (stagingImageId && (await mayDelete(() => gallery.getManagedImage(stagingImageId)))) {
    await gallery.deleteManagedImage(stagingImageId);
  }
}
