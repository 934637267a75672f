import type { ServiceBusQueueFunctionOptions, TriggerMetadata } from "@azure/functions";
import {
  RetryMode,
  ServiceBusClient,
  type DeadLetterOptions,
  type ProcessErrorArgs,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
} from "@azure/service-bus";
import rhea from "rhea";
import type { ServiceBusMessageActions, ServiceBusMessageContext } from "../../functions/definitions.js";
import { LocalHostConfigurationError } from "./errors.js";
import type { HostJson } from "./hostJson.js";
import { describeError, type Invoker } from "./invocation.js";

/** Where a trigger's `connection` setting points. */
export type ServiceBusConnection =
  | { kind: "connectionString"; connectionString: string }
  | { kind: "identity"; fullyQualifiedNamespace: string; clientId: string | undefined };

/**
 * Resolves a trigger's `connection` the way the host does: the setting itself (or `AzureWebJobs<name>`) holds a
 * connection string; otherwise `<name>__fullyQualifiedNamespace` selects an identity-based connection
 * (`<name>__clientId` picks a user-assigned identity).
 */
export function resolveServiceBusConnection(
  settingName: string,
  env: Record<string, string | undefined>,
): ServiceBusConnection {
  const connectionString = env[settingName] || env[`AzureWebJobs${settingName}`];
  if (connectionString) return { kind: "connectionString", connectionString };
  const fullyQualifiedNamespace = env[`${settingName}__fullyQualifiedNamespace`];
  if (fullyQualifiedNamespace) {
    return { kind: "identity", fullyQualifiedNamespace, clientId: env[`${settingName}__clientId`] || undefined };
  }
  throw new LocalHostConfigurationError(
    `Service Bus connection '${settingName}': set '${settingName}' (connection string) or '${settingName}__fullyQualifiedNamespace'`,
  );
}

/** A queue function ready to listen. */
export interface QueueFunction {
  name: string;
  options: ServiceBusQueueFunctionOptions;
  /** Queue name after `%SETTING%` resolution. */
  queueName: string;
  /** `options.autoCompleteMessages`, else host.json's. */
  autoCompleteMessages: boolean;
}

/** host.json `extensions.serviceBus` after defaults. */
export type ServiceBusHostOptions = HostJson["extensions"]["serviceBus"];

// The host camel-cases trigger metadata keys, nested ones included (Functions' toCamelCaseValue).
function camelCaseKeys(value: unknown): unknown {
  if (typeof value !== "object" || value === null || value instanceof Date || Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map(camelCaseKeys);
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k.charAt(0).toLowerCase() + k.slice(1), camelCaseKeys(v)]),
  );
}

// The host hands strings to the worker, which JSON-parses them when it can.
function tryJsonParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toNumber(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number") return value;
  const long = value as { toNumber?: () => number };
  return typeof long.toNumber === "function" ? long.toNumber() : Number(value);
}

/**
 * Trigger metadata with the real host's keys (WebJobs' ServiceBusTriggerBindingStrategy, camel-cased by the Node
 * worker). `deliveryCount` counts this delivery, as .NET does (the JS SDK reports deliveries before this one).
 */
export function serviceBusTriggerMetadata(message: ServiceBusReceivedMessage): TriggerMetadata {
  const iso = (d: Date | undefined) => (d ? d.toISOString() : undefined);
  const str = (s: string | number | Buffer | undefined) =>
    s === undefined ? undefined : tryJsonParse(Buffer.isBuffer(s) ? s.toString("utf8") : String(s));
  const applicationProperties = camelCaseKeys(message.applicationProperties ?? {});
  const metadata: Record<string, unknown> = {
    deliveryCount: (message.deliveryCount ?? 0) + 1,
    deadLetterSource: str(message.deadLetterSource),
    lockToken: message.lockToken,
    expiresAtUtc: iso(message.expiresAtUtc),
    expiresAt: iso(message.expiresAtUtc),
    enqueuedTimeUtc: iso(message.enqueuedTimeUtc),
    enqueuedTime: iso(message.enqueuedTimeUtc),
    messageId: str(message.messageId),
    contentType: str(message.contentType),
    replyTo: str(message.replyTo),
    sequenceNumber: toNumber(message.sequenceNumber),
    to: str(message.to),
    subject: str(message.subject),
    label: str(message.subject),
    correlationId: str(message.correlationId),
    applicationProperties,
    userProperties: applicationProperties,
    sessionId: str(message.sessionId),
    replyToSessionId: str(message.replyToSessionId),
    partitionKey: str(message.partitionKey),
  };
  return Object.fromEntries(Object.entries(metadata).filter(([, v]) => v !== undefined));
}

