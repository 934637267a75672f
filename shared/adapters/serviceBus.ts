import type { ServiceBusClient, ServiceBusSender } from "@azure/service-bus";
import type { Settings } from "../config/settings.js";
import { buildFactsOf, queues, type MessageOf, type QueueName } from "../messages/index.js";
import type { MessageSender, Tracer } from "../ports.js";
import { spanAttributes } from "../observability/tracing.js";

/**
 * How the app's Service Bus calls are retried: exponential from 0.8 s up to 10 s, 4 retries, 10 s per try.
 *
 * The JS SDK's defaults are a fixed 30 s between 3 retries and 60 s per try: a send made while the connection dropped
 * (a broker restart, a gateway update, a network blip) came back after 90 s, holding its invocation, and an attempt
 * caught on a dead connection waited a whole minute. The Functions host's own client retries exponentially from
 * 0.8 s (the Service Bus extension's `clientRetryOptions` defaults); a send answers in milliseconds, so the app gives
 * up on a silent attempt after 10 s rather than 60.
 */
export const serviceBusRetryOptions = {
  retryDelayInMs: 800,
  maxRetryDelayInMs: 10_000,
  maxRetries: 4,
  timeoutInMs: 10_000,
} as const;

/**
 * A Service Bus client for the app: identity-based in Azure (`ServiceBusConnection__fullyQualifiedNamespace`, with
 * `AZURE_CLIENT_ID` for a user-assigned identity), a connection string only for the local emulator; retried as
 * {@link serviceBusRetryOptions} says. Loads the SDK on first use (cold start).
 */
export async function connectServiceBus(settings: Settings): Promise<ServiceBusClient> {
  const { ServiceBusClient, RetryMode } = await import("@azure/service-bus");
  const options = { retryOptions: { ...serviceBusRetryOptions, mode: RetryMode.Exponential } };
  const namespace = settings.ServiceBusConnection__fullyQualifiedNamespace;
  if (namespace) {
    const { DefaultAzureCredential } = await import("@azure/identity");
    const clientId = settings.AZURE_CLIENT_ID;
    return new ServiceBusClient(
      namespace,
      new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {}),
      options,
    );
  }
  return new ServiceBusClient(settings.ServiceBusConnection!, options);
}

/**
 * {@link MessageSender} on `@azure/service-bus`: identity-based in Azure (`ServiceBusConnection__fullyQualifiedNamespace`),
 * a connection string only for the local emulator. One client and one sender per queue for the process.
 *
 * Each send is a producer span, child of the step that sends; the message carries that span's traceparent (in its
 * `traceparent` field and, as Azure's SDKs do, in the `Diagnostic-Id` application property), so the invocation that
 * handles it continues the same trace: one trace per build, across every queue and every scheduled re-check.
 */
export class ServiceBusMessageSender implements MessageSender {
  private client?: Promise<ServiceBusClient>;
  private readonly senders = new Map<string, Promise<ServiceBusSender>>();

  constructor(
    private readonly settings: Settings,
    private readonly tracer: Tracer,
  ) {}

  private getClient(): Promise<ServiceBusClient> {
    this.client ??= connectServiceBus(this.settings);
    return this.client;
  }

  private sender(queue: QueueName): Promise<ServiceBusSender> {
    let sender = this.senders.get(queue);
    if (!sender) {
      sender = this.getClient().then((client) => client.createSender(queue));
      this.senders.set(queue, sender);
    }
    return sender;
  }

  async send<Q extends QueueName>(
    queue: Q,
    message: MessageOf<Q>,
    options: { scheduledEnqueueTimeUtc?: Date } = {},
  ): Promise<void> {
    const contract = queues[queue] as { subject: string; messageId(m: MessageOf<Q>): string };
    const messageId = contract.messageId(message);
    const about = buildFactsOf(message);
    const attributes = {
      "messaging.system": "servicebus",
      "messaging.operation.type": "send",
      "messaging.destination.name": queue,
      "messaging.message.id": messageId,
      [spanAttributes.buildId]: about.buildId,
      [spanAttributes.image]: about.image,
      [spanAttributes.version]: about.version,
      "image_pipeline.scheduled_enqueue_time": options.scheduledEnqueueTimeUtc?.toISOString(),
    };
    await this.tracer.inSpan(`send ${queue}`, { kind: "producer", attributes }, async (span) => {
      // Without a recorded span (tracing off), the message keeps the trace context it was given.
      const traceparent = span.traceparent ?? message.traceparent;
      const sender = await this.sender(queue);
      await sender.sendMessages({
        body: { ...message, traceparent },
        contentType: "application/json",
        messageId,
        subject: contract.subject,
        scheduledEnqueueTimeUtc: options.scheduledEnqueueTimeUtc,
        // Both names, as Azure's SDKs write them (their messaging tracing conventions: `traceparent` equals Diagnostic-Id).
        applicationProperties: { "Diagnostic-Id": traceparent, traceparent },
      });
    });
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.senders.clear();
    if (client) await (await client).close();
  }
}
