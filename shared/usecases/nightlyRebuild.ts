import { catalogEntryHash } from "../catalog/load.js";
import { spanAttributes } from "../observability/spanAttributes.js";
import type { CatalogImage } from "../catalog/schema.js";
import { tagNames } from "../domain/names.js";
import { isDue } from "../domain/ncrontab.js";
import { scheduleWindow } from "../domain/schedule.js";
import { readScheduleDisablement } from "../domain/scheduleState.js";
import { compareVersions } from "../domain/versions.js";
import { definitionRefOf, type PipelineDeps } from "./context.js";
import { requestBuild } from "./requestBuild.js";

/** What the nightly timer decided for one image. */
export type NightlyDecision =
  | { image: string; action: "notDue" }
  | { image: string; action: "skipped"; reason: string }
  | { image: string; action: "requested"; buildId: string; reason: string }
  /** The image's check failed (e.g. its source could not be read); the others were still checked. */
  | { image: string; action: "error"; error: string };

/**
 * For each image whose schedule fell due since the last tick, requests a build, unless its schedule disabled itself
 * after consecutive failed builds (recorded on its image definition), or nothing changed since the newest published
 * version: same exact base image version and same catalog entry (when the image asks to skip).
 * Each image is decided in its own error boundary: one that fails is reported (logged with its cause, returned as an
 * `error` decision) and never keeps the others from their build.
 */
export async function nightlyRebuild(
  deps: PipelineDeps,
  window: { since: Date; now: Date },
): Promise<NightlyDecision[]> {
  const decisions: NightlyDecision[] = [];
  for (const image of deps.catalog.images) {
    let decision: NightlyDecision;
    try {
      decision = await decide(deps, image, window);
    } catch (error) {
      deps.log.error("nightly: could not decide for this image; the others go on", { image: image.name, error });
      decision = { image: image.name, action: "error", error: error instanceof Error ? error.message : String(error) };
    }
    decisions.push(decision);
    if (decision.action !== "notDue" && decision.action !== "error")
      deps.log.info(`nightly: ${decision.action}`, { ...decision });
  }
  return decisions;
}

/**
 * The nightly timer's run: the images due since the host's record of its previous run (`scheduleStatus.last`; absent or
 * the host's 0001-01-01 on a first run) up to the pipeline's clock, the window `scheduleWindow` bounds.
 */
export function nightlyRebuildSinceLastRun(
  deps: PipelineDeps,
  lastRunAt: Date | undefined,
): Promise<NightlyDecision[]> {
  return nightlyRebuild(deps, scheduleWindow(lastRunAt, deps.clock.now()));
}

async function decide(
  deps: PipelineDeps,
  image: CatalogImage,
  window: { since: Date; now: Date },
): Promise<NightlyDecision> {
  if (!image.schedule || !isDue(image.schedule.cron, window.since, window.now)) {
    return { image: image.name, action: "notDue" };
  }
  // A schedule that disabled itself after consecutive failed builds stays off until an operator turns it back on.
  const definition = await deps.gallery.getImageDefinition(definitionRefOf(image, deps.settings));
  const disabled = definition ? readScheduleDisablement(definition.tags) : undefined;
  if (disabled) {
    return {
      image: image.name,
      action: "skipped",
      reason:
        `schedule disabled since ${disabled.at} after ${disabled.failedBuilds.length} consecutive failed builds ` +
        `(${disabled.failedBuilds.join(", ")}): image-pipeline schedule enable ${image.name}`,
    };
  }
  const catalogHash = catalogEntryHash(image);
  const baseImageVersion = await currentBaseImageVersion(deps, image);
  if (image.schedule.skipIfUnchanged) {
    const versions = await deps.gallery.listVersions(definitionRefOf(image, deps.settings));
    const newest = versions
      .filter((v) => v.tags[tagNames.state] === "promoted" || v.tags[tagNames.state] === "replicating")
      .sort((a, b) => compareVersions(b.name, a.name))[0];
    if (
      newest &&
      newest.tags[tagNames.catalogHash] === catalogHash &&
      (baseImageVersion === undefined || newest.tags[tagNames.baseImageVersion] === baseImageVersion)
    ) {
      return {
        image: image.name,
        action: "skipped",
        reason: `unchanged since ${newest.name}: base image ${baseImageVersion ?? "(not versioned)"}, catalog entry ${catalogHash.slice(0, 12)}`,
      };
    }
  }
  const day = window.now.toISOString().slice(0, 10);
  // Each build gets a trace of its own, linked to the nightly run that asked for it: one trace per build.
  const message = await deps.tracer.inSpan(
    "request scheduled build",
    {
      kind: "producer",
      root: true,
      links: [deps.tracer.activeTraceparent()],
      attributes: { [spanAttributes.image]: image.name },
    },
    async (span) => {
      const requested = await requestBuild(deps, {
        image: image.name,
        reason: "schedule",
        requestedBy: "schedule",
        nonce: `schedule:${day}:${baseImageVersion ?? ""}:${catalogHash}`,
      });
      span.setAttributes({ [spanAttributes.buildId]: requested.buildId });
      return requested;
    },
  );
  return {
    image: image.name,
    action: "requested",
    buildId: message.buildId,
    reason: `base image ${baseImageVersion ?? "(not versioned)"}, catalog entry ${catalogHash.slice(0, 12)}`,
  };
}

/** The exact version the build would start from today, where the source has versions. */
async function currentBaseImageVersion(deps: PipelineDeps, image: CatalogImage): Promise<string | undefined> {
  const source = image.source;
  if (source.type === "PlatformImage" && source.version !== "latest") return source.version;
  if (source.type === "ManagedImage") return undefined;
  const facts = await deps.gallery.describeSourceImage(deps.settings.subscriptionId, image.build.location, source);
  return facts.exactVersion;
}
