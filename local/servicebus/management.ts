import { randomUUID } from "node:crypto";
import { amqpTypes, parseMessage } from "./amqp.js";
import { BrokerError, conditions, uuidText, type Broker, type Entity, type ReceiveMode } from "./broker.js";

/** The reply to a `$management` request: status in application properties, result in the body. */
export interface ManagementResponse {
  statusCode: number;
  statusDescription: string;
  errorCondition?: string;
  body?: unknown;
}

type RequestBody = Record<string, unknown>;

function sequenceNumber(value: unknown): number {
  if (typeof value === "number") return value;
  if (Buffer.isBuffer(value) && value.length === 8) return Number(value.readBigInt64BE(0));
  throw new BrokerError(conditions.invalidField, "sequence number must be a long");
}

function list(body: RequestBody, key: string): unknown[] {
  const value = body[key];
  if (!Array.isArray(value)) throw new BrokerError(conditions.invalidField, `'${key}' is missing or not an array`);
  return value;
}

function lockToken(value: unknown): string {
  if (Buffer.isBuffer(value) && value.length === 16) return uuidText(value);
  if (typeof value === "string") return value.toLowerCase();
  throw new BrokerError(conditions.invalidField, "lock token must be a uuid");
}

function receiveMode(value: unknown): ReceiveMode {
  return value === 0 ? "receiveAndDelete" : "peekLock";
}

function stringProps(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === "object" && !Buffer.isBuffer(value) && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * Serves one `$management` request on `entity` (operations of com.microsoft's AMQP management as the SDK sends them).
 */
export async function handleManagementRequest(
  broker: Broker,
  entity: Entity,
  operation: unknown,
  body: unknown,
): Promise<ManagementResponse> {
  const request = (body && typeof body === "object" ? body : {}) as RequestBody;
  try {
    switch (operation) {
      case "com.microsoft:renew-lock": {
        const expirations = list(request, "lock-tokens").map((t) => new Date(broker.renewLock(lockToken(t))));
        return ok({ expirations });
      }
      case "com.microsoft:schedule-message": {
        const entries = list(request, "messages");
        const messages = entries.map((entry) => {
          const encoded = (entry as RequestBody)["message"];
          if (!Buffer.isBuffer(encoded)) throw new BrokerError(conditions.invalidField, "'message' must be binary");
          return parseMessage(encoded, randomUUID);
        });
        const now = broker.clock.now();
        const seqs = await broker.send(
          entity,
          messages.map((m) => ({ ...m, scheduledEnqueueTimeInMs: m.scheduledEnqueueTimeInMs ?? now })),
        );
        return ok({ "sequence-numbers": amqpTypes.wrap_array(seqs, 0x81, undefined) });
      }
      case "com.microsoft:cancel-scheduled-message": {
        await broker.cancelScheduled(entity, list(request, "sequence-numbers").map(sequenceNumber));
        return ok(undefined);
      }
      case "com.microsoft:peek-message": {
        const from = sequenceNumber(request["from-sequence-number"] ?? 1);
        const count = Number(request["message-count"] ?? 1);
        const messages = broker.peek(entity, from, count);
        if (messages.length === 0) return { statusCode: 204, statusDescription: "No messages available" };
        return ok({ messages: messages.map((message) => ({ message })) });
      }
      case "com.microsoft:receive-by-sequence-number": {
        const seqs = list(request, "sequence-numbers").map(sequenceNumber);
        const delivered = broker.receiveDeferred(entity, seqs, receiveMode(request["receiver-settle-mode"]));
        await Promise.all(delivered.map((d) => d.written));
        return ok({
          messages: delivered.map((d) => ({
            ...(d.lockTokenBytes ? { "lock-token": amqpTypes.wrap_uuid(d.lockTokenBytes) } : {}),
            message: d.encoded,
          })),
        });
      }
      case "com.microsoft:update-disposition": {
        const tokens = list(request, "lock-tokens").map(lockToken);
        const status = request["disposition-status"];
        const propertiesToModify = stringProps(request["properties-to-modify"]);
        for (const token of tokens) {
          switch (status) {
            case "completed":
              await broker.settle(token, { kind: "complete" });
              break;
            case "abandoned":
              await broker.settle(token, { kind: "abandon", ...(propertiesToModify ? { propertiesToModify } : {}) });
              break;
            case "defered":
            case "deferred":
              await broker.settle(token, { kind: "defer", ...(propertiesToModify ? { propertiesToModify } : {}) });
              break;
            case "suspended": {
              const reason = request["deadletter-reason"];
              const description = request["deadletter-description"];
              await broker.settle(token, {
                kind: "deadLetter",
                ...(typeof reason === "string" ? { reason } : {}),
                ...(typeof description === "string" ? { description } : {}),
                ...(propertiesToModify ? { propertiesToModify } : {}),
              });
              break;
            }
            default:
              throw new BrokerError(conditions.invalidField, `unknown disposition-status '${String(status)}'`);
          }
        }
        return ok(undefined);
      }
      default:
        throw new BrokerError(
          conditions.notAllowed,
          `The operation '${String(operation)}' is not supported by the local Service Bus emulator.`,
        );
    }
  } catch (error) {
    if (error instanceof BrokerError) {
      return { statusCode: error.statusCode, statusDescription: error.message, errorCondition: error.condition };
    }
    return {
      statusCode: 500,
      statusDescription: (error as Error).message ?? "internal error",
      errorCondition: conditions.internalError,
    };
  }
}

function ok(body: unknown): ManagementResponse {
  return { statusCode: 200, statusDescription: "OK", ...(body !== undefined ? { body } : {}) };
}
