import type { CatalogImage } from "../catalog/schema.js";
import { spanAttributes } from "../observability/spanAttributes.js";
import { customizationLogUriOf } from "../domain/failures.js";
import { imageVersionIdOf } from "../domain/gallery.js";
import { tagNames } from "../domain/names.js";
import { classifyError } from "../errors.js";
import { envelopeOf, type BuildWatch, type PublishVersion } from "../messages/index.js";
import { definitionRefOf, requireImage, type PipelineDeps } from "./context.js";
import { recordBuildFailure } from "./failure.js";

/** What watchBuild found. */
export type WatchBuildResult =
  | { outcome: "running"; runSubState?: string; nextCheckAt: Date }
  | { outcome: "succeeded"; versionId: string }
  | { outcome: "failed"; reason: string; logUri?: string }
  | { outcome: "gone" };

/**
 * Reads an Image Builder run's status and moves the build on: a template still provisioning is checked again after
 * the first delay, a provisioned one that has not run yet is run (startBuild only submits it); a run still going
 * reschedules this check (with backoff, bounded by the build's deadline); a successful run, which has written the version to its home region,
 * hands it to publishVersion; a failed, canceled or timed-out run is recorded with its customization log's location,
 * and its template (with the staging resource group and the log) is kept for inspection until the retention window
 * ends: the leftovers sweep removes it then.
 */
