import { once } from "node:events";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { loadOrCreateCertificate } from "../arm/cert.js";
import { createTopicServer, type Fault, type TopicCounters } from "./server.js";
import { EventRecord, type ReceivedEvent } from "./store.js";

export type { Fault, ReceivedEvent, TopicCounters };

/** The token the topic accepts by default (what the pipeline's emulator credential presents on loopback only). */
export const emulatorToken = "local-emulator";

/** Where and how the local topic runs. */
export interface EventGridEmulatorOptions {
  /** Folder for events.jsonl and the certificate; created if missing. */
  stateDir: string;
  /** 0 (default) = a random free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Bearer tokens taken as a Data Sender's; default [{@link emulatorToken}]. */
  tokens?: string[];
  /** Access keys; only used when `localAuthDisabled` is false. */
  keys?: string[];
  /** Default true, as the pipeline's topic is deployed (`disableLocalAuth`). */
  localAuthDisabled?: boolean;
}

/** A running local Event Grid topic. */
export interface EventGridEmulator {
  /** `https://127.0.0.1:PORT/api/events`: the topic endpoint to give EventGridPublisherClient. */
  endpoint: string;
  /** The self-signed certificate to trust. */
  caCertPem: string;
  caCertPath: string;
  /** Every event the topic accepted, in arrival order (after position `after`). */
  events(after?: number): ReceivedEvent[];
  /** Calls `listener` with every event accepted from now on; returns the unsubscribe. */
  subscribe(listener: (event: ReceivedEvent) => void): () => void;
  /** Makes the next `count` publish requests answer `status` (then the topic serves again). */
  inject(fault: Fault): void;
  counters(): TopicCounters;
  stop(): Promise<void>;
}

/**
 * Starts a local Event Grid topic whose input schema is CloudEvents 1.0, for the real `@azure/eventgrid`
 * EventGridPublisherClient: HTTPS with its own certificate, Entra ID bearer tokens (a fixed local one), the CloudEvents
 * batch format, Event Grid's refusals and error body. It keeps what it accepts (Event Grid delivers to subscribers
 * instead; README.md says how this differs). Admin calls live under `https://.../_emulator/`.
 */
export async function startEventGridEmulator(options: EventGridEmulatorOptions): Promise<EventGridEmulator> {
  const stateDir = path.resolve(options.stateDir);
  const record = new EventRecord(stateDir);
  const certificate = await loadOrCreateCertificate(stateDir);
  const { server, counters, faults } = createTopicServer({
    certificate,
    record,
    auth: {
      tokens: options.tokens ?? [emulatorToken],
      keys: options.keys ?? [],
      localAuthDisabled: options.localAuthDisabled ?? true,
    },
  });
  const host = options.host ?? "127.0.0.1";
  // Rejects with the listen error (a port in use) instead of leaving it to the server's error event.
  server.listen(options.port ?? 0, host);
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const origin = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `${origin}/api/events`,
    caCertPem: certificate.certPem,
    caCertPath: certificate.certPath,
    events: (after) => record.list(after),
    subscribe: (listener) => record.subscribe(listener),
    inject: (fault) => void faults.push(fault),
    counters: () => structuredClone(counters),
    stop() {
      stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
      })();
      return stopped;
    },
  };
}
