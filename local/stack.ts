import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { startArmEmulator, type ArmEmulator } from "./arm/index.js";
import { startAzurite, type Azurite } from "./azurite/index.js";
import { startEventGridEmulator, type EventGridEmulator } from "./eventgrid/index.js";
import { startServiceBusEmulator, type ServiceBusEmulator } from "./servicebus/index.js";
import { startOtlpCollector, type OtlpCollector } from "./otlp/index.js";
import { startLocalHost, type HostLogger, type LocalHost } from "./host/index.js";
import { provisionCatalogContainer } from "./provision.js";
import { localAzure, localSettings } from "./settings.js";
import { createFunctionTable } from "../functions/table.js";
import type { FunctionDefinition } from "../functions/definitions.js";
import { BlobCatalogStore, blobCatalogOptionsOf } from "../shared/adapters/catalogBlob.js";
import { formatCatalogError, parseCatalog } from "../shared/catalog/load.js";
import { publishCatalog, type PublishOutcome } from "../shared/catalog/publish.js";
import { loadQueueConfig } from "../shared/config/queues.js";
import { parseSettings, type Settings } from "../shared/config/settings.js";
import { createPipeline, type Pipeline } from "../functions/composition.js";
import type { Catalog } from "../shared/catalog/schema.js";
import { enableAzureSdkTracing, startTelemetry, type Telemetry } from "../shared/observability/telemetry.js";
import { telemetryConfigOf } from "../shared/observability/telemetryConfig.js";

/**
 * The whole pipeline on this machine: the emulators (ARM, Service Bus, Azurite for the catalog blob), the pipeline
 * wired to them, and the local Functions host.
 */
export interface LocalStack {
  arm: ArmEmulator;
  serviceBus: ServiceBusEmulator;
  azurite: Azurite;
  /** The Event Grid topic the pipeline publishes its events to (it keeps them). */
  eventGrid: EventGridEmulator;
  /** The OTLP collector the pipeline's spans (and the host's) are exported to; `trace <buildId>` reads it. */
  collector: OtlpCollector;
  /** Exports every finished span to the collector now (a test reads them next). */
  flushTelemetry(): Promise<void>;
  host: LocalHost;
  /** The pipeline the host's functions use now. */
  readonly pipeline: Pipeline;
  /**
   * Makes the host's functions use another pipeline from their next invocation (e.g. one with other settings);
   * `undefined` goes back to the stack's own. The caller closes the one it made.
   */
  replacePipeline(pipeline: Pipeline | undefined): void;
  settings: Settings;
  env: Record<string, string | undefined>;
  /** The catalog last published through the stack (at start, or by {@link LocalStack.publishCatalog}). */
  readonly catalog: Catalog;
  /** Publishes a catalog (an object, or YAML text) to the catalog blob, as `image-pipeline catalog publish` does. */
  publishCatalog(catalog: Catalog | string): Promise<PublishOutcome>;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  /** Folder for the emulators' state (certificate, resources, messages, blobs). */
  stateDir: string;
  /** Fixed ports for `npm start`; tests use 0 (random). */
  ports?: { arm?: number; serviceBus?: number; azurite?: number; eventGrid?: number; otlp?: number; host?: number };
  /** Settings over the local defaults (e.g. shorter delays). */
  overrides?: Record<string, string>;
  /** The catalog to publish at start (an object, or YAML text); default the file `$CATALOG_PATH` or images.yaml. */
  catalog?: Catalog | string;
  /** Which of the app's functions to run (default: all). */
  functions?: (fn: FunctionDefinition) => boolean;
  /** Wraps the stack's pipeline, e.g. to observe what it sends (benchmarks). */
  wrapPipeline?: (pipeline: Pipeline) => Pipeline;
  /** Run timers on their schedules (tests trigger them by hand). */
  timers?: boolean;
  /** Where host log lines go (default: the host's console format). */
  logger?: HostLogger;
}

const textOf = (catalog: Catalog | string) => (typeof catalog === "string" ? catalog : stringify(catalog));