export async function watchBuild(deps: PipelineDeps, watch: BuildWatch): Promise<WatchBuildResult> {
  const { imageBuilder, settings, clock, bus, log } = deps;
  const image = requireImage(deps.catalog, watch.image);
  const { subscriptionId } = settings;
  const fields = { buildId: watch.buildId, image: watch.image, version: watch.version };
  const template = await imageBuilder.getTemplate(subscriptionId, watch.templateResourceGroup, watch.templateName);
  if (!template || template.tags[tagNames.buildId] !== watch.buildId) {
    log.warn("template of this build is gone: the build already ended", fields);
    return { outcome: "gone" };
  }
  const failure = { buildId: watch.buildId, templateName: watch.templateName, version: watch.version };
  const run = template.lastRunStatus;
  deps.tracer.annotate({
    [spanAttributes.region]: template.location,
    "image_pipeline.run.state": run?.runState ?? "NotStarted",
    "image_pipeline.run.sub_state": run?.runSubState,
    "image_pipeline.check_count": watch.checkCount,
  });
  const now = clock.now();

  if (run?.runState === "Succeeded" || run?.runState === "PartiallySucceeded") {
    if (run.runState === "PartiallySucceeded") {
      log.warn("Image Builder run partially succeeded: publishing what it distributed", {
        ...fields,
        message: run.message,
      });
    }
    const versionId = imageVersionIdOf(definitionRefOf(image, settings), watch.version);
    const publish: PublishVersion = {
      ...envelopeOf(watch),
      kind: "PublishVersion",
      version: watch.version,
      catalogHash: watch.catalogHash,
      templateName: watch.templateName,
      templateResourceGroup: watch.templateResourceGroup,
      runStartedAt: watch.runStartedAt,
      versionId,
      runState: run.runState,
      baseImageVersion: template.sourceExactVersion,
      runEndedAt: (run.endTime ?? now).toISOString(),
    };
    log.info("Image Builder run succeeded: publishing", { ...fields, versionId });
    await bus.send("version-publish", publish);
    return { outcome: "succeeded", versionId };
  }

  if (run?.runState === "Failed" || run?.runState === "Canceled") {
    const where = run.runSubState ? ` during ${run.runSubState}` : "";
    const reason = watch.timedOut
      ? `Image Builder run timed out (deadline ${watch.deadlineAt}) and was canceled${where}`
      : `Image Builder run ${run.runState.toLowerCase()}${where}: ${run.message || "no message"}`;
    const logUri = customizationLogUriOf(run.message);
    await recordBuildFailure(deps, image, { ...failure, reason, logUri });
    return { outcome: "failed", reason, logUri };
  }

  if (template.provisioningState === "Failed") {
    const reason = `Image Builder template failed: ${template.provisioningErrorMessage ?? "no reason given"}`;
    await recordBuildFailure(deps, image, { ...failure, reason });
    return { outcome: "failed", reason };
  }

  // startBuild only submits the template: its run starts here, once Image Builder has provisioned it.
  const notRunYet = !run?.runState;
  if (notRunYet && now.getTime() > Date.parse(watch.deadlineAt)) {
    const reason = `Image Builder template was not ready to run before the build's deadline (${watch.deadlineAt})`;
    await recordBuildFailure(deps, image, { ...failure, reason });
    return { outcome: "failed", reason };
  }
  if (notRunYet && template.provisioningState === "Succeeded") {
    const refused = await startRun(deps, image, failure);
    if (refused) return { outcome: "failed", reason: refused };
  }

  let timedOut = watch.timedOut;
  if (!notRunYet && !timedOut && now.getTime() > Date.parse(watch.deadlineAt)) {
    log.warn("Image Builder run passed its deadline: canceling", { ...fields, deadlineAt: watch.deadlineAt });
    await imageBuilder.cancelRun(subscriptionId, watch.templateResourceGroup, watch.templateName);
    timedOut = true;
  }
  // While the template provisions the checks keep their first delay: the run should start as soon as it can.
  const provisioning = notRunYet && template.provisioningState !== "Succeeded";
  const next: BuildWatch = {
    ...watch,
    checkCount: watch.checkCount + 1,
    nextDelayInSeconds: provisioning
      ? watch.nextDelayInSeconds
      : Math.min(watch.nextDelayInSeconds * 2, settings.buildWatchMaxDelayInSeconds),
    timedOut,
  };
  const deadline = Date.parse(watch.deadlineAt);
  const nextCheckAt = new Date(
    timedOut || now.getTime() >= deadline
      ? now.getTime() + settings.buildWatchInitialDelayInSeconds * 1000
      : Math.min(now.getTime() + watch.nextDelayInSeconds * 1000, deadline + 1000),
  );
  log.info("Image Builder run in progress", {
    ...fields,
    runState: run?.runState ?? (provisioning ? `template ${template.provisioningState ?? "provisioning"}` : "Started"),
    runSubState: run?.runSubState,
    nextCheckAt: nextCheckAt.toISOString(),
  });
  await bus.send("build-watch", next, { scheduledEnqueueTimeUtc: nextCheckAt });
  return { outcome: "running", runSubState: run?.runSubState, nextCheckAt };
}

/**
 * Runs a provisioned template that has not run yet (watchBuild's first check, or the leftovers sweep when the watch
 * was lost). Returns the reason when Image Builder refuses the run for good (recorded as the build's failure), else
 * undefined: started, or started meanwhile by a redelivered check (Image Builder then refuses a second run with 409).
 */
export async function startRun(
  deps: PipelineDeps,
  image: CatalogImage,
  build: { buildId: string; templateName: string; version?: string },
): Promise<string | undefined> {
  const { imageBuilder, settings, log } = deps;
  const { subscriptionId, imageBuilderResourceGroup: resourceGroup } = settings;
  log.info("starting Image Builder run", { buildId: build.buildId, image: image.name, version: build.version });
  try {
    await imageBuilder.runTemplate(subscriptionId, resourceGroup, build.templateName);
    return undefined;
  } catch (error) {
    const now = await imageBuilder.getTemplate(subscriptionId, resourceGroup, build.templateName);
    if (now?.lastRunStatus?.runState) return undefined;
    const { disposition, message } = classifyError(error);
    if (disposition !== "deadLetter") throw error;
    const reason = `Image Builder refused to run the template: ${message}`;
    await recordBuildFailure(deps, image, { ...build, reason });
    return reason;
  }
}
