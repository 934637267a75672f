import type { CatalogImage } from "../catalog/schema.js";
import { imageDefinitionIdOf } from "../domain/gallery.js";
import {
  buildEventId,
  eventSubject,
  pipelineEvent,
  versionEventId,
  type EventData,
  type EventOrigin,
  type PipelineEvent,
} from "../events/index.js";
import type { MessageSender } from "../ports.js";
import { definitionRefOf, type PipelineSettings } from "./context.js";

/*
 * How each step writes its events, and why none is lost (README "Events", shared/events/README.md): a step sends its
 * event to the `events` queue itself, in the same invocation as its change to Azure, with an id derived from the build
 * and the step. Either the event is sent after the change and the step, run again, finds the change and sends it
 * again (a redelivered message, or the monitor's sweep, which reads what Azure holds), or it is sent before the change
 * when the change itself is decided again identically from what Azure holds (a recovery attempt, a deletion). A
 * repeat has the same id: Service Bus drops it within its duplicate detection window; consumers drop it after.
 */

/** Where an image's events come from: its image definition. */
export function eventOrigin(
  image: Pick<CatalogImage, "name" | "gallery" | "definition">,
  settings: Pick<PipelineSettings, "subscriptionId">,
  traceparent?: string,
): EventOrigin {
  return {
    source: imageDefinitionIdOf(definitionRefOf(image as CatalogImage, settings)),
    image: image.name,
    ...(traceparent ? { traceparent } : {}),
  };
}

/** Writes an event to the `events` queue (the publisher function takes it to Event Grid). */
export function emitEvent(deps: { bus: MessageSender }, event: PipelineEvent): Promise<void> {
  return deps.bus.send("events", event);
}

/** The events of the pipeline's steps, each with its id rule. */
export const events = {
  buildRequested: (origin: EventOrigin, time: Date, data: EventData<"BuildRequested">) =>
    pipelineEvent("BuildRequested", {
      id: buildEventId(data.buildId, "requested"),
      origin,
      subject: eventSubject.build(data.image, data.buildId),
      time,
      data,
    }),

  buildStarted: (origin: EventOrigin, time: Date, data: EventData<"BuildStarted">) =>
    pipelineEvent("BuildStarted", {
      id: buildEventId(data.buildId, "started"),
      origin,
      subject: eventSubject.build(data.image, data.buildId),
      time,
      data,
    }),

  buildFailed: (origin: EventOrigin, time: Date, data: EventData<"BuildFailed">) =>
    pipelineEvent("BuildFailed", {
      id: buildEventId(data.buildId, "failed"),
      origin,
      subject: eventSubject.build(data.image, data.buildId),
      time,
      data,
    }),

  versionPublished: (origin: EventOrigin, time: Date, data: EventData<"VersionPublished">) =>
    pipelineEvent("VersionPublished", {
      id: buildEventId(data.buildId, "published"),
      origin,
      subject: eventSubject.version(data.image, data.version),
      time,
      data,
    }),

  /** One per failed region and recovery attempt: the attempt is part of the id. */
  replicationFailed: (origin: EventOrigin, time: Date, data: EventData<"ReplicationFailed">) =>
    pipelineEvent("ReplicationFailed", {
      id: buildEventId(data.buildId, `replication-failed:${data.attempt}:${data.region.toLowerCase()}`),
      origin,
      subject: eventSubject.version(data.image, data.version),
      time,
      sequenceOffset: data.attempt,
      data,
    }),

  /** `rollbacks`: how many rollbacks the version went through before (a manual promotion after n is its own step). */
  versionPromoted: (origin: EventOrigin, time: Date, data: EventData<"VersionPromoted">, rollbacks: number) =>
    rollbacks === 0
      ? pipelineEvent("VersionPromoted", {
          id: buildEventId(data.buildId, "promoted"),
          origin,
          subject: eventSubject.version(data.image, data.version),
          time,
          data,
        })
      : // After its n-th rollback a version promoted again is the step that follows that rollback.
        pipelineEvent("VersionPromoted", {
          id: buildEventId(data.buildId, `promoted:${rollbacks}`),
          origin,
          subject: eventSubject.version(data.image, data.version),
          time,
          sequenceOffset: 100 + 2 * rollbacks,
          data,
        }),

  /** One per wave: the wave is part of the id. */
  rolloutWaveMoved: (origin: EventOrigin, time: Date, data: EventData<"RolloutWaveMoved">) =>
    pipelineEvent("RolloutWaveMoved", {
      id: versionEventId(data.image, data.version, data.buildId, `rollout-wave:${data.wave}`),
      origin,
      subject: eventSubject.version(data.image, data.version),
      time,
      sequenceOffset: data.wave,
      data,
    }),

  /** A rollout ends once: stopped or halted, in the wave it reached. */
  rolloutStopped: (origin: EventOrigin, time: Date, data: EventData<"RolloutStopped">) =>
    pipelineEvent("RolloutStopped", {
      id: versionEventId(data.image, data.version, data.buildId, `rollout-${data.state}`),
      origin,
      subject: eventSubject.version(data.image, data.version),
      time,
      sequenceOffset: data.wave,
      data,
    }),

  /** `rollback`: the count of this rollback (1 for the first). */
  versionRolledBack: (origin: EventOrigin, time: Date, data: EventData<"VersionRolledBack">, rollback: number) =>
    pipelineEvent("VersionRolledBack", {
      id: versionEventId(data.image, data.version, data.buildId, `rolled-back:${rollback}`),
      origin,
      subject: eventSubject.version(data.image, data.version),
      time,
      sequenceOffset: 2 * rollback - 1,
      data,
    }),

  versionPruned: (origin: EventOrigin, time: Date, data: EventData<"VersionPruned">) =>
    pipelineEvent("VersionPruned", {
      id: versionEventId(data.image, data.version, data.buildId, "pruned"),
      origin,
      subject: eventSubject.version(data.image, data.version),
      time,
      data,
    }),

  /** Repeated by every prune run that keeps the version for the same rule: the rule is part of the id. */
  retentionSkipped: (origin: EventOrigin, time: Date, data: EventData<"RetentionSkipped">) =>
    pipelineEvent("RetentionSkipped", {
      id: versionEventId(data.image, data.version, data.buildId, `retention-skipped:${data.rule}`),
      origin,
      subject: eventSubject.version(data.image, data.version),
      time,
      data,
    }),

  /** The build whose failure disabled the schedule names the step. */
  scheduleDisabled: (origin: EventOrigin, time: Date, data: EventData<"ScheduleDisabled">) =>
    pipelineEvent("ScheduleDisabled", {
      id: buildEventId(data.failedBuilds[0]!, "schedule-disabled"),
      origin,
      subject: eventSubject.schedule(data.image),
      time,
      data,
    }),

  /** Enabling the schedule that build disabled: enabling it twice is the same step. */
  scheduleEnabled: (origin: EventOrigin, time: Date, data: EventData<"ScheduleEnabled">, disabledBy: string) =>
    pipelineEvent("ScheduleEnabled", {
      id: buildEventId(disabledBy, "schedule-enabled"),
      origin,
      subject: eventSubject.schedule(data.image),
      time,
      data,
    }),
};
