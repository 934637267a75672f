import { existsSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadCatalog } from "./catalog/load.js";
import type { Catalog } from "./catalog/schema.js";
import { getSettings, type Settings } from "./config/settings.js";
import { ArmClients } from "./adapters/armClients.js";
import { ArmGalleryClient } from "./adapters/gallery.js";
import { ArmImageBuilderClient } from "./adapters/imageBuilder.js";
import { ServiceBusMessageSender } from "./adapters/serviceBus.js";
import type { Logger } from "./ports.js";
import type { PipelineDeps, PipelineSettings } from "./usecases/context.js";

/**
 * Resolves a relative path against the app's root (the folder of its package.json): the Functions worker's working
 * directory is not guaranteed to be the package root on every plan.
 */
export function resolveFromAppRoot(path: string, from: string = dirname(fileURLToPath(import.meta.url))): string {
  if (isAbsolute(path)) return path;
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return join(dir, path);
    if (dirname(dir) === dir) return path;
  }
}

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
  };
}

/** The process-wide pipeline: settings, catalog and clients, built once; a logger is given per invocation. */
export interface Pipeline {
  settings: Settings;
  catalog: Catalog;
  /** The use-cases' dependencies, logging to the given logger. */
  deps(log: Logger): PipelineDeps;
  close(): Promise<void>;
}

/** Builds the pipeline from settings. ARM SDKs are loaded on the first ARM call, not here. */
export function createPipeline(
  settings: Settings,
  catalog: Catalog = loadCatalog(resolveFromAppRoot(settings.CATALOG_PATH)),
): Pipeline {
  const clients = new ArmClients(settings);
  const gallery = new ArmGalleryClient(clients);
  const imageBuilder = new ArmImageBuilderClient(clients);
  const bus = new ServiceBusMessageSender(settings);
  const shared = {
    catalog,
    gallery,
    imageBuilder,
    bus,
    clock: { now: () => new Date() },
    settings: pipelineSettingsOf(settings),
  };
  return {
    settings,
    catalog,
    deps: (log) => ({ ...shared, log }),
    close: () => bus.close(),
  };
}

let current: Pipeline | undefined;

/** The pipeline of this process, from its environment; built on first use. */
export function getPipeline(): Pipeline {
  current ??= createPipeline(getSettings());
  return current;
}

/** Replaces the process's pipeline (the local host and tests build theirs from other settings). */
export function setPipeline(pipeline: Pipeline | undefined): void {
  current = pipeline;
}
