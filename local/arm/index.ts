import { once } from "node:events";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { loadOrCreateCertificate } from "./cert.js";
import { createArmServer } from "./server.js";
import { Store } from "./store.js";

/** Where and how the emulator runs. */
export interface ArmEmulatorOptions {
  /** Folder for state.json and the certificate; created if missing. */
  stateDir: string;
  /** 0 (default) = a random free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

/** A running emulator. */
export interface ArmEmulator {
  /** `https://127.0.0.1:PORT`: pass as the SDK clients' `endpoint`. */
  endpoint: string;
  /** The self-signed certificate to trust (`tlsOptions: { ca: caCertPem }`). */
  caCertPem: string;
  /** The same certificate on disk (for NODE_EXTRA_CA_CERTS). */
  caCertPath: string;
  /** Stops listening and writes pending state. */
  stop(): Promise<void>;
}

/**
 * Starts the local Azure Resource Manager emulator for Compute Gallery, managed images, platform images and VM Image
 * Builder. The real `@azure/arm-compute` and `@azure/arm-imagebuilder` clients talk to it given `endpoint`, any
 * token credential and `tlsOptions: { ca: caCertPem }`. Admin calls live under `${endpoint}/_emulator/` (README.md).
 */
export async function startArmEmulator(options: ArmEmulatorOptions): Promise<ArmEmulator> {
  const stateDir = path.resolve(options.stateDir);
  const store = new Store(stateDir);
  await store.load();
  const certificate = await loadOrCreateCertificate(stateDir);
  const { server } = createArmServer(store, certificate);
  const host = options.host ?? "127.0.0.1";
  // Rejects with the listen error (a port in use) instead of leaving it to the server's error event.
  server.listen(options.port ?? 0, host);
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const hostInUrl = host.includes(":") ? `[${host}]` : host;
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `https://${hostInUrl}:${port}`,
    caCertPem: certificate.certPem,
    caCertPath: certificate.certPath,
    stop() {
      stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        await store.flush();
      })();
      return stopped;
    },
  };
}
