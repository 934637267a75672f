import { app } from "@azure/functions";
import { deferServiceBusBinding } from "./serviceBusBinding.js";
import { functionTable } from "./table.js";
import { startTelemetryInBackground } from "./telemetry.js";

// Spans and logs with OpenTelemetry (shared/observability/README.md). With Application Insights configured, the
// worker exports its own log lines with their span's ids, and tells the host not to forward them (which it does, in
// its OpenTelemetry mode, unless the worker declares this capability): each line reaches Application Insights once.
const telemetry = startTelemetryInBackground();
if (telemetry?.applicationInsights) app.setup({ capabilities: { WorkerOpenTelemetryEnabled: true } });

// Before registration: queue triggers bind with sdkBinding, and their first invocation may come right after it.
// The Service Bus extension itself loads on the first queue message (functions/serviceBusBinding.ts says why).
deferServiceBusBinding();

/** Azure entry point: registers every function of the table with the Functions host. */
for (const fn of functionTable) {
  switch (fn.trigger) {
    case "http":
      app.http(fn.name, fn.options);
      break;
    case "timer":
      app.timer(fn.name, fn.options);
      break;
    case "serviceBusQueue":
      app.serviceBusQueue(fn.name, fn.options);
      break;
  }
}
