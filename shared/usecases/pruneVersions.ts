import type { CatalogImage } from "../catalog/schema.js";
import { planRetention, type RetentionEntry, type RetentionPlan, type VersionSnapshot } from "../domain/retention.js";
import { describeUsage } from "../domain/usage.js";
import type { ImageDefinitionRef, VersionSummary } from "../ports.js";
import { tagNames } from "../domain/names.js";
import { definitionRefOf, forEachIsolated, type PipelineDeps } from "./context.js";
import { emitEvent, eventOrigin, events } from "./events.js";
import { readFleet, usageOfImage, type FleetRead } from "./usage.js";

/** What pruning decided and did for one image. */
export interface ImagePruneResult {
  image: string;
  dryRun: boolean;
  deleted: { version: string; reason: string }[];
  /** With the rule that keeps each (`code`: `latest`, `in-use`, `usage-unknown`, ...). */
  kept: RetentionEntry[];
  /** Deletions the plan wanted but this run's time budget did not reach; the next run starts with them. */
  deferred: { version: string; reason: string }[];
  /** Deletions the plan wanted but Azure refused; the next run tries again. */
  errors: { version: string; error: string }[];
  /** Versions past their end of life that VMs or scale sets still run (kept unless the catalog allows otherwise). */
  inUsePastEndOfLife: { version: string; endOfLifeDate: string; usage: string }[];
}

/** What one prune run did: per image, and the images it could not read (the others went on). */
export interface PruneResult {
  images: ImagePruneResult[];
  failedImages: { image: string; error: string }[];
  /** True when the run stopped at its time budget with deletions left for the next run. */
  stoppedAtBudget: boolean;
  /** Why where the images run could not be read: then nothing was deleted. */
  usageUnavailable?: string;
}

/** Converts what a version list says into the retention rules' input. */
export function toSnapshot(v: VersionSummary): VersionSnapshot {
  return {
    name: v.name,
    publishedDate: v.publishedDate,
    endOfLifeDate: v.endOfLifeDate,
    excludeFromLatest: v.excludeFromLatest,
    provisioningState: v.provisioningState ?? "Unknown",
    tags: v.tags,
    targetRegions: v.targetRegions,
  };
}

const dayInMs = 86_400_000;

/** A deletion the plan of one image wants, with what orders it among every image's. */
interface PendingDeletion {
  image: CatalogImage;
  ref: ImageDefinitionRef;
  result: ImagePruneResult;
  deletion: RetentionEntry;
  /** The build that made the version, when the pipeline made it (its events' ids derive from it). */
  buildId?: string;
  /** Its place in its image's own plan: every image's first deletion goes before any image's second. */
  round: number;
  /** Since when the rules allow the deletion: the longest-waiting go first, so no image starves across runs. */
  eligibleSinceMs: number;
}

/**
 * Applies each image's retention plan: deletions within the per-run budget, a reason logged for every version,
 * deleted, kept or deferred. In a dry run (setting or catalog) only the plan is logged. Each run works within
 * `timeBudgetInMs` (below the function's timeout) and stops cleanly: deletions are made round by round across images
 * (every image's first before any image's second), the longest-eligible first within a round, so when the budget
 * ends the next run, which recomputes every plan from what the gallery holds, starts with what this one left and no
 * image waits behind another. A deletion that fails leaves the plan valid; the next run retries it. Each image is
 * planned in its own error boundary: one that cannot be read is reported and the others are pruned. Where the images
 * run is read once per run, for every image (one Resource Graph sweep): a version in use is kept (unless the catalog
 * opts in) with its counts, one in use past its end of life is reported, and when the fleet cannot be read nothing is
 * deleted this run.
 */
