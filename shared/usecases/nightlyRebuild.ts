import { catalogEntryHash } from "../catalog/load.js";
import type { CatalogImage } from "../catalog/schema.js";
import { tagNames } from "../domain/names.js";
import { isDue } from "../domain/ncrontab.js";
import { compareVersions } from "../domain/versions.js";
import { definitionRefOf, type PipelineDeps } from "./context.js";
import { requestBuild } from "./requestBuild.js";

/** What the nightly timer decided for one image. */
export type NightlyDecision =
  | { image: string; action: "notDue" }
  | { image: string; action: "skipped"; reason: string }
  | { image: string; action: "requested"; buildId: string; reason: string };

/**
 * For each image whose schedule fell due since the last tick, requests a build, unless nothing changed since the
 * newest published version: same exact base image version and same catalog entry (when the image asks to skip).
 */
export async function nightlyRebuild(
  deps: PipelineDeps,
  window: { since: Date; now: Date },
): Promise<NightlyDecision[]> {
  const decisions: NightlyDecision[] = [];
  for (const image of deps.catalog.images) {
    const decision = await decide(deps, image, window);
    decisions.push(decision);
    if (decision.action !== "notDue") deps.log.info(`nightly: ${decision.action}`, { ...decision });
  }
  return decisions;
}

async function decide(
  deps: PipelineDeps,
  image: CatalogImage,
  window: { since: Date; now: Date },
): Promise<NightlyDecision> {
  if (!image.schedule || !isDue(image.schedule.cron, window.since, window.now)) {
    return { image: image.name, action: "notDue" };
  }
  const catalogHash = catalogEntryHash(image);
  const baseImageVersion = await currentBaseImageVersion(deps, image);
  if (image.schedule.skipIfUnchanged) {
    const versions = await deps.gallery.listVersions(definitionRefOf(image, deps.settings));
    const newest = versions
      .filter((v) => v.tags[tagNames.state] === "promoted" || v.tags[tagNames.state] === "replicating")
      .sort((a, b) => compareVersions(b.name, a.name))[0];
    if (
      newest &&
      newest.tags[tagNames.catalogHash] === catalogHash &&
      (baseImageVersion === undefined || newest.tags[tagNames.baseImageVersion] === baseImageVersion)
    ) {
      return {
        image: image.name,
        action: "skipped",
        reason: `unchanged since ${newest.name}: base image ${baseImageVersion ?? "(not versioned)"}, catalog entry ${catalogHash.slice(0, 12)}`,
      };
    }
  }
  const day = window.now.toISOString().slice(0, 10);
  const message = await requestBuild(deps, {
    image: image.name,
    reason: "schedule",
    requestedBy: "schedule",
    nonce: `schedule:${day}:${baseImageVersion ?? ""}:${catalogHash}`,
  });
  return {
    image: image.name,
    action: "requested",
    buildId: message.buildId,
    reason: `base image ${baseImageVersion ?? "(not versioned)"}, catalog entry ${catalogHash.slice(0, 12)}`,
  };
}

/** The exact version the build would start from today, where the source has versions. */
async function currentBaseImageVersion(deps: PipelineDeps, image: CatalogImage): Promise<string | undefined> {
  const source = image.source;
  if (source.type === "PlatformImage") {
    if (source.version !== "latest") return source.version;
    const available = await deps.gallery.listPlatformImageVersions(
      image.gallery.subscriptionId ?? deps.settings.subscriptionId,
      image.build.location,
      source.publisher,
      source.offer,
      source.sku,
    );
    return [...available].sort(compareDottedNumbers).at(-1);
  }
  if (source.type === "SharedImageVersion") return source.imageVersionId.split("/").at(-1);
  return undefined;
}

/** Orders Marketplace versions such as `24.04.202411030` (parts may exceed a gallery version's int32). */
export function compareDottedNumbers(a: string, b: string): number {
  const pa = a.split(".");
  const pb = b.split(".");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = BigInt(/^\d+$/.test(pa[i] ?? "") ? pa[i]! : "0");
    const y = BigInt(/^\d+$/.test(pb[i] ?? "") ? pb[i]! : "0");
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
