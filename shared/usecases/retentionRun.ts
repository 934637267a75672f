import type { PipelineDeps } from "./context.js";
import { pruneVersions, type PruneResult } from "./pruneVersions.js";
import { shrinkReplicas, type ShrinkResult } from "./shrinkReplicas.js";
import { readFleet } from "./usage.js";

/** What one retention run did: the versions it deleted (or would), then the replicas it shrank. */
export interface RetentionRunResult {
  prune: PruneResult;
  shrink: ShrinkResult;
}

/**
 * One retention run, as the prune timer and `image-pipeline prune` both make it: each image's retention plan, then the
 * replica shrink policy, within one time budget counted from the run's start, on one read of where the images run
 * (Resource Graph has a per-user quota; both steps must see the same fleet).
 */
export async function runRetention(
  deps: PipelineDeps,
  options: { dryRun?: boolean } = {},
): Promise<RetentionRunResult> {
  const startedAt = deps.clock.now();
  const fleet = await readFleet(deps);
  const prune = await pruneVersions(deps, { ...options, fleet });
  const shrink = await shrinkReplicas(deps, { ...options, startedAt, fleet });
  return { prune, shrink };
}