/** The trigger input of a function without `sdkBinding`: JSON-parsed text, text, or a Buffer for bytes. */
export function serviceBusTriggerInput(body: unknown): unknown {
  if (typeof body === "string") return tryJsonParse(body);
  if (body instanceof Uint8Array && !Buffer.isBuffer(body)) return Buffer.from(body);
  return body;
}

/** Decodes the AMQP-encoded map `ServiceBusMessageActions` takes as `propertiesToModify`. */
export function decodePropertiesToModify(
  bytes: Uint8Array | undefined,
): Record<string, number | boolean | string | Date | null> | undefined {
  if (!bytes || bytes.length === 0) return undefined;
  // rhea's typings leave its AMQP reader out.
  const codec = rhea.types as unknown as {
    Reader: new (buffer: Buffer) => { read(): unknown };
    unwrap(value: unknown): unknown;
  };
  const decoded = codec.unwrap(new codec.Reader(Buffer.from(bytes)).read());
  if (typeof decoded !== "object" || decoded === null || Array.isArray(decoded)) {
    throw new TypeError("propertiesToModify must be an AMQP-encoded map");
  }
  return decoded as Record<string, number | boolean | string | Date | null>;
}

interface Listener {
  fn: QueueFunction;
  receiver: ServiceBusReceiver;
  subscription: { close(): Promise<void> } | undefined;
  /** Breaks the SDK's endless (re)connection retries, which `subscription.close()` otherwise waits out. */
  abort: AbortController;
  /** Resolves when the receiver's last settlement has been written (see {@link settleInTurn}). */
  settling: Promise<void>;
  /** Settlements issued and not yet answered by the broker, awaited (bounded) before the receiver closes. */
  unanswered: Set<Promise<unknown>>;
}

/**
 * Issues one settlement at a time per receiver, each in a later event-loop turn than the previous one. rhea 3.0.x,
 * under @azure/service-bus, writes the dispositions of consecutive deliveries settled in the same tick as one range
 * carrying the first one's outcome (its `write_dispositions` skips the outcome comparison while the range holds a
 * single delivery): with concurrent invocations, an abandon issued right after a complete became a complete (the
 * message was lost), and a dead-letter right after another took that one's reason. rhea writes what is pending on
 * `process.nextTick`, so by the next `setImmediate` each outcome has its own frame.
 *
 * The next settlement does not wait for the broker's answer to this one: the SDK waits for that answer up to its try
 * timeout (60 s, then retries) even when the connection died under it, and every other message of the receiver
 * would wait with it (the stall after the reliability run's poison storm).
 */
function settleInTurn<T>(listener: Listener, action: () => Promise<T>): Promise<T> {
  const settlement = listener.settling.then(action);
  listener.settling = listener.settling.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
  listener.unanswered.add(settlement);
  const forget = () => listener.unanswered.delete(settlement);
  settlement.then(forget, forget);
  return settlement;
}

// A subscription whose broker is reachable closes in milliseconds; one still retrying a connection would wait for
// its next retry (up to 30 s).
const subscriptionCloseGraceInMs = 2000;

/**
 * Listens on the queues of the Service Bus functions through real `@azure/service-bus` receivers (peek-lock,
 * `subscribe` with `autoCompleteMessages: false`) and settles as the Functions host does.
 */
export class ServiceBusTriggers {
  readonly #functions: readonly QueueFunction[];
  readonly #env: Record<string, string | undefined>;
  readonly #hostOptions: ServiceBusHostOptions;
  readonly #invoker: Invoker;
  readonly #clients = new Map<string, ServiceBusClient>();
  readonly #listeners: Listener[] = [];
  #stopping = false;

  constructor(
    functions: readonly QueueFunction[],
    env: Record<string, string | undefined>,
    hostOptions: ServiceBusHostOptions,
    invoker: Invoker,
  ) {
    this.#functions = functions;
    this.#env = env;
    this.#hostOptions = hostOptions;
    this.#invoker = invoker;
  }

