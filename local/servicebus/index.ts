import { Broker, type QueueStats } from "./broker.js";
import { toQueueSettings, type EmulatorQueueDefinition } from "./config.js";
import { AmqpServer } from "./server.js";
import { MessageLog } from "./store.js";

export { EmulatorConfigError, readQueueDefinitions, type EmulatorQueueDefinition } from "./config.js";
export type { QueueStats } from "./broker.js";

/** How to start the local Service Bus emulator. */
export interface ServiceBusEmulatorOptions {
  /** Directory of the durable message log (created when missing). */
  stateDir: string;
  /** Queues to declare, as in a queue definition file (`{ name, properties }`). */
  queues: EmulatorQueueDefinition[];
  /** 0 = a random free port; default 5672 (what `UseDevelopmentEmulator=true` connects to by default). */
  port?: number;
  /** Listen on this host only; default both 127.0.0.1 and ::1. */
  host?: string;
  /** Where configuration warnings go (default: console.warn). */
  warn?: (message: string) => void;
  /** Rewrite the log once it exceeds this size and twice its size after the last rewrite (default 64 MiB). */
  compactLogAboveInBytes?: number;
}

/** A running emulator. */
export interface ServiceBusEmulator {
  port: number;
  /** `Endpoint=sb://localhost:PORT;SharedAccessKeyName=local;SharedAccessKey=local;UseDevelopmentEmulator=true` */
  connectionString: string;
  /** Closes every connection and the listeners, then flushes and closes the log. */
  stop(): Promise<void>;
  /** Counts per queue for tests. */
  stats(queue: string): QueueStats;
  /**
   * The emulator's clock, for tests: `pause()` stops time (no lock, schedule or time to live runs out on its own),
   * `advance(byMs)` moves it forward and runs what became due, `now()` reads it (ms since the epoch).
   */
  clock: { pause(): void; advance(byMs: number): void; now(): number };
}

/**
 * Starts an AMQP 1.0 broker that the real `@azure/service-bus` client talks to: replays the message log in
 * `stateDir`, declares `queues`, and listens.
 * @throws EmulatorConfigError when a queue cannot be served (e.g. `requiresSession: true`)
 */
export async function startServiceBusEmulator(options: ServiceBusEmulatorOptions): Promise<ServiceBusEmulator> {
  const warn = options.warn ?? ((message: string) => console.warn(`servicebus emulator: ${message}`));
  const broker = new Broker(toQueueSettings(options.queues, warn));
  const log = await MessageLog.open(
    options.stateDir,
    (record) => broker.replay(record),
    options.compactLogAboveInBytes,
  );
  await broker.attachLog(log);
  const server = new AmqpServer(broker);
  let port: number;
  try {
    port = await server.listen(options.port ?? 5672, options.host);
  } catch (error) {
    broker.stop();
    await log.close();
    throw error;
  }
  const endpointHost = options.host ?? "localhost";
  let stopped: Promise<void> | undefined;
  return {
    port,
    connectionString: `Endpoint=sb://${endpointHost}:${port};SharedAccessKeyName=local;SharedAccessKey=local;UseDevelopmentEmulator=true`,
    stop() {
      stopped ??= (async () => {
        await server.close();
        broker.stop();
        await log.close();
      })();
      return stopped;
    },
    stats: (queue) => broker.stats(queue),
    clock: {
      pause: () => broker.clock.pause(),
      advance: (byMs) => broker.advanceClock(byMs),
      now: () => broker.clock.now(),
    },
  };
}
