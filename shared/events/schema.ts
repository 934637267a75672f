import * as z from "zod";
import {
  buildIdSchema,
  buildReasonSchema,
  imageNameSchema,
  imageVersionNameSchema,
  traceparentSchema,
} from "../messages/common.js";

/**
 * The pipeline's events: CloudEvents 1.0 (structured JSON), one zod schema for each event's `data`, all under one
 * envelope. They travel through the `events` queue and are published to an Azure Event Grid topic whose input schema
 * is CloudEvents 1.0; `schemas/events.schema.json` (npm run schema) is the same contract for consumers.
 */

/** Prefix of every event type (`ImagePipeline.BuildRequested`...), as Azure's own are `Microsoft.<Service>.<Event>`. */
export const eventTypePrefix = "ImagePipeline.";

const isoTime = z.iso.datetime({ offset: true });
const version = imageVersionNameSchema;

/** Fields every event's data carries: which image, and the build when the event belongs to one. */
const imageFields = {
  /** Catalog image name. */
  image: imageNameSchema,
};
const buildFields = {
  ...imageFields,
  /** The build this event belongs to. */
  buildId: buildIdSchema,
};

/** Data of each event type. */
export const eventDataSchemas = {
  /** A build was asked for (webhook, schedule, CLI). */
  BuildRequested: z.strictObject({
    ...buildFields,
    commit: z.string().optional(),
    ref: z.string().optional(),
    reason: buildReasonSchema,
    requestedBy: z.string(),
    requestedAt: isoTime,
  }),
  /** Image Builder started the build's run; the version it will publish is allocated. */
  BuildStarted: z.strictObject({
    ...buildFields,
    version,
    templateName: z.string(),
    runStartedAt: isoTime,
  }),
  /** The build failed: why, and where Image Builder wrote its customization log when it wrote one. */
  BuildFailed: z.strictObject({
    ...buildFields,
    version: version.optional(),
    reason: z.string(),
    logUri: z.string().optional(),
    failedAt: isoTime,
  }),
  /** The build's version exists and replicates to every target region; still out of `latest`. */
  VersionPublished: z.strictObject({
    ...buildFields,
    version,
    targetRegions: z.array(z.string()),
    endOfLifeDate: isoTime.optional(),
    baseImageVersion: z.string().optional(),
  }),
  /** A target region failed to replicate the version; what the pipeline does about it. */
  ReplicationFailed: z.strictObject({
    ...buildFields,
    version,
    region: z.string(),
    details: z.string().optional(),
    /** Recovery step this failure leads to (1-based); `recovery` says which. */
    attempt: z.number().int().min(1),
    maxAttempts: z.number().int().min(0),
    recovery: z.enum(["retry", "removeAndAddBack", "none"]),
  }),
  /** `latest` resolves to this version now (every target region has it). */
  VersionPromoted: z.strictObject({
    ...buildFields,
    version,
    regions: z.array(z.string()),
    /** `monitor` when replication completed, or who promoted it by hand. */
    promotedBy: z.string(),
  }),
  /** A progressive rollout let `latest` into its next wave's regions (wave 1 is the promotion itself). */
  RolloutWaveMoved: z.strictObject({
    ...imageFields,
    buildId: buildIdSchema.optional(),
    version,
    /** The wave reached (2..waves). */
    wave: z.number().int().min(2),
    waves: z.number().int().min(2),
    /** The regions `latest` now reaches that it did not before. */
    regions: z.array(z.string()),
    /** True when this was the last wave: the rollout is complete. */
    complete: z.boolean(),
  }),
  /**
   * A progressive rollout ends before its last wave: `stopped` because the version was rolled back during a soak,
   * `halted` because its health check kept failing. Regions of later waves keep their previous `latest`.
   */
  RolloutStopped: z.strictObject({
    ...imageFields,
    buildId: buildIdSchema.optional(),
    version,
    state: z.enum(["stopped", "halted"]),
    /** The last wave `latest` reached. */
    wave: z.number().int().min(1),
    reason: z.string(),
  }),
  /** The version was taken out of `latest` by an operator; `latest` resolves to `latest` now. */
  VersionRolledBack: z.strictObject({
    ...imageFields,
    buildId: buildIdSchema.optional(),
    version,
    reason: z.string(),
    rolledBackBy: z.string(),
    rolledBackAt: isoTime,
    /** What `latest` resolves to after the rollback (none: no other version is eligible). */
    latest: version.optional(),
  }),
  /** Retention deletes the version (sent as the deletion is submitted). */
  VersionPruned: z.strictObject({
    ...imageFields,
    buildId: buildIdSchema.optional(),
    version,
    rule: z.string(),
    reason: z.string(),
  }),
  /** Retention keeps a version past its end of life because it is still in use (latest, newest healthy...). */
  RetentionSkipped: z.strictObject({
    ...imageFields,
    buildId: buildIdSchema.optional(),
    version,
    rule: z.string(),
    reason: z.string(),
    endOfLifeDate: isoTime,
  }),
  /** The image's schedule stopped after consecutive failed builds; `schedule enable` turns it back on. */
  ScheduleDisabled: z.strictObject({
    ...imageFields,
    /** The failed builds, newest first. */
    failedBuilds: z.array(buildIdSchema).min(1),
    threshold: z.number().int().min(1),
    lastFailureReason: z.string(),
    disabledAt: isoTime,
  }),
  /** An operator turned the image's schedule back on. */
  ScheduleEnabled: z.strictObject({
    ...imageFields,
    enabledBy: z.string(),
    enabledAt: isoTime,
    disabledAt: isoTime,
  }),
} as const;

