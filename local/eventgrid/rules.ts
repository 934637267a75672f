/**
 * What an Event Grid topic with the CloudEvents 1.0 input schema refuses, each rule with its source in README.md
 * (the rule ids E1... are the README's). Pure: the server maps a refusal to its HTTP answer.
 */

/** A refusal: the HTTP status Event Grid answers and the message of its error body. */
export interface Refusal {
  status: number;
  message: string;
}

/** E7: a whole request of more than 1 MB, or one event of more than 1 MB, is refused with 413. */
export const maxRequestInBytes = 1_048_576;
export const maxEventInBytes = 1_048_576;

/** E5: the batch content type of the CloudEvents JSON batch format; E6: one structured event. */
export const batchContentType = "application/cloudevents-batch+json";
export const structuredContentType = "application/cloudevents+json";

/** E8: attributes every CloudEvent must have. */
const requiredAttributes = ["id", "source", "specversion", "type"] as const;
/** E9: attribute names are lower-case ASCII letters and digits. */
const attributeName = /^[a-z0-9]{1,20}$/;
/** E10: RFC 3339 timestamps. */
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

const describe = (index: number) => `event at index ${index}`;

/** E8-E11: one CloudEvent of a batch. */
export function checkCloudEvent(value: unknown, index: number): Refusal | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { status: 400, message: `${describe(index)}: a CloudEvent is a JSON object` };
  }
  const event = value as Record<string, unknown>;
  for (const name of requiredAttributes) {
    if (typeof event[name] !== "string" || event[name] === "") {
      return { status: 400, message: `${describe(index)}: required attribute '${name}' is missing or not a string` };
    }
  }
  if (event.specversion !== "1.0") {
    return {
      status: 400,
      message: `${describe(index)}: specversion '${String(event.specversion)}' is not supported; the topic takes CloudEvents 1.0`,
    };
  }
  for (const name of Object.keys(event)) {
    if (name !== "data_base64" && !attributeName.test(name)) {
      return {
        status: 400,
        message: `${describe(index)}: attribute name '${name}' is not lower-case letters and digits`,
      };
    }
  }
  if (event.time !== undefined && (typeof event.time !== "string" || !rfc3339.test(event.time))) {
    return { status: 400, message: `${describe(index)}: time '${String(event.time)}' is not an RFC 3339 timestamp` };
  }
  if ("data" in event && "data_base64" in event) {
    return { status: 400, message: `${describe(index)}: 'data' and 'data_base64' cannot both be present` };
  }
  if (Buffer.byteLength(JSON.stringify(event)) > maxEventInBytes) {
    return { status: 413, message: `${describe(index)} is larger than ${maxEventInBytes} bytes` };
  }
  return undefined;
}

/**
 * E5-E11: the body of a publish request to a CloudEvents topic. Returns the events, or the refusal.
 */
export function checkPublishBody(
  contentType: string | undefined,
  body: string,
): { events: Record<string, unknown>[] } | Refusal {
  if (Buffer.byteLength(body) > maxRequestInBytes) {
    return { status: 413, message: `the request is larger than ${maxRequestInBytes} bytes` };
  }
  const mediaType = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (mediaType !== batchContentType && mediaType !== structuredContentType) {
    return {
      status: 400,
      message:
        `this topic takes CloudEvents 1.0: content type '${contentType ?? "(none)"}' is neither ` +
        `${batchContentType} nor ${structuredContentType}`,
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { status: 400, message: "the body is not valid JSON" };
  }
  const batch = mediaType === batchContentType;
  if (batch !== Array.isArray(parsed)) {
    return {
      status: 400,
      message: batch
        ? `${batchContentType} carries a JSON array of events`
        : `${structuredContentType} carries one event, a JSON object`,
    };
  }
  const events = (batch ? parsed : [parsed]) as unknown[];
  for (const [index, event] of events.entries()) {
    const refusal = checkCloudEvent(event, index);
    if (refusal) return refusal;
  }
  return { events: events as Record<string, unknown>[] };
}
