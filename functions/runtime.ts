import type { HttpHandler, InvocationContext, TimerHandler } from "@azure/functions";
import type { ServiceBusReceivedMessage } from "@azure/service-bus";
import type * as z from "zod";
import type { PipelineProvider } from "./composition.js";
import { classifyError } from "../shared/errors.js";
import { buildFactsOf } from "../shared/messages/index.js";
import { createLogger, type LogSink } from "../shared/observability/logger.js";
import {
  forwardLog,
  openTelemetryTracer,
  parseTraceparent,
  spanAttributes,
  traceFields,
} from "../shared/observability/tracing.js";
import type { Logger, SpanHandle, SpanOptions } from "../shared/ports.js";
import type { PipelineDeps } from "../shared/usecases/context.js";
import type { SdkBoundQueueHandler } from "./definitions.js";
import { resolveServiceBusContext } from "./serviceBusBinding.js";

/**
 * Writes log lines through the invocation context (the Functions host's log), and hands them to the OpenTelemetry log
 * exporter when there is one (in Azure the host then leaves the worker's lines to it: shared/observability/README.md).
 */
export function contextSink(context: InvocationContext): LogSink {
  return {
    info: (l) => (context.log(l), forwardLog("info", l)),
    warn: (l) => (context.warn(l), forwardLog("warn", l)),
    error: (l) => (context.error(l), forwardLog("error", l)),
  };
}

/** A structured logger for one invocation; each line carries the trace and span ids of the span it was written in. */
export function invocationLogger(context: InvocationContext, fields: Record<string, unknown> = {}): Logger {
  return createLogger(
    contextSink(context),
    { function: context.functionName, invocationId: context.invocationId, ...fields },
    traceFields,
  );
}

/** What triggered an invocation, as OpenTelemetry's FaaS conventions name it. */
type FaasTrigger = "http" | "timer" | "pubsub";
const spanKindOf: Record<FaasTrigger, SpanOptions["kind"]> = { http: "server", timer: "internal", pubsub: "consumer" };

/**
 * Runs an invocation in its span: the function's name, a child of the host's span for the invocation (the trace
 * context the host hands the worker), with `extra` parent and links when the trigger carries its own context.
 */
export function invocationSpan<T>(
  context: InvocationContext,
  trigger: FaasTrigger,
  work: (span: SpanHandle) => Promise<T>,
  extra: Pick<SpanOptions, "parent" | "links" | "attributes"> = {},
): Promise<T> {
  return openTelemetryTracer.inSpan(
    context.functionName,
    {
      kind: spanKindOf[trigger],
      parent: extra.parent ?? context.traceContext?.traceParent ?? undefined,
      links: extra.links,
      attributes: {
        "faas.trigger": trigger,
        "faas.invocation_id": context.invocationId,
        ...extra.attributes,
      },
    },
    work,
  );
}

/**
 * The parent of a queue invocation's span: the host's span for it when that continues the message's trace (the host
 * honours the message's `Diagnostic-Id`), else the message's own `traceparent`, with a link to the host's span. So
 * the build's trace goes on through every queue whatever the host does with the message's context.
 */
export function queueSpanParent(
  messageTraceparent: string | undefined,
  hostTraceparent: string | undefined,
): Pick<SpanOptions, "parent" | "links"> {
  const fromMessage = parseTraceparent(messageTraceparent);
  const fromHost = parseTraceparent(hostTraceparent);
  if (!fromMessage) return { parent: hostTraceparent };
  if (fromHost?.traceId === fromMessage.traceId) return { parent: hostTraceparent };
  return { parent: messageTraceparent, links: fromHost ? [hostTraceparent] : [] };
}

