import { randomBytes, randomUUID } from "node:crypto";
import azureFunctions from "@azure/functions";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Span } from "@opentelemetry/api";
import type {
  FunctionTrigger,
  InvocationContext,
  LogLevel as FunctionsLogLevel,
  TriggerMetadata,
} from "@azure/functions";
import { formatLogArgs, type HostLogger, type LogLevel, type LogRecord } from "./logging.js";

// `@azure/functions` is CommonJS and Node's ESM loader cannot see its classes as named exports.
const { InvocationContext: InvocationContextClass } = azureFunctions;

/** What one invocation is about. */
export interface InvocationInput {
  functionName: string;
  /** The trigger binding as `context.options.trigger` shows it. */
  trigger: FunctionTrigger;
  /** Why it runs, for the start line (e.g. `This function was programmatically called via the host APIs.`). */
  reason: string;
  /** W3C traceparent of the caller; the invocation gets a child span of it, or a new trace without one. */
  traceParent?: string | undefined;
  traceState?: string | undefined;
  triggerMetadata?: TriggerMetadata;
}

/** How an invocation ended. */
export type InvocationOutcome<T> = { succeeded: true; value: T } | { succeeded: false; error: unknown };

const traceParentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A traceparent for the invocation: same trace as the caller's, a span of its own. */
export function childTraceParent(parent: string | undefined): string {
  const spanId = randomBytes(8).toString("hex");
  const m = parent ? traceParentPattern.exec(parent.trim().toLowerCase()) : null;
  if (m && m[2] !== "0".repeat(32)) return `00-${m[2]}-${spanId}-${m[4]}`;
  return `00-${randomBytes(16).toString("hex")}-${spanId}-00`;
}

/** The span kind the host's invocation span has for a trigger type. */
function spanKindOf(triggerType: string): SpanKind {
  if (triggerType === "httpTrigger") return SpanKind.SERVER;
  if (triggerType === "serviceBusTrigger") return SpanKind.CONSUMER;
  return SpanKind.INTERNAL;
}

/**
 * The host's span of an invocation, as the Functions host records one in its OpenTelemetry mode (host.json
 * `telemetryMode`): a child of the caller's traceparent (an HTTP request's header, a message's `Diagnostic-Id`), or a
 * new trace. It is recorded only when a tracer provider is registered in this process (the local stack registers one
 * that exports to its collector); its context is what the worker receives as `context.traceContext`.
 */
function startHostSpan(input: InvocationInput): Span {
  const m = input.traceParent ? traceParentPattern.exec(input.traceParent.trim().toLowerCase()) : null;
  const parent =
    m && m[2] !== "0".repeat(32) && m[3] !== "0".repeat(16)
      ? trace.setSpanContext(ROOT_CONTEXT, {
          traceId: m[2]!,
          spanId: m[3]!,
          traceFlags: Number.parseInt(m[4]!, 16) & TraceFlags.SAMPLED,
          isRemote: true,
        })
      : ROOT_CONTEXT;
  return trace.getTracer("local-functions-host").startSpan(
    `Functions.${input.functionName}`,
    {
      kind: spanKindOf(input.trigger.type),
      attributes: { "faas.name": input.functionName, "faas.trigger.type": input.trigger.type },
    },
    parent,
  );
}

/**
 * Runs handlers the way the host does: a fresh `InvocationContext` each time, start and end lines in the log,
 * `context.log` routed to the logger with the invocation id, and every invocation tracked until it settles so that
 * `drain` can wait for them on shutdown.
 */
export class Invoker {
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #log: HostLogger;
  readonly #redact: (text: string) => string;

