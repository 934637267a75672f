import type { ServiceBusClient, ServiceBusSender } from "@azure/service-bus";
import type { Settings } from "../config/settings.js";
import { queues, type MessageOf, type QueueName } from "../messages/index.js";
import type { MessageSender } from "../ports.js";

/**
 * {@link MessageSender} on `@azure/service-bus`: identity-based in Azure (`ServiceBusConnection__fullyQualifiedNamespace`),
 * a connection string only for the local emulator. One client and one sender per queue for the process.
 */
export class ServiceBusMessageSender implements MessageSender {
  private client?: Promise<ServiceBusClient>;
  private readonly senders = new Map<string, Promise<ServiceBusSender>>();

  constructor(private readonly settings: Settings) {}

  private getClient(): Promise<ServiceBusClient> {
    this.client ??= (async () => {
      const { ServiceBusClient } = await import("@azure/service-bus");
      const namespace = this.settings.ServiceBusConnection__fullyQualifiedNamespace;
      if (namespace) {
        const { DefaultAzureCredential } = await import("@azure/identity");
        const clientId = this.settings.AZURE_CLIENT_ID;
        return new ServiceBusClient(
          namespace,
          new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {}),
        );
      }
      return new ServiceBusClient(this.settings.ServiceBusConnection!);
    })();
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
    const sender = await this.sender(queue);
    await sender.sendMessages({
      body: message,
      contentType: "application/json",
      messageId: contract.messageId(message),
      subject: contract.subject,
      scheduledEnqueueTimeUtc: options.scheduledEnqueueTimeUtc,
      applicationProperties: { "Diagnostic-Id": message.traceparent },
    });
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.senders.clear();
    if (client) await (await client).close();
  }
}
