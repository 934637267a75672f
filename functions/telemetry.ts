import { telemetryConfigOf, type TelemetryConfig } from "../shared/observability/telemetryConfig.js";
import { tracingStarting } from "../shared/observability/tracing.js";

/**
 * Starts OpenTelemetry for the Functions app, off the path of the app's start: the SDK is imported after the
 * functions are registered, and an invocation waits only for the tracer provider (the exporters load with the first
 * batch of spans). Returns what it configured, or undefined when no exporter is configured (nothing is loaded then).
 * A bad telemetry setting is logged and leaves tracing off: it never stops the app.
 */
export function startTelemetryInBackground(
  env: Record<string, string | undefined> = process.env,
): TelemetryConfig | undefined {
  let config: TelemetryConfig | undefined;
  try {
    config = telemetryConfigOf(env);
  } catch (error) {
    console.error(`telemetry is off: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
  if (!config) return undefined;
  const started = config;
  const start = import("../shared/observability/telemetry.js").then(async (telemetry) => {
    const handle = await telemetry.startTelemetry(started);
    // The Azure SDK's spans (ARM, Service Bus, Storage) from the first call that comes after this.
    void telemetry.enableAzureSdkTracing().catch((error: unknown) => console.error("Azure SDK tracing is off", error));
    return handle;
  });
  start.catch((error: unknown) => console.error("telemetry failed to start", error));
  tracingStarting(start);
  return config;
}
