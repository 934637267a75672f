import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TokenCredential } from "@azure/core-auth";
import { AzureKeyCredential, EventGridPublisherClient, type SendCloudEventInput } from "@azure/eventgrid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emulatorToken, startEventGridEmulator, type EventGridEmulator } from "../../../local/eventgrid/index.js";

const tokenOf = (token: string): TokenCredential => ({
  getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }),
});

const anEvent = (id: string, extra: Partial<SendCloudEventInput<unknown>> = {}): SendCloudEventInput<unknown> => ({
  type: "Example.Happened",
  source: "/tests/topic",
  id,
  subject: "things/1",
  data: { n: 1 },
  ...extra,
});

/** A publish request without the SDK, for what the SDK itself never sends. */
function raw(
  topic: EventGridEmulator,
  options: { path?: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: { error?: { code: string; message: string; details: unknown[] } } }> {
  const url = new URL(options.path ?? "/api/events?api-version=2018-01-01", topic.endpoint);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        ca: topic.caCertPem,
        headers: {
          authorization: `Bearer ${emulatorToken}`,
          "content-type": "application/cloudevents-batch+json; charset=utf-8",
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} });
        });
      },
    );
    req.on("error", reject);
    req.end(options.body ?? "[]");
  });
}

describe("the local Event Grid topic, published to with the real @azure/eventgrid client", () => {
  let topic: EventGridEmulator;
  let stateDir: string;
  const client = (credential: TokenCredential | AzureKeyCredential = tokenOf(emulatorToken), endpoint?: string) =>
    new EventGridPublisherClient(endpoint ?? topic.endpoint, "CloudEvent", credential, {
      tlsOptions: { ca: topic.caCertPem },
      retryOptions: { retryDelayInMs: 10, maxRetryDelayInMs: 20 },
    });

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "eventgrid-"));
    topic = await startEventGridEmulator({ stateDir });
  });
  afterAll(async () => {
    await topic?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });
  it("accepts a CloudEvents batch from an Entra ID token and keeps the events in order, extensions included", async () => {
    const before = topic.events().length;
    await client().send([
      anEvent("e-1", {
        extensionAttributes: { sequence: "0100", traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01` },
      }),
      anEvent("e-2"),
    ]);
    const kept = topic.events(before);
    expect(kept.map((e) => e.event.id)).toEqual(["e-1", "e-2"]);
    expect(kept[0]!.event).toMatchObject({
      specversion: "1.0",
      type: "Example.Happened",
      source: "/tests/topic",
      subject: "things/1",
      datacontenttype: "application/json",
      data: { n: 1 },
      sequence: "0100",
      traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01`,
    });
    expect(kept[1]!.n).toBe(kept[0]!.n + 1);
  });

  it("refuses a token it does not know, and access keys while local auth is disabled, with 401", async () => {
    await expect(client(tokenOf("someone-else")).send([anEvent("x")])).rejects.toMatchObject({
      statusCode: 401,
      message: expect.stringContaining("is not authorized for"),
    });
    await expect(client(new AzureKeyCredential("a-key")).send([anEvent("x")])).rejects.toMatchObject({
      statusCode: 401,
      message: expect.stringContaining("Local authentication"),
    });
    const none = await raw(topic, { headers: { authorization: "" } });
    expect(none.status).toBe(401);
    expect(none.body.error?.message).toContain("aeg-sas-token, aeg-sas-key");
  });

  it("answers 404 on any other path, with Event Grid's error body", async () => {
    const other = topic.endpoint.replace("/api/events", "/api/other");
    await expect(client(undefined, other).send([anEvent("x")])).rejects.toMatchObject({ statusCode: 404 });
    const answer = await raw(topic, { path: "/api/other?api-version=2018-01-01" });
    expect(answer.body.error).toEqual({
      code: "NotFound",
      message: expect.any(String),
      details: [{ code: "NotFound", message: answer.body.error!.message }],
    });
  });

  it("refuses with 400 what is not a CloudEvents 1.0 batch: no api-version, wrong content type, missing or bad attributes", async () => {
    const cases: [string, Parameters<typeof raw>[1], string][] = [
      ["no api-version", { path: "/api/events" }, "api-version"],
      ["an Event Grid schema body", { headers: { "content-type": "application/json" } }, "CloudEvents 1.0"],
      ["an object for a batch", { body: JSON.stringify({ id: "1" }) }, "JSON array"],
      ["not JSON", { body: "[{" }, "not valid JSON"],
      ["no type", { body: JSON.stringify([{ id: "1", source: "/s", specversion: "1.0" }]) }, "'type'"],
      ["specversion 0.3", { body: JSON.stringify([{ id: "1", source: "/s", specversion: "0.3", type: "t" }]) }, "0.3"],
      [
        "an upper-case attribute",
        { body: JSON.stringify([{ id: "1", source: "/s", specversion: "1.0", type: "t", Bad: 1 }]) },
        "Bad",
      ],
      [
        "a bad time",
        { body: JSON.stringify([{ id: "1", source: "/s", specversion: "1.0", type: "t", time: "yesterday" }]) },
        "RFC 3339",
      ],
    ];
    for (const [what, options, expected] of cases) {
      const answer = await raw(topic, options);
      expect({ what, status: answer.status, code: answer.body.error?.code }).toEqual({
        what,
        status: 400,
        code: "BadRequest",
      });
      expect(answer.body.error?.message, what).toContain(expected);
    }
  });

  it("refuses an event or a batch over 1 MB with 413", async () => {
    const big = "x".repeat(1_048_600);
    await expect(client().send([anEvent("big", { data: { big } })])).rejects.toMatchObject({ statusCode: 413 });
    const halves = [
      anEvent("a", { data: { big: big.slice(0, 600_000) } }),
      anEvent("b", { data: { big: big.slice(0, 600_000) } }),
    ];
    await expect(client().send(halves)).rejects.toMatchObject({ statusCode: 413 });
  });

  it("answers injected 429 and 503 (with Retry-After), which the client retries until the topic serves again", async () => {
    const before = topic.counters();
    topic.inject({ status: 503, count: 1 });
    topic.inject({ status: 429, count: 1, retryAfterInSeconds: 0 });
    await client().send([anEvent("after-faults")]);
    const after = topic.counters();
    expect((after.refused["503"] ?? 0) - (before.refused["503"] ?? 0)).toBe(1);
    expect((after.refused["429"] ?? 0) - (before.refused["429"] ?? 0)).toBe(1);
    expect(topic.events().at(-1)!.event.id).toBe("after-faults");
  });

  it("answers a fault aimed at one event's id to the batches that carry it only", async () => {
    topic.inject({ status: 400, count: 1, eventId: "aimed-at", message: "refused on purpose" });
    await client().send([anEvent("passer-by")]);
    await expect(client().send([anEvent("other"), anEvent("aimed-at")])).rejects.toMatchObject({
      statusCode: 400,
      message: expect.stringContaining("refused on purpose"),
    });
    await client().send([anEvent("aimed-at")]);
    expect(topic.events().map((e) => e.event.id)).toEqual(expect.arrayContaining(["passer-by", "aimed-at"]));
    expect(topic.events().map((e) => e.event.id)).not.toContain("other");
  });

  it("keeps its events across a restart", async () => {
    const count = topic.events().length;
    await topic.stop();
    topic = await startEventGridEmulator({ stateDir });
    expect(topic.events()).toHaveLength(count);
    await client().send([anEvent("after-restart")]);
    expect(topic.events().at(-1)).toMatchObject({ n: count + 1, event: { id: "after-restart" } });
  });
});
