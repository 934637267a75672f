import { context, propagation, trace, type Context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from "@opentelemetry/core";
import { resourceFromAttributes, type Resource } from "@opentelemetry/resources";
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import type { TelemetryConfig } from "./telemetryConfig.js";
import { forwardLogsTo, tracerName, type ForwardedLog } from "./tracing.js";

/*
 * The OpenTelemetry SDK, registered once per process. What an invocation waits for is only the tracer provider and
 * the context manager (a few milliseconds); the exporters (Azure Monitor's pulls the Azure SDK's HTTP pipeline and
 * @azure/identity, about 100 ms) are imported when the first batch is exported, after the invocation that made it.
 */

/** Spans go to every exporter a caller started (Application Insights and OTLP in Azure; a stack's collector locally). */
class FanOutSpanProcessor implements SpanProcessor {
  readonly processors = new Set<SpanProcessor>();
  onStart(span: Span, parentContext: Context): void {
    for (const p of this.processors) p.onStart(span, parentContext);
  }
  onEnd(span: ReadableSpan): void {
    for (const p of this.processors) p.onEnd(span);
  }
  async forceFlush(): Promise<void> {
    await Promise.all([...this.processors].map((p) => p.forceFlush()));
  }
  async shutdown(): Promise<void> {
    await Promise.all([...this.processors].map((p) => p.shutdown()));
  }
}

/** An exporter whose implementation is imported on the first export, so loading it never delays an invocation. */
class LazySpanExporter implements SpanExporter {
  private exporter?: Promise<SpanExporter>;
  constructor(private readonly load: () => Promise<SpanExporter>) {}
  private get(): Promise<SpanExporter> {
    this.exporter ??= this.load();
    return this.exporter;
  }
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.get().then(
      (exporter) => exporter.export(spans, done),
      (error: unknown) => done({ code: ExportResultCode.FAILED, error: error as Error }),
    );
  }
  async forceFlush(): Promise<void> {
    if (this.exporter) await (await this.exporter).forceFlush?.();
  }
  async shutdown(): Promise<void> {
    if (this.exporter) await (await this.exporter).shutdown();
  }
}

interface Installed {
  fanOut: FanOutSpanProcessor;
  resource: Resource;
}
let installed: Installed | undefined;

/** Registers the tracer provider, the context manager and the W3C propagator, once per process. */
function install(serviceName: string): Installed {
  if (installed) return installed;
  const fanOut = new FanOutSpanProcessor();
  const resource = resourceFromAttributes({ "service.name": serviceName });
  // Every span is kept, whatever the caller's sampled flag: a build's trace is useful only whole, and a build makes a
  // few dozen spans an hour.
  const provider = new BasicTracerProvider({ resource, spanProcessors: [fanOut], sampler: new AlwaysOnSampler() });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  installed = { fanOut, resource };
  return installed;
}

let azureSdkTracing: Promise<void> | undefined;

/**
 * Makes the Azure SDK clients (ARM, Service Bus, Storage) record their operations and HTTP calls as spans, children of
 * the active span. `@azure/opentelemetry-instrumentation-azure-sdk` does it by handing its instrumenter to
 * `@azure/core-tracing` when Node's `require` loads that module; in the bundle nothing is required by name, so the
 * instrumentation's own module definition is applied to the one `@azure/core-tracing` here (its state is shared by its
 * ESM and CommonJS builds, so every SDK in the process sees it).
 */
export function enableAzureSdkTracing(): Promise<void> {
  azureSdkTracing ??= (async () => {
    const [{ AzureSdkInstrumentation }, coreTracing] = await Promise.all([
      import("@azure/opentelemetry-instrumentation-azure-sdk"),
      import("@azure/core-tracing"),
    ]);
    // Disabled: no require hook is installed; the definition is applied by hand below.
    const instrumentation = new AzureSdkInstrumentation({ enabled: false });
    for (const definition of instrumentation.getModuleDefinitions()) definition.patch?.(coreTracing);
  })();
  return azureSdkTracing;
}

/** What {@link startTelemetry} started: flush before reading spans, stop when the process (or the stack) ends. */
export interface Telemetry {
  /** Exports every finished span (and log line) now. */
  flush(): Promise<void>;
  /** Flushes, then stops these exporters (the process-wide provider stays, for other callers). */
  stop(): Promise<void>;
}

const severities = { info: 9, warn: 13, error: 17 } as const;

