import { describe, expect, it } from "vitest";
import { formatDuration, renderWaterfall, spanLabel, spanTree, type TraceSpan } from "../../cli/waterfall.js";

const ms = (n: number) => String(BigInt(1_700_000_000_000 + n) * 1_000_000n);
const span = (
  spanId: string,
  parentSpanId: string | undefined,
  from: number,
  to: number,
  extra: Partial<TraceSpan> = {},
) =>
  ({
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId,
    ...(parentSpanId ? { parentSpanId } : {}),
    name: spanId,
    startTimeUnixNano: ms(from),
    endTimeUnixNano: ms(to),
    ...extra,
  }) satisfies TraceSpan;

describe("a trace's waterfall", () => {
  const spans = [
    span("webhook", undefined, 0, 400),
    span("send", "webhook", 100, 150),
    span("startBuild", "send", 200, 1000),
    span("failed", "startBuild", 900, 1000, { status: { code: 2, message: "harden.sh exited with code 3" } }),
    span("early", "webhook", 50, 60),
  ];

  it("is a tree with children in start order", () => {
    const [root] = spanTree(spans);
    expect(root!.span.spanId).toBe("webhook");
    expect(root!.children.map((c) => c.span.spanId)).toEqual(["early", "send"]);
  });

  it("draws a line per span, indented by depth, with a bar on the trace's time line and its duration", () => {
    const lines = renderWaterfall(spans, { barWidth: 10, nameWidth: 20 });
    expect(lines[0]).toBe("trace 0af7651916cd43dd8448eb211c80319c · 5 spans · 1.0 s · from 2023-11-14T22:13:20.000Z");
    expect(lines.slice(1)).toEqual([
      "webhook              │████      │       400 ms",
      "  early              │█         │        10 ms",
      "  send               │ █        │        50 ms",
      "    startBuild       │  ████████│       800 ms",
      "      ✗ failed       │         ▒│       100 ms  harden.sh exited with code 3",
    ]);
  });

  it("marks a span whose parent is not in the trace", () => {
    const lines = renderWaterfall([span("lost", "missing0000000001", 0, 10)]);
    expect(lines[1]).toMatch(/^\? lost .*parent missing0000000001 is not in this trace$/);
  });

  it("caps the indentation of deep trees, showing the depth", () => {
    const chain = Array.from({ length: 5 }, (_, i) => span(`s${i}`, i ? `s${i - 1}` : undefined, i, i + 1));
    expect(renderWaterfall(chain, { maxIndent: 2 })[5]).toMatch(/^ {4}4› s4 /);
  });

  it("names an SDK's HTTP span by the end of its path and its status", () => {
    expect(
      spanLabel(
        span("h", undefined, 0, 1, {
          name: "HTTP GET",
          attributes: {
            "http.url": "https://management.azure.com/x/images/ubuntu-2404?api-version=1",
            "http.status_code": 404,
          },
        }),
      ),
    ).toBe("HTTP GET images/ubuntu-2404 404");
  });

  it("states durations in the unit people read", () => {
    expect([850, 12_400, 185_000, 7_800_000].map((n) => formatDuration(BigInt(n) * 1_000_000n))).toEqual([
      "850 ms",
      "12.4 s",
      "3 min 05 s",
      "2 h 10 min",
    ]);
  });
});
