import * as z from "zod";
import { pipelineEventSchema } from "../events/schema.js";
import { buildEnvelopeSchema, imageVersionNameSchema, type BuildEnvelope } from "./common.js";

export * from "./common.js";

const catalogHashSchema = z.string().regex(/^[0-9a-f]{16,64}$/);
const armIdSchema = z.string().regex(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/.+/i, "an ARM id");

/** Queue `build-requests`: a build of one catalog image was asked for. Consumed by startBuild. */
export const buildRequestedSchema = buildEnvelopeSchema.extend({
  kind: z.literal("BuildRequested"),
  /** Times this request already waited because another build of the image was in flight. */
  attempt: z.number().int().min(0).max(1000).default(0),
  /** Build even when the nightly check would find nothing changed. */
  force: z.boolean().default(false),
  /** Hash of the catalog entry when the build was requested: the handler reads the catalog again if it has another. */
  catalogHash: catalogHashSchema.optional(),
});
export type BuildRequested = z.infer<typeof buildRequestedSchema>;

/** What a build knows once its Image Builder template exists; carried by every later message. */
const buildInFlightSchema = buildEnvelopeSchema.extend({
  /** The gallery image version this build will publish. */
  version: imageVersionNameSchema,
  /** Hash of the catalog entry the template was rendered from. */
  catalogHash: catalogHashSchema,
  /** Image Builder template name. */
  templateName: z.string().min(1),
  /** Resource group of the template. */
  templateResourceGroup: z.string().min(1),
  /** When the Image Builder run was started (ISO 8601). */
  runStartedAt: z.iso.datetime(),
});

/** Queue `build-watch`: an Image Builder run is in flight. Consumed by watchBuild, which reschedules it. */
export const buildWatchSchema = buildInFlightSchema.extend({
  kind: z.literal("BuildWatch"),
  /** How many checks came before this one; part of the next message's id so a duplicate send is dropped. */
  checkCount: z.number().int().min(0),
  /** Delay before the check after this one, in seconds (doubles up to a maximum). */
  nextDelayInSeconds: z.number().int().positive(),
  /** The run is failed as timed out when still running after this instant (build timeout plus a margin). */
  deadlineAt: z.iso.datetime(),
  /** Set once the pipeline canceled the run for passing its deadline, so the failure says so. */
  timedOut: z.boolean().default(false),
});
export type BuildWatch = z.infer<typeof buildWatchSchema>;

/**
 * Queue `version-publish`: the run succeeded and wrote the version to its home region; the pipeline takes it over
 * (adds the other target regions). Consumed by publishVersion.
 */
export const publishVersionSchema = buildInFlightSchema.extend({
  kind: z.literal("PublishVersion"),
  /** The gallery image version the run wrote (its run output's artifact). */
  versionId: armIdSchema,
  /** `Succeeded`, or `PartiallySucceeded` (e.g. validation failed with continueDistributeOnFailure). */
  runState: z.enum(["Succeeded", "PartiallySucceeded"]).default("Succeeded"),
  /** Exact version of the source image the run used, when Image Builder reported it. */
  baseImageVersion: z.string().min(1).optional(),
  /** When the run ended (ISO 8601). */
  runEndedAt: z.iso.datetime(),
});
export type PublishVersion = z.infer<typeof publishVersionSchema>;

/** The fields every later message of a build copies from the request. */
export function envelopeOf(message: BuildEnvelope): BuildEnvelope {
  const { schemaVersion, buildId, image, commit, ref, reason, requestedBy, requestedAt, traceparent } = message;
  return { schemaVersion, buildId, image, commit, ref, reason, requestedBy, requestedAt, traceparent };
}

/**
 * One queue's contract: the one schema its messages follow, how a message's id is derived (deterministic, so that
 * Service Bus duplicate detection turns a repeated send into a no-op) and its Service Bus `subject`.
 */
export interface QueueContract<S extends z.ZodType = z.ZodType> {
  schema: S;
  subject: string;
  messageId(message: z.infer<S>): string;
}

/** One queue's contract, with its message type inferred from the schema. */
export function queueContract<S extends z.ZodType>(
  schema: S,
  subject: string,
  messageId: (message: z.infer<S>) => string,
): QueueContract<S> {
  return { schema, subject, messageId };
}

/** A registry of queues: name → contract. */
export type QueueRegistry = Record<string, QueueContract>;

/**
 * The one registry of the pipeline's queues (their properties are in `shared/config/queues.json`, which the local
 * Service Bus and Bicep read): what each carries and how its messages are named. Senders are typed by it; the
 * function table binds one handler per entry (`functions/queues.ts`). Adding a queue is an entry here, its properties
 * in queues.json, and its handler.
 */
export const queues = {
  "build-requests": queueContract(buildRequestedSchema, "BuildRequested", (m) => `${m.buildId}:request:${m.attempt}`),
  "build-watch": queueContract(buildWatchSchema, "BuildWatch", (m) => `${m.buildId}:watch:${m.checkCount}`),
  "version-publish": queueContract(publishVersionSchema, "PublishVersion", (m) => `${m.buildId}:publish`),
  /** A pipeline event (a CloudEvent) on its way to the Event Grid topic: its id is the event's own. */
  events: queueContract(pipelineEventSchema, "PipelineEvent", (m) => m.id),
} as const satisfies QueueRegistry;

/** A queue of the pipeline. */
export type QueueName = keyof typeof queues;
/** The message a queue carries. */
export type MessageOf<Q extends QueueName> = z.infer<(typeof queues)[Q]["schema"]>;

/** What a queue message says about its build, for its spans and log lines. */
export interface BuildFacts {
  buildId?: string;
  image?: string;
  version?: string;
}

/**
 * The build a queue message is about, read from any body, valid or not: a build's message carries its fields at the
 * top, an event (`events` queue) in its `data`. Fields that are not strings are left out.
 */
export function buildFactsOf(body: unknown): BuildFacts {
  if (!body || typeof body !== "object") return {};
  const top = body as Record<string, unknown>;
  const data = top.data;
  const about = (data && typeof data === "object" ? data : top) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === "string" ? v : undefined);
  return { buildId: text(about.buildId), image: text(about.image), version: text(about.version) };
}
