/**
 * Part 2 of the benchmarks (issue 8): how long a fresh Node process takes to import the function app and be ready,
 * bundled (`npm run build` → dist/app/, the deployment package) against the plain `tsc` output (`npm run build:tsc`
 * → dist/), 20 runs each, alternating; the size of each package; and proof that the webhook's path loads no ARM SDK.
 * Prints a table and writes bench/results/coldstart.json.
 *
 * `npm run bench:coldstart [-- --runs 20]`
 */
import { execFile, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import type { Metafile } from "esbuild";
import { bundleApp, bundleDir } from "../scripts/bundle.js";
import { distribution, medianPairedRatio, ratio, table } from "./lib/stats.js";
import { writeResult } from "./lib/results.js";
import { webhookProbeSource } from "./lib/webhookProbe.js";
import { startAzurite } from "../local/azurite/index.js";
import { provisionCatalogContainer } from "../local/provision.js";
import { startServiceBusEmulator } from "../local/servicebus/index.js";
import { BlobCatalogStore } from "../shared/adapters/catalogBlob.js";
import { localAzure } from "../local/settings.js";
import { loadQueueConfig } from "../shared/config/queues.js";
import { loadCatalog } from "../shared/catalog/load.js";
import { signBody } from "../shared/webhook/signature.js";

const tscEntry = path.resolve("dist/functions/index.js");
const bundleEntry = path.join(bundleDir, "index.js");
const armPackages = ["@azure/arm-compute", "@azure/arm-imagebuilder"];
const targetRatio = 0.25;

/** Bytes of the files under `dir` (recursively), optionally skipping nested node_modules. */
function bytesUnder(dir: string, skipNodeModules = false): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (skipNodeModules && entry.name === "node_modules") continue;
      total += bytesUnder(full, skipNodeModules);
    } else if (entry.isFile()) total += statSync(full).size;
  }
  return total;
}

/**
 * What the tsc output needs from node_modules: the production dependency closure as npm installs it
 * (`npm ci --omit=dev`), read from the lockfile, each package's own files without its nested node_modules
 * (those are entries of their own).
 */
function productionNodeModules(): { packages: number; bytes: number } {
  const lock = JSON.parse(readFileSync("package-lock.json", "utf8")) as {
    packages: Record<string, { dev?: boolean; devOptional?: boolean; optional?: boolean; link?: boolean }>;
  };
  let packages = 0;
  let bytes = 0;
  for (const [location, entry] of Object.entries(lock.packages)) {
    if (location === "" || entry.dev || entry.link || !existsSync(location)) continue;
    packages++;
    bytes += bytesUnder(location, true);
  }
  return { packages, bytes };
}

/**
 * The environment of every measured process: nothing inherited (npm and tsx set NODE_OPTIONS, which would load tsx's
 * loader into the child). Outside the Functions host @azure/functions warns for each registration; nothing else differs.
 */
const coldStartEnv = { PATH: process.env.PATH ?? "", NODE_ENV: "production" };

/**
 * Tracing on, as the app runs in Azure: Application Insights with Entra ID (shared/observability/README.md). Nothing
 * listens at that ingestion endpoint: the exporters load with the first batch of spans, after the response, and the
 * measured process has ended by then; what is measured is what tracing adds before the app is ready and answers.
 */
const tracingEnv = {
  APPLICATIONINSIGHTS_CONNECTION_STRING:
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/",
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: "ClientId=00000000-0000-0000-0000-000000000000;Authorization=AAD",
};

