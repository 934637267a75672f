import type { FunctionDefinition } from "./definitions.js";
import { buildStatus } from "./buildStatus.js";
import { buildWebhook } from "./buildWebhook.js";
import { pipelineFromEnvironment, type PipelineProvider } from "./composition.js";
import { dashboardAsset } from "./dashboardAsset.js";
import { dashboardData } from "./dashboardData.js";
import { dashboardPage } from "./dashboardPage.js";
import { imageSchedule } from "./imageSchedule.js";
import { imageStatus } from "./imageStatus.js";
import { promoteImage } from "./promoteImage.js";
import { queueFunctions, type QueueFunction, type QueueFunctions } from "./queues.js";
import { rollbackImage } from "./rollbackImage.js";
import { queueFunction, tracedHttp, tracedTimer } from "./runtime.js";
import { monitorReplicationTimer, nightlyRebuildTimer, pruneVersionsTimer } from "./timers.js";
import { queues, type QueueRegistry } from "../shared/messages/index.js";

/** Settings name of the Service Bus connection (`ServiceBusConnection__fullyQualifiedNamespace` in Azure). */
const connection = "ServiceBusConnection";

/** Queue triggers settle explicitly so that a poison message is dead-lettered at once, with its reason. */
const explicitSettlement = { connection, sdkBinding: true, autoCompleteMessages: false } as const;

/** The queue triggers of a registry: each queue's function, bound to its schema and explicit settlement. */
export function queueTriggers<R extends QueueRegistry>(
  registry: R,
  functions: QueueFunctions<R>,
  pipeline: PipelineProvider,
): FunctionDefinition[] {
  return (Object.keys(registry) as (keyof R & string)[]).map((queue) => {
    const { name, handle } = functions[queue];
    return {
      trigger: "serviceBusQueue",
      name,
      options: {
        ...explicitSettlement,
        queueName: queue,
        handler: queueFunction(registry[queue]!.schema, handle as QueueFunction<unknown>["handle"], pipeline) as never,
      },
    };
  });
}

/**
 * Every function of the app, each handed the pipeline it works with. `functions/index.ts` registers them with Azure;
 * the local host and tests build the table on a pipeline of their own.
 */
export function createFunctionTable(pipeline: PipelineProvider): FunctionDefinition[] {
  return [
    {
      trigger: "http",
      name: "buildWebhook",
      options: {
        methods: ["POST"],
        route: "builds",
        authLevel: "function",
        handler: tracedHttp(buildWebhook(pipeline)),
      },
    },
    {
      trigger: "http",
      name: "buildStatus",
      options: {
        methods: ["GET"],
        route: "builds/{id}",
        authLevel: "function",
        handler: tracedHttp(buildStatus(pipeline)),
      },
    },
    {
      trigger: "http",
      name: "imageStatus",
      options: {
        methods: ["GET"],
        route: "images/{name?}",
        authLevel: "function",
        handler: tracedHttp(imageStatus(pipeline)),
      },
    },
    // Operator controls change what VMs get as `latest`: the admin level takes the master key only (Learn, "Work
    // with access keys in Azure Functions"), never a function or host key handed to CI or to dashboard viewers.
    {
      trigger: "http",
      name: "rollbackImage",
      options: {
        methods: ["POST"],
        route: "images/{name}/rollback",
        authLevel: "admin",
        handler: rollbackImage(pipeline),
      },
    },
    {
      trigger: "http",
      name: "promoteImage",
      options: {
        methods: ["POST"],
        route: "images/{name}/promote",
        authLevel: "admin",
        handler: promoteImage(pipeline),
      },
    },
    {
      trigger: "http",
      name: "imageSchedule",
      options: {
        methods: ["POST"],
        route: "images/{name}/schedule",
        authLevel: "admin",
        handler: imageSchedule(pipeline),
      },
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
      options: {
        methods: ["GET"],
        route: "dashboard/data",
        authLevel: "function",
        handler: tracedHttp(dashboardData(pipeline)),
      },
    },
    {
      trigger: "timer",
      name: "nightlyRebuild",
      options: { schedule: "%NIGHTLY_SCHEDULE%", handler: tracedTimer(nightlyRebuildTimer(pipeline)) },
    },
    {
      trigger: "timer",
      name: "monitorReplication",
      options: { schedule: "%REPLICATION_MONITOR_SCHEDULE%", handler: tracedTimer(monitorReplicationTimer(pipeline)) },
    },
    {
      trigger: "timer",
      name: "pruneVersions",
      options: { schedule: "%PRUNE_SCHEDULE%", handler: tracedTimer(pruneVersionsTimer(pipeline)) },
    },
    ...queueTriggers(queues, queueFunctions, pipeline),
  ];
}

/** The app's table on the pipeline of this process's environment: the composition root of the Functions app. */
export const functionTable: FunctionDefinition[] = createFunctionTable(pipelineFromEnvironment());
