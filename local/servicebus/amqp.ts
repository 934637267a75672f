import rhea from "rhea";
import type { Typed } from "rhea";

/**
 * AMQP 1.0 message codec for the broker. Messages are kept as the sender encoded them (the "bare message":
 * properties, application properties, body, footer) so types survive untouched; only the header and the message
 * annotations, which the broker owns, are re-encoded on each delivery. Decoding and re-encoding whole messages with
 * rhea would turn an `int` into a `uint` and the like.
 */

interface RheaReader {
  position: number;
  read(): Typed;
  remaining(): number;
}
interface RheaWriter {
  write(value: Typed): void;
  toBuffer(): Buffer;
}
interface RheaTypes {
  Reader: new (buffer: Buffer) => RheaReader;
  Writer: new () => RheaWriter;
  wrap(value: unknown): Typed;
  wrap_ulong(value: number): Typed;
  wrap_uint(value: number): Typed;
  wrap_int(value: number): Typed;
  wrap_ubyte(value: number): Typed;
  wrap_long(value: number | Buffer): Typed;
  wrap_boolean(value: boolean): Typed;
  wrap_symbol(value: string): Typed;
  wrap_string(value: string): Typed;
  wrap_timestamp(value: number): Typed;
  wrap_uuid(value: Buffer): Typed;
  wrap_list(value: Typed[]): Typed;
  wrap_array(value: unknown[], code: number, descriptors: undefined): Typed;
  described(descriptor: Typed, value: Typed): Typed;
  Null(): Typed;
  Map32(items: Typed[]): Typed;
  unwrap(value: Typed, leaveDescribed?: boolean): unknown;
}

/** rhea's encoder/decoder (typed values); the public typings describe only part of it. */
export const amqpTypes = rhea.types as unknown as RheaTypes;

export const sectionCode = {
  header: 0x70,
  deliveryAnnotations: 0x71,
  messageAnnotations: 0x72,
  properties: 0x73,
  applicationProperties: 0x74,
  data: 0x75,
  sequence: 0x76,
  value: 0x77,
  footer: 0x78,
} as const;

const symbolicSections: Record<string, number> = {
  "amqp:header:list": 0x70,
  "amqp:delivery-annotations:map": 0x71,
  "amqp:message-annotations:map": 0x72,
  "amqp:properties:list": 0x73,
  "amqp:application-properties:map": 0x74,
  "amqp:data:binary": 0x75,
  "amqp:amqp-sequence:list": 0x76,
  "amqp:value:*": 0x77,
  "amqp:footer:map": 0x78,
};

/** The message format of a Service Bus batch: an outer message whose data sections are encoded messages. */
export const batchMessageFormat = 0x80013700;

/** Thrown for bytes that are not an AMQP message; the broker rejects the delivery with `amqp:decode-error`. */
export class MessageDecodeError extends Error {
  readonly code = "MessageDecodeError";
}

interface Section {
  code: number;
  raw: Buffer;
  value: Typed;
}

function readSections(buffer: Buffer): Section[] {
  const reader = new amqpTypes.Reader(buffer);
  const sections: Section[] = [];
  try {
    while (reader.remaining() > 0) {
      const start = reader.position;
      const value = reader.read();
      const descriptor = (value.descriptor as Typed | undefined)?.value as unknown;
      const code = typeof descriptor === "number" ? descriptor : symbolicSections[String(descriptor)];
      if (code === undefined || code < 0x70 || code > 0x78) throw new MessageDecodeError("not a message section");
      sections.push({ code, raw: buffer.subarray(start, reader.position), value });
    }
  } catch (error) {
    if (error instanceof MessageDecodeError) throw error;
    throw new MessageDecodeError(`malformed AMQP message: ${(error as Error).message}`);
  }
  return sections;
}

function listItems(value: Typed): Typed[] {
  return Array.isArray(value.value) ? (value.value as Typed[]) : [];
}

