import {
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
} from "@opentelemetry/api";
import type { SpanAttributes, SpanHandle, SpanOptions, Tracer } from "../ports.js";

/*
 * The pipeline's tracing on the OpenTelemetry API only: this module is on every invocation's path, so it loads no
 * SDK. Without a registered tracer provider (the CLI, unit tests) spans are not recorded and cost nothing; the SDK is
 * registered by shared/observability/telemetry.ts, loaded off the invocation's path (see the README beside this file).
 */

/** Name of the instrumentation scope of the pipeline's own spans. */
export const tracerName = "image-pipeline";

export { spanAttributes } from "./spanAttributes.js";
import { spanAttributes } from "./spanAttributes.js";

const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The span context a W3C traceparent (version 00) names, or undefined when it is malformed or all zeros. */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  const match = value ? traceparentPattern.exec(value.trim().toLowerCase()) : null;
  if (!match) return undefined;
  const spanContext: SpanContext = {
    traceId: match[1]!,
    spanId: match[2]!,
    traceFlags: Number.parseInt(match[3]!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}

/** The W3C traceparent of a span context. */
export function formatTraceparent(spanContext: SpanContext): string {
  return `00-${spanContext.traceId}-${spanContext.spanId}-0${(spanContext.traceFlags & TraceFlags.SAMPLED).toString(16)}`;
}

const kinds: Record<NonNullable<SpanOptions["kind"]>, SpanKind> = {
  internal: SpanKind.INTERNAL,
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

function attributesOf(attributes: SpanAttributes | undefined): Attributes {
  const result: Attributes = {};
  for (const [key, value] of Object.entries(attributes ?? {})) if (value !== undefined) result[key] = value;
  return result;
}

/** The span context of the active span when it is a real one (recorded, or propagated from elsewhere). */
function activeSpanContext(): SpanContext | undefined {
  const spanContext = trace.getSpanContext(context.active());
  return spanContext && isSpanContextValid(spanContext) ? spanContext : undefined;
}

function handleOf(span: Span): SpanHandle {
  const spanContext = span.spanContext();
  return {
    traceparent: isSpanContextValid(spanContext) ? formatTraceparent(spanContext) : undefined,
    setAttributes: (attributes) => span.setAttributes(attributesOf(attributes)),
    addEvent: (name, attributes) => span.addEvent(name, attributesOf(attributes)),
    fail: (reason) => {
      span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
      span.setAttribute(spanAttributes.reason, reason);
    },
  };
}

let starting: Promise<unknown> | undefined;

/**
 * Tells the tracer that the SDK is being loaded: spans wait for it, so that the first invocation of a cold instance
 * is recorded too. A failed start is not an invocation's failure: its spans are then simply not recorded.
 */
export function tracingStarting(start: Promise<unknown>): void {
  starting = start.catch(() => undefined);
}

/**
 * Runs `work` in a span whose parent is `parent` (a context from elsewhere) or the active span. The OpenTelemetry
 * context makes it the active span for everything `work` does, the Azure SDK's own spans included.
 */
async function inSpan<T>(name: string, options: SpanOptions, work: (span: SpanHandle) => Promise<T>): Promise<T> {
  if (starting) await starting;
  const remote = parseTraceparent(options.parent);
  const parentContext: Context = remote
    ? trace.setSpanContext(ROOT_CONTEXT, remote)
    : options.root
      ? trace.deleteSpan(context.active())
      : context.active();
  const links: Link[] = (options.links ?? []).flatMap((l) => {
    const linked = parseTraceparent(l);
    return linked ? [{ context: linked }] : [];
  });
  const span = trace
    .getTracer(tracerName)
    .startSpan(
      name,
      { kind: kinds[options.kind ?? "internal"], attributes: attributesOf(options.attributes), links },
      parentContext,
    );
  try {
    return await context.with(trace.setSpan(parentContext, span), () => work(handleOf(span)));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    span.recordException(error instanceof Error ? error : message);
    span.setStatus({ code: SpanStatusCode.ERROR, message });
    throw error;
  } finally {
    span.end();
  }
}

/** The {@link Tracer} port on the OpenTelemetry API (recording only once an SDK registered a tracer provider). */
export const openTelemetryTracer: Tracer = {
  inSpan,
  activeTraceparent() {
    const spanContext = activeSpanContext();
    return spanContext ? formatTraceparent(spanContext) : undefined;
  },
  annotate(attributes) {
    trace.getActiveSpan()?.setAttributes(attributesOf(attributes));
  },
};

/** A tracer that records nothing and runs the work as it is (tests that do not look at spans, the CLI). */
export const noTracer: Tracer = {
  inSpan: (_name, _options, work) =>
    work({ traceparent: undefined, setAttributes: () => {}, addEvent: () => {}, fail: () => {} }),
  activeTraceparent: () => undefined,
  annotate: () => {},
};

/** The active span's trace and span ids, for a log line: what ties it to its span in a trace viewer. */
export function traceFields(): { traceId?: string; spanId?: string } {
  const spanContext = activeSpanContext();
  return spanContext ? { traceId: spanContext.traceId, spanId: spanContext.spanId } : {};
}

/** A log line on its way to a log exporter, with the span it was written in. */
export interface ForwardedLog {
  level: "info" | "warn" | "error";
  line: string;
  at: Date;
  context: Context;
}

let logForwarder: ((log: ForwardedLog) => void) | undefined;

/** Where log lines go besides the invocation's log (set when logs are exported with OpenTelemetry). */
export function forwardLogsTo(forwarder: ((log: ForwardedLog) => void) | undefined): void {
  logForwarder = forwarder;
}

/** Hands a log line to the log exporter, if any, with the active span (never throws). */
export function forwardLog(level: ForwardedLog["level"], line: string): void {
  if (!logForwarder) return;
  try {
    logForwarder({ level, line, at: new Date(), context: context.active() });
  } catch {
    // Telemetry must never take an invocation down.
  }
}
