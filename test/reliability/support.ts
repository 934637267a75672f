import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { stringify } from "yaml";
import { startArmEmulator, type ArmEmulator } from "../../local/arm/index.js";
import { armAdmin, type ArmAdminTarget } from "../../local/armAdmin.js";
import type { LogRecord } from "../../local/host/index.js";
import { startAzurite, type Azurite } from "../../local/azurite/index.js";
import { startEventGridEmulator, type EventGridEmulator } from "../../local/eventgrid/index.js";
import { provisionCatalogContainer, provisionGalleries } from "../../local/provision.js";
import { localAzure } from "../../local/settings.js";
import { startServiceBusEmulator, type ServiceBusEmulator } from "../../local/servicebus/index.js";
import { BlobCatalogStore } from "../../shared/adapters/catalogBlob.js";
import { loadCatalog, parseCatalog } from "../../shared/catalog/load.js";
import { publishCatalog } from "../../shared/catalog/publish.js";
import type { Catalog } from "../../shared/catalog/schema.js";
import { loadQueueConfig } from "../../shared/config/queues.js";
import { queues, type QueueName } from "../../shared/messages/index.js";
import { tagNames } from "../../shared/domain/names.js";
import { failureTagPrefix } from "../../shared/domain/failures.js";
import { signBody } from "../../shared/webhook/signature.js";
import { aCatalogImageInput } from "../factories.js";

export const repoRoot = resolve(import.meta.dirname, "../..");
/** tsx's loader, by URL: `--import tsx` would resolve from the child's (empty) working folder. */
const tsxLoader = pathToFileURL(join(repoRoot, "node_modules", "tsx", "dist", "loader.mjs")).href;

/** Every queue of the pipeline. */
export const allQueues = Object.keys(queues) as QueueName[];

/**
 * Catalog entries for reliability runs: `count` Linux images in one gallery, each its own definition (distinct
 * publisher/offer/sku), replicated to two regions.
 */
export function reliabilityCatalogInput(count: number, prefix = "rel") {
  return Array.from({ length: count }, (_, i) =>
    aCatalogImageInput({
      name: `${prefix}-${String.fromCharCode(97 + i)}`,
      gallery: { resourceGroup: "rg-golden-images", name: "acg_golden" },
      definition: { sku: `${prefix}-sku-${i}` },
    }),
  );
}

/** Writes a catalog YAML file and returns its path and the parsed catalog. */
export function writeCatalog(dir: string, images: unknown[]): { path: string; catalog: Catalog } {
  const path = join(dir, "images.yaml");
  writeFileSync(path, stringify({ images }));
  return { path, catalog: loadCatalog(path) };
}

/**
 * Simulated durations long enough that a kill lands mid-build, short enough to keep the run bounded; ARM throttling
 * off explicitly (the pipeline's own pacing is set high here, see pipelineSettings).
 */
export const briefSimulation = {
  throttling: { enabled: false },
  operationDurationInMs: 30,
  replication: { regionDurationInMs: 150 },
  imageBuilder: {
    phaseDurationsInMs: {
      Queued: 100,
      Building: 150,
      Customizing: 200,
      Optimizing: 50,
      Validating: 100,
      Distributing: 150,
    },
    cancelDurationInMs: 50,
  },
};

/** The emulators (ARM and Service Bus in this process, Azurite in its own), in a temporary folder. */
export interface Emulators {
  dir: string;
  arm: ArmEmulator;
  serviceBus: ServiceBusEmulator;
  azurite: Azurite;
  /** The Event Grid topic the pipeline's events go to. */
  eventGrid: EventGridEmulator;
  /** The catalog blob in Azurite (its container exists). */
  catalogBlobUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts both emulators. `lockDuration` replaces the queues' (PT5S is Service Bus's minimum): a host killed with
 * SIGKILL settles nothing, and its messages come back only when their locks run out.
 */
