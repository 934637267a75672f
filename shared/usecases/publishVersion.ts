import { renderGalleryImageVersion } from "../domain/imageVersion.js";
import { tagNames } from "../domain/names.js";
import { PermanentAzureError } from "../errors.js";
import type { PublishVersion } from "../messages/index.js";
import { definitionRefOf, requireImage, type PipelineDeps } from "./context.js";
import { failBuild } from "./failure.js";

/** What publishVersion did. */
export type PublishVersionResult =
  | { outcome: "published"; version: string }
  | { outcome: "alreadyPublished"; version: string }
  | { outcome: "conflict"; reason: string }
  | { outcome: "failed"; reason: string };

/**
 * Creates the gallery image version from the run output, excluded from `latest` until the monitor has seen every
 * target region replicate it. Only submits the creation: replication takes long and is the monitor's to watch.
 * Idempotent: a version that already exists from this build is accepted; one from another build is a conflict.
 */
export async function publishVersion(deps: PipelineDeps, message: PublishVersion): Promise<PublishVersionResult> {
  const { gallery, clock, log, settings } = deps;
  const image = requireImage(deps.catalog, message.image);
  const ref = definitionRefOf(image, settings);
  const build = {
    buildId: message.buildId,
    templateName: message.templateName,
    stagingImageId: message.stagingImageId,
  };
  const fields = { buildId: message.buildId, image: image.name, version: message.version };

  const existing = await gallery.getVersion(ref, message.version);
  if (existing) {
    const owner = existing.tags[tagNames.buildId];
    if (owner === message.buildId) {
      log.info("version already published by this build", fields);
      return { outcome: "alreadyPublished", version: message.version };
    }
    const reason = `version ${message.version} of ${ref.definition} already exists from ${owner ? `build ${owner}` : "outside the pipeline"}`;
    await failBuild(deps, image, build, reason);
    return { outcome: "conflict", reason };
  }

  const source = await gallery.getManagedImage(message.runOutputArtifactId);
  if (!source) {
    const reason = `the run output ${message.runOutputArtifactId} does not exist`;
    await failBuild(deps, image, build, reason);
    return { outcome: "failed", reason };
  }

  const body = renderGalleryImageVersion(image, {
    buildId: message.buildId,
    commit: message.commit,
    ref: message.ref,
    catalogHash: message.catalogHash,
    sourceImageId: message.runOutputArtifactId,
    baseImageVersion: message.baseImageVersion,
    templateName: message.templateName,
    now: clock.now(),
  });
  body.tags = {
    ...body.tags,
    [tagNames.stagingImageId]: message.stagingImageId,
    [tagNames.requestedBy]: message.requestedBy,
  };
  try {
    log.info("creating gallery image version", { ...fields, targetRegions: body.publishingProfile?.targetRegions });
    await gallery.createVersion(ref, message.version, body);
  } catch (error) {
    if (!(error instanceof PermanentAzureError)) throw error;
    const reason = `the gallery refused version ${message.version}: ${error.message}`;
    await failBuild(deps, image, build, reason);
    return { outcome: "failed", reason };
  }
  return { outcome: "published", version: message.version };
}
