import { readFileSync } from "node:fs";
import { findImage, catalogEntryHash } from "../shared/catalog/load.js";
import { getSettings, type Settings } from "../shared/config/settings.js";
import { ArmClients } from "../shared/adapters/armClients.js";
import { BlobCatalogStore, blobCatalogOptionsOf } from "../shared/adapters/catalogBlob.js";
import { ArmGalleryClient } from "../shared/adapters/gallery.js";
import { HttpsHealthGate } from "../shared/adapters/healthGate.js";
import { EventGridEventPublisher } from "../shared/adapters/eventGrid.js";
import { ArmImageBuilderClient } from "../shared/adapters/imageBuilder.js";
import { ResourceGraphFleetReader } from "../shared/adapters/resourceGraph.js";
import { ServiceBusMessageSender } from "../shared/adapters/serviceBus.js";
import { openTelemetryTracer, spanAttributes } from "../shared/observability/tracing.js";
import type { CatalogReader, Logger } from "../shared/ports.js";
import type { PipelineDeps, PipelineSettings } from "../shared/usecases/context.js";

/** The use-cases' slice of the app settings. */
export function pipelineSettingsOf(settings: Settings): PipelineSettings {
  return {
    subscriptionId: settings.AZURE_SUBSCRIPTION_ID,
    imageBuilderResourceGroup: settings.IMAGE_BUILDER_RESOURCE_GROUP,
    imageBuilderIdentityId: settings.IMAGE_BUILDER_IDENTITY_ID,
    buildWatchInitialDelayInSeconds: settings.BUILD_WATCH_INITIAL_DELAY_IN_SECONDS,
    buildWatchMaxDelayInSeconds: settings.BUILD_WATCH_MAX_DELAY_IN_SECONDS,
    buildRequeueDelayInSeconds: settings.BUILD_REQUEUE_DELAY_IN_SECONDS,
    replicationMaxRetries: settings.REPLICATION_MAX_RETRIES,
    replicationTimeoutInMinutes: settings.REPLICATION_TIMEOUT_IN_MINUTES,
    failedBuildRetentionInHours: settings.FAILED_BUILD_RETENTION_IN_HOURS,
    pruneDryRun: settings.PRUNE_DRY_RUN,
    pruneTimeBudgetInSeconds: settings.PRUNE_TIME_BUDGET_IN_SECONDS,
    usageSubscriptionIds: settings.USAGE_SUBSCRIPTION_IDS ?? [settings.AZURE_SUBSCRIPTION_ID],
    ...(settings.OTEL_EXPORTER_OTLP_ENDPOINT
      ? { traceUrlTemplate: collectorTraceUrlTemplate(settings.OTEL_EXPORTER_OTLP_ENDPOINT) }
      : {}),
  };
}

/**
 * A build's spans at the OTLP endpoint when it is the local stack's collector (the one place an OTLP endpoint is
 * set: in Azure telemetry goes to Application Insights): its query by attribute (local/otlp/README.md, "Query").
 */
export function collectorTraceUrlTemplate(endpoint: string): string {
  const url = new URL("_collector/traces", endpoint.endsWith("/") ? endpoint : `${endpoint}/`);
  url.searchParams.set("attribute", spanAttributes.buildId);
  return `${url.href}&value={buildId}`;
}

/** What an invocation works on: the catalog entry hash a request or message names, when it names one. */
export interface CatalogExpectation {
  image: string;
  catalogHash?: string;
}

/** The process-wide pipeline: settings, the catalog reader and clients, built once; deps are built per invocation. */
export interface Pipeline {
  settings: Settings;
  /**
   * The use-cases' dependencies for one invocation, logging to the given logger, with the catalog in use now (read
   * from its store, cached per instance). When the invocation names a catalog entry hash that the cached catalog
   * does not have, the store is asked again first: a build request that follows a publish is never served the
   * catalog from before it.
   * @throws CatalogUnavailableError when no valid catalog can be read
   */
  deps(log: Logger, expectation?: CatalogExpectation): Promise<PipelineDeps>;
  close(): Promise<void>;
}

/**
 * Builds the pipeline from settings: the one place the real clients are made and handed to the use-cases. The ARM and
 * Storage SDKs are loaded on first use, not here.
 */
export function createPipeline(settings: Settings, options: { catalogReader?: CatalogReader } = {}): Pipeline {
  const clients = new ArmClients(settings);
  const gallery = new ArmGalleryClient(clients);
  const imageBuilder = new ArmImageBuilderClient(clients);
  const fleet = new ResourceGraphFleetReader(clients);
  const tracer = openTelemetryTracer;
  const bus = new ServiceBusMessageSender(settings, tracer);
  const catalogReader = options.catalogReader ?? new BlobCatalogStore(blobCatalogOptionsOf(settings));
  const healthGate = new HttpsHealthGate({
    allowedNetworks: settings.HEALTH_CHECK_ALLOWED_NETWORKS,
    ca: settings.HEALTH_CHECK_CA_CERT_PATH ? readFileSync(settings.HEALTH_CHECK_CA_CERT_PATH, "utf8") : undefined,
  });
  const shared = {
    gallery,
    imageBuilder,
    fleet,
    bus,
    healthGate,
    eventPublisher: new EventGridEventPublisher(settings),
    clock: { now: () => new Date() },
    tracer,
    settings: pipelineSettingsOf(settings),
  };
  return {
    settings,
    async deps(log, expectation) {
      let snapshot = await catalogReader.current(log);
      if (expectation?.catalogHash) {
        const image = findImage(snapshot.catalog, expectation.image);
        if (!image || catalogEntryHash(image) !== expectation.catalogHash) {
          snapshot = await catalogReader.current(log, { revalidate: true });
        }
      }
      return { ...shared, catalog: snapshot.catalog, log };
    },
    close: () => bus.close(),
  };
}

/** How a function reaches the pipeline: built on its first invocation, so a bad setting fails invocations, not start. */
export type PipelineProvider = () => Pipeline;

/**
 * The pipeline of this process, from its environment (app settings in Azure): the composition root of the Functions
 * app. Only the app's entry (`functions/table.ts`) calls it; handlers receive the provider as a parameter.
 */
export function pipelineFromEnvironment(): PipelineProvider {
  let pipeline: Pipeline | undefined;
  return () => (pipeline ??= createPipeline(getSettings()));
}
