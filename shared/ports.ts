import type { GalleryImage, GalleryImageVersion, GalleryImageVersionUpdate } from "@azure/arm-compute";
import type { ImageTemplate } from "@azure/arm-imagebuilder";
import type { Catalog } from "./catalog/schema.js";
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