/** Starts the local stack; `stop()` stops it all, host first so no handler runs against a stopped emulator. */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  mkdirSync(options.stateDir, { recursive: true });
  const [arm, serviceBus, azurite, eventGrid, collector] = await Promise.all([
    startArmEmulator({ stateDir: join(options.stateDir, "arm"), port: options.ports?.arm ?? 0 }),
    startServiceBusEmulator({
      stateDir: join(options.stateDir, "servicebus"),
      queues: loadQueueConfig().queues,
      port: options.ports?.serviceBus ?? 0,
    }),
    startAzurite({ stateDir: join(options.stateDir, "azurite"), port: options.ports?.azurite ?? 0 }),
    startEventGridEmulator({ stateDir: join(options.stateDir, "eventgrid"), port: options.ports?.eventGrid ?? 0 }),
    startOtlpCollector({ stateDir: join(options.stateDir, "otlp"), port: options.ports?.otlp ?? 0 }),
  ]);
  let telemetry: Telemetry | undefined;
  const stopEmulators = async () => {
    await telemetry?.stop();
    await serviceBus.stop();
    await arm.stop();
    await azurite.stop();
    await eventGrid.stop();
    await collector.stop();
  };
  try {
    const env = localSettings({
      armEndpoint: arm.endpoint,
      armCaCertPath: arm.caCertPath,
      serviceBusConnectionString: serviceBus.connectionString,
      catalogBlobUrl: await provisionCatalogContainer(azurite),
      catalogStorageConnectionString: azurite.connectionString,
      eventGridTopicEndpoint: eventGrid.endpoint,
      eventGridCaCertPath: eventGrid.caCertPath,
      otlpEndpoint: collector.endpoint,
      overrides: options.overrides,
    });
    // As the app does in Azure (functions/telemetry.ts), from the same settings; spans leave in short batches here.
    const telemetryConfig = telemetryConfigOf(env);
    if (telemetryConfig) {
      telemetry = await startTelemetry({ ...telemetryConfig, exportDelayInMs: 500 });
      await enableAzureSdkTracing();
    }
    const settings = parseSettings(env);
    // The stack publishes through its own store: the app's reads keep their own cache, as another process's would.
    const store = new BlobCatalogStore(blobCatalogOptionsOf(settings));
    let catalog: Catalog | undefined;
    const publish = async (next: Catalog | string, source: string) => {
      const outcome = await publishCatalog(store, textOf(next), source);
      if (outcome.kind === "invalid") {
        throw new Error(`${source} does not validate:\n${outcome.errors.map(formatCatalogError).join("\n")}`);
      }
      const parsed = parseCatalog(textOf(next), source);
      if (parsed.ok) catalog = parsed.catalog;
      return outcome;
    };
    const catalogPath = env.CATALOG_PATH ?? "images.yaml";
    await publish(options.catalog ?? readFileSync(catalogPath, "utf8"), options.catalog ? "catalog" : catalogPath);

    const own = createPipeline(settings);
    const wrapped = options.wrapPipeline?.(own) ?? own;
    let current: Pipeline = wrapped;
    const table = createFunctionTable(() => current);
    const host = await startLocalHost({
      functions: options.functions ? table.filter(options.functions) : table,
      env,
      port: options.ports?.host ?? 0,
      functionKeys: { default: localAzure.functionKey, master: localAzure.masterKey },
      timers: { enabled: options.timers ?? true },
      logger: options.logger,
    });
    return {
      arm,
      serviceBus,
      azurite,
      eventGrid,
      collector,
      flushTelemetry: async () => telemetry?.flush(),
      host,
      get pipeline() {
        return current;
      },
      replacePipeline(pipeline) {
        current = pipeline ?? wrapped;
      },
      settings,
      env,
      get catalog() {
        return catalog!;
      },
      publishCatalog: (next) => publish(next, "catalog"),
      async stop() {
        await host.stop();
        await own.close();
        await stopEmulators();
      },
    };
  } catch (error) {
    await stopEmulators();
    throw error;
  }
}
