import { readFileSync } from "node:fs";
import type { TokenCredential } from "@azure/core-auth";
import type { EventGridPublisherClient, SendCloudEventInput } from "@azure/eventgrid";
import type { Settings } from "../config/settings.js";
import { ConfigurationError, EventRejectedError } from "../errors.js";
import type { PipelineEvent } from "../events/schema.js";
import type { EventPublisher } from "../ports.js";
import { isLoopback } from "./loopback.js";

/** The token the local Event Grid endpoint accepts; never sent anywhere but a loopback endpoint. */
class EmulatorCredential implements TokenCredential {
  async getToken() {
    return { token: "local-emulator", expiresOnTimestamp: Date.now() + 3_600_000 };
  }
}

/** Statuses after which the same batch will be refused again: its own content is at fault (400, 413). */
const refusedForGood = new Set([400, 413]);

/** The SDK's send input of one of our events: the CloudEvents attributes, with our extensions. */
function toSendInput(event: PipelineEvent): SendCloudEventInput<unknown> {
  return {
    type: event.type,
    source: event.source,
    id: event.id,
    time: new Date(event.time),
    subject: event.subject,
    datacontenttype: event.datacontenttype,
    data: event.data,
    extensionAttributes: { sequence: event.sequence, traceparent: event.traceparent },
  };
}

/**
 * {@link EventPublisher} on `@azure/eventgrid`'s EventGridPublisherClient with the CloudEvent input schema, signed in
 * with the app's managed identity (DefaultAzureCredential; the SDK asks for the `https://eventgrid.azure.net/.default`
 * scope). The SDK retries 408, 429 and 5xx itself (exponential, 3 retries); what still fails is thrown: a refusal of
 * the batch's content (400, 413) as {@link EventRejectedError}, anything else as is, for the queue to retry.
 */
export class EventGridEventPublisher implements EventPublisher {
  private client?: Promise<EventGridPublisherClient<"CloudEvent">>;

  constructor(private readonly settings: Settings) {
    const endpoint = settings.EVENT_GRID_TOPIC_ENDPOINT;
    if (endpoint && settings.EVENT_GRID_AUTH === "emulator" && !isLoopback(endpoint)) {
      throw new ConfigurationError(
        "EVENT_GRID_AUTH=emulator is only allowed with a loopback EVENT_GRID_TOPIC_ENDPOINT",
      );
    }
  }

  private getClient(): Promise<EventGridPublisherClient<"CloudEvent">> {
    this.client ??= (async () => {
      const endpoint = this.settings.EVENT_GRID_TOPIC_ENDPOINT;
      if (!endpoint) {
        throw new ConfigurationError(
          "invalid settings: EVENT_GRID_TOPIC_ENDPOINT: missing (the Event Grid topic's endpoint: azd env get-value EVENT_GRID_TOPIC_ENDPOINT)",
        );
      }
      const { EventGridPublisherClient } = await import("@azure/eventgrid");
      const credential =
        this.settings.EVENT_GRID_AUTH === "emulator"
          ? new EmulatorCredential()
          : new (await import("@azure/identity")).DefaultAzureCredential(
              this.settings.AZURE_CLIENT_ID ? { managedIdentityClientId: this.settings.AZURE_CLIENT_ID } : {},
            );
      const ca = this.settings.EVENT_GRID_CA_CERT_PATH
        ? readFileSync(this.settings.EVENT_GRID_CA_CERT_PATH, "utf8")
        : undefined;
      return new EventGridPublisherClient(endpoint, "CloudEvent", credential, {
        ...(ca ? { tlsOptions: { ca } } : {}),
        userAgentOptions: { userAgentPrefix: "image-pipeline" },
      });
    })();
    // A failed construction (a missing setting) is tried again on the next call, not cached.
    this.client.catch(() => (this.client = undefined));
    return this.client;
  }

  async publish(events: readonly PipelineEvent[]): Promise<void> {
    if (events.length === 0) return;
    const client = await this.getClient();
    try {
      await client.send(events.map(toSendInput));
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== undefined && refusedForGood.has(status)) {
        const message = error instanceof Error ? error.message : String(error);
        throw new EventRejectedError(`Event Grid refused the events (${status}): ${message}`, status, {
          cause: error,
        });
      }
      throw error;
    }
  }
}