export async function pruneVersions(
  deps: PipelineDeps,
  options: { dryRun?: boolean; timeBudgetInMs?: number; fleet?: FleetRead } = {},
): Promise<PruneResult> {
  const { gallery, settings, clock, log } = deps;
  const startedMs = clock.now().getTime();
  const budgetInMs = options.timeBudgetInMs ?? settings.pruneTimeBudgetInSeconds * 1000;
  const images: ImagePruneResult[] = [];
  const pending: PendingDeletion[] = [];
  const fleet = options.fleet ?? (await readFleet(deps));
  if (!fleet.readable) log.warn("deleting nothing this run: where the images run is unknown", { reason: fleet.reason });

  const failures = await forEachIsolated(
    deps.catalog.images,
    (image) => ({ image: image.name }),
    log,
    async (image) => {
      const ref = definitionRefOf(image, settings);
      const versions = await gallery.listVersions(ref);
      const byName = new Map(versions.map((v) => [v.name, v]));
      const plan = planRetention({
        versions: versions.map(toSnapshot),
        policy: image.retention,
        now: clock.now(),
        usage: usageOfImage(fleet, image, deps),
      });
      const dryRun = options.dryRun === true || settings.pruneDryRun || image.retention.dryRun;
      const result: ImagePruneResult = {
        image: image.name,
        dryRun,
        deleted: [],
        kept: plan.kept,
        deferred: [],
        errors: [],
        inUsePastEndOfLife: reportInUse(plan),
      };
      images.push(result);
      for (const kept of plan.kept) log.info("keeping version", { image: image.name, ...kept });
      for (const late of result.inUsePastEndOfLife) {
        log.warn("version in use past its end of life: its owners should move", { image: image.name, ...late });
      }
      if (!dryRun) {
        // Past its end of life yet kept because it is in use: those still relying on it hear it (every run sends
        // the same id while the rule holds; consumers drop the repeats).
        for (const kept of plan.kept) {
          const v = byName.get(kept.version);
          if (!v?.endOfLifeDate || v.endOfLifeDate.getTime() > clock.now().getTime()) continue;
          if (kept.code === "unmanaged" || kept.code === "not-a-version") continue;
          const buildId = v.tags[tagNames.buildId];
          await emitEvent(
            deps,
            events.retentionSkipped(eventOrigin(image, settings), clock.now(), {
              image: image.name,
              ...(buildId ? { buildId } : {}),
              version: kept.version,
              rule: kept.code,
              reason: kept.reason,
              endOfLifeDate: v.endOfLifeDate.toISOString(),
            }),
          );
        }
      }
      plan.deletions.forEach((deletion, round) => {
        const v = byName.get(deletion.version);
        const published = v?.publishedDate?.getTime() ?? 0;
        const eligibleSinceMs = Math.max(
          v?.endOfLifeDate?.getTime() ?? 0,
          published + image.retention.minAgeDays * dayInMs,
        );
        pending.push({ image, ref, result, deletion, round, eligibleSinceMs, buildId: v?.tags[tagNames.buildId] });
      });
    },
  );

  pending.sort(
    (a, b) => a.round - b.round || a.eligibleSinceMs - b.eligibleSinceMs || a.image.name.localeCompare(b.image.name),
  );
  let stoppedAtBudget = false;
  for (const { image, ref, result, deletion, buildId } of pending) {
    const fields = { image: image.name, ...deletion };
    if (stoppedAtBudget || clock.now().getTime() - startedMs >= budgetInMs) {
      stoppedAtBudget = true;
      const reason = `${deletion.reason}; this run's time budget (${Math.round(budgetInMs / 1000)} s) is spent: the next run starts with it`;
      result.deferred.push({ version: deletion.version, reason });
      log.info("deferring deletion to the next run", { ...fields, reason });
      continue;
    }
    if (result.dryRun) {
      log.info("would delete version (dry run)", fields);
      result.deleted.push(deletion);
      continue;
    }
    try {
      // Sent before the deletion is submitted: a run that stops in between decides the same deletion next time and
      // sends the same id; the other order would lose the event with the version.
      await emitEvent(
        deps,
        events.versionPruned(eventOrigin(image, settings), clock.now(), {
          image: image.name,
          ...(buildId ? { buildId } : {}),
          version: deletion.version,
          rule: deletion.code,
          reason: deletion.reason,
        }),
      );
      await gallery.deleteVersion(ref, deletion.version);
      log.info("deleting version", fields);
      result.deleted.push(deletion);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log.error("could not delete version: the next run retries", { ...fields, error });
      result.errors.push({ version: deletion.version, error: message });
    }
  }
  if (stoppedAtBudget) {
    log.warn("prune run stopped at its time budget: the next run continues", {
      budgetInSeconds: Math.round(budgetInMs / 1000),
      deferred: images.reduce((n, r) => n + r.deferred.length, 0),
    });
  }
  return {
    images,
    failedImages: failures.map((f) => ({
      image: String(f.item["image"]),
      error: f.error instanceof Error ? f.error.message : String(f.error),
    })),
    stoppedAtBudget,
    ...(fleet.readable ? {} : { usageUnavailable: fleet.reason }),
  };
}

function reportInUse(plan: RetentionPlan): ImagePruneResult["inUsePastEndOfLife"] {
  return plan.inUsePastEndOfLife.map((v) => ({
    version: v.version,
    endOfLifeDate: v.endOfLifeDate.toISOString(),
    usage: describeUsage(v.usage),
  }));
}