/** Name of an event type, without its prefix. */
export type EventName = keyof typeof eventDataSchemas;
/** The data of an event type. */
export type EventData<N extends EventName> = z.infer<(typeof eventDataSchemas)[N]>;
export const eventNames = Object.keys(eventDataSchemas) as EventName[];

/** CloudEvents 1.0 attributes the pipeline sets on every event. */
const envelope = {
  specversion: z.literal("1.0"),
  /** Derived from build (or version) and step: a repeated step repeats the id; consumers drop what they have seen. */
  id: z.string().min(1).max(128),
  /** The image definition's resource id: (source, id) is unique per event. */
  source: z.string().min(1),
  /** `images/<image>/builds/<buildId>`, `images/<image>/versions/<version>` or `images/<image>/schedule`. */
  subject: z.string().min(1),
  /** When the step observed what the event says. */
  time: isoTime,
  datacontenttype: z.literal("application/json"),
  /** Order of the event among its build's steps (CloudEvents sequence extension), as a sortable string. */
  sequence: z.string().regex(/^\d{4}$/),
  /** W3C trace context of the build (CloudEvents distributed tracing extension). */
  traceparent: traceparentSchema,
};

function eventSchema<N extends EventName>(name: N) {
  return z
    .strictObject({ ...envelope, type: z.literal(`${eventTypePrefix}${name}`), data: eventDataSchemas[name] })
    .meta({ title: `${eventTypePrefix}${name}` });
}

const schemas = eventNames.map(eventSchema) as unknown as [
  ReturnType<typeof eventSchema<EventName>>,
  ...ReturnType<typeof eventSchema<EventName>>[],
];

/** A pipeline event: a CloudEvent whose `data` follows its type's schema. */
// Typed by hand: the union is built from the table above, which TypeScript cannot follow name by name.
export const pipelineEventSchema = z.discriminatedUnion("type", schemas) as unknown as z.ZodType<PipelineEvent>;

/** One event of a given type. */
export type PipelineEventOf<N extends EventName> = {
  specversion: "1.0";
  id: string;
  source: string;
  subject: string;
  time: string;
  datacontenttype: "application/json";
  sequence: string;
  traceparent: string;
  type: `${typeof eventTypePrefix}${N}`;
  data: EventData<N>;
};
/** Any pipeline event. */
export type PipelineEvent = { [N in EventName]: PipelineEventOf<N> }[EventName];

/** Repository path of the committed JSON Schema of the events (for consumers). */
export const eventsJsonSchemaPath = "schemas/events.schema.json";

/** JSON Schema (draft 2020-12) of every event, one definition per type, for the topic's consumers. */
export function eventsJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(pipelineEventSchema, { io: "output", unrepresentable: "any" }),
    $id: "https://image-pipeline.invalid/schemas/events.schema.json",
    title: "image-pipeline events (CloudEvents 1.0)",
    description:
      "Events the pipeline publishes to its Event Grid topic: a CloudEvent per build and retention step; `type` names the event, `data` follows its schema. The same step repeated repeats the `id`: drop ids already seen.",
  };
}
