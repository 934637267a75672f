import type { CatalogImage } from "../catalog/schema.js";
import type { RetentionUsage } from "../domain/retention.js";
import { usageByVersion, type FleetUsage, type VersionUsage } from "../domain/usage.js";
import { UsageUnavailableError } from "../errors.js";
import type { FleetReadOptions } from "../ports.js";
import { definitionRefOf, type PipelineDeps } from "./context.js";

/** One sweep of the fleet, or why it could not be read (never a partial fleet). */
export type FleetRead = { readable: true; fleet: FleetUsage } | { readable: false; reason: string };

/**
 * How old a fleet read the views (the status API, the dashboard) may show: a minute. Pruning and shrinking always
 * read anew.
 */
export const viewFleetMaxAgeInMs = 60_000;

/**
 * Reads where the images run, once, across the configured subscriptions (`options.maxAgeInMs`: a recent read may do,
 * for views only). A fleet that cannot be read whole is not an error here: it is reported (and logged) so that callers
 * delete nothing and show why.
 */
export async function readFleet(deps: PipelineDeps, options: FleetReadOptions = {}): Promise<FleetRead> {
  try {
    return { readable: true, fleet: await deps.fleet.readUsage(deps.settings.usageSubscriptionIds, options) };
  } catch (error) {
    const reason = error instanceof UsageUnavailableError ? error.message : `usage could not be read: ${String(error)}`;
    deps.log.warn("where the images run could not be read", {
      subscriptions: deps.settings.usageSubscriptionIds,
      reason,
      error,
    });
    return { readable: false, reason };
  }
}

/** Usage of one image's versions, by version name, from one sweep. */
export function usageOfImage(
  read: FleetRead,
  image: CatalogImage,
  deps: Pick<PipelineDeps, "settings">,
): RetentionUsage {
  if (!read.readable) return { readable: false, reason: read.reason };
  return { readable: true, byVersion: usageByVersion(read.fleet.members, definitionRefOf(image, deps.settings)) };
}

/** Where each version of an image runs (`image-pipeline usage`, `GET /api/images/{name}`). */
export interface ImageUsage {
  image: string;
  readAt?: string;
  /** Set when the fleet could not be read whole: then no version's usage is known. */
  unavailable?: string;
  subscriptions: string[];
  /** Versions that anything runs, highest first; a version nothing runs is left out. */
  versions: ({ version: string } & VersionUsage)[];
}

/** An image's usage from one sweep; with `version`, that version only. */
export function imageUsageOf(
  read: FleetRead,
  image: CatalogImage,
  deps: Pick<PipelineDeps, "settings">,
  version?: string,
): ImageUsage {
  const base = { image: image.name, subscriptions: deps.settings.usageSubscriptionIds };
  if (!read.readable) return { ...base, unavailable: read.reason, versions: [] };
  const byVersion = usageByVersion(read.fleet.members, definitionRefOf(image, deps.settings));
  const versions = [...byVersion.entries()]
    .filter(([name]) => version === undefined || name === version)
    .map(([name, usage]) => ({ version: name, ...usage }))
    .sort((a, b) => b.version.localeCompare(a.version, undefined, { numeric: true }));
  return { ...base, readAt: read.fleet.readAt.toISOString(), versions };
}
