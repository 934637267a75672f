import { spanAttributes } from "../observability/spanAttributes.js";
import type { CatalogImage } from "../catalog/schema.js";
import { renderVersionExpansion } from "../domain/imageVersion.js";
import { tagNames } from "../domain/names.js";
import { classifyError, VersionConflictError } from "../errors.js";
import type { PublishVersion } from "../messages/index.js";
import type { ImageDefinitionRef, VersionSummary } from "../ports.js";
import { definitionRefOf, requireImage, type PipelineDeps } from "./context.js";
import { emitEvent, eventOrigin, events } from "./events.js";
import { recordBuildFailure } from "./failure.js";

/** What publishVersion did. */
export type PublishVersionResult =
  | { outcome: "published"; version: string }
  | { outcome: "alreadyPublished"; version: string }
  | { outcome: "failed"; reason: string };

/**
 * Takes over the version a successful run wrote to its home region: adds the other target regions, the end-of-life
 * date and the right to drop and re-add a failing region; it stays excluded from `latest` until the monitor has seen
 * every target region replicate it. Only submits the update: replication takes long and is the monitor's to watch.
 * Idempotent: a version this build already took over is accepted; one from another build is a conflict (recorded,
 * and thrown as {@link VersionConflictError} so the message is dead-lettered with that reason).
 */
export async function publishVersion(deps: PipelineDeps, message: PublishVersion): Promise<PublishVersionResult> {
  const { gallery, log, settings } = deps;
  const image = requireImage(deps.catalog, message.image);
  const ref = definitionRefOf(image, settings);
  const failure = { buildId: message.buildId, templateName: message.templateName };
  const fields = { buildId: message.buildId, image: image.name, version: message.version };

  const existing = await gallery.getVersion(ref, message.version);
  if (!existing) {
    const reason = `Image Builder reported success but version ${message.version} does not exist in ${ref.definition}`;
    await recordBuildFailure(deps, image, { ...failure, reason });
    return { outcome: "failed", reason };
  }
  const owner = existing.tags[tagNames.buildId];
  if (owner !== message.buildId) {
    const reason = `version ${message.version} of ${ref.definition} already exists from ${owner ? `build ${owner}` : "outside the pipeline"}`;
    await recordBuildFailure(deps, image, { ...failure, reason });
    // Recorded; the message is dead-lettered too, so the conflict stays visible where operators replay messages.
    throw new VersionConflictError(reason);
  }
  if (existing.tags[tagNames.state] !== "distributing") {
    log.info("version already published by this build", { ...fields, state: existing.tags[tagNames.state] });
    // The pass that published it may have stopped before its event: the same id again.
    if (existing.tags[tagNames.state] !== "failed") await emitVersionPublished(deps, image, existing);
    return { outcome: "alreadyPublished", version: message.version };
  }
  return expandVersion(deps, image, ref, existing, {
    baseImageVersion: message.baseImageVersion,
    templateName: message.templateName,
  });
}

/**
 * Submits the update that adds a distributed version's other target regions (shared by publishVersion and the
 * leftovers sweep, which finishes a publication whose message was lost). A refusal Azure will repeat fails the build.
 */
export async function expandVersion(
  deps: PipelineDeps,
  image: CatalogImage,
  ref: ImageDefinitionRef,
  version: VersionSummary,
  build: { baseImageVersion?: string; templateName: string },
): Promise<PublishVersionResult> {
  const { gallery, clock, log } = deps;
  const buildId = version.tags[tagNames.buildId] ?? "unknown";
  const update = renderVersionExpansion(image, {
    tags: version.tags,
    baseImageVersion: build.baseImageVersion,
    templateName: build.templateName,
    now: clock.now(),
    // The monitor's checks and the promotion continue the build's trace from this step.
    traceparent: deps.tracer.activeTraceparent(),
  });
  deps.tracer.annotate({ [spanAttributes.regions]: update.targetRegions?.map((r) => r.name) });
  try {
    log.info("adding the version's other target regions", {
      buildId,
      image: image.name,
      version: version.name,
      targetRegions: update.targetRegions?.map((r) => r.name),
    });
    await gallery.updateVersion(ref, version.name, update, { wait: false });
    await emitVersionPublished(deps, image, {
      ...version,
      tags: update.tags ?? version.tags,
      targetRegions: update.targetRegions ?? version.targetRegions,
      endOfLifeDate: update.endOfLifeDate ?? version.endOfLifeDate,
    });
  } catch (error) {
    const { disposition, message } = classifyError(error);
    if (disposition !== "deadLetter") throw error;
    const reason = `the gallery refused to replicate version ${version.name}: ${message}`;
    await recordBuildFailure(deps, image, { buildId, templateName: build.templateName, version: version.name, reason });
    return { outcome: "failed", reason };
  }
  return { outcome: "published", version: version.name };
}

/**
 * Sends the `VersionPublished` of a version the pipeline took over, from what the version says (so a step that finds
 * it published, such as the monitor watching it replicate, sends the very same event again).
 */
export async function emitVersionPublished(
  deps: PipelineDeps,
  image: CatalogImage,
  version: Pick<VersionSummary, "name" | "tags" | "targetRegions" | "endOfLifeDate">,
): Promise<void> {
  const buildId = version.tags[tagNames.buildId];
  if (!buildId) return;
  const baseImageVersion = version.tags[tagNames.baseImageVersion];
  await emitEvent(
    deps,
    events.versionPublished(eventOrigin(image, deps.settings), deps.clock.now(), {
      image: image.name,
      buildId,
      version: version.name,
      targetRegions: version.targetRegions.map((r) => r.name),
      ...(version.endOfLifeDate ? { endOfLifeDate: version.endOfLifeDate.toISOString() } : {}),
      ...(baseImageVersion ? { baseImageVersion } : {}),
    }),
  );
}
