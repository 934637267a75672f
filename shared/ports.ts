import type { Catalog, CatalogSource } from "./catalog/schema.js";
import type { PipelineEvent } from "./events/schema.js";
import type { MessageOf, QueueName } from "./messages/index.js";
import type { ImageDefinitionRef } from "./domain/gallery.js";
import type { ImageDefinitionSpec, VersionUpdate } from "./domain/imageVersion.js";
import type { SourceImageFacts } from "./domain/sourceImage.js";
import type { ImageTemplateSpec } from "./domain/template.js";
import type { FleetMember, FleetUsage } from "./domain/usage.js";

export type {
  FleetMember,
  FleetUsage,
  ImageDefinitionRef,
  ImageDefinitionSpec,
  ImageTemplateSpec,
  SourceImageFacts,
  VersionUpdate,
};

/**
 * The small interfaces the use-cases need from Azure and the outside world, in the pipeline's own types (no SDK
 * type crosses them). Adapters in `shared/adapters/` implement them on the real SDK clients and map to and from the
 * SDKs' models; tests pass hand-written fakes.
 */

/** Per-region replication state as the gallery reports it with `$expand=ReplicationStatus`. */
export interface RegionalReplication {
  region: string;
  state: string;
  details?: string;
  progress?: number;
}

/** A target region of a version as published. */
export interface TargetRegionSummary {
  name: string;
  regionalReplicaCount?: number;
  storageAccountType?: string;
  excludeFromLatest?: boolean;
}

/** What a version list page says of a version (no replication status: that needs one GET each). */
export interface VersionSummary {
  name: string;
  location?: string;
  provisioningState?: string;
  publishedDate?: Date;
  endOfLifeDate?: Date;
  excludeFromLatest: boolean;
  targetRegions: TargetRegionSummary[];
  tags: Record<string, string>;
}

/** A version read on its own with its replication status. */
export interface VersionDetails extends VersionSummary {
  replication?: { aggregatedState: string; summary: RegionalReplication[] };
}

/** What the pipeline reads of an image definition. */
export interface ImageDefinitionState {
  /** The definition's region: its versions are created there. */
  location?: string;
  tags: Record<string, string>;
}

/** Compute Gallery and Compute operations the pipeline uses. */
export interface GalleryClient {
  getImageDefinition(ref: ImageDefinitionRef): Promise<ImageDefinitionState | undefined>;
  /** Creates the definition and waits until it exists. */
  createImageDefinition(ref: ImageDefinitionRef, definition: ImageDefinitionSpec): Promise<void>;
  /** Replaces the definition's tags (submits the update: the tags apply when ARM accepts it). */
  updateImageDefinitionTags(ref: ImageDefinitionRef, tags: Record<string, string>): Promise<void>;
  /** Every version of a definition, following `nextLink`. */
  listVersions(ref: ImageDefinitionRef): Promise<VersionSummary[]>;
  /** One version with its replication status; undefined when it does not exist. */
  getVersion(ref: ImageDefinitionRef, version: string): Promise<VersionDetails | undefined>;
  /**
   * Submits an update of a version (only what `update` sets changes). With `wait`, resolves once Azure finished it
   * (promotion, a region's removal); without, once Azure accepted it (replication goes on; the monitor watches).
   */
  updateVersion(
    ref: ImageDefinitionRef,
    version: string,
    update: VersionUpdate,
    options: { wait: boolean },
  ): Promise<void>;
  /** Submits the deletion. */
  deleteVersion(ref: ImageDefinitionRef, version: string): Promise<void>;
  /**
   * What Azure says of the image a build would start from, in the build's region: a platform image's version
   * (`latest` resolved) and properties, a managed image's, or a gallery version's definition's.
   */
  describeSourceImage(subscriptionId: string, location: string, source: CatalogSource): Promise<SourceImageFacts>;
}

