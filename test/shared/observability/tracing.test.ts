import { describe, expect, it } from "vitest";
import { formatTraceparent, noTracer, parseTraceparent } from "../../../shared/observability/tracing.js";

describe("W3C traceparents", () => {
  const valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

  it("are read into a remote span context and written back unchanged", () => {
    const context = parseTraceparent(valid);
    expect(context).toEqual({
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: 1,
      isRemote: true,
    });
    expect(formatTraceparent(context!)).toBe(valid);
    expect(parseTraceparent(valid.toUpperCase())).toEqual(context);
  });

  it("are refused when malformed, of another version, or with all-zero ids", () => {
    for (const bad of [
      undefined,
      "",
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
      "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "00-00000000000000000000000000000000-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
    }
  });
});

describe("the tracer that records nothing", () => {
  it("runs the work and hands no traceparent, so messages keep the one they were given", async () => {
    const result = await noTracer.inSpan("work", {}, async (span) => {
      span.fail("ignored");
      return span.traceparent ?? "none";
    });
    expect(result).toBe("none");
    expect(noTracer.activeTraceparent()).toBeUndefined();
  });
});