  constructor(logger: HostLogger, redact: (text: string) => string) {
    this.#redact = redact;
    this.#log = (record) => {
      try {
        logger({ ...record, message: redact(record.message) });
      } catch {
        // A broken logger must not take an invocation down with it.
      }
    };
  }

  /** Writes a host line. */
  log(level: LogLevel, message: string, fields: Omit<LogRecord, "time" | "level" | "category" | "message"> = {}): void {
    this.#log({ time: new Date().toISOString(), level, category: "host", message, ...fields });
  }

  /** Number of invocations still running. */
  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  /** Runs one invocation; never throws (the outcome says how it ended). */
  invoke<T>(
    input: InvocationInput,
    run: (context: InvocationContext) => Promise<T> | T,
  ): Promise<InvocationOutcome<T>> {
    const invocationId = randomUUID();
    const { functionName } = input;
    const hostSpan = startHostSpan(input);
    hostSpan.setAttribute("faas.invocation_id", invocationId);
    const hostSpanContext = hostSpan.spanContext();
    // Without a recorded span (no tracer provider), a span id of its own in the caller's trace, as before.
    const traceParent = hostSpan.isRecording()
      ? `00-${hostSpanContext.traceId}-${hostSpanContext.spanId}-0${hostSpanContext.traceFlags & TraceFlags.SAMPLED}`
      : childTraceParent(input.traceParent);
    const context = new InvocationContextClass({
      invocationId,
      functionName,
      traceContext: {
        traceParent,
        traceState: input.traceState,
        attributes: {},
      },
      triggerMetadata: input.triggerMetadata,
      options: { trigger: input.trigger, extraInputs: [], extraOutputs: [] },
      logHandler: (level: FunctionsLogLevel, ...args: unknown[]) => {
        if (level === "none") return;
        this.#log({
          time: new Date().toISOString(),
          level,
          category: "function",
          message: formatLogArgs(args),
          functionName,
          invocationId,
        });
      },
    });
    const started = performance.now();
    this.log("information", `Executing 'Functions.${functionName}' (Reason='${input.reason}', Id=${invocationId})`, {
      event: "invocation.start",
      functionName,
      invocationId,
    });
    const outcome = (async (): Promise<InvocationOutcome<T>> => {
      try {
        return { succeeded: true, value: await run(context) };
      } catch (error) {
        return { succeeded: false, error };
      }
    })().then((result) => {
      const durationInMs = Math.round(performance.now() - started);
      if (!result.succeeded) hostSpan.setStatus({ code: SpanStatusCode.ERROR, message: describeError(result.error) });
      hostSpan.end();
      if (!result.succeeded) {
        this.log("error", `Executed 'Functions.${functionName}' failed: ${describeError(result.error)}`, {
          event: "invocation.error",
          functionName,
          invocationId,
        });
      }
      const status = result.succeeded ? "Succeeded" : "Failed";
      this.log(
        result.succeeded ? "information" : "error",
        `Executed 'Functions.${functionName}' (${status}, Id=${invocationId}, Duration=${durationInMs}ms)`,
        {
          event: "invocation.end",
          functionName,
          invocationId,
          durationInMs,
          outcome: result.succeeded ? "succeeded" : "failed",
        },
      );
      return result;
    });
    this.track(outcome);
    return outcome;
  }

  /** Keeps `work` in the set `drain` waits for (settlement after an invocation, for instance). */
  track(work: Promise<unknown>): void {
    const tracked = work.catch(() => undefined);
    this.#inFlight.add(tracked);
    void tracked.finally(() => this.#inFlight.delete(tracked));
  }

  /** Waits until nothing is in flight, or `timeoutInMs` passed. Resolves true when everything finished. */
  async drain(timeoutInMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutInMs;
    while (this.#inFlight.size > 0) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), remaining);
      });
      const result = await Promise.race([Promise.all([...this.#inFlight]), timedOut]);
      clearTimeout(timer);
      if (result === "timeout") return this.#inFlight.size === 0;
    }
    return true;
  }

  /** Redacts secrets from text the host is about to expose. */
  redact(text: string): string {
    return this.#redact(text);
  }
}

/** An error as the host log shows it: the stack when there is one. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return formatLogArgs([error]);
}
