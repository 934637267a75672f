import { buildIdSchema } from "../../shared/messages/index.js";
import { spanAttributes } from "../../shared/observability/spanAttributes.js";
import { cliSettings } from "../settings.js";
import type { CliCommand } from "../command.js";
import { exitCodes } from "../command.js";
import { lines, parse } from "../args.js";
import { renderWaterfall, type TraceSpan } from "../waterfall.js";

/** Where a build's trace is in Azure: Application Insights (the query to run in its Logs). */
function applicationInsightsHint(buildId: string): string {
  return [
    "In Azure, a build's trace is in Application Insights. In its Logs, find the operation:",
    `  union dependencies, requests, traces | where customDimensions["${spanAttributes.buildId}"] == "${buildId}" | distinct operation_Id`,
    'then open it in "Transaction search" (end-to-end transaction details) to see its spans as a waterfall.',
  ].join("\n");
}

/** `trace <buildId>`: the build's span tree with durations, as a waterfall, from the local stack's collector. */
export const command: CliCommand = {
  name: "trace",
  summary: "print a build's trace (its span tree with durations) as a waterfall",
  usage: "trace <buildId> [--json]",
  async run(argv, rawIo) {
    const io = lines(rawIo);
    const args = parse(argv, { json: { type: "boolean" } });
    const buildId = buildIdSchema.safeParse(args.positionals[0]);
    if (!buildId.success || args.positionals.length !== 1) {
      io.error(`usage: image-pipeline trace <buildId> (a build id such as b-0123456789abcdef0123)`);
      return exitCodes.usage;
    }
    const endpoint = cliSettings(rawIo.env).OTEL_EXPORTER_OTLP_ENDPOINT;
    if (!endpoint) {
      io.error("no trace collector configured (OTEL_EXPORTER_OTLP_ENDPOINT; npm start runs one).");
      io.error(applicationInsightsHint(buildId.data));
      return exitCodes.failed;
    }
    const url = new URL("_collector/traces", endpoint.endsWith("/") ? endpoint : `${endpoint}/`);
    url.searchParams.set("attribute", spanAttributes.buildId);
    url.searchParams.set("value", buildId.data);
    let spans: TraceSpan[];
    try {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
      spans = ((await response.json()) as { spans: TraceSpan[] }).spans;
    } catch (error) {
      io.error(`the collector at ${endpoint} cannot be read (${error instanceof Error ? error.message : error}).`);
      io.error("It is the local stack's: is npm start running? Against Azure:");
      io.error(applicationInsightsHint(buildId.data));
      return exitCodes.failed;
    }
    if (spans.length === 0) {
      io.error(`no spans of build ${buildId.data} yet (spans reach the collector within a second of ending)`);
      return exitCodes.failed;
    }
    if (args.flags.json === true) {
      io.out(JSON.stringify(spans, null, 2));
      return exitCodes.ok;
    }
    // One trace per build; another one is a repeated request of the same build (its send was a duplicate), or an
    // operator's control or a prune run that sent an event about the build.
    const traces = new Map<string, TraceSpan[]>();
    for (const span of spans) traces.set(span.traceId, [...(traces.get(span.traceId) ?? []), span]);
    const ordered = [...traces.values()].sort((a, b) => b.length - a.length);
    for (const [i, trace] of ordered.entries()) {
      if (i === 1) io.out("\nother traces naming this build (repeated requests, operator controls, retention):");
      for (const line of renderWaterfall(trace)) io.out(line);
    }
    return exitCodes.ok;
  },
};
