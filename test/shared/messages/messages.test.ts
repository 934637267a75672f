import { describe, expect, it } from "vitest";
import {
  buildRequestedSchema,
  buildWatchSchema,
  deriveBuildId,
  messageIds,
  newTraceparent,
  publishVersionSchema,
  queueMessageSchemas,
} from "../../../shared/messages/index.js";
import { queueNames } from "../../../shared/config/queues.js";

const envelope = {
  schemaVersion: 2 as const,
  buildId: deriveBuildId({ image: "ubuntu-2404", commit: "9fceb02d0ae598e95dc970b74767f19372d61af8" }),
  image: "ubuntu-2404",
  commit: "9fceb02d0ae598e95dc970b74767f19372d61af8",
  ref: "refs/heads/main",
  reason: "push" as const,
  requestedBy: "octocat",
  requestedAt: "2026-11-23T02:00:00.000Z",
  traceparent: newTraceparent(),
};
const inFlight = {
  ...envelope,
  version: "1.0.4",
  catalogHash: "0123456789abcdef0123",
  templateName: "ubuntu-2404-1.0.4",
  templateResourceGroup: "rg-image-builder",
  runStartedAt: "2026-11-23T02:01:00.000Z",
};

describe("the message contracts", () => {
  it("give each queue exactly one schema", () => {
    expect(Object.keys(queueMessageSchemas).sort()).toEqual(Object.values(queueNames).sort());
  });

  it("derive the same build id from the same request, and different ones otherwise", () => {
    const a = deriveBuildId({ image: "ubuntu-2404", commit: "abc1234" });
    expect(deriveBuildId({ image: "ubuntu-2404", commit: "abc1234", ref: "refs/heads/other" })).toBe(a);
    expect(deriveBuildId({ image: "windows-2022", commit: "abc1234" })).not.toBe(a);
    expect(deriveBuildId({ image: "ubuntu-2404", commit: "abc1234", nonce: "force:1" })).not.toBe(a);
    expect(deriveBuildId({ image: "ubuntu-2404", ref: "refs/tags/v1" })).not.toBe(
      deriveBuildId({ image: "ubuntu-2404", ref: "refs/tags/v2" }),
    );
    expect(a).toMatch(/^b-[0-9a-f]{20}$/);
  });

  it("carry everything the next step needs, and parse what the producers send", () => {
    expect(buildRequestedSchema.parse({ ...envelope, kind: "BuildRequested" })).toMatchObject({
      attempt: 0,
      force: false,
    });
    const watch = buildWatchSchema.parse({
      ...inFlight,
      kind: "BuildWatch",
      checkCount: 2,
      nextDelayInSeconds: 120,
      deadlineAt: "2026-11-23T04:00:00.000Z",
    });
    expect(watch.timedOut).toBe(false);
    expect(
      publishVersionSchema.parse({
        ...inFlight,
        kind: "PublishVersion",
        versionId:
          "/subscriptions/s/resourceGroups/rg-golden-images/providers/Microsoft.Compute/galleries/g/images/ubuntu-2404/versions/1.0.4",
        runEndedAt: "2026-11-23T02:40:00.000Z",
      }),
    ).toMatchObject({ version: "1.0.4", runState: "Succeeded" });
  });

  it("refuse versions outside int32, bad trace contexts and unknown schema versions", () => {
    const bad = [
      { ...inFlight, version: "1.0.2147483648" },
      { ...inFlight, traceparent: "01-xyz" },
      { ...inFlight, schemaVersion: 1 },
      { ...inFlight, buildId: "../../etc" },
    ];
    for (const message of bad) {
      const result = buildWatchSchema.safeParse({
        ...message,
        kind: "BuildWatch",
        checkCount: 0,
        nextDelayInSeconds: 60,
        deadlineAt: "2026-11-23T04:00:00.000Z",
      });
      expect(result.success, JSON.stringify(message).slice(0, 80)).toBe(false);
    }
  });

  it("name messages so that a repeated send is a duplicate and a new step is not", () => {
    expect(messageIds.buildWatch({ buildId: envelope.buildId, checkCount: 3 })).toBe(`${envelope.buildId}:watch:3`);
    expect(messageIds.buildRequested({ buildId: envelope.buildId, attempt: 1 })).not.toBe(
      messageIds.buildRequested({ buildId: envelope.buildId, attempt: 0 }),
    );
    expect(messageIds.publishVersion({ buildId: envelope.buildId })).toBe(`${envelope.buildId}:publish`);
  });

  it("continue a trace: a child traceparent keeps the trace id and gets a new span", () => {
    const child = newTraceparent(envelope.traceparent);
    expect(child.split("-")[1]).toBe(envelope.traceparent.split("-")[1]);
    expect(child.split("-")[2]).not.toBe(envelope.traceparent.split("-")[2]);
  });
});
