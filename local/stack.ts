import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startArmEmulator, type ArmEmulator } from "./arm/index.js";
import { startServiceBusEmulator, type ServiceBusEmulator } from "./servicebus/index.js";
import { startLocalHost, type HostLogger, type LocalHost } from "./host/index.js";
import { localAzure, localSettings } from "./settings.js";
import { functionTable } from "../functions/table.js";
import type { FunctionDefinition } from "../functions/definitions.js";
import { loadQueueConfig } from "../shared/config/queues.js";
import { parseSettings, type Settings } from "../shared/config/settings.js";
import { createPipeline, setPipeline, type Pipeline } from "../shared/composition.js";
import type { Catalog } from "../shared/catalog/schema.js";

/** The whole pipeline on this machine: both emulators, the pipeline wired to them, and the local Functions host. */
export interface LocalStack {
  arm: ArmEmulator;
  serviceBus: ServiceBusEmulator;
  host: LocalHost;
  pipeline: Pipeline;
  settings: Settings;
  env: Record<string, string | undefined>;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  /** Folder for the emulators' state (certificate, resources, messages). */
  stateDir: string;
  /** Fixed ports for `npm start`; tests use 0 (random). */
  ports?: { arm?: number; serviceBus?: number; host?: number };
  /** Settings over the local defaults (e.g. shorter delays). */
  overrides?: Record<string, string>;
  /** A catalog other than the settings' CATALOG_PATH. */
  catalog?: Catalog;
  /** Functions to run (default: the app's whole table). */
  functions?: FunctionDefinition[];
  /** Run timers on their schedules (tests trigger them by hand). */
  timers?: boolean;
  /** Where host log lines go (default: the host's console format). */
  logger?: HostLogger;
}

/** Starts the local stack; `stop()` stops it all, host first so no handler runs against a stopped emulator. */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  mkdirSync(options.stateDir, { recursive: true });
  const arm = await startArmEmulator({ stateDir: join(options.stateDir, "arm"), port: options.ports?.arm ?? 0 });
  const serviceBus = await startServiceBusEmulator({
    stateDir: join(options.stateDir, "servicebus"),
    queues: loadQueueConfig().queues,
    port: options.ports?.serviceBus ?? 0,
  });
  const env = localSettings({
    armEndpoint: arm.endpoint,
    armCaCertPath: arm.caCertPath,
    serviceBusConnectionString: serviceBus.connectionString,
    overrides: options.overrides,
  });
  const settings = parseSettings(env);
  const pipeline = createPipeline(settings, options.catalog);
  setPipeline(pipeline);
  const host = await startLocalHost({
    functions: options.functions ?? functionTable,
    env,
    port: options.ports?.host ?? 0,
    functionKeys: { default: localAzure.functionKey },
    timers: { enabled: options.timers ?? true },
    logger: options.logger,
  });
  return {
    arm,
    serviceBus,
    host,
    pipeline,
    settings,
    env,
    async stop() {
      await host.stop();
      await pipeline.close();
      setPipeline(undefined);
      await serviceBus.stop();
      await arm.stop();
    },
  };
}
