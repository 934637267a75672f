import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOtlpCollector, type OtlpCollector } from "../../../local/otlp/index.js";

const traceId = "5B8EFFF798038103D269B633813FC60C";
const span = (spanId: string, extra: Record<string, unknown> = {}) => ({
  traceId,
  spanId,
  name: `span ${spanId}`,
  kind: 2,
  startTimeUnixNano: "1700000000000000000",
  endTimeUnixNano: 1700000000500000000,
  attributes: [
    { key: "build", value: { stringValue: "b-1" } },
    { key: "count", value: { intValue: "3" } },
    { key: "regions", value: { arrayValue: { values: [{ stringValue: "westeurope" }] } } },
  ],
  status: { code: 2, message: "boom" },
  unknownField: "ignored",
  ...extra,
});
const request = (spans: unknown[]) => ({
  resourceSpans: [
    {
      resource: { attributes: [{ key: "service.name", value: { stringValue: "app" } }] },
      scopeSpans: [{ scope: { name: "s" }, spans }],
    },
  ],
});

describe("the local OTLP collector", () => {
  let stateDir: string;
  let collector: OtlpCollector;
  const post = (body: string | Buffer, headers: Record<string, string> = { "content-type": "application/json" }) =>
    fetch(`${collector.endpoint}/v1/traces`, { method: "POST", headers, body });

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "otlp-"));
    collector = await startOtlpCollector({ stateDir });
  });
  afterAll(async () => {
    await collector?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("accepts OTLP/HTTP JSON, hex ids in any case, and ignores unknown fields", async () => {
    const response = await post(JSON.stringify(request([span("00F067AA0BA902B7")])));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toEqual({});
    expect(collector.spans().at(-1)).toMatchObject({
      traceId: traceId.toLowerCase(),
      spanId: "00f067aa0ba902b7",
      name: "span 00F067AA0BA902B7",
      startTimeUnixNano: "1700000000000000000",
      endTimeUnixNano: "1700000000500000000",
      attributes: { build: "b-1", count: 3, regions: ["westeurope"] },
      status: { code: 2, message: "boom" },
      resource: { "service.name": "app" },
      scope: "s",
    });
  });

  it("accepts a gzip body and an empty request", async () => {
    const gzip = gzipSync(JSON.stringify(request([span("1111111111111111", { parentSpanId: "00f067aa0ba902b7" })])));
    const response = await post(gzip, { "content-type": "application/json", "content-encoding": "gzip" });
    expect(response.status).toBe(200);
    expect(collector.spans().at(-1)?.parentSpanId).toBe("00f067aa0ba902b7");
    expect((await post("")).status).toBe(200);
  });

  it("rejects spans with invalid ids as a partial success, keeping the others", async () => {
    const before = collector.spans().length;
    const response = await post(
      JSON.stringify(request([span("0000000000000000"), span("abc"), span("2222222222222222")])),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      partialSuccess: { rejectedSpans: "2", errorMessage: expect.stringContaining("16-hex-digit spanId") },
    });
    expect(collector.spans().length).toBe(before + 1);
  });

  it("answers 400 for a body that is not an export request, 415 for protobuf, 405 and 404 elsewhere", async () => {
    expect((await post("{not json")).status).toBe(400);
    const notArray = await post(JSON.stringify({ resourceSpans: {} }));
    expect(notArray.status).toBe(400);
    expect(await notArray.json()).toEqual({ message: "resourceSpans is not an array" });
    const protobuf = await post(Buffer.from([0x0a]), { "content-type": "application/x-protobuf" });
    expect(protobuf.status).toBe(415);
    expect(((await protobuf.json()) as { message: string }).message).toContain("application/json");
    expect((await fetch(`${collector.endpoint}/v1/traces`)).status).toBe(405);
    expect((await fetch(`${collector.endpoint}/v1/metrics`, { method: "POST" })).status).toBe(404);
  });

  it("returns every span of the traces holding a span with an attribute, and keeps them across a restart", async () => {
    await post(
      JSON.stringify(
        request([span("3333333333333333", { traceId: "0af7651916cd43dd8448eb211c80319c", attributes: [] })]),
      ),
    );
    const query = async () => {
      const response = await fetch(`${collector.endpoint}/_collector/traces?attribute=build&value=b-1`);
      return ((await response.json()) as { spans: { traceId: string }[] }).spans;
    };
    const found = await query();
    expect(found.length).toBeGreaterThan(0);
    expect(new Set(found.map((s) => s.traceId))).toEqual(new Set([traceId.toLowerCase()]));
    await collector.stop();
    collector = await startOtlpCollector({ stateDir });
    expect(await query()).toEqual(found);
  });
});
