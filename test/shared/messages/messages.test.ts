import { describe, expect, it } from "vitest";
import { loadQueueConfig } from "../../../shared/config/queues.js";
import {
  buildFactsOf,
  buildRequestedSchema,
  buildWatchSchema,
  deriveBuildId,
  newTraceparent,
  publishVersionSchema,
  queues,
} from "../../../shared/messages/index.js";

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
  it("give each queue of queues.json exactly one contract", () => {
    expect(Object.keys(queues).sort()).toEqual(
      loadQueueConfig()
        .queues.map((q) => q.name)
        .sort(),
    );
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
    const watch = (checkCount: number) =>
      buildWatchSchema.parse({
        ...inFlight,
        kind: "BuildWatch",
        checkCount,
        nextDelayInSeconds: 60,
        deadlineAt: "2026-11-23T04:00:00.000Z",
      });
    expect(queues["build-watch"].messageId(watch(3))).toBe(`${envelope.buildId}:watch:3`);
    const request = (attempt: number) => buildRequestedSchema.parse({ ...envelope, kind: "BuildRequested", attempt });
    expect(queues["build-requests"].messageId(request(1))).not.toBe(queues["build-requests"].messageId(request(0)));
    const publish = publishVersionSchema.parse({
      ...inFlight,
      kind: "PublishVersion",
      versionId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.4",
      runEndedAt: "2026-11-23T02:40:00.000Z",
    });
    expect(queues["version-publish"].messageId(publish)).toBe(`${envelope.buildId}:publish`);
  });

  it("continue a trace: a child traceparent keeps the trace id and gets a new span", () => {
    const child = newTraceparent(envelope.traceparent);
    expect(child.split("-")[1]).toBe(envelope.traceparent.split("-")[1]);
    expect(child.split("-")[2]).not.toBe(envelope.traceparent.split("-")[2]);
  });

  it("name the build a message is about, at its top or in an event's data, from any body", () => {
    expect(buildFactsOf({ ...inFlight, kind: "BuildWatch" })).toEqual({
      buildId: envelope.buildId,
      image: "ubuntu-2404",
      version: "1.0.4",
    });
    const event = {
      id: `${envelope.buildId}:published`,
      data: { buildId: envelope.buildId, image: "x", version: "2.0.0" },
    };
    expect(buildFactsOf(event)).toEqual({ buildId: envelope.buildId, image: "x", version: "2.0.0" });
    expect(buildFactsOf({ buildId: 7, image: ["a"] })).toEqual({
      buildId: undefined,
      image: undefined,
      version: undefined,
    });
    expect(buildFactsOf("not an object")).toEqual({});
    expect(buildFactsOf(null)).toEqual({});
  });
});