/** One cold start: a fresh `node` importing the entry; the child reports when it was ready. */
function coldStart(
  entry: string,
  env: Record<string, string> = coldStartEnv,
): { readyInMs: number; importInMs: number; processInMs: number } {
  const code = [
    "const started = performance.now();",
    `await import(${JSON.stringify(pathToFileURL(entry).href)});`,
    "const ready = performance.now();",
    "process.stdout.write(JSON.stringify({ readyInMs: ready, importInMs: ready - started }));",
  ].join("\n");
  const t0 = performance.now();
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", code], {
    encoding: "utf8",
    timeout: 30_000,
    env,
  });
  const processInMs = performance.now() - t0;
  if (child.status !== 0) throw new Error(`importing ${entry} failed: ${child.stderr}`);
  // The app may print first (outside the Functions host, @azure/functions logs app.setup's capabilities).
  const line = child.stdout.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`importing ${entry} reported nothing: ${child.stdout}`);
  const reported = JSON.parse(line) as { readyInMs: number; importInMs: number };
  return { ...reported, processInMs };
}

const functionsWorker = fileURLToPath(new URL("./lib/functionsWorker.mjs", import.meta.url));
const webhookSecret = "0".repeat(64);

/**
 * A cold process answering its first webhook request, as a user waits for it: the worker stand-in
 * (bench/lib/functionsWorker.mjs) imports the app, registers its functions, then serves one signed POST /api/builds
 * through @azure/functions' conversions and the real handler, which sends the build request to the Service Bus
 * emulator with the real SDK (loaded on that first send). Returns the child's performance.now() when the response was
 * ready, i.e. the time since the process started.
 */
async function firstWebhook(
  entry: string,
  serviceBusConnectionString: string,
  catalogEnv: Record<string, string>,
  image: string,
  commit: string,
  dir: string,
  extraEnv: Record<string, string> = {},
): Promise<{ respondedInMs: number; readyInMs: number; status: string }> {
  const body = JSON.stringify({ image, commit, ref: "refs/heads/main" });
  const invocation = {
    functionName: "buildWebhook",
    http: {
      method: "POST",
      url: "https://func-bench.azurewebsites.net/api/builds",
      headers: {
        "content-type": "application/json",
        "x-hub-signature-256": signBody(body, webhookSecret),
      },
      body,
    },
  };
  const file = path.join(dir, `webhook-${commit}.json`);
  writeFileSync(file, JSON.stringify(invocation));
  const { stdout } = await promisify(execFile)(process.execPath, [functionsWorker, entry, file], {
    encoding: "utf8",
    timeout: 60_000,
    env: {
      ...coldStartEnv,
      AZURE_SUBSCRIPTION_ID: localAzure.subscriptionId,
      IMAGE_BUILDER_RESOURCE_GROUP: localAzure.imageBuilderResourceGroup,
      IMAGE_BUILDER_IDENTITY_ID: localAzure.imageBuilderIdentityId,
      ServiceBusConnection: serviceBusConnectionString,
      WEBHOOK_SECRET: webhookSecret,
      ...catalogEnv,
      ...extraEnv,
    },
  });
  const report = JSON.parse(stdout.split("\n").find((l) => l.startsWith("{")) ?? "{}") as {
    outcome?: { ok: boolean; error?: string };
    response?: { returnValue?: { http?: { statusCode?: string } } };
    timings: { readyInMs: number; respondedInMs: number };
  };
  const status = report.response?.returnValue?.http?.statusCode ?? "none";
  if (!report.outcome?.ok || status !== "202") {
    throw new Error(`first webhook (${entry}) answered ${status}: ${report.outcome?.error ?? stdout}`);
  }
  return { respondedInMs: report.timings.respondedInMs, readyInMs: report.timings.readyInMs, status };
}

/** An empty Node process: the floor both variants share. */
function emptyStart(): number {
  const child = spawnSync(
    process.execPath,
    ["--input-type=module", "-e", "process.stdout.write(String(performance.now()))"],
    { encoding: "utf8", timeout: 30_000, env: coldStartEnv },
  );
  return Number(child.stdout);
}

