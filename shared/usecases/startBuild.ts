import { catalogEntryHash } from "../catalog/load.js";
import type { CatalogImage } from "../catalog/schema.js";
import { readFailures } from "../domain/failures.js";
import { homeRegionOf } from "../domain/gallery.js";
import { renderGalleryImage } from "../domain/imageVersion.js";
import { managedByValue, tagNames, templateNameFor } from "../domain/names.js";
import { sourceProblems } from "../domain/sourceImage.js";
import { renderImageTemplate } from "../domain/template.js";
import { allocateVersion } from "../domain/versions.js";
import { classifyError, UnbuildableImageError } from "../errors.js";
import { queueNames } from "../config/queues.js";
import { envelopeOf, messageIds, type BuildRequested, type BuildWatch } from "../messages/index.js";
import type { TemplateSummary, VersionSummary } from "../ports.js";
import { definitionRefOf, requireImage, type PipelineDeps } from "./context.js";
import { recordBuildFailure } from "./failure.js";

/** What startBuild did with a request. */
export type StartBuildResult =
  | { outcome: "started"; version: string; templateName: string }
  | { outcome: "resumed"; version: string; templateName: string }
  | { outcome: "alreadyPublished"; version: string }
  | { outcome: "alreadyFailed"; reason: string }
  | { outcome: "waiting"; blockingBuildId: string; retryAt: Date }
  | { outcome: "failed"; reason: string };

/** Templates the pipeline created for one catalog image. */
export function templatesOfImage(templates: TemplateSummary[], imageName: string): TemplateSummary[] {
  return templates.filter((t) => t.tags[tagNames.managedBy] === managedByValue && t.tags[tagNames.image] === imageName);
}

/**
 * A build holds its image until its version exists (replication of version N may overlap the build of N+1, but two
 * Image Builder runs of one image never do, and never allocate the same version). A build that failed holds nothing:
 * its template is only kept as evidence.
 */
function holdsImage(template: TemplateSummary, versions: VersionSummary[]): boolean {
  const buildId = template.tags[tagNames.buildId];
  if (versions.some((v) => v.tags[tagNames.buildId] === buildId)) return false;
  if (template.tags[tagNames.failedAt] || template.provisioningState === "Failed") return false;
  const runState = template.lastRunStatus?.runState;
  return runState !== "Failed" && runState !== "Canceled";
}

/**
 * Starts the build a request asks for: ensures the image definition exists, checks that Azure can build it (the
 * source's OS type, Hyper-V generation, architecture and security type against the definition's, before any
 * hours-long run), allocates the version, creates the Image Builder template (named from image and version) that
 * distributes that version straight into the gallery, runs it and schedules the first check.
 *
 * Idempotent: a redelivered request finds its own template (tagged with the build id) and resumes; a request for a
 * build already published is recognised by the version's tags, one already failed by the definition's. Two builds of
 * one image never run at once: a request that finds another in flight is requeued with a delay; two that race
 * allocate the same version, so the same template name, and the loser sees the winner's template.
 */
export async function startBuild(deps: PipelineDeps, request: BuildRequested): Promise<StartBuildResult> {
  const { gallery, imageBuilder, settings, clock, log } = deps;
  const image = requireImage(deps.catalog, request.image);
  const ref = definitionRefOf(image, settings);
  const { subscriptionId, imageBuilderResourceGroup: resourceGroup } = settings;
  const fields = { buildId: request.buildId, image: image.name };

  // Templates are listed before versions: a build whose template is gone by then has its version in the later list,
  // so the next version is allocated after it. The other order lets a build that publishes, is promoted and cleaned
  // up between the two reads go unseen, and its version be allocated twice.
  const allTemplates = await imageBuilder.listTemplates(subscriptionId, resourceGroup);
  const definition = await gallery.getImageDefinition(ref);
  const versions = definition ? await gallery.listVersions(ref) : [];
  const templates = templatesOfImage(allTemplates, image.name);
  const own = templates.find((t) => t.tags[tagNames.buildId] === request.buildId);
  const published = versions.find((v) => v.tags[tagNames.buildId] === request.buildId);
  // A version still `distributing` is Image Builder's output, not yet taken over: when the request is redelivered
  // because the watch was never sent (a crash after the run started), the build resumes, and its watch publishes it.
  if (published && !(own && published.tags[tagNames.state] === "distributing")) {
    log.info("build already published: nothing to do", { ...fields, version: published.name });
    return { outcome: "alreadyPublished", version: published.name };
  }

  // A build that already failed stays failed: a late redelivery must not start it again. Building the same commit
  // again is a new build: ask with `force`.
  const failed = definition ? readFailures(definition.tags).find((f) => f.buildId === request.buildId) : undefined;
  if (failed) {
    log.info("build already failed: not starting it again", { ...fields, reason: failed.reason });
    return { outcome: "alreadyFailed", reason: failed.reason };
  }

  if (own) return resume(deps, image, request, own);

  const blocking = templates.find((t) => holdsImage(t, versions));
  if (blocking) return requeue(deps, request, blocking.tags[tagNames.buildId] ?? blocking.name);

  try {
    // The definition first: it is what the catalog entry describes, and where a failure of this build is recorded.
    if (!definition) {
      log.info("creating image definition", { ...fields, definition: ref.definition, gallery: ref.gallery });
      await gallery.createImageDefinition(ref, renderGalleryImage(image, homeRegionOf(image)));
    }
    // Checked before the template is created: Azure would refuse the version only at the end of an hours-long run.
    const source = await gallery.describeSourceImage(subscriptionId, image.build.location, image.source);
    const problems = sourceProblems(image, source);
    if (problems.length > 0) {
      throw new UnbuildableImageError(`image ${image.name} cannot be built from its source: ${problems.join("; ")}`);
    }
    const version = allocateVersion({
      versioning: image.versioning,
      existingVersions: versions.map((v) => v.name),
      reservations: templates.flatMap((t) => {
        const buildId = t.tags[tagNames.buildId];
        const reserved = t.tags[tagNames.version];
        return buildId && reserved ? [{ buildId, version: reserved }] : [];
      }),
      buildId: request.buildId,
      now: clock.now(),
    });
    const templateName = templateNameFor(image.name, version);
    const template = renderImageTemplate(image, {
      buildId: request.buildId,
      version,
      commit: request.commit,
      ref: request.ref,
      requestedBy: request.requestedBy,
      catalogHash: catalogEntryHash(image),
      createdAt: clock.now(),
      subscriptionId,
      definition: ref,
      homeRegion: definition?.location ?? homeRegionOf(image),
      defaultIdentityId: settings.imageBuilderIdentityId,
    });
    log.info("creating image template", { ...fields, version, templateName });
    let created: TemplateSummary;
    try {
      created = await imageBuilder.createTemplate(subscriptionId, resourceGroup, templateName, template);
    } catch (error) {
      // A concurrent request for another build of this image allocated the same version and won the name; or this
      // build's own template exists but its provisioning failed (resume records why).
      const existing = await imageBuilder.getTemplate(subscriptionId, resourceGroup, templateName);
      const owner = existing?.tags[tagNames.buildId];
      if (existing && owner !== request.buildId) return requeue(deps, request, owner ?? templateName);
      if (!existing) throw error;
      created = existing;
    }
    return await resume(deps, image, request, created, "started");
  } catch (error) {
    const { disposition, message } = classifyError(error);
    if (disposition !== "deadLetter") throw error;
    const reason = `Azure refused the build: ${message}`;
    // Without an image definition (e.g. the gallery is missing) there is nowhere to record it: dead-letter instead.
    if (!(await recordBuildFailure(deps, image, { buildId: request.buildId, reason }))) throw error;
    return { outcome: "failed", reason };
  }
}

