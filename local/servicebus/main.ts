import { parseArgs } from "node:util";
import { EmulatorConfigError, readQueueDefinitions, startServiceBusEmulator } from "./index.js";

/**
 * `tsx local/servicebus/main.ts --port 5672 --state .local/servicebus --queues shared/config/queues.json [--host H]`
 * Prints the connection string, serves until SIGINT/SIGTERM, then flushes the log and exits.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "5672" },
      state: { type: "string", default: ".local/servicebus" },
      queues: { type: "string" },
      host: { type: "string" },
    },
  });
  if (!values.queues) throw new EmulatorConfigError("--queues <path to a queue definition JSON file> is required");
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new EmulatorConfigError(`invalid --port ${values.port}`);
  const emulator = await startServiceBusEmulator({
    stateDir: values.state,
    queues: readQueueDefinitions(values.queues),
    port,
    ...(values.host ? { host: values.host } : {}),
  });
  console.log(emulator.connectionString);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.error(`servicebus emulator: ${signal}, flushing state`);
    emulator.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

main().catch((error: unknown) => {
  console.error(`servicebus emulator: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(error instanceof EmulatorConfigError ? 2 : 1);
});
