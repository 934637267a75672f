import type { InvocationContext } from "@azure/functions";
import type { ServiceBusReceivedMessage } from "@azure/service-bus";
import type * as z from "zod";
import type { PipelineProvider } from "./composition.js";
import { classifyError } from "../shared/errors.js";
import { createLogger, type LogSink } from "../shared/observability/logger.js";
import type { Logger } from "../shared/ports.js";
import type { PipelineDeps } from "../shared/usecases/context.js";
import type { SdkBoundQueueHandler } from "./definitions.js";
import { resolveServiceBusContext } from "./serviceBusBinding.js";

/** Writes log lines through the invocation context, so Application Insights ties them to the invocation. */
export function contextSink(context: InvocationContext): LogSink {
  return { info: (l) => context.log(l), warn: (l) => context.warn(l), error: (l) => context.error(l) };
}

/** A structured logger for one invocation. */
export function invocationLogger(context: InvocationContext, fields: Record<string, unknown> = {}): Logger {
  return createLogger(contextSink(context), {
    function: context.functionName,
    invocationId: context.invocationId,
    ...fields,
  });
}

/** A message body as the handler sees it: the SDK gives objects for AMQP values, strings or bytes otherwise. */
export function decodeBody(body: unknown): unknown {
  if (typeof body === "string") return JSON.parse(body);
  if (body instanceof Uint8Array) return JSON.parse(Buffer.from(body).toString("utf8"));
  return body;
}

/** Formats zod issues as `path: message` lines. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "(message)"}: ${i.message}`).join("; ");
}

/** What a queue use-case resolves to: its outcome, for the log. */
export interface QueueOutcome {
  outcome: string;
}

/**
 * A Service Bus function with the Functions trigger's settlement rules, made explicit: complete on success; a message
 * that fails its schema, or whose processing threw a permanent error ({@link classifyError} decides), is
 * dead-lettered at once with the error's code as the reason; anything else is abandoned, and Service Bus redelivers
 * it until its max delivery count, then dead-letters it.
 */
export function queueFunction<S extends z.ZodType>(
  schema: S,
  run: (deps: PipelineDeps, message: z.infer<S>) => Promise<QueueOutcome>,
  pipelineOf: PipelineProvider,
): SdkBoundQueueHandler {
  return async (trigger, context: InvocationContext) => {
    // If the extension cannot load this throws before anything is settled: the lock lapses and the message returns.
    const input = await resolveServiceBusContext(trigger);
    const messages: ServiceBusReceivedMessage[] = Array.isArray(input.messages) ? input.messages : [input.messages];
    for (const message of messages) {
      const log = invocationLogger(context, { messageId: message.messageId, deliveryCount: message.deliveryCount });
      let body: unknown;
      try {
        body = decodeBody(message.body);
      } catch {
        log.error("message body is not JSON: dead-lettering");
        await input.actions.deadletter(message, undefined, "InvalidJson", "the message body is not valid JSON");
        continue;
      }
      const parsed = schema.safeParse(body);
      if (!parsed.success) {
        const description = describeIssues(parsed.error).slice(0, 1024);
        log.error("message fails its schema: dead-lettering", { issues: description });
        await input.actions.deadletter(message, undefined, "SchemaValidationFailed", description);
        continue;
      }
      const data = parsed.data as { buildId?: string; image?: string; catalogHash?: string };
      const buildLog = createLoggerWith(log, { buildId: data.buildId, image: data.image });
      try {
        // A message that names an entry hash the cached catalog lacks (a build requested right after a publish) makes
        // the instance read the catalog again before handling it.
        const expectation = data.image ? { image: data.image, catalogHash: data.catalogHash } : undefined;
        const result = await run(await pipelineOf().deps(buildLog, expectation), parsed.data);
        buildLog.info("message handled", { outcome: result.outcome });
        await input.actions.complete(message);
      } catch (error) {
        const { disposition, code, message: description } = classifyError(error);
        if (disposition === "deadLetter") {
          buildLog.error("message cannot be processed: dead-lettering", { code, error });
          await input.actions.deadletter(message, undefined, code, description.slice(0, 1024));
        } else {
          buildLog.error("message failed: abandoning for redelivery", { code, error });
          await input.actions.abandon(message);
        }
      }
    }
  };
}

function createLoggerWith(log: Logger, fields: Record<string, unknown>): Logger {
  return {
    info: (m, f) => log.info(m, { ...fields, ...f }),
    warn: (m, f) => log.warn(m, { ...fields, ...f }),
    error: (m, f) => log.error(m, { ...fields, ...f }),
  };
}
