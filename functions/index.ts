import { app } from "@azure/functions";
import { functionTable } from "./table.js";

// The extension must load before registration: it turns sdkBinding triggers into ServiceBusMessageContext inputs.
// Imported by name at run time because its package points TypeScript at its uncompiled sources.
const serviceBusExtension = "@azure/functions-extensions-servicebus";
await import(serviceBusExtension);

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