function plain(value: Typed | undefined): unknown {
  if (value === undefined) return undefined;
  return amqpTypes.unwrap(value);
}

/** The header fields the broker keeps (delivery count is the broker's own). */
export interface HeaderFields {
  durable?: boolean;
  priority?: number;
  ttlInMs?: number;
  firstAcquirer?: boolean;
}

/** A message as accepted from a sender, ready to store. */
export interface IncomingMessage {
  header: HeaderFields;
  /** The sender's message-annotations section (encoded), or empty. */
  annotations: Buffer;
  /** Properties, application properties, body and footer, as encoded (message id filled in when missing). */
  bare: Buffer;
  /** The message id in text form (duplicate detection key). */
  messageId: string;
  /** `x-opt-scheduled-enqueue-time` from the sender, in ms since the epoch. */
  scheduledEnqueueTimeInMs?: number;
  /** Encoded size as received. */
  sizeInBytes: number;
}

function messageIdText(id: Typed): string | undefined {
  const v = id.value as unknown;
  if (v === null || v === undefined) return undefined;
  if (Buffer.isBuffer(v)) return id.type.name === "Uuid" ? rhea.uuid_to_string(v) : v.toString("hex");
  return String(v);
}

/**
 * Parses one encoded message. Assigns a message id (a GUID, as the service does) when the sender gave none.
 * @param generateId - the id to assign when missing
 */
export function parseMessage(buffer: Buffer, generateId: () => string): IncomingMessage {
  const sections = readSections(buffer);
  const header: HeaderFields = {};
  let annotations: Buffer = Buffer.alloc(0);
  let scheduledEnqueueTimeInMs: number | undefined;
  const bare: Buffer[] = [];
  let messageId: string | undefined;
  let sawProperties = false;
  for (const section of sections) {
    switch (section.code) {
      case sectionCode.header: {
        const [durable, priority, ttl, firstAcquirer] = listItems(section.value).map((t) => plain(t));
        if (typeof durable === "boolean") header.durable = durable;
        if (typeof priority === "number") header.priority = priority;
        if (typeof ttl === "number") header.ttlInMs = ttl;
        if (typeof firstAcquirer === "boolean") header.firstAcquirer = firstAcquirer;
        break;
      }
      case sectionCode.deliveryAnnotations:
        break; // hop-by-hop: not forwarded
      case sectionCode.messageAnnotations: {
        annotations = Buffer.from(section.raw);
        const scheduled = annotationEntries(annotations).get("x-opt-scheduled-enqueue-time");
        const when = scheduled === undefined ? undefined : plain(scheduled);
        if (when instanceof Date) scheduledEnqueueTimeInMs = when.getTime();
        else if (typeof when === "number") scheduledEnqueueTimeInMs = when;
        break;
      }
      case sectionCode.properties: {
        sawProperties = true;
        const items = listItems(section.value);
        const id = items[0] ? messageIdText(items[0]) : undefined;
        if (id === undefined) {
          messageId = generateId();
          bare.push(encodeProperties(withItem(items, 0, amqpTypes.wrap_string(messageId))));
        } else {
          messageId = id;
          bare.push(section.raw);
        }
        break;
      }
      default:
        if (!sawProperties && section.code >= sectionCode.applicationProperties) {
          sawProperties = true;
          messageId = generateId();
          bare.push(encodeProperties([amqpTypes.wrap_string(messageId)]));
        }
        bare.push(section.raw);
    }
  }
  if (messageId === undefined) {
    messageId = generateId();
    bare.unshift(encodeProperties([amqpTypes.wrap_string(messageId)]));
  }
  return {
    header,
    annotations,
    bare: Buffer.concat(bare),
    messageId,
    ...(scheduledEnqueueTimeInMs !== undefined ? { scheduledEnqueueTimeInMs } : {}),
    sizeInBytes: buffer.length,
  };
}

