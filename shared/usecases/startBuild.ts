import { spanAttributes } from "../observability/spanAttributes.js";
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
import { envelopeOf, type BuildRequested, type BuildWatch } from "../messages/index.js";
import type { TemplateSummary, VersionSummary } from "../ports.js";
import { definitionRefOf, requireImage, type PipelineDeps } from "./context.js";
import { emitEvent, eventOrigin, events } from "./events.js";
import { emitFailureEvents, recordBuildFailure } from "./failure.js";

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
 * hours-long run), allocates the version, submits the Image Builder template (named from image and version) that
 * distributes that version straight into the gallery and schedules the first check (watchBuild runs the template
 * once Image Builder has provisioned it).
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
  const published = versions.find((v) => v.tags[tagNames.buildId] === request.buildId);
  const own = templatesOfImage(allTemplates, image.name).find((t) => t.tags[tagNames.buildId] === request.buildId);
  if (published) {
    // The run ended and distributed the version, but the pass that started it may have stopped before its event and
    // its first check: while the version is not taken over yet, carry on from the template (the check publishes it).
    if (own && published.tags[tagNames.state] === "distributing") return resume(deps, image, request, own);
    if (own) await emitStarted(deps, image, request, own, own.lastRunStatus?.startTime ?? clock.now());
    log.info("build already published: nothing to do", { ...fields, version: published.name });
    return { outcome: "alreadyPublished", version: published.name };
  }

  // A build that already failed stays failed: a late redelivery must not start it again. Building the same commit
  // again is a new build: ask with `force`.
  const failed = definition ? readFailures(definition.tags).find((f) => f.buildId === request.buildId) : undefined;
  if (failed) {
    log.info("build already failed: not starting it again", { ...fields, reason: failed.reason });
    // Its events may not have gone out (the step that recorded it stopped before): the same ids again.
    await emitFailureEvents(deps, image, failed, definition!.tags);
    return { outcome: "alreadyFailed", reason: failed.reason };
  }

  const templates = templatesOfImage(allTemplates, image.name);
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
      // The monitor and the sweep continue the build's trace from here (tags on the template and its version).
      traceparent: deps.tracer.activeTraceparent(),
    });
    log.info("creating image template", { ...fields, version, templateName });
    deps.tracer.annotate({ [spanAttributes.version]: version, [spanAttributes.region]: image.build.location });
    let created: TemplateSummary;
    try {
      await imageBuilder.createTemplate(subscriptionId, resourceGroup, templateName, template);
      // Submitted, not awaited: Image Builder provisions it while the first check waits, and watchBuild runs it.
      created = { name: templateName, location: template.location, tags: template.tags };
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

/**
 * Schedules the first check of a build whose template exists. The run is not started here: Image Builder refuses a
 * run while the template provisions, and waiting for that would cost an operation poll and a read; watchBuild reads
 * the template anyway and runs it once provisioned (one read saved per build, and no invocation held on an LRO).
 */
async function resume(
  deps: PipelineDeps,
  image: CatalogImage,
  request: BuildRequested,
  template: TemplateSummary,
  outcome: "started" | "resumed" = "resumed",
): Promise<StartBuildResult> {
  const { settings, clock, bus } = deps;
  const { imageBuilderResourceGroup: resourceGroup } = settings;
  const version = template.tags[tagNames.version];
  const catalogHash = template.tags[tagNames.catalogHash];
  if (!version || !catalogHash) {
    throw new Error(`template ${template.name} lacks the pipeline's tags (version, catalogHash)`);
  }
  if (template.provisioningState === "Failed") {
    const reason = `Image Builder could not create the template: ${template.provisioningErrorMessage ?? "no reason given"}`;
    await recordBuildFailure(deps, image, { buildId: request.buildId, templateName: template.name, version, reason });
    return { outcome: "failed", reason };
  }
  const now = clock.now();
  const runStartedAt = (template.lastRunStatus?.startTime ?? now).toISOString();
  // Sent on every pass (a redelivered request resumes here): the run may have started in a pass that stopped before.
  await emitStarted(deps, image, request, template, new Date(runStartedAt));
  const delay = settings.buildWatchInitialDelayInSeconds;
  const watch: BuildWatch = {
    ...envelopeOf(request),
    kind: "BuildWatch",
    version,
    catalogHash,
    templateName: template.name,
    templateResourceGroup: resourceGroup,
    runStartedAt,
    checkCount: 0,
    nextDelayInSeconds: delay,
    timedOut: false,
    // The run's own timeout plus a margin for queueing and distribution.
    deadlineAt: new Date(now.getTime() + (image.build.buildTimeoutInMinutes + 30) * 60_000).toISOString(),
  };
  await bus.send("build-watch", watch, { scheduledEnqueueTimeUtc: new Date(now.getTime() + delay * 1000) });
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
  await deps.bus.send("build-requests", next, { scheduledEnqueueTimeUtc: retryAt });
  return { outcome: "waiting", blockingBuildId, retryAt };
}

/** The build's `BuildStarted`, from its template (the same event whichever pass sends it). */
async function emitStarted(
  deps: PipelineDeps,
  image: CatalogImage,
  request: BuildRequested,
  template: TemplateSummary,
  runStartedAt: Date,
): Promise<void> {
  const version = template.tags[tagNames.version];
  if (!version) return;
  await emitEvent(
    deps,
    events.buildStarted(eventOrigin(image, deps.settings, request.traceparent), deps.clock.now(), {
      image: image.name,
      buildId: request.buildId,
      version,
      templateName: template.name,
      runStartedAt: runStartedAt.toISOString(),
    }),
  );
}