  /** Opens clients (one per connection setting) and starts one receiver per function. */
  async start(): Promise<void> {
    if (this.#functions.length > 0 && this.#hostOptions.prefetchCount > 0) {
      this.#invoker.log(
        "warning",
        "host.json serviceBus.prefetchCount is ignored: @azure/service-bus asks for maxConcurrentCalls messages at a time",
        { event: "servicebus.prefetchIgnored" },
      );
    }
    for (const fn of this.#functions) {
      const client = await this.#client(fn.options.connection);
      // The host renews locks itself, only while the function runs (see renewLockWhileRunning); the SDK's renewer
      // would go on renewing a message the function left unsettled.
      const receiver = client.createReceiver(fn.queueName, {
        receiveMode: "peekLock",
        maxAutoLockRenewalDurationInMs: 0,
      });
      const listener: Listener = {
        fn,
        receiver,
        subscription: undefined,
        abort: new AbortController(),
        settling: Promise.resolve(),
        unanswered: new Set(),
      };
      listener.subscription = receiver.subscribe(
        {
          processMessage: (message) => this.#process(listener, message),
          processError: async (args) => this.#reportError(fn, args),
        },
        {
          autoCompleteMessages: false,
          maxConcurrentCalls: this.#hostOptions.maxConcurrentCalls,
          abortSignal: listener.abort.signal,
        },
      );
      this.#listeners.push(listener);
      this.#invoker.log(
        "information",
        `Service Bus function '${fn.name}' listening on queue '${fn.queueName}' (maxConcurrentCalls ${this.#hostOptions.maxConcurrentCalls}, autoComplete ${fn.autoCompleteMessages}${fn.options.sdkBinding ? ", sdkBinding" : ""})`,
        { event: "servicebus.listening", functionName: fn.name },
      );
    }
  }

  /** Stops taking new messages; messages already handed to a function finish and are settled. */
  async stopReceiving(): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.#listeners.map(async (l) => {
        const closing = (l.subscription?.close() ?? Promise.resolve()).catch((error: unknown) => {
          this.#invoker.log("warning", `closing the subscription of '${l.fn.name}' failed: ${describeError(error)}`);
        });
        let timer: NodeJS.Timeout | undefined;
        const closedInTime = await Promise.race([
          closing.then(() => true),
          new Promise<false>((resolve) => {
            timer = setTimeout(() => resolve(false), subscriptionCloseGraceInMs);
          }),
        ]);
        clearTimeout(timer);
        if (!closedInTime) {
          l.abort.abort();
          await closing;
        }
      }),
    );
  }

  /** Closes receivers and clients. */
  async close(): Promise<void> {
    this.#stopping = true;
    const closeQuietly = async (what: string, close: () => Promise<void>) => {
      try {
        await close();
      } catch (error) {
        this.#invoker.log("warning", `closing ${what} failed: ${describeError(error)}`);
      }
    };
    // Settlements on their way (settleInTurn) must reach the broker before their link closes; bounded, as a
    // settlement on a lost connection may never answer.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.#listeners.flatMap((l) => [...l.unanswered])),
      new Promise((resolve) => (timer = setTimeout(resolve, subscriptionCloseGraceInMs))),
    ]);
    clearTimeout(timer);
    await Promise.all(
      this.#listeners.map((l) => closeQuietly(`the receiver of '${l.fn.name}'`, () => l.receiver.close())),
    );
    await Promise.all([...this.#clients.values()].map((c) => closeQuietly("a Service Bus client", () => c.close())));
    this.#listeners.length = 0;
    this.#clients.clear();
  }

  async #client(settingName: string): Promise<ServiceBusClient> {
    const existing = this.#clients.get(settingName);
    if (existing) return existing;
    const connection = resolveServiceBusConnection(settingName, this.#env);
    const retry = this.#hostOptions.clientRetryOptions;
    const clientOptions = {
      retryOptions: {
        mode: retry.mode === "exponential" ? RetryMode.Exponential : RetryMode.Fixed,
        maxRetries: retry.maxRetries,
        retryDelayInMs: retry.delay,
        maxRetryDelayInMs: retry.maxDelay,
        timeoutInMs: retry.tryTimeout,
      },
    };
    let client: ServiceBusClient;
    if (connection.kind === "connectionString") {
      client = new ServiceBusClient(connection.connectionString, clientOptions);
    } else {
      // Loaded only for identity-based connections: it pulls in MSAL.
      const { DefaultAzureCredential } = await import("@azure/identity");
      const credential = new DefaultAzureCredential(
        connection.clientId ? { managedIdentityClientId: connection.clientId } : {},
      );
      client = new ServiceBusClient(connection.fullyQualifiedNamespace, credential, clientOptions);
    }
    this.#clients.set(settingName, client);
    return client;
  }

  #reportError(fn: QueueFunction, args: ProcessErrorArgs): void {
    if (this.#stopping && args.error.name === "AbortError") return;
    // The SDK reconnects on its own; the host only reports (and must never throw from here).
    this.#invoker.log(
      "warning",
      `Service Bus ${args.errorSource} error on queue '${fn.queueName}' (function '${fn.name}'): ${args.error.message}`,
      { event: "servicebus.error", functionName: fn.name },
    );
  }

  async #process(listener: Listener, message: ServiceBusReceivedMessage): Promise<void> {
    const { fn, receiver } = listener;
    if (this.#stopping) return; // left to its lock: another instance (or the next start) gets it
    let settled = false;
    const settle = async (target: ServiceBusReceivedMessage, action: () => Promise<void>) => {
      await settleInTurn(listener, action);
      if (target.lockToken === message.lockToken) settled = true;
    };
    const actions: ServiceBusMessageActions = {
      complete: (m) => settle(m, () => receiver.completeMessage(m)),
      abandon: (m, props) => settle(m, () => receiver.abandonMessage(m, decodePropertiesToModify(props))),
      deadletter: (m, props, deadLetterReason, deadLetterErrorDescription) => {
        // The SDK types both as required; the broker takes either alone.
        const options = {
          ...decodePropertiesToModify(props),
          ...(deadLetterReason === undefined ? {} : { deadLetterReason }),
          ...(deadLetterErrorDescription === undefined ? {} : { deadLetterErrorDescription }),
        } as DeadLetterOptions & Record<string, number | boolean | string | Date | null>;
        return settle(m, () => receiver.deadLetterMessage(m, options));
      },
      defer: (m, props) => settle(m, () => receiver.deferMessage(m, decodePropertiesToModify(props))),
      renewMessageLock: async (m) => {
        await receiver.renewMessageLock(m);
      },
    };
    const sdkBinding = fn.options.sdkBinding === true;
    const stopRenewing = renewLockWhileRunning(
      receiver,
      message,
      this.#hostOptions.maxAutoLockRenewalDuration,
      () => settled,
      (error) =>
        this.#invoker.log(
          "warning",
          `Renewing the lock of message ${String(message.messageId)} failed: ${error.message}`,
          {
            event: "servicebus.error",
            functionName: fn.name,
          },
        ),
    );
    const outcome = await this.#invoker.invoke(
      {
        functionName: fn.name,
        trigger: {
          type: "serviceBusTrigger",
          name: "serviceBusTrigger",
          connection: fn.options.connection,
          queueName: fn.options.queueName,
          autoCompleteMessages: fn.autoCompleteMessages,
          ...(sdkBinding ? { sdkBinding } : {}),
        },
        reason: `New ServiceBus message detected on '${fn.queueName}' (MessageId=${String(message.messageId)}, DeliveryCount=${(message.deliveryCount ?? 0) + 1})`,
        traceParent: diagnosticId(message),
        triggerMetadata: serviceBusTriggerMetadata(message),
      },
      (context) => {
        if (sdkBinding) {
          const input: ServiceBusMessageContext = { messages: message, actions };
          return fn.options.handler(input, context);
        }
        return fn.options.handler(serviceBusTriggerInput(message.body), context);
      },
    );
    stopRenewing();
    if (settled) return;
    const logFields = { functionName: fn.name, event: "servicebus.settle" };
    try {
      if (!outcome.succeeded) {
        await settleInTurn(listener, () => receiver.abandonMessage(message));
        this.#invoker.log(
          "information",
          `Abandoned message ${String(message.messageId)} after a failed invocation`,
          logFields,
        );
      } else if (fn.autoCompleteMessages) {
        await settleInTurn(listener, () => receiver.completeMessage(message));
      } else {
        this.#invoker.log(
          "warning",
          `Function '${fn.name}' neither settled message ${String(message.messageId)} nor failed; it returns to the queue when its lock expires`,
          { functionName: fn.name, event: "servicebus.unsettled" },
        );
      }
    } catch (error) {
      this.#invoker.log(
        "error",
        `Settling message ${String(message.messageId)} failed: ${describeError(error)}`,
        logFields,
      );
    }
  }
}

