import { eventNameOf, type PipelineEvent } from "../events/index.js";
import type { PipelineDeps } from "./context.js";

/**
 * Publishes one event of the `events` queue to the Event Grid topic. Whatever fails is thrown for the queue's rules
 * to settle (`classifyError`): a batch Event Grid refuses for its content is dead-lettered at once with Event Grid's
 * status and message; a throttled, failing or unreachable topic, or one this identity may not send to yet (a role
 * assignment takes minutes to apply), is retried by redelivery until the queue's max delivery count, then
 * dead-lettered. An event published twice (a redelivery after a lost settlement) keeps its id: consumers drop it.
 */
export async function publishEvent(
  deps: Pick<PipelineDeps, "eventPublisher" | "log" | "tracer">,
  event: PipelineEvent,
): Promise<{ outcome: "published" }> {
  // OpenTelemetry's CloudEvents attributes: the invocation's span names the event it carried to the topic.
  deps.tracer.annotate({
    "cloudevents.event_id": event.id,
    "cloudevents.event_source": event.source,
    "cloudevents.event_type": event.type,
    "cloudevents.event_subject": event.subject,
  });
  await deps.eventPublisher.publish([event]);
  deps.log.info("event published", { eventId: event.id, type: eventNameOf(event), subject: event.subject });
  return { outcome: "published" };
}
