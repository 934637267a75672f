import { parseArgs } from "node:util";
import { startEventGridEmulator } from "./index.js";

/** CLI: `tsx local/eventgrid/main.ts --port 8643 --state .local/eventgrid [--host 127.0.0.1]`; runs until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8643" },
      host: { type: "string", default: "127.0.0.1" },
      state: { type: "string", default: ".local/eventgrid" },
    },
  });
  const topic = await startEventGridEmulator({ stateDir: values.state, port: Number(values.port), host: values.host });
  console.log(`Event Grid topic listening on ${topic.endpoint}`);
  console.log(`CA certificate: ${topic.caCertPath}`);
  topic.subscribe(({ n, event }) =>
    console.log(`#${n} ${String(event.type)} ${String(event.subject ?? "")} ${String(event.id)}`),
  );
  const shutdown = () => {
    void topic.stop().then(() => process.exit(0));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