// Producers with tracing on stamp the W3C traceparent in the `Diagnostic-Id` application property.
function diagnosticId(message: ServiceBusReceivedMessage): string | undefined {
  const value = message.applicationProperties?.["Diagnostic-Id"];
  return typeof value === "string" ? value : undefined;
}

/**
 * Renews a message's lock while its function runs, as the Service Bus processor does for the Functions host:
 * shortly before the lock expires (the SDK's rule: half the remaining time, at most 10 s early), for at most
 * `maxDurationInMs` from receipt, and never after the function returned or settled the message. Returns the stop.
 */
export function renewLockWhileRunning(
  receiver: Pick<ServiceBusReceiver, "renewMessageLock">,
  message: ServiceBusReceivedMessage,
  maxDurationInMs: number,
  isSettled: () => boolean,
  onError: (error: Error) => void,
): () => void {
  const deadline = Date.now() + maxDurationInMs;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = () => {
    if (stopped || maxDurationInMs <= 0 || !message.lockedUntilUtc) return;
    const remaining = message.lockedUntilUtc.getTime() - Date.now();
    const renewAfter = remaining < 1000 ? 0 : remaining - Math.min(remaining / 2, 10_000);
    if (Date.now() + renewAfter >= deadline) return;
    timer = setTimeout(() => {
      if (stopped || isSettled()) return;
      receiver.renewMessageLock(message).then(
        (lockedUntil) => {
          message.lockedUntilUtc = lockedUntil;
          schedule();
        },
        (error: unknown) => {
          if (!stopped && !isSettled()) onError(error instanceof Error ? error : new Error(String(error)));
        },
      );
    }, renewAfter);
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