export async function startEmulators(options: { lockDuration?: string } = {}): Promise<Emulators> {
  const dir = mkdtempSync(join(tmpdir(), "image-pipeline-reliability-"));
  const arm = await startArmEmulator({ stateDir: join(dir, "arm"), port: 0, host: "127.0.0.1" });
  const queues = loadQueueConfig().queues.map((q) => ({
    name: q.name,
    properties: { ...q.properties, ...(options.lockDuration ? { lockDuration: options.lockDuration } : {}) },
  }));
  const [serviceBus, azurite, eventGrid] = await Promise.all([
    startServiceBusEmulator({ stateDir: join(dir, "servicebus"), queues, port: 0 }),
    startAzurite({ stateDir: join(dir, "azurite") }),
    startEventGridEmulator({ stateDir: join(dir, "eventgrid") }),
  ]);
  return {
    dir,
    arm,
    serviceBus,
    azurite,
    eventGrid,
    catalogBlobUrl: await provisionCatalogContainer(azurite),
    async stop() {
      await serviceBus.stop();
      await arm.stop();
      await azurite.stop();
      await eventGrid.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Publishes a catalog of these entries to the emulators' catalog blob, as `catalog publish` does; returns it parsed. */
export async function publishTestCatalog(
  emulators: { catalogBlobUrl: string; azurite: { connectionString: string } },
  images: unknown[],
): Promise<Catalog> {
  const text = stringify({ images });
  const parsed = parseCatalog(text);
  if (!parsed.ok) throw new Error(`test catalog does not validate: ${JSON.stringify(parsed.errors)}`);
  const store = new BlobCatalogStore({
    blobUrl: emulators.catalogBlobUrl,
    connectionString: emulators.azurite.connectionString,
    maxAgeInSeconds: 0,
  });
  await publishCatalog(store, text, "test catalog");
  return parsed.catalog;
}

/** Messages in every queue and dead-letter queue, by queue. */
export function queueTotals(serviceBus: ServiceBusEmulator) {
  const byQueue = Object.fromEntries(allQueues.map((q) => [q, serviceBus.stats(q)]));
  const sum = (pick: (s: ReturnType<ServiceBusEmulator["stats"]>) => number) =>
    Object.values(byQueue).reduce((n, s) => n + pick(s), 0);
  return {
    byQueue,
    pending: sum((s) => s.active + s.scheduled + s.deferred),
    deadLettered: sum((s) => s.deadLettered),
  };
}

/**
 * App settings of the pipeline on the given emulators, passed through the environment only (no
 * local.settings.json): the names and values local/settings.ts gives the local stack, with short delays and a
 * replication monitor every second so timers run in a child host.
 */
export function pipelineSettings(
  emulators: {
    arm: { endpoint: string; caCertPath: string };
    serviceBus: { connectionString: string };
    azurite: { connectionString: string };
    /** The events' topic; without it the app has none configured and events wait in their queue. */
    eventGrid?: { endpoint: string; caCertPath: string };
    catalogBlobUrl: string;
  },
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    AZURE_SUBSCRIPTION_ID: localAzure.subscriptionId,
    IMAGE_BUILDER_RESOURCE_GROUP: localAzure.imageBuilderResourceGroup,
    IMAGE_BUILDER_IDENTITY_ID: localAzure.imageBuilderIdentityId,
    CATALOG_BLOB_URL: emulators.catalogBlobUrl,
    CATALOG_STORAGE_CONNECTION_STRING: emulators.azurite.connectionString,
    CATALOG_MAX_AGE_IN_SECONDS: "0",
    ARM_ENDPOINT: emulators.arm.endpoint,
    ARM_AUTH: "emulator",
    ARM_CA_CERT_PATH: emulators.arm.caCertPath,
    // The emulator does not throttle here; the sweeps' pacing would only slow the run down.
    ARM_MAX_READS_PER_SECOND: "500",
    ARM_MAX_WRITES_PER_SECOND: "200",
    ServiceBusConnection: emulators.serviceBus.connectionString,
    ...(emulators.eventGrid
      ? {
          EVENT_GRID_TOPIC_ENDPOINT: emulators.eventGrid.endpoint,
          EVENT_GRID_AUTH: "emulator",
          EVENT_GRID_CA_CERT_PATH: emulators.eventGrid.caCertPath,
        }
      : {}),
    BUILD_WATCH_INITIAL_DELAY_IN_SECONDS: "1",
    BUILD_WATCH_MAX_DELAY_IN_SECONDS: "1",
    BUILD_REQUEUE_DELAY_IN_SECONDS: "1",
    REPLICATION_MONITOR_SCHEDULE: "*/1 * * * * *",
    // Never during a test run: nightly builds and pruning are not what these tests look at.
    NIGHTLY_SCHEDULE: "0 0 0 1 1 *",
    PRUNE_SCHEDULE: "0 0 0 1 1 *",
    LOCAL_FUNCTION_KEY: localAzure.functionKey,
    ...overrides,
  };
}

/** A Node script of the repository (run through tsx) as its own process: its output, and how to stop it. */
export interface ChildProcessHandle {
  process: ChildProcess;
  /** Every line the process wrote, stdout and stderr. */
  lines: string[];
  /** Called with each line as it arrives (after it is pushed to `lines`). */
  onLine?: (line: string) => void;
  /** Stops it: SIGKILL leaves everything mid-flight; SIGTERM is a graceful stop. Resolves once it exited. */
  kill(signal: "SIGKILL" | "SIGTERM"): Promise<void>;
  /** True until the process exited. */
  readonly running: boolean;
}

/**
 * Starts `node --import tsx <script> ...args` with exactly `env` (plus PATH and TMPDIR) in `cwd`, and resolves with
 * the first match of `ready` in its output (every line is kept). Node runs the script itself (not the tsx CLI, which
 * would forward signals to a grandchild), so SIGKILL kills it.
 */
export async function startChildProcess(
  script: string,
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; ready: RegExp; what: string; timeoutInMs?: number },
): Promise<ChildProcessHandle & { ready: RegExpExecArray }> {
  const cwd = options.cwd ?? repoRoot;
  mkdirSync(cwd, { recursive: true });
  const child = spawn(process.execPath, ["--import", tsxLoader, join(repoRoot, script), ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "", TMPDIR: tmpdir(), ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const handle: ChildProcessHandle = {
    process: child,
    lines: [],
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
    let found = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${options.what} did not start:\n${handle.lines.join("\n")}`));
    }, options.timeoutInMs ?? 60_000);
    const collect = (stream: NodeJS.ReadableStream) => {
      let rest = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop() ?? "";
        for (const line of parts) {
          handle.lines.push(line);
          handle.onLine?.(line);
          const match = found ? null : options.ready.exec(line);
          if (match) {
            found = true;
            clearTimeout(timer);
            resolve(match);
          }
        }
      });
      stream.on("end", () => {
        if (rest) handle.lines.push(rest);
      });
    };
    collect(child.stdout!);
    collect(child.stderr!);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (!found) reject(new Error(`${options.what} exited (${code}) before starting:\n${handle.lines.join("\n")}`));
    });
  });
  return Object.assign(handle, { ready });
}

/** The local host (local/host/main.ts) as its own process. */
export interface ChildHost extends ChildProcessHandle {
  url: string;
}

/**
 * Starts `node --import tsx local/host/main.ts --port 0 --log json` with exactly `env` (plus PATH and TMPDIR), in
 * an empty working folder so no local.settings.json is read. `timers: false` starts it with `--no-timers`: an
 * instance beside the one that holds the timers (Azure runs a timer function on one instance at a time).
 */
export async function startChildHost(
  env: Record<string, string>,
  cwd: string,
  options: { timers?: boolean } = {},
): Promise<ChildHost> {
  const handle = await startChildProcess(
    join("local", "host", "main.ts"),
    ["--port", "0", "--log", "json", ...(options.timers === false ? ["--no-timers"] : [])],
    { env, cwd, ready: /Local Functions host on (http:\/\/\S+)\/api/, what: "host", timeoutInMs: 60_000 },
  );
  return Object.assign(handle, { url: handle.ready[1]! });
}

/**
 * An emulator as its own process, killed and restarted on its state folder and port (as a service comes back after a
 * crash): the ARM emulator (`local/arm/main.ts`), the Service Bus emulator (`local/servicebus/main.ts`) or the Event
 * Grid topic (`local/eventgrid/main.ts`).
 */
export interface EmulatorProcess {
  readonly handle: ChildProcessHandle;
  /** Every line of every start. */
  readonly lines: string[];
  kill(signal: "SIGKILL" | "SIGTERM"): Promise<void>;
  /** Starts it again on the same state and port (after a kill). */
  restart(): Promise<void>;
}

type Started = ChildProcessHandle & { ready: RegExpExecArray };

async function restartable(
  start: (port: number) => Promise<Started>,
  portOf: (first: Started) => number,
): Promise<EmulatorProcess & { first: Started }> {
  let handle = await start(0);
  const first = handle;
  const port = portOf(first);
  const lines: string[] = [];
  return {
    first,
    lines,
    get handle() {
      return handle;
    },
    async kill(signal) {
      await handle.kill(signal);
      lines.push(...handle.lines);
    },
    async restart() {
      // The port is free again once the killed process is gone; a lingering socket may hold it for a moment.
      for (let attempt = 0; ; attempt++) {
        try {
          handle = await start(port);
          return;
        } catch (error) {
          if (attempt >= 20) throw error;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    },
  };
}

/** The ARM emulator as its own process (`tsx local/arm/main.ts --port P --state DIR`). */
export async function startArmProcess(stateDir: string): Promise<EmulatorProcess & ArmEmulatorTarget> {
  const started = await restartable(
    (port) =>
      startChildProcess(join("local", "arm", "main.ts"), ["--port", String(port), "--state", stateDir], {
        ready: /CA certificate: (\S+)/,
        what: "ARM emulator",
      }),
    (first) => Number(new URL(endpointOf(first)).port),
  );
  const endpoint = endpointOf(started.first);
  const caCertPath = started.first.ready[1]!;
  return Object.assign(started, { endpoint, caCertPath, caCertPem: readFileSync(caCertPath, "utf8") });
}

function endpointOf(arm: ChildProcessHandle): string {
  const endpoint = /ARM emulator listening on (https:\/\/\S+)/.exec(arm.lines.join("\n"))?.[1];
  if (!endpoint) throw new Error(`ARM emulator printed no endpoint:\n${arm.lines.join("\n")}`);
  return endpoint;
}

/** The Service Bus emulator as its own process (`tsx local/servicebus/main.ts --port P --state DIR --queues F`). */
export async function startServiceBusProcess(
  stateDir: string,
  queuesFile: string,
): Promise<EmulatorProcess & { connectionString: string }> {
  const started = await restartable(
    (port) =>
      startChildProcess(
        join("local", "servicebus", "main.ts"),
        ["--port", String(port), "--state", stateDir, "--queues", queuesFile, "--host", "127.0.0.1"],
        { ready: /^(Endpoint=sb:\/\/[^;]+:(\d+);\S+)$/, what: "Service Bus emulator" },
      ),
    (first) => Number(first.ready[2]),
  );
  return Object.assign(started, { connectionString: started.first.ready[1]! });
}

/** The local Event Grid topic as its own process (`tsx local/eventgrid/main.ts --port P --state DIR`). */
export async function startEventGridProcess(
  stateDir: string,
): Promise<EmulatorProcess & { endpoint: string; caCertPath: string; caCertPem: string }> {
  const started = await restartable(
    (port) =>
      startChildProcess(join("local", "eventgrid", "main.ts"), ["--port", String(port), "--state", stateDir], {
        ready: /CA certificate: (\S+)/,
        what: "Event Grid emulator",
      }),
    (first) => Number(new URL(topicEndpointOf(first)).port),
  );
  const caCertPath = started.first.ready[1]!;
  return Object.assign(started, {
    endpoint: topicEndpointOf(started.first),
    caCertPath,
    caCertPem: readFileSync(caCertPath, "utf8"),
  });
}

function topicEndpointOf(topic: ChildProcessHandle): string {
  const endpoint = /Event Grid topic listening on (https:\/\/\S+)/.exec(topic.lines.join("\n"))?.[1];
  if (!endpoint) throw new Error(`Event Grid emulator printed no endpoint:\n${topic.lines.join("\n")}`);
  return endpoint;
}

/** What the admin API of the ARM emulator needs (an in-process emulator or one in its own process). */
export interface ArmEmulatorTarget {
  endpoint: string;
  caCertPem: string;
  caCertPath: string;
}

/** Host log records among a child host's lines (`--log json`). */
export function logRecords(lines: readonly string[]): LogRecord[] {
  return lines.flatMap((line) => {
    if (!line.startsWith("{")) return [];
    try {
      return [JSON.parse(line) as LogRecord];
    } catch {
      return [];
    }
  });
}

/** What the gallery and the Image Builder resource group hold, read through the emulator's admin API. */
export async function armSnapshot(arm: ArmAdminTarget) {
  const { resources } = await armAdmin<{
    resources: { id: string; type: string; tags?: Record<string, string>; provisioningState?: string }[];
  }>(arm, "GET", "resources");
  const ofType = (type: string) => resources.filter((r) => r.type.toLowerCase() === type.toLowerCase());
  const versions = ofType("Microsoft.Compute/galleries/images/versions").map((r) => ({
    id: r.id,
    image: r.id.split("/images/")[1]!.split("/")[0]!,
    name: r.id.split("/").at(-1)!,
    buildId: r.tags?.[tagNames.buildId],
    state: r.tags?.[tagNames.state],
  }));
  const failures = new Map<string, string>();
  for (const definition of ofType("Microsoft.Compute/galleries/images")) {
    for (const [key, value] of Object.entries(definition.tags ?? {})) {
      if (key.startsWith(failureTagPrefix)) failures.set(key.slice(failureTagPrefix.length), value);
    }
  }
  return {
    versions,
    failures,
    templates: ofType("Microsoft.VirtualMachineImages/imageTemplates").length,
    stagingImages: ofType("Microsoft.Compute/images").length,
  };
}

/** Where a build ended, from what Azure holds: its version's state tag, or a failure recorded on the definition. */
export function terminalStateOf(
  snapshot: Awaited<ReturnType<typeof armSnapshot>>,
  buildId: string,
): "promoted" | "failed" | undefined {
  const versions = snapshot.versions.filter((v) => v.buildId === buildId);
  if (versions.some((v) => v.state === "promoted")) return "promoted";
  if (versions.some((v) => v.state === "failed") || snapshot.failures.has(buildId)) return "failed";
  return undefined;
}

/** Creates the catalog's galleries (as azd provision would). */
export async function provision(arm: ArmEmulator, catalog: Catalog): Promise<void> {
  await provisionGalleries(arm, catalog);
}

/** POSTs a JSON body to the webhook, signed with `secret` when given. */
export async function postBuild(
  url: string,
  body: unknown,
  options: { secret?: string; headers?: Record<string, string>; query?: string } = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test responses are read loosely, by path
): Promise<{ status: number; body: any }> {
  const text = JSON.stringify(body);
  const response = await fetch(`${url}/api/builds${options.query ?? ""}`, {
    method: "POST",
    body: text,
    headers: {
      "x-functions-key": localAzure.functionKey,
      "content-type": "application/json",
      ...(options.secret ? { "x-hub-signature-256": signBody(text, options.secret) } : {}),
      ...options.headers,
    },
  });
  const raw = await response.text();
  return { status: response.status, body: raw ? JSON.parse(raw) : undefined };
}

/** A 40-hex commit id made from a number, so runs are reproducible. */
export function commitOf(n: number): string {
  return n.toString(16).padStart(8, "0").repeat(5);
}
