import { parseArgs } from "node:util";
import { startArmEmulator } from "./index.js";

/** CLI: `tsx local/arm/main.ts --port 8443 --state .local/arm [--host 127.0.0.1]`; runs until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8443" },
      host: { type: "string", default: "127.0.0.1" },
      state: { type: "string", default: ".local/arm" },
    },
  });
  const emulator = await startArmEmulator({ stateDir: values.state, port: Number(values.port), host: values.host });
  console.log(`ARM emulator listening on ${emulator.endpoint}`);
  console.log(`CA certificate: ${emulator.caCertPath}`);
  console.log(`Admin API: ${emulator.endpoint}/_emulator/health`);
  const shutdown = () => {
    void emulator.stop().then(() => process.exit(0));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
