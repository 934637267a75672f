import { newTraceparent } from "../messages/common.js";
import { eventTypePrefix, type EventData, type EventName, type PipelineEvent, type PipelineEventOf } from "./schema.js";

export * from "./schema.js";

/**
 * The order of steps within one build, as the CloudEvents `sequence` attribute carries it (Event Grid does not keep
 * the order of delivery: consumers that care sort a build's events by it). Recovery attempts, rollbacks and manual
 * promotions add their count to their step's base.
 */
export const stepSequence = {
  BuildRequested: 100,
  BuildStarted: 200,
  VersionPublished: 300,
  ReplicationFailed: 400,
  VersionPromoted: 500,
  /** 500 + the wave reached (waves are at most a handful: see the catalog's rollout). */
  RolloutWaveMoved: 500,
  /** 550 + the wave it stopped in. */
  RolloutStopped: 550,
  /** 600 + 2n - 1 for the n-th rollback; a manual promotion after n rollbacks is 600 + 2n. */
  VersionRolledBack: 600,
  RetentionSkipped: 700,
  VersionPruned: 800,
  BuildFailed: 900,
  ScheduleDisabled: 950,
  ScheduleEnabled: 960,
} as const satisfies Record<EventName, number>;

/**
 * The id of a build's step: `<buildId>:<step>` (a step that may repeat with a different outcome, such as a recovery
 * attempt, names its count too). The same step done again (a redelivered message, a sweep finishing what a crash
 * left) gives the same id, so consumers and Service Bus duplicate detection drop the repeat.
 */
export function buildEventId(buildId: string, step: string): string {
  return `${buildId}:${step}`;
}

/** The id of a version's step when no build of the pipeline made the version: `<image>@<version>:<step>`. */
export function versionEventId(image: string, version: string, buildId: string | undefined, step: string): string {
  return buildId ? buildEventId(buildId, step) : `${image}@${version}:${step}`;
}

/** What identifies where an event happened. */
export interface EventOrigin {
  /** The image definition's resource id. */
  source: string;
  image: string;
  /** The build's trace, when the step runs under one; a new trace otherwise. */
  traceparent?: string;
}

/** Subject of an event about a build, a version, or the image's schedule. */
export const eventSubject = {
  build: (image: string, buildId: string) => `images/${image}/builds/${buildId}`,
  version: (image: string, version: string) => `images/${image}/versions/${version}`,
  schedule: (image: string) => `images/${image}/schedule`,
};

/** A CloudEvent of the pipeline: the envelope around one step's data. */
export function pipelineEvent<N extends EventName>(
  name: N,
  input: {
    id: string;
    origin: EventOrigin;
    subject: string;
    time: Date;
    /** Added to the step's base sequence (recovery attempts, rollbacks). */
    sequenceOffset?: number;
    data: EventData<N>;
  },
): PipelineEventOf<N> {
  return {
    specversion: "1.0",
    id: input.id,
    source: input.origin.source,
    subject: input.subject,
    type: `${eventTypePrefix}${name}`,
    time: input.time.toISOString(),
    datacontenttype: "application/json",
    sequence: String(stepSequence[name] + (input.sequenceOffset ?? 0)).padStart(4, "0"),
    traceparent: input.origin.traceparent ?? newTraceparent(),
    data: input.data,
  };
}

/** The event's name without its prefix. */
export function eventNameOf(event: PipelineEvent): EventName {
  return event.type.slice(eventTypePrefix.length) as EventName;
}
