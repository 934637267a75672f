import type { GalleryImage, GalleryImageVersion, GalleryImageVersionUpdate } from "@azure/arm-compute";
import type { ImageTemplate } from "@azure/arm-imagebuilder";
import type { QueueName } from "./config/queues.js";

/**
 * The small interfaces the use-cases need from Azure and the outside world. Adapters in `shared/adapters/`
 * implement them on the real SDK clients; tests pass hand-written fakes. Model types are the SDKs' plain
 * interfaces (what the domain renders), never their client classes.
 */

/** An image definition in a gallery. */
export interface ImageDefinitionRef {
  subscriptionId: string;
  resourceGroup: string;
  gallery: string;
  definition: string;
}

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

/** A managed image (the staging output of a build). */
export interface ManagedImageSummary {
  id: string;
  name: string;
  location?: string;
  tags: Record<string, string>;
}

/** Compute Gallery and Compute operations the pipeline uses. */
export interface GalleryClient {
  getImageDefinition(ref: ImageDefinitionRef): Promise<{ tags: Record<string, string> } | undefined>;
  /** Creates the definition and waits until it exists. */
  createImageDefinition(ref: ImageDefinitionRef, definition: GalleryImage): Promise<void>;
  /** Replaces the definition's tags (waits). */
  updateImageDefinitionTags(ref: ImageDefinitionRef, tags: Record<string, string>): Promise<void>;
  /** Every version of a definition, following `nextLink`. */
  listVersions(ref: ImageDefinitionRef): Promise<VersionSummary[]>;
  /** One version with its replication status; undefined when it does not exist. */
  getVersion(ref: ImageDefinitionRef, version: string): Promise<VersionDetails | undefined>;
  /** Submits the creation (replication goes on long after; the monitor watches it). */
  createVersion(ref: ImageDefinitionRef, version: string, body: GalleryImageVersion): Promise<void>;
  /** Submits an update (promotion waits for it; a region retry does not). */
  updateVersion(
    ref: ImageDefinitionRef,
    version: string,
    update: GalleryImageVersionUpdate,
    options?: { wait: boolean },
  ): Promise<void>;
  /** Submits the deletion. */
  deleteVersion(ref: ImageDefinitionRef, version: string): Promise<void>;
  getManagedImage(id: string): Promise<ManagedImageSummary | undefined>;
  listManagedImages(subscriptionId: string, resourceGroup: string): Promise<ManagedImageSummary[]>;
  /** Submits the deletion; a missing image is not an error. */
  deleteManagedImage(id: string): Promise<void>;
  /** Versions of a platform image available in a region, as the Marketplace lists them. */
  listPlatformImageVersions(
    subscriptionId: string,
    location: string,
    publisher: string,
    offer: string,
    sku: string,
  ): Promise<string[]>;
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
  /** Run output names of the template's distribution targets. */
  runOutputNames: string[];
}

/** VM Image Builder operations the pipeline uses. */
export interface ImageBuilderClient {
  getTemplate(subscriptionId: string, resourceGroup: string, name: string): Promise<TemplateSummary | undefined>;
  listTemplates(subscriptionId: string, resourceGroup: string): Promise<TemplateSummary[]>;
  /**
   * Creates the template, waits for it to be provisioned and returns it as created (the operation's final result:
   * no read is needed after it).
   */
  createTemplate(
    subscriptionId: string,
    resourceGroup: string,
    name: string,
    template: ImageTemplate,
  ): Promise<TemplateSummary>;
  /** Submits a run; the run's progress is read with getTemplate. */
  runTemplate(subscriptionId: string, resourceGroup: string, name: string): Promise<void>;
  /** Submits a cancellation of the current run. */
  cancelRun(subscriptionId: string, resourceGroup: string, name: string): Promise<void>;
  getRunOutput(
    subscriptionId: string,
    resourceGroup: string,
    name: string,
    runOutputName: string,
  ): Promise<{ artifactId?: string; artifactUri?: string } | undefined>;
  /** Submits the deletion; a missing template is not an error. */
  deleteTemplate(subscriptionId: string, resourceGroup: string, name: string): Promise<void>;
}

/** Sends a pipeline message. The message id makes a repeated send a no-op (duplicate detection). */
export interface MessageSender {
  send(
    queue: QueueName,
    body: Record<string, unknown>,
    options: { messageId: string; scheduledEnqueueTimeUtc?: Date; subject?: string },
  ): Promise<void>;
}

/** Structured log lines. Fields must never carry secrets. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface Clock {
  now(): Date;
}