/** Runs the webhook probe (bench/lib/webhookProbe.ts) in a fresh process and returns its report. */
function runProbe(mode: "tsc" | "bundle", entry: string, extra: Record<string, string> = {}) {
  // The settlement client reads the host's gRPC address from the command line, as the Functions worker passes it.
  const workerArgs = ["--", "probe", "--host", "127.0.0.1", "--port", "1", "--functions-grpc-max-message-length", "1"];
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", webhookProbeSource, ...workerArgs], {
    encoding: "utf8",
    timeout: 60_000,
    cwd: process.cwd(),
    env: {
      PATH: process.env.PATH ?? "",
      PROBE_MODE: mode,
      PROBE_ENTRY: pathToFileURL(entry).href,
      PROBE_DIST: pathToFileURL(path.resolve("dist")).href,
      ...extra,
    },
  });
  const line = child.stdout.split("\n").find((l) => l.startsWith("{"));
  if (child.status !== 0 || !line) throw new Error(`webhook probe (${mode}) failed: ${child.stderr}\n${child.stdout}`);
  return JSON.parse(line) as {
    mode: string;
    resolvedCount: number;
    armResolvedAfterApp: string[];
    loadedFiles: string[];
    webhook?: { status: number; messagesSent: number; queue?: string };
    positiveControl?: { armResolved: string[] };
    serviceBusBinding?: { deferred: boolean };
  };
}

/** The chunk that exports the bundle's @azure/functions-extensions-base (one copy: scripts/bundle.ts). */
function baseChunkOf(metafile: Metafile): string {
  const found = Object.entries(metafile.outputs).find(([, o]) =>
    o.exports.includes("require_azure_functions_extensions_base"),
  );
  if (!found) throw new Error("no chunk of the bundle exports @azure/functions-extensions-base");
  return path.basename(found[0]);
}

/** Output chunks of the bundle that hold code of the given packages, from esbuild's metafile. */
function chunksHolding(metafile: Metafile, packages: readonly string[]): string[] {
  return Object.entries(metafile.outputs)
    .filter(([, o]) => Object.keys(o.inputs).some((i) => packages.some((p) => i.includes(`node_modules/${p}/`))))
    .map(([file]) => path.basename(file));
}

function parseRuns(argv: readonly string[]): number {
  const i = argv.indexOf("--runs");
  const runs = i >= 0 ? Number(argv[i + 1]) : 20;
  if (!Number.isInteger(runs) || runs < 3 || runs > 200) throw new Error("--runs must be an integer from 3 to 200");
  return runs;
}

