import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { HttpFunctionOptions } from "@azure/functions";
import type { FunctionDefinition } from "../../functions/definitions.js";
import { nextOccurrence as defaultNextOccurrence } from "../../shared/domain/ncrontab.js";
import { resolveSettingReferences } from "./appSettings.js";
import { LocalHostConfigurationError } from "./errors.js";
import { parseHostJson, readHostJson } from "./hostJson.js";
import { compileHttpFunctions, createRequestListener, type FunctionKeys } from "./http.js";
import { Invoker } from "./invocation.js";
import { consoleLogger, createRedactor, type HostLogger } from "./logging.js";
import { ServiceBusTriggers, type QueueFunction } from "./servicebus.js";
import { TimerScheduler, type NextOccurrence, type TimerFunction } from "./timers.js";

export { LocalHostConfigurationError } from "./errors.js";
export type { FunctionKeys } from "./http.js";
export { consoleLogger, jsonLinesLogger, type HostLogger, type LogLevel, type LogRecord } from "./logging.js";
export type { NextOccurrence } from "./timers.js";

/** Options of {@link startLocalHost}. */
export interface LocalHostOptions {
  /** The function table: the same one the Azure entry point registers. */
  functions: readonly FunctionDefinition[];
  /** App settings, already merged (local.settings.json under the process environment). Never logged. */
  env: Record<string, string | undefined>;
  /** Parsed host.json; default: the repository's. */
  hostJson?: object;
  /** Port to listen on: default 7071 (as `func start`), 0 for a random one. */
  port?: number;
  /** Interface to listen on: default 127.0.0.1. */
  host?: string;
  /** Keys for `function` and `admin` level HTTP functions; random ones when not given (see {@link LocalHost.functionKeys}). */
  functionKeys?: { default: string; master?: string };
  /** Where log lines go: default a `func`-style console log. */
  logger?: HostLogger;
  /** `{ enabled: false }` leaves schedules and `runOnStartup` off; `invokeTimer` still works. Default on. */
  timers?: { enabled: boolean };
  /** How timers compute their next run; default shared/domain/ncrontab (UTC). */
  nextOccurrence?: NextOccurrence;
  /** How long `stop()` waits for invocations in flight: default 30 s. */
  shutdownTimeoutInMs?: number;
}

/** A running local Functions host. */
export interface LocalHost {
  /** Base URL, e.g. `http://127.0.0.1:7071` (functions live under `/api`). */
  url: string;
  /** The keys the host accepts (`x-functions-key` header or `code` query parameter). */
  functionKeys: FunctionKeys;
  /**
   * Graceful stop: stop taking requests and messages, wait for invocations in flight (bounded by
   * `shutdownTimeoutInMs`), close receivers, clients and the server. Idempotent.
   */
  stop(): Promise<void>;
  /** Runs a timer function now and resolves when it ended (a failure is logged, not thrown). */
  invokeTimer(name: string): Promise<void>;
}

function checkNames(functions: readonly FunctionDefinition[]): void {
  const seen = new Set<string>();
  for (const { name } of functions) {
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,127}$/.test(name)) {
      throw new LocalHostConfigurationError(`function name '${name}' is not valid`);
    }
    const key = name.toLowerCase();
    if (seen.has(key)) throw new LocalHostConfigurationError(`function '${name}' is defined twice`);
    seen.add(key);
  }
}

/**
 * Starts a local Functions host for a function table: HTTP functions on a node:http server under the route
 * prefix, timer functions on their NCRONTAB schedules, Service Bus queue functions on real `@azure/service-bus`
 * receivers. Throws {@link LocalHostConfigurationError} (before listening) when the table cannot run.
 */
