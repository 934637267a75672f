import type { CatalogImage } from "../catalog/schema.js";
import { homeRegionOf } from "../domain/gallery.js";
import { tagNames, truncateTagValue } from "../domain/names.js";
import { planShrink, type ShrinkChange } from "../domain/shrink.js";
import { describeUsage, isInUse, usageByVersion, type VersionUsage } from "../domain/usage.js";
import type { ImageDefinitionRef } from "../ports.js";
import { definitionRefOf, forEachIsolated, type PipelineDeps } from "./context.js";
import { readFleet, type FleetRead } from "./usage.js";

/** What shrinking decided and did for one image. */
export interface ImageShrinkResult {
  image: string;
  dryRun: boolean;
  /** Versions whose replicas were reduced (or would be, in a dry run), with why. */
  shrunk: { version: string; reason: string }[];
  kept: { version: string; reason: string }[];
  /** Changes this run's time budget did not reach; the next run plans them again. */
  deferred: { version: string; reason: string }[];
  /** Changes Azure refused; the next run tries again. */
  errors: { version: string; error: string }[];
}

/** What one shrink pass did. */
export interface ShrinkResult {
  images: ImageShrinkResult[];
  failedImages: { image: string; error: string }[];
  stoppedAtBudget: boolean;
  /** Why where the images run could not be read: then nothing shrank. */
  usageUnavailable?: string;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Where each version in use runs, as a sentence per version ("2 VMs, 1 scale set with 3 instances (sub/rg)"). */
function inUseByVersion(usage: ReadonlyMap<string, VersionUsage>): Map<string, string> {
  return new Map([...usage].filter(([, u]) => isInUse(u)).map(([version, u]) => [version, describeUsage(u)]));
}

interface PendingChange {
  image: CatalogImage;
  ref: ImageDefinitionRef;
  result: ImageShrinkResult;
  change: ShrinkChange;
  tags: Record<string, string>;
  round: number;
}

/**
 * Applies each image's `retention.shrinkSuperseded` policy (shared/domain/shrink.ts): a reason logged for every
 * change, within the time budget of the prune run it is part of (`startedAt` is that run's start). Where the images
 * run is read once for every image (or handed in: the prune run's own read); when it cannot be read, nothing shrinks
 * this run: a version in use must never lose the replicas its VMs and scale sets scale out from. Updates are submitted, not awaited: Azure takes a while to add or
 * remove replicas, and a version still changing is left alone by the next run, which plans again from what the
 * gallery holds (so a change made or lost is never made twice). Changes go round by round across images (every
 * image's first before any image's second), so none waits behind another across runs. Each image in its own error
 * boundary.
 */
export async function shrinkReplicas(
  deps: PipelineDeps,
  options: { dryRun?: boolean; timeBudgetInMs?: number; startedAt?: Date; fleet?: FleetRead } = {},
): Promise<ShrinkResult> {
  const { gallery, settings, clock, log } = deps;
  const startedMs = (options.startedAt ?? clock.now()).getTime();
  const budgetInMs = options.timeBudgetInMs ?? settings.pruneTimeBudgetInSeconds * 1000;
  const images = deps.catalog.images.filter((i) => i.retention.shrinkSuperseded);
  const result: ShrinkResult = { images: [], failedImages: [], stoppedAtBudget: false };
  if (images.length === 0) return result;

  const fleet = options.fleet ?? (await readFleet(deps));
  if (!fleet.readable) {
    log.warn("shrinking no replicas this run: where the images run is unknown", { reason: fleet.reason });
    result.usageUnavailable = fleet.reason;
    return result;
  }

  const pending: PendingChange[] = [];
  const failures = await forEachIsolated(
    images,
    (image) => ({ image: image.name }),
    log,
    async (image) => {
      const ref = definitionRefOf(image, settings);
      const versions = await gallery.listVersions(ref);
      const plan = planShrink({
        versions,
        policy: image.retention.shrinkSuperseded!,
        homeRegion: homeRegionOf(image),
        inUse: inUseByVersion(usageByVersion(fleet.fleet.members, ref)),
        defaults: {
          replicaCount: image.distribution.replicaCount,
          storageAccountType: image.distribution.storageAccountType,
        },
      });
      const dryRun = options.dryRun === true || settings.pruneDryRun || image.retention.dryRun;
      const imageResult: ImageShrinkResult = {
        image: image.name,
        dryRun,
        shrunk: [],
        kept: plan.kept,
        deferred: [],
        errors: [],
      };
      result.images.push(imageResult);
      const tagsOf = new Map(versions.map((v) => [v.name, v.tags]));
      plan.changes.forEach((change, round) =>
        pending.push({ image, ref, result: imageResult, change, tags: { ...tagsOf.get(change.version) }, round }),
      );
    },
  );
  result.failedImages = failures.map((f) => ({ image: String(f.item["image"]), error: messageOf(f.error) }));

  pending.sort((a, b) => a.round - b.round || a.image.name.localeCompare(b.image.name));
  for (const { image, ref, result: imageResult, change, tags } of pending) {
    const fields = { image: image.name, version: change.version, reason: change.reason };
    if (result.stoppedAtBudget || clock.now().getTime() - startedMs >= budgetInMs) {
      result.stoppedAtBudget = true;
      imageResult.deferred.push({ version: change.version, reason: change.reason });
      log.info("deferring a replica shrink to the next run: this run's time budget is spent", fields);
      continue;
    }
    if (imageResult.dryRun) {
      log.info("would shrink replicas (dry run)", fields);
      imageResult.shrunk.push({ version: change.version, reason: change.reason });
      continue;
    }
    try {
      const now = clock.now().toISOString();
      await gallery.updateVersion(
        ref,
        change.version,
        {
          targetRegions: change.targetRegions,
          tags: { ...tags, [tagNames.replicasShrunk]: truncateTagValue(`${now} ${change.reason}`) },
          ...(change.removedRegions.length > 0 ? { allowDeletionOfReplicatedLocations: true } : {}),
        },
        { wait: false },
      );
      log.info("shrinking replicas of a superseded version", fields);
      imageResult.shrunk.push({ version: change.version, reason: change.reason });
    } catch (error) {
      log.error("could not shrink replicas: the next run tries again", { ...fields, error });
      imageResult.errors.push({ version: change.version, error: messageOf(error) });
    }
  }
  return result;
}
