import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { stringify } from "yaml";
import { startArmEmulator, type ArmEmulator } from "../../local/arm/index.js";
import { armAdmin } from "../../local/armAdmin.js";
import type { LogRecord } from "../../local/host/index.js";
import { provisionGalleries } from "../../local/provision.js";
import { localAzure } from "../../local/settings.js";
import { startServiceBusEmulator, type ServiceBusEmulator } from "../../local/servicebus/index.js";
import { loadCatalog } from "../../shared/catalog/load.js";
import type { Catalog } from "../../shared/catalog/schema.js";
import { loadQueueConfig, queueNames } from "../../shared/config/queues.js";
import { tagNames } from "../../shared/domain/names.js";
import { failureTagPrefix } from "../../shared/domain/failures.js";
import { signBody } from "../../shared/webhook/signature.js";
import { aCatalogImageInput } from "../factories.js";

export const repoRoot = resolve(import.meta.dirname, "../..");
/** tsx's loader, by URL: `--import tsx` would resolve from the child's (empty) working folder. */
const tsxLoader = pathToFileURL(join(repoRoot, "node_modules", "tsx", "dist", "loader.mjs")).href;

/** Every queue of the pipeline. */
export const allQueues = Object.values(queueNames);

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

/** Simulated durations long enough that a kill lands mid-build, short enough to keep the run bounded. */
export const briefSimulation = {
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

/** Both emulators in this process, in a temporary folder, with the pipeline's queues. */
export interface Emulators {
  dir: string;
  arm: ArmEmulator;
  serviceBus: ServiceBusEmulator;
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
  const serviceBus = await startServiceBusEmulator({ stateDir: join(dir, "servicebus"), queues, port: 0 });
  return {
    dir,
    arm,
    serviceBus,
    async stop() {
      await serviceBus.stop();
      await arm.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
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
  emulators: Emulators,
  catalogPath: string,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    AZURE_SUBSCRIPTION_ID: localAzure.subscriptionId,
    IMAGE_BUILDER_RESOURCE_GROUP: localAzure.imageBuilderResourceGroup,
    IMAGE_BUILDER_IDENTITY_ID: localAzure.imageBuilderIdentityId,
    CATALOG_PATH: catalogPath,
    ARM_ENDPOINT: emulators.arm.endpoint,
    ARM_AUTH: "emulator",
    ARM_CA_CERT_PATH: emulators.arm.caCertPath,
    // The emulator does not throttle here; the sweeps' pacing would only slow the run down.
    ARM_MAX_READS_PER_SECOND: "500",
    ARM_MAX_WRITES_PER_SECOND: "200",
    ServiceBusConnection: emulators.serviceBus.connectionString,
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

/** The local host (local/host/main.ts) as its own process. */
export interface ChildHost {
  url: string;
  process: ChildProcess;
  /** Every line the process wrote, stdout and stderr. */
  lines: string[];
  /** Stops it: SIGKILL leaves everything mid-flight; SIGTERM is a graceful stop. */
  kill(signal: "SIGKILL" | "SIGTERM"): Promise<void>;
}

/**
 * Starts `node --import tsx local/host/main.ts --port 0 --log json` with exactly `env` (plus PATH and TMPDIR), in
 * an empty working folder so no local.settings.json is read. Node runs the host itself (not the tsx CLI, which
 * would forward signals to a grandchild), so SIGKILL kills the host.
 */
export async function startChildHost(env: Record<string, string>, cwd: string): Promise<ChildHost> {
  mkdirSync(cwd, { recursive: true });
  const child = spawn(
    process.execPath,
    ["--import", tsxLoader, join(repoRoot, "local", "host", "main.ts"), "--port", "0", "--log", "json"],
    {
      cwd,
      env: { PATH: process.env.PATH ?? "", TMPDIR: tmpdir(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const lines: string[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`host did not start:\n${lines.join("\n")}`)), 30_000);
    const collect = (stream: NodeJS.ReadableStream) => {
      let rest = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop() ?? "";
        for (const line of parts) {
          lines.push(line);
          const started = /Local Functions host on (http:\/\/\S+)\/api/.exec(line);
          if (started?.[1]) {
            clearTimeout(timer);
            resolve(started[1]);
          }
        }
      });
      stream.on("end", () => {
        if (rest) lines.push(rest);
      });
    };
    collect(child.stdout!);
    collect(child.stderr!);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`host exited (${code}) before starting:\n${lines.join("\n")}`));
    });
  });
  return {
    url,
    process: child,
    lines,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
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
export async function armSnapshot(arm: ArmEmulator) {
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