/** A message's own trace context: its `traceparent` field, else the `Diagnostic-Id` Azure's SDKs stamp. */
function messageTraceparentOf(message: ServiceBusReceivedMessage, body: unknown): string | undefined {
  const field = (body as { traceparent?: unknown } | undefined)?.traceparent;
  if (typeof field === "string" && parseTraceparent(field)) return field;
  const diagnosticId = message.applicationProperties?.["Diagnostic-Id"];
  return typeof diagnosticId === "string" && parseTraceparent(diagnosticId) ? diagnosticId : undefined;
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
      let body: unknown;
      let bodyError = false;
      try {
        body = decodeBody(message.body);
      } catch {
        bodyError = true;
      }
      const about = buildFactsOf(body);
      const text = (v: unknown) => (typeof v === "string" ? v : undefined);
      const queueName = (context.options?.trigger as { queueName?: string } | undefined)?.queueName;
      await invocationSpan(context, "pubsub", (span) => handle(message, body, bodyError, span), {
        ...queueSpanParent(messageTraceparentOf(message, body), context.traceContext?.traceParent ?? undefined),
        attributes: {
          "messaging.system": "servicebus",
          "messaging.operation.type": "process",
          "messaging.destination.name": queueName,
          "messaging.message.id": text(message.messageId),
          "messaging.servicebus.message.delivery_count": message.deliveryCount,
          [spanAttributes.buildId]: about.buildId,
          [spanAttributes.image]: about.image,
          [spanAttributes.version]: about.version,
        },
      });
    }

    async function handle(message: ServiceBusReceivedMessage, body: unknown, bodyError: boolean, span: SpanHandle) {
      const log = invocationLogger(context, { messageId: message.messageId, deliveryCount: message.deliveryCount });
      const deadletter = async (reason: string, description: string) => {
        span.fail(`dead-lettered: ${reason}: ${description}`);
        await input.actions.deadletter(message, undefined, reason, description);
      };
      if (bodyError) {
        log.error("message body is not JSON: dead-lettering");
        return deadletter("InvalidJson", "the message body is not valid JSON");
      }
      const parsed = schema.safeParse(body);
      if (!parsed.success) {
        const description = describeIssues(parsed.error).slice(0, 1024);
        log.error("message fails its schema: dead-lettering", { issues: description });
        return deadletter("SchemaValidationFailed", description);
      }
      const data = parsed.data as { image?: string; catalogHash?: string };
      // An event's build is in its data: its lines name the build too.
      const about = buildFactsOf(parsed.data);
      const buildLog = createLoggerWith(log, { buildId: about.buildId, image: about.image });
      try {
        // A message that names an entry hash the cached catalog lacks (a build requested right after a publish) makes
        // the instance read the catalog again before handling it.
        const expectation = data.image ? { image: data.image, catalogHash: data.catalogHash } : undefined;
        const result = await run(await pipelineOf().deps(buildLog, expectation), parsed.data);
        span.setAttributes({ [spanAttributes.outcome]: result.outcome });
        buildLog.info("message handled", { outcome: result.outcome });
        await input.actions.complete(message);
      } catch (error) {
        const { disposition, code, message: description } = classifyError(error);
        if (disposition === "deadLetter") {
          buildLog.error("message cannot be processed: dead-lettering", { code, error });
          await deadletter(code, description.slice(0, 1024));
        } else {
          buildLog.error("message failed: abandoning for redelivery", { code, error });
          span.fail(`abandoned for redelivery: ${code}: ${description}`);
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

/** An HTTP handler run in its invocation's span, with the response's status code (a 5xx fails the span). */
export function tracedHttp(handler: HttpHandler): HttpHandler {
  return (request, context) =>
    invocationSpan(context, "http", async (span) => {
      const response = await handler(request, context);
      const status = (response as { status?: number } | undefined)?.status ?? 200;
      span.setAttributes({ "http.request.method": request.method, "http.response.status_code": status });
      if (status >= 500) span.fail(`answered ${status}`);
      return response;
    });
}

/** A timer handler run in its invocation's span. */
export function tracedTimer(handler: TimerHandler): TimerHandler {
  return (timer, context) => invocationSpan(context, "timer", async () => handler(timer, context));
}
