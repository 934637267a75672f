import { spanAttributes } from "../observability/spanAttributes.js";
import type { CatalogImage } from "../catalog/schema.js";
import { readFailures, withFailure, type RecordedFailure } from "../domain/failures.js";
import { tagNames } from "../domain/names.js";
import { readScheduleDisablement, withScheduleCheck } from "../domain/scheduleState.js";
import type { PipelineDeps } from "./context.js";
import { definitionRefOf } from "./context.js";
import { emitEvent, eventOrigin, events } from "./events.js";

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
 * log stay until then), and on its version if there is one. When the image has a schedule and this failure makes its
 * consecutive failures reach the catalog's `disableAfterFailedBuilds`, the schedule is disabled in the same write.
 * Sends `BuildFailed` (and `ScheduleDisabled`) after the definition is written and before the template is marked:
 * a step that stops in between runs again (redelivery, or the sweep, which fails a build whose template is not
 * marked) and sends them again with the same ids. Resolves to false when there was no definition to record on (the
 * caller must then make the failure visible another way, e.g. dead-letter the message with the reason).
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
  const now = clock.now();
  const definition = await gallery.getImageDefinition(ref);
  let recorded: RecordedFailure = {
    buildId: failure.buildId,
    at: now.toISOString(),
    reason: failure.reason,
    ...(failure.logUri ? { logUri: failure.logUri } : {}),
  };
  let tags = definition?.tags;
  if (definition) {
    const earlier = readFailures(definition.tags).find((f) => f.buildId === failure.buildId);
    if (earlier && earlier.reason === failure.reason && earlier.logUri === failure.logUri) {
      recorded = { ...earlier };
    } else {
      let next = withFailure(definition.tags, recorded);
      if (image.schedule) {
        // Builds that produced a version that did not fail are the successes the failures are counted after.
        const versions = await gallery.listVersions(ref);
        const lastSuccessAt = versions
          .filter((v) => v.tags[tagNames.buildId] && v.tags[tagNames.state] !== "failed")
          .map((v) => v.publishedDate?.getTime() ?? 0)
          .reduce((a, b) => Math.max(a, b), 0);
        next = withScheduleCheck(next, {
          failures: readFailures(next),
          lastSuccessAt: lastSuccessAt ? new Date(lastSuccessAt) : undefined,
          threshold: image.schedule.disableAfterFailedBuilds,
          now,
        }).tags;
      }
      await gallery.updateImageDefinitionTags(ref, next);
      tags = next;
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
  await emitFailureEvents(deps, image, { ...recorded, version: failure.version }, tags ?? {});
  if (failure.templateName) {
    const { subscriptionId, imageBuilderResourceGroup: resourceGroup } = settings;
    const template = await imageBuilder.getTemplate(subscriptionId, resourceGroup, failure.templateName);
    if (template && template.tags[tagNames.buildId] === failure.buildId && !template.tags[tagNames.failedAt]) {
      await imageBuilder.updateTemplateTags(subscriptionId, resourceGroup, failure.templateName, {
        ...template.tags,
        [tagNames.failedAt]: now.toISOString(),
      });
    }
  }
  return definition !== undefined;
}

/**
 * Sends a recorded failure's `BuildFailed`, and `ScheduleDisabled` when the definition says this build's failure
 * disabled the schedule. Also what a step that finds a failure already recorded sends again.
 */
export async function emitFailureEvents(
  deps: PipelineDeps,
  image: CatalogImage,
  failure: { buildId: string; at: string; reason: string; logUri?: string; version?: string },
  definitionTags: Readonly<Record<string, string>>,
): Promise<void> {
  const origin = eventOrigin(image, deps.settings);
  const now = deps.clock.now();
  await emitEvent(
    deps,
    events.buildFailed(origin, now, {
      image: image.name,
      buildId: failure.buildId,
      ...(failure.version ? { version: failure.version } : {}),
      reason: failure.reason,
      ...(failure.logUri ? { logUri: failure.logUri } : {}),
      failedAt: failure.at,
    }),
  );
  const disabled = readScheduleDisablement(definitionTags);
  if (disabled && disabled.failedBuilds[0] === failure.buildId) {
    deps.log.warn("schedule disabled after consecutive failed builds", {
      image: image.name,
      failedBuilds: disabled.failedBuilds,
    });
    await emitEvent(
      deps,
      events.scheduleDisabled(origin, now, {
        image: image.name,
        failedBuilds: disabled.failedBuilds,
        threshold: disabled.failedBuilds.length,
        lastFailureReason: failure.reason,
        disabledAt: disabled.at,
      }),
    );
  }
}
