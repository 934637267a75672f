import { spanAttributes } from "../observability/spanAttributes.js";
import type { CatalogImage } from "../catalog/schema.js";
import { readFailures, withFailure } from "../domain/failures.js";
import { tagNames } from "../domain/names.js";
import type { PipelineDeps } from "./context.js";
import { definitionRefOf } from "./context.js";

/** A build that failed, and what to record of it. */
export interface BuildFailure {
  buildId: string;
  reason: string;
  /** Image Builder's customization log, when the run got far enough to write one. */
  logUri?: string;
  /** The build's template: tagged with the time of the failure, it is kept for inspection until the retention ends. */
  templateName?: string;
  /** The build's version, when it exists: marked failed so it never becomes `latest` and retention removes it. */
  version?: string;
}

/**
 * Records why a build failed where operators look: on its image definition (newest few kept), on its template (the
 * failure time starts the evidence retention window: the template, its staging resource group and the customization
 * log stay until then), and on its version if there is one. Resolves to false when there was no definition to record
 * on (the caller must then make the failure visible another way, e.g. dead-letter the message with the reason).
 */
export async function recordBuildFailure(
  deps: PipelineDeps,
  image: CatalogImage,
  failure: BuildFailure,
): Promise<boolean> {
  // The build's trace ends here: a span that fails with the reason (and holds the calls that record it).
  const attributes = {
    [spanAttributes.buildId]: failure.buildId,
    [spanAttributes.image]: image.name,
    [spanAttributes.version]: failure.version,
    "image_pipeline.failure.log_uri": failure.logUri,
  };
  return deps.tracer.inSpan("build failed", { attributes }, async (span) => {
    span.fail(failure.reason);
    return record(deps, image, failure);
  });
}

async function record(deps: PipelineDeps, image: CatalogImage, failure: BuildFailure): Promise<boolean> {
  const { gallery, imageBuilder, settings, clock, log } = deps;
  log.warn("build failed", {
    buildId: failure.buildId,
    image: image.name,
    reason: failure.reason,
    logUri: failure.logUri,
  });
  const ref = definitionRefOf(image, settings);
  const now = clock.now().toISOString();
  const definition = await gallery.getImageDefinition(ref);
  if (definition) {
    const recorded = readFailures(definition.tags).find((f) => f.buildId === failure.buildId);
    if (!recorded || recorded.reason !== failure.reason || recorded.logUri !== failure.logUri) {
      await gallery.updateImageDefinitionTags(
        ref,
        withFailure(definition.tags, {
          buildId: failure.buildId,
          at: now,
          reason: failure.reason,
          logUri: failure.logUri,
        }),
      );
    }
  }
  if (failure.version) {
    const version = await gallery.getVersion(ref, failure.version);
    if (version && version.tags[tagNames.buildId] === failure.buildId && version.tags[tagNames.state] !== "failed") {
      await gallery.updateVersion(
        ref,
        failure.version,
        { tags: { ...version.tags, [tagNames.state]: "failed" }, excludeFromLatest: true },
        { wait: false },
      );
    }
  }
  if (failure.templateName) {
    const { subscriptionId, imageBuilderResourceGroup: resourceGroup } = settings;
    const template = await imageBuilder.getTemplate(subscriptionId, resourceGroup, failure.templateName);
    if (template && template.tags[tagNames.buildId] === failure.buildId && !template.tags[tagNames.failedAt]) {
      await imageBuilder.updateTemplateTags(subscriptionId, resourceGroup, failure.templateName, {
        ...template.tags,
        [tagNames.failedAt]: now,
      });
    }
  }
  return definition !== undefined;
}