/** Splits a batch (format 0x80013700) into its encoded messages. */
export function splitBatch(buffer: Buffer): Buffer[] {
  return readSections(buffer)
    .filter((s) => s.code === sectionCode.data)
    .map((s) => {
      const payload = s.value.value as unknown;
      if (!Buffer.isBuffer(payload)) throw new MessageDecodeError("batch data section is not binary");
      return payload;
    });
}

function withItem(items: Typed[], index: number, value: Typed): Typed[] {
  const copy = items.slice();
  while (copy.length < index) copy.push(amqpTypes.Null());
  copy[index] = value;
  return copy;
}

function encodeSection(code: number, value: Typed): Buffer {
  const writer = new amqpTypes.Writer();
  writer.write(amqpTypes.described(amqpTypes.wrap_ulong(code), value));
  return writer.toBuffer();
}

function encodeProperties(items: Typed[]): Buffer {
  return encodeSection(sectionCode.properties, amqpTypes.wrap_list(items));
}

/** Entries of an encoded message-annotations section, keyed by symbol. */
export function annotationEntries(section: Buffer): Map<string, Typed> {
  const entries = new Map<string, Typed>();
  if (section.length === 0) return entries;
  const [parsed] = readSections(section);
  const items = parsed ? (parsed.value.value as Typed[]) : [];
  for (let i = 0; i + 1 < items.length; i += 2) {
    entries.set(String((items[i] as Typed).value), items[i + 1] as Typed);
  }
  return entries;
}

/** Annotations the broker stamps on a delivered message. */
export interface BrokerAnnotations {
  sequenceNumber: number;
  enqueuedTimeInMs: number;
  lockedUntilInMs?: number;
  lockToken?: Buffer;
  scheduledEnqueueTimeInMs?: number;
  /** 0 active, 1 deferred, 2 scheduled. */
  messageState: 0 | 1 | 2;
  deadLetterSource?: string;
}

function brokerAnnotationValues(a: BrokerAnnotations): Array<[string, Typed]> {
  const out: Array<[string, Typed]> = [
    ["x-opt-sequence-number", amqpTypes.wrap_long(a.sequenceNumber)],
    ["x-opt-enqueued-time", amqpTypes.wrap_timestamp(a.enqueuedTimeInMs)],
    ["x-opt-message-state", amqpTypes.wrap_int(a.messageState)],
  ];
  if (a.lockedUntilInMs !== undefined) out.push(["x-opt-locked-until", amqpTypes.wrap_timestamp(a.lockedUntilInMs)]);
  if (a.lockToken) out.push(["x-opt-lock-token", amqpTypes.wrap_uuid(a.lockToken)]);
  if (a.scheduledEnqueueTimeInMs !== undefined) {
    out.push(["x-opt-scheduled-enqueue-time", amqpTypes.wrap_timestamp(a.scheduledEnqueueTimeInMs)]);
  }
  if (a.deadLetterSource !== undefined)
    out.push(["x-opt-deadletter-source", amqpTypes.wrap_string(a.deadLetterSource)]);
  return out;
}

/** Encodes a stored message for delivery: a fresh header and annotations in front of the bare message. */
export function encodeForDelivery(
  stored: { header: HeaderFields; annotations: Buffer; bare: Buffer },
  deliveryCount: number,
  broker: BrokerAnnotations,
): Buffer {
  const h = stored.header;
  const nul = amqpTypes.Null;
  const header = encodeSection(
    sectionCode.header,
    amqpTypes.wrap_list([
      h.durable === undefined ? nul() : amqpTypes.wrap_boolean(h.durable),
      h.priority === undefined ? nul() : amqpTypes.wrap_ubyte(h.priority),
      h.ttlInMs === undefined ? nul() : amqpTypes.wrap_uint(h.ttlInMs),
      h.firstAcquirer === undefined ? nul() : amqpTypes.wrap_boolean(h.firstAcquirer),
      amqpTypes.wrap_uint(deliveryCount),
    ]),
  );
  const entries = annotationEntries(stored.annotations);
  for (const [key, value] of brokerAnnotationValues(broker)) entries.set(key, value);
  const items: Typed[] = [];
  for (const [key, value] of entries) items.push(amqpTypes.wrap_symbol(key), value);
  const annotations = encodeSection(sectionCode.messageAnnotations, amqpTypes.Map32(items));
  return Buffer.concat([header, annotations, stored.bare]);
}

