import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Azurite's default account, as its README documents it ("Default Storage Account"): a public, well-known key that
 * works only against the emulator.
 */
export const azuriteAccount = {
  name: "devstoreaccount1",
  key: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
};

/** Where and how Azurite runs. */
export interface AzuriteOptions {
  /** Azurite's workspace (`--location`): its metadata and blob contents; created if missing. */
  stateDir: string;
  /** 0 (default) = a random free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** How long to wait for it to listen, in milliseconds (default 60 s). */
  startTimeoutInMs?: number;
}

/** A running Azurite Blob service. */
export interface Azurite {
  /** `http://127.0.0.1:PORT/devstoreaccount1`: the account's blob endpoint (IP-style URL, account in the path). */
  blobEndpoint: string;
  /** The account's connection string (account key): for local clients only. */
  connectionString: string;
  /** Stops it (SIGTERM: it saves its state first) and waits for its process to end. */
  stop(): Promise<void>;
}

const launcher = fileURLToPath(new URL("./launch.mjs", import.meta.url));

/**
 * Starts Azurite's Blob service (the `azurite` npm package, Microsoft's Storage emulator) in a child process: HTTP on
 * loopback, shared-key auth, strict mode (unsupported headers refused), API version check on, telemetry off.
 */
export async function startAzurite(options: AzuriteOptions): Promise<Azurite> {
  const location = path.resolve(options.stateDir);
  mkdirSync(location, { recursive: true });
  const host = options.host ?? "127.0.0.1";
  const child = spawn(
    process.execPath,
    [
      launcher,
      "--blobHost",
      host,
      "--blobPort",
      String(options.port ?? 0),
      "--location",
      location,
      "--silent",
      "--disableTelemetry",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const output: string[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`Azurite did not start within ${options.startTimeoutInMs ?? 60_000} ms:\n${output.join("")}`));
    }, options.startTimeoutInMs ?? 60_000);
    const collect = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      output.push(text);
      if (output.length > 50) output.shift();
      const listening = /successfully listens on (http:\/\/\S+)/.exec(output.join(""));
      if (listening?.[1]) {
        clearTimeout(timer);
        resolve(listening[1]);
      }
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited (${signal ?? code}) before listening:\n${output.join("")}`));
    });
  });
  const blobEndpoint = `${url.replace(/\/$/, "")}/${azuriteAccount.name}`;
  let stopped: Promise<void> | undefined;
  return {
    blobEndpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${azuriteAccount.name};AccountKey=${azuriteAccount.key};BlobEndpoint=${blobEndpoint};`,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(killer);
      })();
      return stopped;
    },
  };
}
