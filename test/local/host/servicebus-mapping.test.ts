import type { ServiceBusReceivedMessage } from "@azure/service-bus";
import rhea from "rhea";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  decodePropertiesToModify,
  renewLockWhileRunning,
  resolveServiceBusConnection,
  serviceBusTriggerInput,
  serviceBusTriggerMetadata,
} from "../../../local/host/servicebus.js";

/** A message as @azure/service-bus hands it to a receiver, first delivery of a build request. */
function aReceivedBuildRequest(overrides: Partial<ServiceBusReceivedMessage> = {}): ServiceBusReceivedMessage {
  return {
    body: { imageName: "ubuntu-2404", reason: "webhook" },
    messageId: "build-ubuntu-2404-7f3a",
    contentType: "application/json",
    correlationId: "delivery-1",
    subject: "build-request",
    applicationProperties: { ImageName: "ubuntu-2404", Attempt: 1 },
    deliveryCount: 0,
    lockToken: "8a0b2c1d-0000-4e5f-9a8b-7c6d5e4f3a2b",
    sequenceNumber: { toNumber: () => 42 } as ServiceBusReceivedMessage["sequenceNumber"],
    enqueuedTimeUtc: new Date("2026-03-01T02:00:00.000Z"),
    expiresAtUtc: new Date("2026-03-08T02:00:00.000Z"),
    state: "active",
    _rawAmqpMessage: { body: undefined, bodyType: "data" },
    ...overrides,
  } as ServiceBusReceivedMessage;
}

describe("Service Bus trigger input and metadata", () => {
  it("carries the real host's metadata keys, camel-cased, with the delivery counted as .NET counts it", () => {
    const metadata = serviceBusTriggerMetadata(aReceivedBuildRequest());
    expect(metadata).toEqual({
      messageId: "build-ubuntu-2404-7f3a",
      deliveryCount: 1,
      lockToken: "8a0b2c1d-0000-4e5f-9a8b-7c6d5e4f3a2b",
      sequenceNumber: 42,
      enqueuedTimeUtc: "2026-03-01T02:00:00.000Z",
      enqueuedTime: "2026-03-01T02:00:00.000Z",
      expiresAtUtc: "2026-03-08T02:00:00.000Z",
      expiresAt: "2026-03-08T02:00:00.000Z",
      contentType: "application/json",
      correlationId: "delivery-1",
      subject: "build-request",
      label: "build-request",
      applicationProperties: { imageName: "ubuntu-2404", attempt: 1 },
      userProperties: { imageName: "ubuntu-2404", attempt: 1 },
    });
  });

  it("hands the function JSON as objects, other text as strings and bytes as a Buffer", () => {
    expect(serviceBusTriggerInput({ imageName: "ubuntu-2404" })).toEqual({ imageName: "ubuntu-2404" });
    expect(serviceBusTriggerInput('{"imageName":"ubuntu-2404"}')).toEqual({ imageName: "ubuntu-2404" });
    expect(serviceBusTriggerInput("not json")).toBe("not json");
    const bytes = serviceBusTriggerInput(new Uint8Array([0xde, 0xad]));
    expect(Buffer.isBuffer(bytes) && bytes.equals(Buffer.from([0xde, 0xad]))).toBe(true);
  });

  it("decodes propertiesToModify from the AMQP map encoding the settlement API uses", () => {
    const writer = new (
      rhea.types as unknown as { Writer: new () => { write(v: unknown): void; toBuffer(): Buffer } }
    ).Writer();
    writer.write(rhea.types.wrap_map({ FailureReason: "ImageBuilderFailed", Attempt: 3 }));
    expect(decodePropertiesToModify(writer.toBuffer())).toEqual({ FailureReason: "ImageBuilderFailed", Attempt: 3 });
    expect(decodePropertiesToModify(new Uint8Array())).toBeUndefined();
  });
});

describe("Service Bus connections", () => {
  it("use the setting as a connection string, or AzureWebJobs<name>", () => {
    const cs = "Endpoint=sb://localhost:5672;SharedAccessKeyName=k;SharedAccessKey=x;UseDevelopmentEmulator=true";
    expect(resolveServiceBusConnection("ServiceBusConnection", { ServiceBusConnection: cs })).toEqual({
      kind: "connectionString",
      connectionString: cs,
    });
    expect(resolveServiceBusConnection("ServiceBusConnection", { AzureWebJobsServiceBusConnection: cs }).kind).toBe(
      "connectionString",
    );
  });

  it("use an identity when only <name>__fullyQualifiedNamespace is set", () => {
    expect(
      resolveServiceBusConnection("ServiceBusConnection", {
        ServiceBusConnection__fullyQualifiedNamespace: "sb-imgpipe.servicebus.windows.net",
        ServiceBusConnection__clientId: "0b4c6d2e-1111-4a3b-9c8d-7e6f5a4b3c2d",
      }),
    ).toEqual({
      kind: "identity",
      fullyQualifiedNamespace: "sb-imgpipe.servicebus.windows.net",
      clientId: "0b4c6d2e-1111-4a3b-9c8d-7e6f5a4b3c2d",
    });
  });

  it("refuse a connection that is not configured, without quoting any value", () => {
    expect(() => resolveServiceBusConnection("ServiceBusConnection", { OTHER: "x" })).toThrow(
      /ServiceBusConnection__fullyQualifiedNamespace/,
    );
  });
});

describe("lock renewal while a function runs", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A receiver whose renewals extend the lock by the queue's 30 s lock duration. */
  function aRenewingReceiver() {
    const renewals: number[] = [];
    return {
      renewals,
      renewMessageLock: async () => {
        renewals.push(Date.now());
        return new Date(Date.now() + 30_000);
      },
    };
  }

  it("renews 10 s before the lock expires, and stops renewing after maxAutoLockRenewalDuration", async () => {
    vi.useFakeTimers({ now: 0, toFake: ["setTimeout", "clearTimeout", "Date"] });
    const receiver = aRenewingReceiver();
    const message = aReceivedBuildRequest({ lockedUntilUtc: new Date(30_000) });
    const stop = renewLockWhileRunning(
      receiver,
      message,
      75_000,
      () => false,
      () => undefined,
    );
    await vi.advanceTimersByTimeAsync(200_000);
    expect(receiver.renewals).toEqual([20_000, 40_000, 60_000]);
    stop();
  });

  it("stops when the function returns or settles the message", async () => {
    vi.useFakeTimers({ now: 0, toFake: ["setTimeout", "clearTimeout", "Date"] });
    const returned = aRenewingReceiver();
    const stop = renewLockWhileRunning(
      returned,
      aReceivedBuildRequest({ lockedUntilUtc: new Date(30_000) }),
      300_000,
      () => false,
      () => undefined,
    );
    await vi.advanceTimersByTimeAsync(25_000);
    stop();
    await vi.advanceTimersByTimeAsync(100_000);
    expect(returned.renewals).toEqual([20_000]);

    const settledReceiver = aRenewingReceiver();
    renewLockWhileRunning(
      settledReceiver,
      aReceivedBuildRequest({ lockedUntilUtc: new Date(130_000) }),
      300_000,
      () => true,
      () => undefined,
    );
    await vi.advanceTimersByTimeAsync(200_000);
    expect(settledReceiver.renewals).toEqual([]);
  });
});
