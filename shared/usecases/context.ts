import type { Catalog, CatalogImage } from "../catalog/schema.js";
import { findImage } from "../catalog/load.js";
import { UnknownImageError } from "../errors.js";
import type {
  Clock,
  EventPublisher,
  FleetUsageReader,
  GalleryClient,
  HealthGate,
  ImageBuilderClient,
  ImageDefinitionRef,
  Logger,
  MessageSender,
  Tracer,
} from "../ports.js";

/** The settings the use-cases read (a slice of the app settings, so tests build them in one line). */
export interface PipelineSettings {
  subscriptionId: string;
  imageBuilderResourceGroup: string;
  imageBuilderIdentityId: string;
  buildWatchInitialDelayInSeconds: number;
  buildWatchMaxDelayInSeconds: number;
  buildRequeueDelayInSeconds: number;
  replicationMaxRetries: number;
  replicationTimeoutInMinutes: number;
  /** How long a failed build's template, staging resource group and customization log are kept for inspection. */
  failedBuildRetentionInHours: number;
  pruneDryRun: boolean;
  /** How long one prune run may delete before it leaves the rest to the next run. */
  pruneTimeBudgetInSeconds: number;
  /** Where the fleet that runs the images lives: usage is read across these subscriptions. */
  usageSubscriptionIds: string[];
  /**
   * Where a build's trace can be read, `{buildId}` standing for the build id: the dashboard links each build in flight
   * and each failure to it. Absent when no trace viewer is known (the page then names the CLI command).
   */
  traceUrlTemplate?: string;
}

/** Everything a use-case may touch. Built once per process by the composition root. */
export interface PipelineDeps {
  catalog: Catalog;
  gallery: GalleryClient;
  imageBuilder: ImageBuilderClient;
  /** Where the images run (Resource Graph). */
  fleet: FleetUsageReader;
  bus: MessageSender;
  /** The Event Grid topic: only the event publisher function sends to it (steps write to the `events` queue). */
  eventPublisher: EventPublisher;
  clock: Clock;
  log: Logger;
  /** Spans of the steps that matter to a build's trace (the invocation's own span is the runtime's). */
  tracer: Tracer;
  settings: PipelineSettings;
  /** The health endpoints of progressive rollouts; without one, a rollout that names a health check does not move on. */
  healthGate?: HealthGate;
}

/** The catalog entry of an image named in a message; a name no longer in the catalog cannot be processed. */
export function requireImage(catalog: Catalog, name: string): CatalogImage {
  const image = findImage(catalog, name);
  if (!image) throw new UnknownImageError(name);
  return image;
}

/** Where an image's definition lives. */
export function definitionRefOf(image: CatalogImage, settings: Pick<PipelineSettings, "subscriptionId">) {
  return {
    subscriptionId: image.gallery.subscriptionId ?? settings.subscriptionId,
    resourceGroup: image.gallery.resourceGroup,
    gallery: image.gallery.name,
    definition: image.definition.name,
  } satisfies ImageDefinitionRef;
}

/** Image Builder run states after which nothing more happens. */
export const terminalRunStates = new Set(["Succeeded", "PartiallySucceeded", "Failed", "Canceled"]);

/** Image Builder run states of a run that produced its output. */
export const succeededRunStates = new Set(["Succeeded", "PartiallySucceeded"]);

/**
 * Runs `work` for each item in its own error boundary: one item's failure is logged with its cause and counted,
 * and the others still run. Returns the failures.
 */
export async function forEachIsolated<T>(
  items: Iterable<T>,
  describe: (item: T) => Record<string, unknown>,
  log: Logger,
  work: (item: T) => Promise<void>,
): Promise<{ item: Record<string, unknown>; error: unknown }[]> {
  const failures: { item: Record<string, unknown>; error: unknown }[] = [];
  for (const item of items) {
    try {
      await work(item);
    } catch (error) {
      const fields = describe(item);
      log.error("step failed: going on with the others", { ...fields, error });
      failures.push({ item: fields, error });
    }
  }
  return failures;
}
