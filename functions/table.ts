import type { FunctionDefinition } from "./definitions.js";
import { buildStatus } from "./buildStatus.js";
import { buildWebhook } from "./buildWebhook.js";
import { dashboardAsset } from "./dashboardAsset.js";
import { dashboardData } from "./dashboardData.js";
import { dashboardPage } from "./dashboardPage.js";
import { imageStatus } from "./imageStatus.js";
import { publishVersionHandler } from "./publishVersion.js";
import { startBuildHandler } from "./startBuild.js";
import { monitorReplicationTimer, nightlyRebuildTimer, pruneVersionsTimer } from "./timers.js";
import { watchBuildHandler } from "./watchBuild.js";
import { queueNames } from "../shared/config/queues.js";

/** Settings name of the Service Bus connection (`ServiceBusConnection__fullyQualifiedNamespace` in Azure). */
const connection = "ServiceBusConnection";

/** Queue triggers settle explicitly so that a poison message is dead-lettered at once, with its reason. */
const explicitSettlement = { connection, sdkBinding: true, autoCompleteMessages: false } as const;

/** Every function of the app. `functions/index.ts` registers them with Azure; the local host runs the same table. */
export const functionTable: FunctionDefinition[] = [
  {
    trigger: "http",
    name: "buildWebhook",
    options: { methods: ["POST"], route: "builds", authLevel: "function", handler: buildWebhook },
  },
  {
    trigger: "http",
    name: "buildStatus",
    options: { methods: ["GET"], route: "builds/{id}", authLevel: "function", handler: buildStatus },
  },
  {
    trigger: "http",
    name: "imageStatus",
    options: { methods: ["GET"], route: "images/{name?}", authLevel: "function", handler: imageStatus },
  },
  // The dashboard: the page and its assets hold no data and no key (anonymous); its data needs the function key.
  {
    trigger: "http",
    name: "dashboardPage",
    options: { methods: ["GET"], route: "dashboard", authLevel: "anonymous", handler: dashboardPage },
  },
  {
    trigger: "http",
    name: "dashboardAsset",
    options: { methods: ["GET"], route: "dashboard/assets/{name}", authLevel: "anonymous", handler: dashboardAsset },
  },
  {
    trigger: "http",
    name: "dashboardData",
    options: { methods: ["GET"], route: "dashboard/data", authLevel: "function", handler: dashboardData },
  },
  {
    trigger: "timer",
    name: "nightlyRebuild",
    options: { schedule: "%NIGHTLY_SCHEDULE%", handler: nightlyRebuildTimer },
  },
  {
    trigger: "timer",
    name: "monitorReplication",
    options: { schedule: "%REPLICATION_MONITOR_SCHEDULE%", handler: monitorReplicationTimer },
  },
  {
    trigger: "timer",
    name: "pruneVersions",
    options: { schedule: "%PRUNE_SCHEDULE%", handler: pruneVersionsTimer },
  },
  {
    trigger: "serviceBusQueue",
    name: "startBuild",
    options: { ...explicitSettlement, queueName: queueNames.buildRequests, handler: startBuildHandler as never },
  },
  {
    trigger: "serviceBusQueue",
    name: "watchBuild",
    options: { ...explicitSettlement, queueName: queueNames.buildWatch, handler: watchBuildHandler as never },
  },
  {
    trigger: "serviceBusQueue",
    name: "publishVersion",
    options: { ...explicitSettlement, queueName: queueNames.versionPublish, handler: publishVersionHandler as never },
  },
];