export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const { env, functions } = options;
  checkNames(functions);
  const hostJson = options.hostJson ? parseHostJson(options.hostJson) : readHostJson();
  const nextOccurrence = options.nextOccurrence ?? defaultNextOccurrence;

  const httpDefinitions: { name: string; options: HttpFunctionOptions }[] = [];
  const timerFunctions: TimerFunction[] = [];
  const queueFunctions: QueueFunction[] = [];
  for (const definition of functions) {
    const where = `function '${definition.name}'`;
    switch (definition.trigger) {
      case "http":
        httpDefinitions.push(definition);
        break;
      case "timer": {
        const schedule = resolveSettingReferences(definition.options.schedule, env, `${where} schedule`);
        try {
          nextOccurrence(schedule, new Date());
        } catch (error) {
          throw new LocalHostConfigurationError(`${where}: invalid schedule '${schedule}': ${String(error)}`, {
            cause: error,
          });
        }
        timerFunctions.push({ name: definition.name, options: definition.options, schedule });
        break;
      }
      case "serviceBusQueue": {
        const o = definition.options;
        if (o.cardinality === "many")
          throw new LocalHostConfigurationError(`${where}: cardinality 'many' is not supported`);
        if (o.isSessionsEnabled)
          throw new LocalHostConfigurationError(`${where}: session-enabled queues are not supported`);
        queueFunctions.push({
          name: definition.name,
          options: o,
          queueName: resolveSettingReferences(o.queueName, env, `${where} queueName`),
          autoCompleteMessages: o.autoCompleteMessages ?? hostJson.extensions.serviceBus.autoCompleteMessages,
        });
        break;
      }
      default: {
        const unknown = definition as { trigger: unknown; name: string };
        throw new LocalHostConfigurationError(
          `function '${unknown.name}': unsupported trigger '${String(unknown.trigger)}'`,
        );
      }
    }
  }
  const httpFunctions = compileHttpFunctions(httpDefinitions);

  const keys: FunctionKeys = {
    default: options.functionKeys?.default ?? randomBytes(24).toString("base64url"),
    master: options.functionKeys?.master ?? randomBytes(24).toString("base64url"),
  };
  const redact = createRedactor({ ...env, FUNCTION_KEY: keys.default, MASTER_KEY: keys.master });
  const invoker = new Invoker(options.logger ?? consoleLogger(), redact);
  const timers = new TimerScheduler(timerFunctions, invoker, nextOccurrence);
  const serviceBus = new ServiceBusTriggers(queueFunctions, env, hostJson.extensions.serviceBus, invoker);

  let stopping = false;
  // Requests in progress per connection: on stop, idle keep-alive connections are closed at once and busy ones
  // as soon as their response is written (Node's closeIdleConnections also drops connections awaiting a response).
  const connections = new Map<Socket, number>();
  const releaseConnection = (socket: Socket) => {
    const active = (connections.get(socket) ?? 1) - 1;
    connections.set(socket, active);
    if (stopping && active === 0) socket.destroySoon();
  };
  const listener = createRequestListener({
    functions: httpFunctions,
    routePrefix: hostJson.extensions.http.routePrefix.replace(/^\/+|\/+$/g, ""),
    keys,
    invoker,
    isStopping: () => stopping,
    invokeNonHttp: (name) => {
      if (!timers.has(name)) return false;
      void timers.invoke(name);
      return true;
    },
  });
  const server: Server = createServer((req, res) => {
    const socket = req.socket;
    connections.set(socket, (connections.get(socket) ?? 0) + 1);
    res.once("close", () => releaseConnection(socket));
    listener(req, res);
  });
  server.on("connection", (socket: Socket) => {
    connections.set(socket, 0);
    socket.once("close", () => connections.delete(socket));
  });
  const listenHost = options.host ?? "127.0.0.1";
  // Rejects with the listen error (a port in use) instead of leaving it to the server's error event.
  server.listen(options.port ?? 7071, listenHost);
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const url = `http://${listenHost.includes(":") ? `[${listenHost}]` : listenHost}:${port}`;

  try {
    await serviceBus.start();
  } catch (error) {
    await serviceBus.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw error;
  }
  if (options.timers?.enabled ?? true) timers.start();
  invoker.log(
    "information",
    `Host started on ${url}: ${httpFunctions.length} HTTP, ${timerFunctions.length} timer, ${queueFunctions.length} Service Bus functions`,
    { event: "host.started" },
  );
  for (const fn of httpFunctions) {
    invoker.log(
      "information",
      `${fn.name}: [${[...fn.methods].join(",")}] ${url}/${hostJson.extensions.http.routePrefix}/${fn.route.template}`,
      {
        event: "http.route",
        functionName: fn.name,
      },
    );
  }

  let stopped: Promise<void> | undefined;
  const shutdownTimeoutInMs = options.shutdownTimeoutInMs ?? 30_000;
  const stop = async (): Promise<void> => {
    stopping = true;
    invoker.log("information", "Host stopping", { event: "host.stopping" });
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const [socket, active] of connections) if (active === 0) socket.destroy();
    timers.stop();
    await serviceBus.stopReceiving();
    const drained = await invoker.drain(shutdownTimeoutInMs);
    if (!drained) {
      invoker.log(
        "warning",
        `Stopping with ${invoker.inFlightCount} invocation(s) still running after ${shutdownTimeoutInMs} ms`,
        {
          event: "host.drainTimeout",
        },
      );
    }
    await serviceBus.close();
    for (const socket of connections.keys()) socket.destroy();
    await serverClosed;
    invoker.log("information", "Host stopped", { event: "host.stopped" });
  };

  return {
    url,
    functionKeys: keys,
    stop: () => (stopped ??= stop()),
    invokeTimer: (name) => timers.invoke(name),
  };
}
