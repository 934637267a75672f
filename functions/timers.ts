import type { InvocationContext, Timer } from "@azure/functions";
import { monitorReplication } from "../shared/usecases/monitorReplication.js";
import { nightlyRebuildSinceLastRun } from "../shared/usecases/nightlyRebuild.js";
import { runRetention } from "../shared/usecases/retentionRun.js";
import type { PipelineProvider } from "./composition.js";
import { invocationLogger } from "./runtime.js";

type TimerHandler = (timer: Timer, context: InvocationContext) => Promise<void>;

/**
 * Timer `%NIGHTLY_SCHEDULE%`: requests builds of the images whose own schedule fell due since the previous run (the
 * host's record of it, `scheduleStatus.last`; time from the pipeline's clock).
 */
export const nightlyRebuildTimer =
  (pipelineOf: PipelineProvider): TimerHandler =>
  async (timer, context) => {
    const log = invocationLogger(context);
    const deps = await pipelineOf().deps(log);
    const lastRunAt = timer.scheduleStatus?.last ? new Date(timer.scheduleStatus.last) : undefined;
    const decisions = await nightlyRebuildSinceLastRun(deps, lastRunAt);
    log.info("nightly rebuild done", {
      requested: decisions.filter((d) => d.action === "requested").length,
      skipped: decisions.filter((d) => d.action === "skipped").length,
      errors: decisions.filter((d) => d.action === "error"),
    });
  };

/** Timer `%REPLICATION_MONITOR_SCHEDULE%`: promotes replicated versions, retries failed regions, sweeps leftovers. */
export const monitorReplicationTimer =
  (pipelineOf: PipelineProvider): TimerHandler =>
  async (_timer, context) => {
    const log = invocationLogger(context);
    const result = await monitorReplication(await pipelineOf().deps(log));
    log.info("replication sweep done", { ...result });
  };

/**
 * Timer `%PRUNE_SCHEDULE%`: applies each image's retention plan, then shrinks the replicas of superseded versions,
 * both within the run's one time budget.
 */
export const pruneVersionsTimer =
  (pipelineOf: PipelineProvider): TimerHandler =>
  async (_timer, context) => {
    const log = invocationLogger(context);
    const deps = await pipelineOf().deps(log);
    const { prune, shrink } = await runRetention(deps);
    const { images, failedImages, stoppedAtBudget } = prune;
    log.info("prune done", {
      deleted: images.reduce((n, r) => n + r.deleted.length, 0),
      errors: images.reduce((n, r) => n + r.errors.length, 0),
      deferred: images.reduce((n, r) => n + r.deferred.length, 0),
      stoppedAtBudget,
      failedImages,
      dryRun: images.some((r) => r.dryRun),
    });
    log.info("replica shrink done", {
      shrunk: shrink.images.reduce((n, r) => n + r.shrunk.length, 0),
      errors: shrink.images.reduce((n, r) => n + r.errors.length, 0),
      deferred: shrink.images.reduce((n, r) => n + r.deferred.length, 0),
      stoppedAtBudget: shrink.stoppedAtBudget,
      failedImages: shrink.failedImages,
      usageUnavailable: shrink.usageUnavailable,
    });
  };
