import type { InvocationContext, Timer } from "@azure/functions";
import { getPipeline } from "../shared/composition.js";
import { monitorReplication } from "../shared/usecases/monitorReplication.js";
import { nightlyRebuild } from "../shared/usecases/nightlyRebuild.js";
import { pruneVersions } from "../shared/usecases/pruneVersions.js";
import { invocationLogger } from "./runtime.js";

let lastNightlyTick: Date | undefined;

/** Timer `%NIGHTLY_SCHEDULE%`: requests builds of the images whose own schedule fell due since the last tick. */
export async function nightlyRebuildTimer(timer: Timer, context: InvocationContext): Promise<void> {
  const now = new Date();
  const recorded = timer.scheduleStatus?.last ? new Date(timer.scheduleStatus.last) : lastNightlyTick;
  // Without a record of the last tick (first run of this instance; the host says 0001-01-01), look back one hour;
  // after an outage, at most a day. Either way a repeated request is the same build, deduplicated.
  const lookBack = recorded && recorded.getTime() > 0 ? now.getTime() - recorded.getTime() : 3_600_000;
  const since = new Date(now.getTime() - Math.min(Math.max(lookBack, 0), 86_400_000));
  lastNightlyTick = now;
  const log = invocationLogger(context);
  const decisions = await nightlyRebuild(await getPipeline().deps(log), { since, now });
  log.info("nightly rebuild done", {
    requested: decisions.filter((d) => d.action === "requested").length,
    skipped: decisions.filter((d) => d.action === "skipped").length,
    errors: decisions.filter((d) => d.action === "error"),
  });
}

/** Timer `%REPLICATION_MONITOR_SCHEDULE%`: promotes replicated versions, retries failed regions, sweeps leftovers. */
export async function monitorReplicationTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  const log = invocationLogger(context);
  const result = await monitorReplication(await getPipeline().deps(log));
  log.info("replication sweep done", { ...result });
}

/** Timer `%PRUNE_SCHEDULE%`: applies each image's retention plan. */
export async function pruneVersionsTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  const log = invocationLogger(context);
  const { images, failedImages } = await pruneVersions(await getPipeline().deps(log));
  log.info("prune done", {
    deleted: images.reduce((n, r) => n + r.deleted.length, 0),
    errors: images.reduce((n, r) => n + r.errors.length, 0),
    deferred: images.reduce((n, r) => n + r.deferred.length, 0),
    failedImages,
    dryRun: images.some((r) => r.dryRun),
  });
}