/** State of an Image Builder template as the pipeline reads it. */
export interface TemplateSummary {
  name: string;
  location?: string;
  tags: Record<string, string>;
  provisioningState?: string;
  provisioningErrorMessage?: string;
  lastRunStatus?: {
    runState?: string;
    runSubState?: string;
    message?: string;
    startTime?: Date;
    endTime?: Date;
  };
  /** The source image's exact version, when the source is a platform image or a gallery version. */
  sourceExactVersion?: string;
  /** The staging resource group Image Builder uses for this template (where the customization log lives). */
  exactStagingResourceGroup?: string;
}

/** VM Image Builder operations the pipeline uses. */
export interface ImageBuilderClient {
  getTemplate(subscriptionId: string, resourceGroup: string, name: string): Promise<TemplateSummary | undefined>;
  listTemplates(subscriptionId: string, resourceGroup: string): Promise<TemplateSummary[]>;
  /**
   * Submits the template's creation and returns once Azure accepted it: Image Builder provisions it meanwhile (its
   * `provisioningState`, read by getTemplate, says when it may run). A refusal Azure answers at once is thrown.
   */
  createTemplate(
    subscriptionId: string,
    resourceGroup: string,
    name: string,
    template: ImageTemplateSpec,
  ): Promise<void>;
  /** Replaces the template's tags (the only change Image Builder allows on a template besides its identity). */
  updateTemplateTags(
    subscriptionId: string,
    resourceGroup: string,
    name: string,
    tags: Record<string, string>,
  ): Promise<void>;
  /** Submits a run (Image Builder refuses it while the template provisions); its progress is read with getTemplate. */
  runTemplate(subscriptionId: string, resourceGroup: string, name: string): Promise<void>;
  /** Submits a cancellation of the current run. */
  cancelRun(subscriptionId: string, resourceGroup: string, name: string): Promise<void>;
  /** Submits the deletion; a missing template is not an error. */
  deleteTemplate(subscriptionId: string, resourceGroup: string, name: string): Promise<void>;
}

/** Where gallery images run: the fleet, read from Azure Resource Graph. */
export interface FleetUsageReader {
  /**
   * Every VM, scale set and scale-set instance whose image is a Compute Gallery image, in the given subscriptions: one
   * sweep for every image and version (not one per version), paged as Resource Graph pages it.
   * @throws UsageUnavailableError when the fleet cannot be read whole (access denied to a subscription, throttled
   *   past the sweep's patience, a failed query): a partial fleet is never returned
   */
  readUsage(subscriptionIds: readonly string[], options?: FleetReadOptions): Promise<FleetUsage>;
}

/** How fresh a fleet read must be. */
export interface FleetReadOptions {
  /**
   * A sweep of the same subscriptions begun at most this long ago may be returned instead of a new one (views: the
   * status API and the dashboard). Without it the fleet is swept anew: pruning and shrinking never act on an old read.
   */
  maxAgeInMs?: number;
}

/**
 * Sends a pipeline message to a queue, typed by the queue's contract (`shared/messages`): the message id and subject
 * come from the contract, so a repeated send is dropped by duplicate detection.
 */
export interface MessageSender {
  send<Q extends QueueName>(
    queue: Q,
    message: MessageOf<Q>,
    options?: { scheduledEnqueueTimeUtc?: Date },
  ): Promise<void>;
}

/** One health check of a progressive rollout, before wave `wave` moves (the catalog names the endpoint). */
export interface HealthCheckRequest {
  url: string;
  timeoutInMs: number;
  image: string;
  version: string;
  /** The wave that moves if the answer is healthy (1-based). */
  wave: number;
  regions: readonly string[];
}

/** A health check's outcome: healthy only on a 2xx answer; `detail` says what happened (never the answer's body). */
export interface HealthCheckResult {
  healthy: boolean;
  detail: string;
}

/** Asks a rollout's health endpoint whether the next wave may move. Never throws: a failure is an unhealthy result. */
export interface HealthGate {
  check(request: HealthCheckRequest): Promise<HealthCheckResult>;
}

