import { planRetention, type VersionSnapshot } from "../domain/retention.js";
import type { VersionSummary } from "../ports.js";
import { definitionRefOf, forEachIsolated, type PipelineDeps } from "./context.js";

/** What pruning decided and did for one image. */
export interface ImagePruneResult {
  image: string;
  dryRun: boolean;
  deleted: { version: string; reason: string }[];
  kept: { version: string; reason: string }[];
  /** Deletions the plan wanted but Azure refused; the next run tries again. */
  errors: { version: string; error: string }[];
}

/** What one prune run did: per image, and the images it could not read (the others went on). */
export interface PruneResult {
  images: ImagePruneResult[];
  failedImages: { image: string; error: string }[];
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

/**
 * Applies each image's retention plan: deletions within the per-run budget, a reason logged for every version,
 * deleted or kept. In a dry run (setting or catalog) only the plan is logged. A deletion that fails leaves the plan
 * valid: the next run recomputes it from what the gallery holds and finishes the work. Each image is pruned in its own
 * error boundary: one that cannot be read is reported and the others are pruned.
 */
export async function pruneVersions(deps: PipelineDeps, options: { dryRun?: boolean } = {}): Promise<PruneResult> {
  const { gallery, settings, clock, log } = deps;
  const images: ImagePruneResult[] = [];
  const failures = await forEachIsolated(
    deps.catalog.images,
    (image) => ({ image: image.name }),
    log,
    async (image) => {
      const ref = definitionRefOf(image, settings);
      const versions = await gallery.listVersions(ref);
      const plan = planRetention({ versions: versions.map(toSnapshot), policy: image.retention, now: clock.now() });
      const dryRun = options.dryRun === true || settings.pruneDryRun || image.retention.dryRun;
      const result: ImagePruneResult = { image: image.name, dryRun, deleted: [], kept: plan.kept, errors: [] };
      for (const kept of plan.kept) log.info("keeping version", { image: image.name, ...kept });
      for (const deletion of plan.deletions) {
        if (dryRun) {
          log.info("would delete version (dry run)", { image: image.name, ...deletion });
          result.deleted.push(deletion);
          continue;
        }
        try {
          await gallery.deleteVersion(ref, deletion.version);
          log.info("deleting version", { image: image.name, ...deletion });
          result.deleted.push(deletion);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          log.error("could not delete version: the next run retries", { image: image.name, ...deletion, error });
          result.errors.push({ version: deletion.version, error: message });
        }
      }
      images.push(result);
    },
  );
  return {
    images,
    failedImages: failures.map((f) => ({
      image: String(f.item["image"]),
      error: f.error instanceof Error ? f.error.message : String(f.error),
    })),
  };
}