/** Runs the template unless its run already started, then schedules the first check. */
async function resume(
  deps: PipelineDeps,
  image: CatalogImage,
  request: BuildRequested,
  template: TemplateSummary,
  outcome: "started" | "resumed" = "resumed",
): Promise<StartBuildResult> {
  const { imageBuilder, settings, clock, bus, log } = deps;
  const { subscriptionId, imageBuilderResourceGroup: resourceGroup } = settings;
  const version = template.tags[tagNames.version];
  const catalogHash = template.tags[tagNames.catalogHash];
  if (!version || !catalogHash) {
    throw new Error(`template ${template.name} lacks the pipeline's tags (version, catalogHash)`);
  }
  const failure = { buildId: request.buildId, templateName: template.name, version };
  if (template.provisioningState === "Failed") {
    const reason = `Image Builder could not create the template: ${template.provisioningErrorMessage ?? "no reason given"}`;
    await recordBuildFailure(deps, image, { ...failure, reason });
    return { outcome: "failed", reason };
  }
  if (!template.lastRunStatus?.runState) {
    log.info("starting Image Builder run", { buildId: request.buildId, image: image.name, version });
    try {
      await imageBuilder.runTemplate(subscriptionId, resourceGroup, template.name);
    } catch (error) {
      // A redelivered request may find the run it started a moment ago already going.
      const now = await imageBuilder.getTemplate(subscriptionId, resourceGroup, template.name);
      if (!now?.lastRunStatus?.runState) {
        const { disposition, message } = classifyError(error);
        if (disposition !== "deadLetter") throw error;
        const reason = `Image Builder refused to run the template: ${message}`;
        await recordBuildFailure(deps, image, { ...failure, reason });
        return { outcome: "failed", reason };
      }
    }
  }
  const now = clock.now();
  const delay = settings.buildWatchInitialDelayInSeconds;
  const watch: BuildWatch = {
    ...envelopeOf(request),
    kind: "BuildWatch",
    version,
    catalogHash,
    templateName: template.name,
    templateResourceGroup: resourceGroup,
    runStartedAt: (template.lastRunStatus?.startTime ?? now).toISOString(),
    checkCount: 0,
    nextDelayInSeconds: delay,
    timedOut: false,
    // The run's own timeout plus a margin for queueing and distribution.
    deadlineAt: new Date(now.getTime() + (image.build.buildTimeoutInMinutes + 30) * 60_000).toISOString(),
  };
  await bus.send(queueNames.buildWatch, watch, {
    messageId: messageIds.buildWatch(watch),
    scheduledEnqueueTimeUtc: new Date(now.getTime() + delay * 1000),
    subject: watch.kind,
  });
  return { outcome, version, templateName: template.name };
}

/** Puts the request back with a delay: another build of the image is in flight. */
async function requeue(
  deps: PipelineDeps,
  request: BuildRequested,
  blockingBuildId: string,
): Promise<StartBuildResult> {
  const retryAt = new Date(deps.clock.now().getTime() + deps.settings.buildRequeueDelayInSeconds * 1000);
  const next: BuildRequested = { ...request, attempt: request.attempt + 1 };
  deps.log.info("another build of this image is in flight: request waits", {
    buildId: request.buildId,
    image: request.image,
    blockingBuildId,
    retryAt: retryAt.toISOString(),
  });
  await deps.bus.send(queueNames.buildRequests, next, {
    messageId: messageIds.buildRequested(next),
    scheduledEnqueueTimeUtc: retryAt,
    subject: next.kind,
  });
  return { outcome: "waiting", blockingBuildId, retryAt };
}