/** Where the pipeline's events go out: an Event Grid topic whose input schema is CloudEvents 1.0. */
export interface EventPublisher {
  /**
   * Publishes the events as one batch (all or none: Event Grid accepts or refuses a batch whole).
   * @throws EventRejectedError when the topic refuses the batch for a reason sending it again cannot fix
   */
  publish(events: readonly PipelineEvent[]): Promise<void>;
}

/** Structured log lines. Fields must never carry secrets. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Attributes of a span: the pipeline's facts (image, version, build id, regions) and protocol details. */
export type SpanAttributes = Record<string, string | number | boolean | string[] | undefined>;

/** The span a piece of work runs in, as the work sees it. */
export interface SpanHandle {
  /** W3C traceparent of this span: what a message or a resource tag carries to continue the trace from here. */
  readonly traceparent: string | undefined;
  setAttributes(attributes: SpanAttributes): void;
  addEvent(name: string, attributes?: SpanAttributes): void;
  /** Marks the span failed, with the reason (its status becomes an error). */
  fail(reason: string): void;
}

/** How a span relates to others. */
export interface SpanOptions {
  kind?: "internal" | "server" | "client" | "producer" | "consumer";
  /** W3C traceparent of the parent, when it is elsewhere (a message, a tag); default: the active span. */
  parent?: string;
  /** Spans this one relates to without being their child (e.g. the sweep that checked a build's version). */
  links?: ReadonlyArray<string | undefined>;
  /** Starts a trace of its own (a build the nightly run asks for: one trace per build), linked to `links`. */
  root?: boolean;
  attributes?: SpanAttributes;
}

/** Tracing, as the use-cases and adapters need it (implemented on OpenTelemetry in shared/observability). */
export interface Tracer {
  /**
   * Runs `work` in a new span, active for everything it does (child spans, log lines, messages it sends), and ends
   * the span when `work` settles; a throw fails the span with the error's message and is rethrown.
   */
  inSpan<T>(name: string, options: SpanOptions, work: (span: SpanHandle) => Promise<T>): Promise<T>;
  /** W3C traceparent of the active span, when there is one being recorded. */
  activeTraceparent(): string | undefined;
  /** Adds attributes to the active span (what an invocation learns as it goes: the build id, the version). */
  annotate(attributes: SpanAttributes): void;
}

export interface Clock {
  now(): Date;
}

/** The catalog as published: the parsed catalog and what identifies this version of it. */
export interface CatalogSnapshot {
  catalog: Catalog;
  /** The store's version of it (the blob's ETag), for conditional reads and writes. */
  etag: string;
  /** SHA-256 (hex) of the whole parsed catalog; each entry's own hash is `catalogEntryHash`. */
  hash: string;
}

/** Where the running app reads the catalog it works from. */
export interface CatalogReader {
  /**
   * The catalog in use: read from the store at most once per cache window, then revalidated with a conditional read.
   * A published catalog that does not validate is never used (the one in use is kept and the rejection logged).
   * `revalidate` asks the store now, whatever the window (a request names an entry newer than the one in use).
   * @throws CatalogUnavailableError when no valid catalog could be read yet
   */
  current(log: Logger, options?: { revalidate?: boolean }): Promise<CatalogSnapshot>;
}

/** The published catalog text, as the store holds it. */
export interface PublishedCatalogText {
  text: string;
  etag: string;
  lastModified?: Date;
}

/** The catalog store as `catalog publish` and `catalog show` use it: the text and its version, written conditionally. */
export interface CatalogStore {
  /** The published text, or undefined when nothing was published yet. */
  read(): Promise<PublishedCatalogText | undefined>;
  /**
   * Replaces the published text only if it is still the version read (`ifMatch`), or creates it only if there is
   * none (`ifNoneMatch: "*"`).
   * @throws CatalogConflictError when someone else published in between
   */
  write(text: string, condition: { ifMatch: string } | { ifNoneMatch: "*" }): Promise<{ etag: string }>;
}
