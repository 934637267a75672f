import { catalogEntryHash, findImage } from "../catalog/load.js";
import type { Catalog } from "../catalog/schema.js";
import { CatalogEntryChangedError, UnknownImageError } from "../errors.js";
import {
  buildRequestedSchema,
  deriveBuildId,
  messageSchemaVersion,
  newTraceparent,
  type BuildRequested,
} from "../messages/index.js";
import type { Clock, Logger, MessageSender } from "../ports.js";
import type { PipelineSettings } from "./context.js";
import { emitEvent, eventOrigin, events } from "./events.js";

/** A request for a build, from a webhook, the schedule or the CLI. */
export interface BuildRequest {
  image: string;
  commit?: string;
  ref?: string;
  reason: BuildRequested["reason"];
  requestedBy: string;
  /**
   * What makes this request a new build beyond image and commit: a webhook delivery id when there is no commit, the
   * day and base image version for the schedule, a random value for a forced rebuild.
   */
  nonce?: string;
  traceparent?: string;
  force?: boolean;
  /** Hash of the catalog entry the requester saw (`catalog publish` prints it): refused if the published one differs. */
  catalogHash?: string;
}

/** What requestBuild needs: no ARM client, so the webhook stays light. */
export interface RequestBuildDeps {
  catalog: Catalog;
  bus: MessageSender;
  settings: Pick<PipelineSettings, "subscriptionId">;
  clock: Clock;
  log: Logger;
}

/**
 * Queues a build request. The build id is derived from the request, and the message id from the build id, so a
 * repeated request (same image and commit) is the same build: Service Bus drops the duplicate and the caller gets
 * the existing build's id. Its `BuildRequested` event is sent first: if the request then fails to send, the caller is
 * told and asks again (the same build, the same event id); the other order could lose the event.
 */
export async function requestBuild(deps: RequestBuildDeps, request: BuildRequest): Promise<BuildRequested> {
  const image = findImage(deps.catalog, request.image);
  if (!image) throw new UnknownImageError(request.image);
  const catalogHash = catalogEntryHash(image);
  if (request.catalogHash !== undefined && request.catalogHash !== catalogHash) {
    throw new CatalogEntryChangedError(image.name, request.catalogHash, catalogHash);
  }
  const message = buildRequestedSchema.parse({
    schemaVersion: messageSchemaVersion,
    kind: "BuildRequested",
    buildId: deriveBuildId(request),
    image: image.name,
    commit: request.commit,
    ref: request.ref,
    reason: request.reason,
    requestedBy: request.requestedBy,
    requestedAt: deps.clock.now().toISOString(),
    traceparent: request.traceparent ?? newTraceparent(),
    attempt: 0,
    force: request.force ?? false,
    catalogHash,
  } satisfies BuildRequested);
  const { buildId, commit, ref, reason, requestedBy, requestedAt } = message;
  await emitEvent(
    deps,
    events.buildRequested(eventOrigin(image, deps.settings, message.traceparent), deps.clock.now(), {
      image: image.name,
      buildId,
      ...(commit ? { commit } : {}),
      ...(ref ? { ref } : {}),
      reason,
      requestedBy,
      requestedAt,
    }),
  );
  await deps.bus.send("build-requests", message);
  deps.log.info("build requested", {
    buildId: message.buildId,
    image: message.image,
    commit: message.commit,
    reason: message.reason,
    requestedBy: message.requestedBy,
  });
  return message;
}
