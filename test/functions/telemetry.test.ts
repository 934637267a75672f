import { createTracingClient } from "@azure/core-tracing";
import { describe, expect, it } from "vitest";
import { startTelemetryInBackground } from "../../functions/telemetry.js";
import { openTelemetryTracer } from "../../shared/observability/tracing.js";

/** Whether an Azure SDK client would record its operation as a span in the active context right now. */
function azureSdkRecords(): boolean {
  const client = createTracingClient({ namespace: "Microsoft.Storage", packageName: "@azure/storage-blob" });
  const { span } = client.startSpan("BlobClient-download", {});
  const recording = span.isRecording();
  span.end();
  return recording;
}

/** Whether a later invocation's Azure SDK calls are recorded, within a generous bound (the instrumentation loads). */
async function laterInvocationRecordsAzureSdk(): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    const recorded = await openTelemetryTracer.inSpan("later", { kind: "server" }, async () => azureSdkRecords());
    if (recorded) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

describe("tracing in the Functions app", () => {
  // Nothing listens there: the exporter loads only with a batch, and the test ends before one is due.
  const config = startTelemetryInBackground({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" });

  it("records the first invocation, and the Azure SDK's spans only once that invocation has answered", async () => {
    expect(config?.otlpEndpoint).toBe("http://127.0.0.1:9");
    let sdkDuringFirst: boolean | undefined;
    const traceparent = await openTelemetryTracer.inSpan("first", { kind: "server" }, async (span) => {
      // Long enough for the instrumentation to load had it been started with the tracer provider.
      await new Promise((resolve) => setTimeout(resolve, 500));
      sdkDuringFirst = azureSdkRecords();
      // Work inside the invocation (a span of its own) does not count as the invocation's end.
      await openTelemetryTracer.inSpan("send build-requests", { kind: "producer" }, async () => undefined);
      return span.traceparent;
    });
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(sdkDuringFirst).toBe(false);
    expect(await laterInvocationRecordsAzureSdk()).toBe(true);
  });
});