/**
 * Returns the bare message with application properties merged (dead-letter reason, properties to modify on
 * abandon/defer/dead-letter). Values are plain JS values as the client sent them; existing keys keep their order.
 */
export function withApplicationProperties(bare: Buffer, patch: Record<string, unknown>): Buffer {
  const keys = Object.keys(patch).filter((k) => patch[k] !== undefined);
  if (keys.length === 0) return bare;
  const sections = readSections(bare);
  const merged = new Map<string, Typed>();
  const existing = sections.find((s) => s.code === sectionCode.applicationProperties);
  if (existing) {
    const items = existing.value.value as Typed[];
    for (let i = 0; i + 1 < items.length; i += 2) merged.set(String((items[i] as Typed).value), items[i + 1] as Typed);
  }
  for (const key of keys) merged.set(key, amqpTypes.wrap(patch[key]));
  const items: Typed[] = [];
  for (const [key, value] of merged) items.push(amqpTypes.wrap_string(key), value);
  const appProps = encodeSection(sectionCode.applicationProperties, amqpTypes.Map32(items));
  const out: Buffer[] = [];
  let placed = false;
  for (const s of sections) {
    if (s.code === sectionCode.applicationProperties) {
      out.push(appProps);
      placed = true;
    } else {
      if (!placed && s.code > sectionCode.applicationProperties) {
        out.push(appProps);
        placed = true;
      }
      out.push(s.raw);
    }
  }
  if (!placed) out.push(appProps);
  return Buffer.concat(out);
}

/** Reads the application properties of a bare message as plain values (for tests and stats). */
export function readApplicationProperties(bare: Buffer): Record<string, unknown> {
  const section = readSections(bare).find((s) => s.code === sectionCode.applicationProperties);
  return section ? (amqpTypes.unwrap(section.value) as Record<string, unknown>) : {};
}

const rawBytes = Symbol("servicebus-emulator.raw");

/**
 * rhea hands a receiver only the decoded message. The broker needs the bytes as sent, so rhea's decoder is wrapped
 * once to keep them on the decoded object (a non-enumerable symbol: invisible to every other rhea user).
 */
export function installRawMessageCapture(): void {
  const codec = rhea.message as unknown as { decode(buffer: Buffer): object; [rawBytes]?: true };
  if (codec[rawBytes]) return;
  const decode = codec.decode.bind(codec);
  codec.decode = (buffer: Buffer) => {
    const message = decode(buffer);
    Object.defineProperty(message, rawBytes, { value: buffer, enumerable: false });
    return message;
  };
  codec[rawBytes] = true;
}

/** The bytes of a received message as they came off the wire (see {@link installRawMessageCapture}). */
export function rawMessageBytes(message: object): Buffer | undefined {
  return (message as { [rawBytes]?: Buffer })[rawBytes];
}

/** Encodes a message rhea decoded (fallback when the raw bytes were not captured). */
export function encodeMessage(message: object): Buffer {
  return (rhea.message as unknown as { encode(m: object): Buffer }).encode(message);
}

/** A lock token in the byte order .NET (and so the service) puts on the wire as a delivery tag. */
export function lockTokenToDeliveryTag(uuid: Buffer): Buffer {
  const b = uuid;
  return Buffer.from([
    b[3]!,
    b[2]!,
    b[1]!,
    b[0]!,
    b[5]!,
    b[4]!,
    b[7]!,
    b[6]!,
    b[8]!,
    b[9]!,
    b[10]!,
    b[11]!,
    b[12]!,
    b[13]!,
    b[14]!,
    b[15]!,
  ]);
}