async function main() {
  const runs = parseRuns(process.argv.slice(2));
  const command = `npm run bench:coldstart${runs === 20 ? "" : ` -- --runs ${runs}`}`;
  console.log("building: npm run build (the bundle), npm run build:tsc");
  const metafile = await bundleApp();
  const built = spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit", timeout: 300_000 });
  if (built.status !== 0) throw new Error("npm run build:tsc failed");

  // The bundle must need nothing from node_modules: import it once from a folder with none above it.
  const isolated = mkdtempSync(path.join(tmpdir(), "bench-app-"));
  let selfContained: boolean;
  try {
    cpSync(bundleDir, path.join(isolated, "app"), { recursive: true });
    selfContained = coldStart(path.join(isolated, "app", "index.js")).readyInMs > 0;
  } finally {
    rmSync(isolated, { recursive: true, force: true });
  }

  // One discarded start of each warms the file cache; then alternate.
  coldStart(bundleEntry);
  coldStart(tscEntry);
  type Sample = ReturnType<typeof coldStart>;
  const samples = { bundle: [] as Sample[], tsc: [] as Sample[], bundleTraced: [] as Sample[] };
  const empty: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Tracing off and on back to back, first one then the other: each pair shares the machine's load of the moment.
    const off = () => samples.bundle.push(coldStart(bundleEntry));
    const on = () => samples.bundleTraced.push(coldStart(bundleEntry, { ...coldStartEnv, ...tracingEnv }));
    for (const measure of i % 2 === 0 ? [off, on] : [on, off]) measure();
    samples.tsc.push(coldStart(tscEntry));
    empty.push(emptyStart());
  }
  // The first webhook response of a cold process, against the Service Bus emulator (started here, in this process),
  // reading the catalog from Azurite (images.yaml published there): the first catalog read is part of the response.
  const stateDir = mkdtempSync(path.join(tmpdir(), "bench-coldstart-sb-"));
  const serviceBus = await startServiceBusEmulator({
    stateDir,
    queues: loadQueueConfig().queues,
    port: 0,
  });
  const azurite = await startAzurite({ stateDir: path.join(stateDir, "azurite") });
  const catalogBlobUrl = await provisionCatalogContainer(azurite);
  await new BlobCatalogStore({
    blobUrl: catalogBlobUrl,
    connectionString: azurite.connectionString,
    maxAgeInSeconds: 0,
  }).write(readFileSync("images.yaml", "utf8"), { ifNoneMatch: "*" });
  const catalogEnv = { CATALOG_BLOB_URL: catalogBlobUrl, CATALOG_STORAGE_CONNECTION_STRING: azurite.connectionString };
  const image = loadCatalog("images.yaml").images[0]!.name;
  const firstResponses = { bundle: [] as number[], tsc: [] as number[], bundleTraced: [] as number[] };
  try {
    const connection = serviceBus.connectionString;
    await firstWebhook(bundleEntry, connection, catalogEnv, image, "f0000000", stateDir);
    await firstWebhook(tscEntry, connection, catalogEnv, image, "f0000001", stateDir);
    await firstWebhook(bundleEntry, connection, catalogEnv, image, "f0000002", stateDir, tracingEnv);
    for (let i = 0; i < runs; i++) {
      const commit = (n: number) => (0xa0000000 + i * 3 + n).toString(16);
      const off = async () =>
        firstResponses.bundle.push(
          (await firstWebhook(bundleEntry, connection, catalogEnv, image, commit(0), stateDir)).respondedInMs,
        );
      const on = async () =>
        firstResponses.bundleTraced.push(
          (await firstWebhook(bundleEntry, connection, catalogEnv, image, commit(2), stateDir, tracingEnv))
            .respondedInMs,
        );
      for (const measure of i % 2 === 0 ? [off, on] : [on, off]) await measure();
      firstResponses.tsc.push(
        (await firstWebhook(tscEntry, connection, catalogEnv, image, commit(1), stateDir)).respondedInMs,
      );
    }
  } finally {
    await serviceBus.stop();
    await azurite.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
  const firstWebhookTimings = {
    bundle: distribution(firstResponses.bundle),
    tsc: distribution(firstResponses.tsc),
    bundleTracingOn: distribution(firstResponses.bundleTraced),
  };
  const firstWebhookRatio = ratio(firstWebhookTimings.bundle.p50InMs, firstWebhookTimings.tsc.p50InMs);

  const dist = (s: ReturnType<typeof coldStart>[], key: "readyInMs" | "importInMs" | "processInMs") =>
    distribution(s.map((x) => x[key]));
  const timings = {
    bundle: { ready: dist(samples.bundle, "readyInMs"), import: dist(samples.bundle, "importInMs") },
    bundleTracingOn: {
      ready: dist(samples.bundleTraced, "readyInMs"),
      import: dist(samples.bundleTraced, "importInMs"),
    },
    tsc: { ready: dist(samples.tsc, "readyInMs"), import: dist(samples.tsc, "importInMs") },
    emptyNode: distribution(empty),
    firstWebhookResponse: firstWebhookTimings,
  };
  const readyRatio = ratio(timings.bundle.ready.p50InMs, timings.tsc.ready.p50InMs);
  const importRatio = ratio(timings.bundle.import.p50InMs, timings.tsc.import.p50InMs);
  // Tracing on against off, the same bundle, measured alternately in the same run (so under the same load).
  const tracing = {
    readyP50OnOverOff: ratio(timings.bundleTracingOn.ready.p50InMs, timings.bundle.ready.p50InMs),
    readyP50DifferenceInMs:
      Math.round((timings.bundleTracingOn.ready.p50InMs - timings.bundle.ready.p50InMs) * 10) / 10,
    firstWebhookP50OnOverOff: ratio(firstWebhookTimings.bundleTracingOn.p50InMs, firstWebhookTimings.bundle.p50InMs),
    firstWebhookP50DifferenceInMs:
      Math.round((firstWebhookTimings.bundleTracingOn.p50InMs - firstWebhookTimings.bundle.p50InMs) * 10) / 10,
    // Each run measured off and on back to back: the median of the pairs' ratios, steadier under a drifting load.
    readyMedianPairedOnOverOff: medianPairedRatio(
      samples.bundleTraced.map((s) => s.readyInMs),
      samples.bundle.map((s) => s.readyInMs),
    ),
    firstWebhookMedianPairedOnOverOff: medianPairedRatio(firstResponses.bundleTraced, firstResponses.bundle),
    readyMinOnOverOff: ratio(timings.bundleTracingOn.ready.minInMs, timings.bundle.ready.minInMs),
    firstWebhookMinOnOverOff: ratio(firstWebhookTimings.bundleTracingOn.minInMs, firstWebhookTimings.bundle.minInMs),
  };

  const nodeModules = productionNodeModules();
  const tscAppBytes = bytesUnder(path.resolve("dist/functions")) + bytesUnder(path.resolve("dist/shared"));
  const sizes = {
    bundleBytes: bytesUnder(bundleDir),
    bundleJsFiles: readdirSync(bundleDir).filter((f) => f.endsWith(".js")).length,
    tscAppBytes,
    tscNodeModulesBytes: nodeModules.bytes,
    tscNodeModulesPackages: nodeModules.packages,
    tscTotalBytes: tscAppBytes + nodeModules.bytes,
  };

  const armChunks = chunksHolding(metafile, armPackages);
  const probes = {
    tsc: runProbe("tsc", tscEntry),
    bundle: runProbe("bundle", bundleEntry, {
      PROBE_BASE_CHUNK: pathToFileURL(path.join(bundleDir, baseChunkOf(metafile))).href,
    }),
  };
  const bindingDeferred = probes.bundle.serviceBusBinding?.deferred === true;
  const extensionChunks = chunksHolding(metafile, ["@azure/functions-extensions-servicebus"]);
  const extensionLoadedAtStart = probes.bundle.loadedFiles.some((f) => extensionChunks.includes(path.basename(f)));
  const bundleArmChunksLoaded = probes.bundle.loadedFiles.filter((f) => armChunks.includes(path.basename(f)));
  const webhookLoadsNoArmSdk =
    probes.tsc.armResolvedAfterApp.length === 0 &&
    bundleArmChunksLoaded.length === 0 &&
    probes.tsc.webhook?.status === 202 &&
    (probes.tsc.positiveControl?.armResolved.length ?? 0) > 0;
  const startupChunks = probes.bundle.loadedFiles.map((f) => path.basename(f));

  console.log(`\n${command}`);
  console.log(
    table([
      ["variant", "ready p50 ms", "ready p90 ms", "import p50 ms", "import p90 ms", "package bytes"],
      [
        "bundle (dist/app)",
        timings.bundle.ready.p50InMs,
        timings.bundle.ready.p90InMs,
        timings.bundle.import.p50InMs,
        timings.bundle.import.p90InMs,
        sizes.bundleBytes,
      ],
      [
        "tsc (dist/ + prod node_modules)",
        timings.tsc.ready.p50InMs,
        timings.tsc.ready.p90InMs,
        timings.tsc.import.p50InMs,
        timings.tsc.import.p90InMs,
        sizes.tscTotalBytes,
      ],
      ["empty node process", timings.emptyNode.p50InMs, timings.emptyNode.p90InMs, "-", "-", "-"],
    ]),
  );
  console.log(
    table([
      ["first webhook response of a cold process", "p50 ms", "p90 ms", "p99 ms"],
      [
        "bundle (dist/app)",
        firstWebhookTimings.bundle.p50InMs,
        firstWebhookTimings.bundle.p90InMs,
        firstWebhookTimings.bundle.p99InMs,
      ],
      ["tsc", firstWebhookTimings.tsc.p50InMs, firstWebhookTimings.tsc.p90InMs, firstWebhookTimings.tsc.p99InMs],
    ]),
  );
  console.log(
    `bundle/tsc medians: ready ${readyRatio}, import ${importRatio} (target <= ${targetRatio}); bundle size / tsc size ${ratio(sizes.bundleBytes, sizes.tscTotalBytes)}`,
  );
  console.log(
    `bundle: Service Bus trigger data deferred by the factory @azure/functions reads: ${bindingDeferred}; extension chunk (${extensionChunks.join(", ")}) loaded at start: ${extensionLoadedAtStart}`,
  );
  console.log(
    `first webhook response (process start to 202, the build request sent to the Service Bus emulator) bundle/tsc medians: ${firstWebhookRatio}`,
  );
  console.log(
    table([
      [
        "bundle, tracing on (Application Insights, Entra ID)",
        "p50 ms",
        "p90 ms",
        "on/off p50",
        "difference p50 ms",
        "on/off paired median",
        "on/off min",
      ],
      [
        "ready",
        timings.bundleTracingOn.ready.p50InMs,
        timings.bundleTracingOn.ready.p90InMs,
        tracing.readyP50OnOverOff,
        tracing.readyP50DifferenceInMs,
        tracing.readyMedianPairedOnOverOff,
        tracing.readyMinOnOverOff,
      ],
      [
        "first webhook response",
        firstWebhookTimings.bundleTracingOn.p50InMs,
        firstWebhookTimings.bundleTracingOn.p90InMs,
        tracing.firstWebhookP50OnOverOff,
        tracing.firstWebhookP50DifferenceInMs,
        tracing.firstWebhookMedianPairedOnOverOff,
        tracing.firstWebhookMinOnOverOff,
      ],
    ]),
  );
  console.log(`bundle self-contained (imported from a folder without node_modules): ${selfContained}`);
  console.log(
    `webhook path loads no ARM SDK: ${webhookLoadsNoArmSdk} (tsc: ${probes.tsc.resolvedCount} resolutions, webhook answered ${probes.tsc.webhook?.status}, positive control saw ${probes.tsc.positiveControl?.armResolved.length} ARM resolutions; bundle: ${startupChunks.length} chunks loaded at start, ARM chunks ${armChunks.join(", ")} not among them: ${bundleArmChunksLoaded.length === 0})`,
  );

  const file = writeResult("coldstart", command, {
    runs,
    timings,
    ratios: {
      readyP50BundleOverTsc: readyRatio,
      importP50BundleOverTsc: importRatio,
      firstWebhookResponseP50BundleOverTsc: firstWebhookRatio,
      target: targetRatio,
    },
    tracing,
    targets: { bundleAtMost25PercentOfTsc: readyRatio <= targetRatio, webhookLoadsNoArmSdk },
    checks: {
      bundleSelfContained: selfContained,
      bundleServiceBusBindingDeferred: bindingDeferred,
      serviceBusExtensionLoadedAtStart: extensionLoadedAtStart,
    },
    sizes,
    bundle: {
      selfContained,
      serviceBusExtension:
        "bundled in a chunk of its own that the first queue message loads (functions/serviceBusBinding.ts); proto/settlement.proto copied next to the chunks",
      extensionChunks,
      startupChunks,
      armChunks,
      lazyChunks: Object.keys(metafile.outputs)
        .map((f) => path.basename(f))
        .filter((f) => f.endsWith(".js") && !startupChunks.includes(f)),
    },
    webhookProbe: probes,
    notes: [
      "ready: performance.now() in the child when the import resolved (time since the process started, Node's own start included); import: from the start of the import to ready.",
      "tsc package: dist/functions + dist/shared, plus the production dependency closure from package-lock.json (npm ci --omit=dev).",
    ],
  });
  console.log(`results: ${file}`);
}

await main();
