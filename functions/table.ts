import type { FunctionDefinition } from "./definitions.js";
import { buildStatus } from "./buildStatus.js";
import { buildWebhook } from "./buildWebhook.js";
import { pipelineFromEnvironment, type PipelineProvider } from "./composition.js";
import { dashboardAsset } from "./dashboardAsset.js";
import { dashboardData } from "./dashboardData.js";
import { dashboardPage } from "./dashboardPage.js";
import { imageStatus } from "./imageStatus.js";
import { queueFunctions } from "./queues.js";
import { queueFunction, tracedHttp, tracedTimer } from "./runtime.js";
import { monitorReplicationTimer, nightlyRebuildTimer, pruneVersionsTimer } from "./timers.js";
import type * as z from "zod";
import { queues, type MessageOf, type QueueName } from "../shared/messages/index.js";

/** Settings name of the Service Bus connection (`ServiceBusConnection__fullyQualifiedNamespace` in Azure). */
const connection = "ServiceBusConnection";

/** Queue triggers settle explicitly so that a poison message is dead-lettered at once, with its reason. */
const explicitSettlement = { connection, sdkBinding: true, autoCompleteMessages: false } as const;

/** The queue trigger of one queue of the registry, bound to its use-case. */
function queueTrigger<Q extends QueueName>(queue: Q, pipeline: PipelineProvider): FunctionDefinition {
  const { name, handle } = queueFunctions[queue];
  return {
    trigger: "serviceBusQueue",
    name,
    options: {
      ...explicitSettlement,
      queueName: queue,
      // The registry pairs each queue with its schema; TypeScript cannot follow that pairing through the index.
      handler: queueFunction(queues[queue].schema as unknown as z.ZodType<MessageOf<Q>>, handle, pipeline) as never,
    },
  };
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
    ...(Object.keys(queueFunctions) as QueueName[]).map((queue) => queueTrigger(queue, pipeline)),
  ];
}

/** The app's table on the pipeline of this process's environment: the composition root of the Functions app. */
export const functionTable: FunctionDefinition[] = createFunctionTable(pipelineFromEnvironment());
