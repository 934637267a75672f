/**
 * `npm start`: the whole pipeline on this machine. Starts the ARM and Service Bus emulators and the local Functions
 * host with the sample catalog and short simulated durations, asks for one build of each sample image through the
 * webhook, shows live progress until every build is promoted (or failed), creates a few VMs and a scale set on the
 * promoted images (so that `image-pipeline usage`, the status API and the dashboard show where versions run), then
 * keeps serving until Ctrl-C.
 * State lives in `.local/` (git-ignored): a second `npm start` resumes what was in flight.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { settingNames, webhookSecrets } from "../shared/config/settings.js";
import { createHash } from "node:crypto";
import { startLocalStack } from "./stack.js";
import { postBuildRequest } from "./buildRequests.js";
import type { HostLogger } from "./host/index.js";
import { configureSimulation, demoSimulation } from "./armAdmin.js";
import { createSampleFleet } from "./fleet.js";
import { provisionGalleries } from "./provision.js";
import { localAzure } from "./settings.js";
import { buildDashboardAssets } from "../scripts/dashboard.js";

const stateDir = process.env.LOCAL_STATE_DIR ?? ".local";
// The host's own log is long; LOCAL_HOST_LOGS=1 shows it (one JSON object per line) under the progress lines.
const hostLog: HostLogger = (record) => {
  if (process.env.LOCAL_HOST_LOGS === "1") console.log(JSON.stringify(record));
};

function currentCommit(): string {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return createHash("sha1").update("image-pipeline local").digest("hex");
  }
}

interface BuildStatusBody {
  stage?: string;
  version?: string;
  run?: { runState?: string; runSubState?: string };
  regions?: { region: string; state: string; progress?: number }[];
  failure?: { reason: string };
  error?: { message: string };
}

function describe(status: BuildStatusBody): string {
  switch (status.stage) {
    case "building":
      return `building ${status.version ?? ""} (${status.run?.runState ?? "?"}${status.run?.runSubState ? `: ${status.run.runSubState}` : ""})`;
    case "publishing":
      return `publishing ${status.version}`;
    case "replicating":
      // Progress in quarter steps, so a line is printed per real change rather than per poll.
      return `replicating ${status.version}: ${(status.regions ?? []).map((r) => `${r.region} ${r.state}${r.state === "Replicating" && r.progress !== undefined ? ` ${Math.floor(r.progress / 25) * 25}%` : ""}`).join(", ") || "starting"}`;
    case "promoted":
      return `promoted ${status.version} (latest)`;
    case "failed":
      return `failed: ${status.failure?.reason ?? "unknown reason"}`;
    default:
      return "queued";
  }
}

async function main() {
  // The dashboard's page loads these from the host (npm run build puts them in the deployment package).
  await buildDashboardAssets();
  const stack = await startLocalStack({
    stateDir,
    ports: {
      arm: Number(process.env.LOCAL_ARM_PORT ?? 7443),
      serviceBus: Number(process.env.LOCAL_SERVICEBUS_PORT ?? 5672),
      azurite: Number(process.env.LOCAL_AZURITE_PORT ?? 10000),
      eventGrid: Number(process.env.LOCAL_EVENTGRID_PORT ?? 7643),
      otlp: Number(process.env.LOCAL_OTLP_PORT ?? 4318),
      host: Number(process.env.LOCAL_HOST_PORT ?? 7071),
    },
    logger: hostLog,
  });
  await configureSimulation(stack.arm, demoSimulation);
  await provisionGalleries(stack.arm, stack.catalog);
  // The CLI (`npx image-pipeline status`, `dlq list`, ...) talks to this stack through these settings.
  const cliSettings = Object.fromEntries(settingNames.flatMap((n) => (stack.env[n] ? [[n, stack.env[n]]] : [])));
  writeFileSync(join(stateDir, "settings.json"), JSON.stringify(cliSettings, null, 2));
  const key = localAzure.functionKey;
  console.log(`ARM emulator     ${stack.arm.endpoint}`);
  console.log(
    `Service Bus      ${stack.serviceBus.connectionString.replace(/SharedAccessKey=[^;]+/, "SharedAccessKey=…")}`,
  );
  console.log(`Azurite (blob)   ${stack.azurite.blobEndpoint} (catalog: ${stack.settings.CATALOG_BLOB_URL})`);
  console.log(`Event Grid topic ${stack.eventGrid.endpoint} (events below; npx image-pipeline events --follow)`);
  console.log(
    `Functions host   ${stack.host.url}/api (x-functions-key: ${key}; admin functions: ${localAzure.masterKey})`,
  );
  console.log(`OTLP collector   ${stack.collector.endpoint} (npx image-pipeline trace <buildId>: a build's spans)`);
  // The key goes in the fragment: the browser never sends it to the server; the page sends it in a header.
  console.log(`Dashboard        ${stack.host.url}/api/dashboard#code=${key}`);
  console.log(`state            ${stateDir}/ (delete it to start afresh)\n`);

  // Every event the pipeline publishes, as the topic receives it.
  stack.eventGrid.subscribe(({ event }) => {
    const data = (event.data ?? {}) as { image?: string; version?: string; reason?: string };
    const type = String(event.type).replace(/^ImagePipeline\./, "");
    const detail = [data.version, data.reason].filter(Boolean).join(" ");
    console.log(
      `${new Date().toISOString().slice(11, 19)} ${(data.image ?? "").padEnd(24)} event ${type}${detail ? ` ${detail}` : ""} (${String(event.id)})`,
    );
  });

  const commit = currentCommit();
  // Signed with the secret the host checks (WEBHOOK_SECRET from the environment or local.settings.json), if any.
  const webhook = webhookSecrets(stack.pipeline.settings);
  if ("unusable" in webhook) throw new Error(`the webhook is disabled: ${webhook.unusable}`);
  const webhookSecret = webhook.secrets[0];
  const builds = new Map<string, string>();
  for (const image of stack.catalog.images) {
    const response = await postBuildRequest({
      hostUrl: stack.host.url,
      functionKey: key,
      webhookSecret,
      request: { image: image.name, commit, reason: "manual", requestedBy: "npm-start" },
    });
    const body = (await response.json()) as { buildId?: string; error?: { message: string } };
    if (!body.buildId) throw new Error(`could not request a build of ${image.name}: ${body.error?.message}`);
    builds.set(image.name, body.buildId);
    console.log(`${image.name.padEnd(24)} build ${body.buildId} requested for commit ${commit.slice(0, 12)}`);
  }

  const last = new Map<string, string>();
  const done = new Set<string>();
  const promoted = new Set<string>();
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping…");
    await stack.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown());
  process.on("SIGTERM", () => void shutdown());

  while (!stopping && done.size < builds.size) {
    for (const [image, buildId] of builds) {
      if (done.has(image)) continue;
      const response = await fetch(`${stack.host.url}/api/builds/${buildId}`, { headers: { "x-functions-key": key } });
      const status = (await response.json()) as BuildStatusBody;
      const line = response.status === 404 ? "queued" : describe(status);
      if (last.get(image) !== line) {
        console.log(`${new Date().toISOString().slice(11, 19)} ${image.padEnd(24)} ${line}`);
        last.set(image, line);
      }
      if (status.stage === "promoted") promoted.add(image);
      if (status.stage === "promoted" || status.stage === "failed") done.add(image);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  if (stopping) return;
  // Workloads on the new versions, created through the Compute API as a platform team would: usage shows them.
  try {
    for (const line of await createSampleFleet(stack.arm, stack.catalog, [...promoted])) console.log(`fleet: ${line}`);
    if (promoted.size > 0) console.log(`  where they run: npx image-pipeline usage ${[...promoted][0]}`);
  } catch (error) {
    console.log(
      `fleet: the sample VMs could not be created (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  console.log(`\nAll sample builds ended. Serving webhooks at ${stack.host.url}/api/builds; Ctrl-C to stop.`);
  console.log(
    `  curl -X POST ${stack.host.url}/api/builds -H 'x-functions-key: ${key}' -H 'content-type: application/json' -d '{"image":"${[...builds.keys()][0]}","commit":"0123abc"}'`,
  );
  if (webhookSecret) {
    console.log("  (WEBHOOK_SECRET is set: add X-Hub-Signature-256, the body's HMAC-SHA256 with it; see the README)");
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
