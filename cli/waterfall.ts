/** A span as the CLI reads it from a collector (OTLP's fields; times in nanoseconds since the epoch, as strings). */
export interface TraceSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: Record<string, unknown>;
  /** OTLP's status code: 2 is an error. */
  status?: { code: number; message?: string };
}

/** A span in its trace's tree. */
export interface SpanNode {
  span: TraceSpan;
  children: SpanNode[];
  /** True when the span names a parent that is not in the trace. */
  orphan: boolean;
}

const startOf = (s: TraceSpan) => BigInt(s.startTimeUnixNano);
const endOf = (s: TraceSpan) => BigInt(s.endTimeUnixNano);
const byStart = (a: SpanNode, b: SpanNode) => {
  const d = startOf(a.span) - startOf(b.span);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
};

/** The spans of one trace as a forest: roots (and orphans, marked) in start order, children in start order. */
export function spanTree(spans: readonly TraceSpan[]): SpanNode[] {
  const nodes = new Map(spans.map((span) => [span.spanId, { span, children: [], orphan: false } as SpanNode]));
  const roots: SpanNode[] = [];
  for (const node of nodes.values()) {
    const parentId = node.span.parentSpanId;
    const parent = parentId ? nodes.get(parentId) : undefined;
    if (parent) parent.children.push(node);
    else {
      node.orphan = parentId !== undefined;
      roots.push(node);
    }
  }
  for (const node of nodes.values()) node.children.sort(byStart);
  return roots.sort(byStart);
}

/** A duration for people: 850 ms, 12.4 s, 3 min 05 s, 2 h 10 min. */
export function formatDuration(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/**
 * What a line names: the span's name, and for an HTTP call (the Azure SDK's spans) the end of its path and its status,
 * e.g. `HTTP GET images/ubuntu-2404 404`.
 */
export function spanLabel(span: TraceSpan): string {
  const url = span.attributes?.["http.url"];
  if (typeof url !== "string") return span.name;
  let tail = url;
  try {
    tail = new URL(url).pathname.split("/").filter(Boolean).slice(-2).join("/");
  } catch {
    // not a URL: shown as it is
  }
  const status = span.attributes?.["http.status_code"] ?? span.attributes?.["http.response.status_code"];
  return `${span.name} ${tail}${status !== undefined ? ` ${String(status)}` : ""}`;
}

export interface WaterfallOptions {
  /** Characters of the bar column (default 40). */
  barWidth?: number;
  /** Characters of the name column, indentation included (default 56). */
  nameWidth?: number;
  /** Deepest indentation shown; deeper spans are drawn at this depth with their depth number (default 16). */
  maxIndent?: number;
}

/**
 * One trace as a text waterfall: a line per span in tree order (indented by depth), a bar placing it on the trace's
 * time line, its duration, and the reason of a failed span. Orphans (a parent not in the trace) are marked.
 */
export function renderWaterfall(spans: readonly TraceSpan[], options: WaterfallOptions = {}): string[] {
  if (spans.length === 0) return [];
  const barWidth = options.barWidth ?? 40;
  const nameWidth = options.nameWidth ?? 56;
  const maxIndent = options.maxIndent ?? 16;
  const t0 = spans.reduce((m, s) => (startOf(s) < m ? startOf(s) : m), startOf(spans[0]!));
  const t1 = spans.reduce((m, s) => (endOf(s) > m ? endOf(s) : m), endOf(spans[0]!));
  const total = t1 - t0 > 0n ? t1 - t0 : 1n;
  const column = (t: bigint) => Number(((t - t0) * BigInt(barWidth)) / total);
  const lines = [
    `trace ${spans[0]!.traceId} · ${spans.length} spans · ${formatDuration(t1 - t0)} · from ${new Date(Number(t0 / 1_000_000n)).toISOString()}`,
  ];
  const draw = (node: SpanNode, depth: number) => {
    const { span } = node;
    const failed = span.status?.code === 2;
    const indent = "  ".repeat(Math.min(depth, maxIndent)) + (depth > maxIndent ? `${depth}› ` : "");
    const mark = node.orphan ? "? " : failed ? "✗ " : "";
    let label = `${indent}${mark}${spanLabel(span)}`;
    if (label.length > nameWidth) label = `${label.slice(0, nameWidth - 1)}…`;
    const from = Math.min(column(startOf(span)), barWidth - 1);
    const to = Math.max(from + 1, Math.min(column(endOf(span)), barWidth));
    const bar = " ".repeat(from) + (failed ? "▒" : "█").repeat(to - from) + " ".repeat(barWidth - to);
    const notes = [
      node.orphan ? `parent ${span.parentSpanId} is not in this trace` : undefined,
      failed ? (span.status?.message ?? "failed") : undefined,
    ].filter(Boolean);
    lines.push(
      `${label.padEnd(nameWidth)} │${bar}│ ${formatDuration(endOf(span) - startOf(span)).padStart(12)}${notes.length ? `  ${notes.join("; ")}` : ""}`,
    );
    for (const child of node.children) draw(child, depth + 1);
  };
  for (const root of spanTree(spans)) draw(root, 0);
  return lines;
}
