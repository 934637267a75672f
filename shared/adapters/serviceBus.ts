import type { ServiceBusClient, ServiceBusSender } from "@azure/service-bus";
import type { Settings } from "../config/settings.js";
import type { QueueName } from "../config/queues.js";
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

  async send(
    queue: QueueName,
    body: Record<string, unknown>,
    options: { messageId: string; scheduledEnqueueTimeUtc?: Date; subject?: string },
  ): Promise<void> {
    const sender = await this.sender(queue);
    const traceparent = typeof body.traceparent === "string" ? body.traceparent : undefined;
    await sender.sendMessages({
      body,
      contentType: "application/json",
      messageId: options.messageId,
      subject: options.subject,
      scheduledEnqueueTimeUtc: options.scheduledEnqueueTimeUtc,
      applicationProperties: traceparent ? { "Diagnostic-Id": traceparent } : undefined,
    });
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.senders.clear();
    if (client) await (await client).close();
  }
}
