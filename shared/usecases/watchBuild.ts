import { queueNames } from "../config/queues.js";
import { tagNames } from "../domain/names.js";
import { messageIds, type BuildWatch, type PublishVersion } from "../messages/index.js";
import { requireImage, type PipelineDeps } from "./context.js";
import { failBuild } from "./failure.js";
import { envelopeOf } from "./startBuild.js";

/** What watchBuild found. */
export type WatchBuildResult =
  | { outcome: "running"; runSubState?: string; nextCheckAt: Date }
  | { outcome: "succeeded"; artifactId: string }
  | { outcome: "failed"; reason: string }
  | { outcome: "gone" };

/**
 * Reads an Image Builder run's status and moves the build on: a run still going reschedules this check (with
 * backoff, bounded by the build's deadline); a successful run hands its output to publishVersion; a failed, canceled
 * or timed-out run is recorded on the image definition and its template and staging output are removed.
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
  const build = { buildId: watch.buildId, templateName: watch.templateName, stagingImageId: watch.stagingImageId };
  const run = template.lastRunStatus;
  const now = clock.now();

  if (run?.runState === "Succeeded" || run?.runState === "PartiallySucceeded") {
    const runOutputName = template.runOutputNames[0];
    const output = runOutputName
      ? await imageBuilder.getRunOutput(subscriptionId, watch.templateResourceGroup, watch.templateName, runOutputName)
      : undefined;
    const artifactId = output?.artifactId ?? watch.stagingImageId;
    const publish: PublishVersion = {
      ...envelopeOf(watch),
      kind: "PublishVersion",
      version: watch.version,
      catalogHash: watch.catalogHash,
      templateName: watch.templateName,
      templateResourceGroup: watch.templateResourceGroup,
      stagingImageId: watch.stagingImageId,
      runStartedAt: watch.runStartedAt,
      runOutputArtifactId: artifactId,
      baseImageVersion: template.sourceExactVersion,
      runEndedAt: (run.endTime ?? now).toISOString(),
    };
    log.info("Image Builder run succeeded: publishing", { ...fields, artifactId });
    await bus.send(queueNames.versionPublish, publish, {
      messageId: messageIds.publishVersion(publish),
      subject: publish.kind,
    });
    return { outcome: "succeeded", artifactId };
  }

  if (run?.runState === "Failed" || run?.runState === "Canceled") {
    const where = run.runSubState ? ` during ${run.runSubState}` : "";
    const reason = watch.timedOut
      ? `Image Builder run timed out (deadline ${watch.deadlineAt}) and was canceled${where}`
      : `Image Builder run ${run.runState.toLowerCase()}${where}: ${run.message ?? "no message"}`;
    await failBuild(deps, image, build, reason);
    return { outcome: "failed", reason };
  }

  if (template.provisioningState === "Failed") {
    const reason = `Image Builder template failed: ${template.provisioningErrorMessage ?? "no reason given"}`;
    await failBuild(deps, image, build, reason);
    return { outcome: "failed", reason };
  }

  let timedOut = watch.timedOut;
  if (!timedOut && now.getTime() > Date.parse(watch.deadlineAt)) {
    log.warn("Image Builder run passed its deadline: canceling", { ...fields, deadlineAt: watch.deadlineAt });
    await imageBuilder.cancelRun(subscriptionId, watch.templateResourceGroup, watch.templateName);
    timedOut = true;
  }
  const next: BuildWatch = {
    ...watch,
    checkCount: watch.checkCount + 1,
    nextDelayInSeconds: Math.min(watch.nextDelayInSeconds * 2, settings.buildWatchMaxDelayInSeconds),
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
    runState: run?.runState ?? "NotStarted",
    runSubState: run?.runSubState,
    nextCheckAt: nextCheckAt.toISOString(),
  });
  await bus.send(queueNames.buildWatch, next, {
    messageId: messageIds.buildWatch(next),
    scheduledEnqueueTimeUtc: nextCheckAt,
    subject: next.kind,
  });
  return { outcome: "running", runSubState: run?.runSubState, nextCheckAt };
}