/** Log lines to Application Insights with the span they were written in (so they carry its operation ids). */
function applicationInsightsLogs(
  appInsights: NonNullable<TelemetryConfig["applicationInsights"]>,
  resource: Resource,
  delayInMs: number,
) {
  const buffer: ForwardedLog[] = [];
  let timer: NodeJS.Timeout | undefined;
  let provider:
    Promise<{ emit(log: ForwardedLog): void; forceFlush(): Promise<void>; shutdown(): Promise<void> }> | undefined;
  const load = () =>
    (provider ??= (async () => {
      const [{ LoggerProvider, BatchLogRecordProcessor }, { AzureMonitorLogExporter }, credential] = await Promise.all([
        import("@opentelemetry/sdk-logs"),
        import("@azure/monitor-opentelemetry-exporter"),
        credentialOf(appInsights),
      ]);
      const exporter = new AzureMonitorLogExporter({ connectionString: appInsights.connectionString, credential });
      const loggerProvider = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor({ exporter })] });
      const logger = loggerProvider.getLogger(tracerName);
      return {
        emit(log: ForwardedLog) {
          let body: unknown = log.line;
          let attributes: Record<string, string> = {};
          try {
            const { message, ...fields } = JSON.parse(log.line) as Record<string, unknown>;
            body = message;
            attributes = Object.fromEntries(
              Object.entries(fields).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
            );
          } catch {
            // Not one of the pipeline's JSON lines: sent as it is.
          }
          logger.emit({
            timestamp: log.at,
            severityNumber: severities[log.level],
            severityText: log.level.toUpperCase(),
            body: body as string,
            attributes,
            context: log.context,
          });
        },
        forceFlush: () => loggerProvider.forceFlush(),
        shutdown: () => loggerProvider.shutdown(),
      };
    })());
  const drain = async () => {
    timer = undefined;
    if (buffer.length === 0) return;
    const logs = await load();
    for (const log of buffer.splice(0)) logs.emit(log);
  };
  return {
    forward(log: ForwardedLog) {
      // Bounded: if the exporter cannot load, the newest lines are kept and memory does not grow.
      if (buffer.length >= 10_000) buffer.shift();
      buffer.push(log);
      timer ??= setTimeout(() => void drain().catch(() => undefined), delayInMs).unref();
    },
    async flush() {
      clearTimeout(timer);
      await drain();
      if (provider) await (await provider).forceFlush();
    },
    async stop() {
      await this.flush();
      if (provider) await (await provider).shutdown();
    },
  };
}

/** The managed identity Application Insights ingestion authenticates (Entra ID), or none (local auth). */
async function credentialOf(appInsights: NonNullable<TelemetryConfig["applicationInsights"]>) {
  if (!appInsights.entraId) return undefined;
  const { ManagedIdentityCredential } = await import("@azure/identity");
  const { clientId } = appInsights.entraId;
  return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
}

/**
 * Starts exporting spans as configured: registers the SDK (once per process) and adds this configuration's exporters.
 * Resolves once spans are recorded; the exporters load on their first batch.
 */
export async function startTelemetry(config: TelemetryConfig): Promise<Telemetry> {
  const { fanOut, resource } = install(config.serviceName);
  const delayInMs = config.exportDelayInMs ?? 5000;
  const processors: SpanProcessor[] = [];
  const batch = (load: () => Promise<SpanExporter>) =>
    new BatchSpanProcessor(new LazySpanExporter(load), { scheduledDelayMillis: delayInMs });
  if (config.otlpEndpoint) {
    const url = new URL(
      "v1/traces",
      config.otlpEndpoint.endsWith("/") ? config.otlpEndpoint : `${config.otlpEndpoint}/`,
    );
    processors.push(
      batch(async () => {
        const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
        return new OTLPTraceExporter({ url: url.toString() });
      }),
    );
  }
  let logs: ReturnType<typeof applicationInsightsLogs> | undefined;
  const appInsights = config.applicationInsights;
  if (appInsights) {
    processors.push(
      batch(async () => {
        const [{ AzureMonitorTraceExporter }, credential] = await Promise.all([
          import("@azure/monitor-opentelemetry-exporter"),
          credentialOf(appInsights),
        ]);
        return new AzureMonitorTraceExporter({ connectionString: appInsights.connectionString, credential });
      }),
    );
    logs = applicationInsightsLogs(appInsights, resource, delayInMs);
    const forward = logs.forward.bind(logs);
    forwardLogsTo(forward);
  }
  for (const p of processors) fanOut.processors.add(p);
  const flush = async () => {
    await Promise.all(processors.map((p) => p.forceFlush()));
    await logs?.flush();
  };
  return {
    flush,
    async stop() {
      await flush();
      for (const p of processors) fanOut.processors.delete(p);
      if (logs) forwardLogsTo(undefined);
      await Promise.all(processors.map((p) => p.shutdown()));
      await logs?.stop();
    },
  };
}
