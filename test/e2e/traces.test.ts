import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { command as traceCommand } from "../../cli/commands/trace.js";
import { armAdmin, configureSimulation, instantSimulation } from "../../local/armAdmin.js";
import type { CollectedSpan } from "../../local/otlp/index.js";
import { provisionGalleries } from "../../local/provision.js";
import { spanAttributes } from "../../shared/observability/spanAttributes.js";
import { api, eventually, startTestStack } from "./harness.js";

type Stack = Awaited<ReturnType<typeof startTestStack>>;
const minute = 60_000;
const otlpError = 2;
const otlpClient = 3;
const otlpProducer = 4;

/** Every span of the traces that name the build, as the collector has them once everything finished was exported. */
async function spansOfBuild(stack: Stack, buildId: string): Promise<CollectedSpan[]> {
  await stack.flushTelemetry();
  const all = stack.collector.spans();
  const traces = new Set(all.filter((s) => s.attributes[spanAttributes.buildId] === buildId).map((s) => s.traceId));
  return all.filter((s) => traces.has(s.traceId));
}

/**
 * The build's spans once every parent named has arrived: an invocation still running (an event's publication, say)
 * has exported its children but not yet its own span. After `waitInMs` they are returned as they are, so that a
 * parent that never comes shows as an orphan.
 */
async function settledSpansOfBuild(stack: Stack, buildId: string, waitInMs = 20_000): Promise<CollectedSpan[]> {
  const deadline = Date.now() + waitInMs;
  for (;;) {
    const spans = await spansOfBuild(stack, buildId);
    const ids = new Set(spans.map((s) => s.spanId));
    if (spans.every((s) => s.parentSpanId === undefined || ids.has(s.parentSpanId)) || Date.now() > deadline) {
      return spans;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The spans form one tree: one trace, one root, every other span's parent in the trace. Returns the root. */
function expectOneTree(spans: CollectedSpan[]): CollectedSpan {
  expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
  const ids = new Set(spans.map((s) => s.spanId));
  expect(ids.size).toBe(spans.length);
  const roots = spans.filter((s) => s.parentSpanId === undefined);
  expect(roots.map((s) => s.name)).toHaveLength(1);
  const orphans = spans.filter((s) => s.parentSpanId !== undefined && !ids.has(s.parentSpanId));
  expect(orphans.map((s) => `${s.name} (parent ${s.parentSpanId})`)).toEqual([]);
  return roots[0]!;
}

const named = (spans: CollectedSpan[], name: string) => spans.filter((s) => s.name === name);

/** True when `span` descends from `ancestor` in the trace. */
function descendsFrom(spans: CollectedSpan[], span: CollectedSpan, ancestor: CollectedSpan): boolean {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  for (let s: CollectedSpan | undefined = span; s; s = s.parentSpanId ? byId.get(s.parentSpanId) : undefined) {
    if (s.parentSpanId === ancestor.spanId) return true;
  }
  return false;
}

describe("one trace per build, on the local stack", () => {
  let stack: Stack;
  const image = "ubuntu-2404";
  const advance = (ms: number) => armAdmin(stack.arm, "POST", "clock", { advanceByMs: ms });
  const request = async (commit: string) => {
    const { status, body } = await api(stack, "/builds", {
      method: "POST",
      body: JSON.stringify({ image, commit, reason: "push" }),
    });
    expect(status).toBe(202);
    return body.buildId as string;
  };
  const stageOf = async (buildId: string) => (await api(stack, `/builds/${buildId}`)).body?.stage as string | undefined;
  // Running, not only its template made: its phases are timed from the emulator's clock at the run's start, so the
  // clock is moved only once the run started.
  const runStarted = async (buildId: string) => {
    const { body } = await api(stack, `/builds/${buildId}`);
    return body?.stage === "building" && body.run?.runState === "Running";
  };

  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack?.dispose();
  });
  beforeEach(async () => {
    await configureSimulation(stack.arm, instantSimulation);
    await armAdmin(stack.arm, "DELETE", "rules");
    await provisionGalleries(stack.arm, stack.catalog);
  });

  it(
    "follows a build from the webhook through every queue, its re-checks and a requeue, to the timer's promotion, as one tree",
    { timeout: 120_000 },
    async () => {
      // Each step lasts a simulated minute and the test moves the emulator's clock: the run is still queued at its
      // first checks whatever the machine's speed, so the build is re-checked, and a second build of the image waits.
      await configureSimulation(stack.arm, {
        operationDurationInMs: 0,
        replication: { regionDurationInMs: minute },
        imageBuilder: {
          phaseDurationsInMs: {
            Queued: minute,
            Building: minute,
            Customizing: minute,
            Optimizing: minute,
            Validating: minute,
            Distributing: minute,
          },
          cancelDurationInMs: 0,
        },
      });
      const first = await request("a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1");
      await eventually("the first build's run to start", () => runStarted(first));
      const second = await request("b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2");
      await eventually("two checks of the first run and a requeue of the second build", async () => {
        const [a, b] = await Promise.all([spansOfBuild(stack, first), spansOfBuild(stack, second)]);
        return named(a, "watchBuild").length >= 2 && named(b, "startBuild").length >= 2;
      });

      await advance(6 * minute + 1000);
      await eventually("the first version to replicate", async () => (await stageOf(first)) === "replicating");
      await advance(2 * minute + 1000);
      await eventually("the first build's promotion", async () => {
        await stack.host.invokeTimer("monitorReplication");
        return (await stageOf(first)) === "promoted";
      });
      // What the last sweep did with the template (removed once its build is promoted) is recorded too.
      await stack.host.invokeTimer("monitorReplication");

      const spans = await settledSpansOfBuild(stack, first);
      const root = expectOneTree(spans);
      // The host's span of the webhook request is the root; the app's invocation span is its child.
      expect(root.name).toBe("Functions.buildWebhook");
      const webhook = named(spans, "buildWebhook")[0]!;
      expect(webhook.parentSpanId).toBe(root.spanId);
      expect(webhook.attributes).toMatchObject({ [spanAttributes.buildId]: first, [spanAttributes.image]: image });
      for (const name of [
        "send build-requests",
        "startBuild",
        "send build-watch",
        "send version-publish",
        "publishVersion",
        `check replication ${image}@${webhook.attributes[spanAttributes.version] ?? ""}`.replace(/@$/, ""),
      ]) {
        if (name.startsWith("check replication")) continue;
        expect(named(spans, name), name).not.toHaveLength(0);
      }
      expect(named(spans, "watchBuild").length).toBeGreaterThanOrEqual(2);
      const publish = named(spans, "publishVersion")[0]!;
      const version = publish.attributes[spanAttributes.version] as string;
      expect(version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(publish.attributes[spanAttributes.regions]).toEqual(expect.arrayContaining(["westeurope"]));
      expect(named(spans, "startBuild")[0]!.attributes).toMatchObject({
        [spanAttributes.buildId]: first,
        [spanAttributes.version]: version,
        [spanAttributes.region]: expect.any(String),
      });

      // Every hop is a child of the send that carried it: the watch re-checks chain one after the other.
      for (const watch of named(spans, "watchBuild")) {
        const send = spans.find((s) => s.spanId === watch.parentSpanId)!;
        const hop = send.name === `Functions.watchBuild` ? spans.find((s) => s.spanId === send.parentSpanId)! : send;
        expect(hop.name).toBe("send build-watch");
      }

      // The timer's work continues the build's trace from the version's tags, and links to the sweep's trace.
      const checks = named(spans, `check replication ${image}@${version}`);
      expect(checks.length).toBeGreaterThanOrEqual(1);
      const promotion = named(spans, "promote to latest");
      expect(promotion).toHaveLength(1);
      expect(descendsFrom(spans, promotion[0]!, publish)).toBe(true);
      const sweep = stack.collector.spans().find((s) => s.spanId === checks[0]!.links[0]?.spanId);
      expect(sweep?.name).toBe("monitorReplication");
      expect(sweep?.traceId).not.toBe(root.traceId);
      expect(named(spans, `remove template ${image}-${version}`)).toHaveLength(1);

      // ARM calls are child spans, through the Azure SDK's instrumentation.
      const armCalls = spans.filter(
        (s) => s.kind === otlpClient && /\/providers\/Microsoft\.Compute\//.test(String(s.attributes["http.url"])),
      );
      expect(armCalls.length).toBeGreaterThan(0);
      expect(armCalls.some((s) => descendsFrom(spans, s, promotion[0]!))).toBe(true);
      // Nothing of the pipeline's own failed (the SDK marks an expected 404, a definition not there yet, as an error).
      expect(spans.filter((s) => s.scope === "image-pipeline" && s.status.code === otlpError)).toEqual([]);

      // Every event of the build reached the topic from a publishEvent invocation of the build's trace (a child of the
      // send that carried it), and the CloudEvent's own traceparent names that send: a consumer continues the trace.
      const received = stack.eventGrid
        .events()
        .map((e) => e.event as { id: string; traceparent?: string; data: { buildId?: string } })
        .filter((e) => e.data.buildId === first);
      expect(new Set(received.map((e) => e.id))).toEqual(
        new Set(["requested", "started", "published", "promoted"].map((step) => `${first}:${step}`)),
      );
      const publishes = named(spans, "publishEvent");
      for (const event of received) {
        const carried = publishes.filter((s) => s.attributes["cloudevents.event_id"] === event.id);
        expect(carried.length, event.id).toBeGreaterThanOrEqual(1);
        const sends = spans.filter((s) => s.kind === otlpProducer && s.name === "send events");
        expect(
          carried.every((s) => sends.some((send) => descendsFrom(spans, s, send))),
          event.id,
        ).toBe(true);
        const [, traceId, spanId] = event.traceparent!.split("-");
        expect(traceId).toBe(root.traceId);
        expect(sends.map((send) => send.spanId)).toContain(spanId);
        expect(carried[0]!.attributes).toMatchObject({
          [spanAttributes.buildId]: first,
          [spanAttributes.image]: image,
        });
      }

      // Log lines carry the trace and span ids of the span they were written in.
      const lines = stack.logs
        .filter((r) => r.category === "function")
        .flatMap((r) => {
          try {
            return [JSON.parse(r.message) as Record<string, unknown>];
          } catch {
            return [];
          }
        })
        .filter((l) => l.buildId === first && l.message === "message handled");
      expect(lines.length).toBeGreaterThan(0);
      const ids = new Set(spans.map((s) => s.spanId));
      for (const line of lines) {
        expect(line.traceId).toBe(root.traceId);
        expect(ids.has(line.spanId as string)).toBe(true);
      }

      // The second build waited behind the first (requeued with a delay), then ran: its trace is one tree too.
      await eventually("the second build's run to start", () => runStarted(second));
      await advance(6 * minute + 1000);
      await eventually("the second version to replicate", async () => (await stageOf(second)) === "replicating");
      const waiting = await settledSpansOfBuild(stack, second);
      expectOneTree(waiting);
      expect(named(waiting, "startBuild").map((s) => s.attributes[spanAttributes.outcome])).toContain("waiting");

      // The CLI prints the build's tree as a waterfall.
      let out = "";
      const code = await traceCommand.run([first], {
        stdout: (t) => (out += t),
        stderr: (t) => (out += t),
        env: stack.env,
        cwd: process.cwd(),
      });
      expect(code).toBe(0);
      expect(out).toContain(`trace ${root.traceId} · ${spans.length} spans`);
      expect(out).toMatch(/\n {2}buildWebhook +│ *█+ *│ +\d+(\.\d)? m?s\n/);
      expect(out).toContain("promote to latest");
    },
  );

  it("ends a failed build's trace in an error span with the reason", async () => {
    await armAdmin(stack.arm, "POST", "rules/templates", {
      templateName: "*",
      failAt: "Customizing",
      failureMessage: "harden.sh exited with code 3",
    });
    const buildId = await request("c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3");
    await eventually("the build to fail", async () => (await stageOf(buildId)) === "failed");
    await eventually("the failure's span", async () => named(await spansOfBuild(stack, buildId), "build failed")[0]);
    const spans = await settledSpansOfBuild(stack, buildId);
    expectOneTree(spans);
    const [failure] = named(spans, "build failed");
    expect(failure!.status.code).toBe(otlpError);
    expect(failure!.status.message).toContain("harden.sh exited with code 3");
    expect(failure!.attributes[spanAttributes.buildId]).toBe(buildId);
    // It is where the build's steps end: every step of the pipeline that started after it is part of it (the calls
    // that record the failure); only the settlement of the message that carried it comes later.
    const start = BigInt(failure!.startTimeUnixNano);
    const later = spans.filter(
      (s) => s.scope === "image-pipeline" && BigInt(s.startTimeUnixNano) > start && s !== failure,
    );
    expect(later.filter((s) => !descendsFrom(spans, s, failure!)).map((s) => s.name)).toEqual([]);

    // The dashboard links the failure to its trace: the link answers this trace's spans.
    const dashboard = await api(stack, "/dashboard/data");
    const shown = (dashboard.body.images as { failures: { buildId: string; traceUrl?: string }[] }[])
      .flatMap((i) => i.failures)
      .find((f) => f.buildId === buildId);
    expect(shown?.traceUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    const linked = (await (await fetch(shown!.traceUrl!)).json()) as { spans: CollectedSpan[] };
    expect(new Set(linked.spans.map((s) => s.traceId))).toEqual(new Set([failure!.traceId]));
    expect(linked.spans.map((s) => s.spanId)).toEqual(expect.arrayContaining(spans.map((s) => s.spanId)));
  }, 120_000);

  it("gives a build the nightly timer asks for a trace of its own, from its request to its promotion, linked to the timer's run", async () => {
    const nightly = "windows-2022";
    await stack.publishCatalog({
      images: stack.catalog.images.map((i) =>
        i.name === nightly
          ? { ...i, schedule: { cron: "* * * * * *", skipIfUnchanged: false, disableAfterFailedBuilds: 3 } }
          : i,
      ),
    });
    await stack.host.invokeTimer("nightlyRebuild");
    const requested = await eventually("the nightly request's span", async () => {
      await stack.flushTelemetry();
      return stack.collector
        .spans()
        .find((s) => s.name === "request scheduled build" && s.attributes[spanAttributes.image] === nightly);
    });
    const buildId = requested.attributes[spanAttributes.buildId] as string;
    expect(buildId).toMatch(/^b-[0-9a-f]{20}$/);
    await eventually("the nightly build's promotion", async () => {
      await stack.host.invokeTimer("monitorReplication");
      return (await stageOf(buildId)) === "promoted";
    });

    const spans = await settledSpansOfBuild(stack, buildId);
    const root = expectOneTree(spans);
    expect(root.spanId).toBe(requested.spanId);
    const timerRun = stack.collector.spans().find((s) => s.spanId === requested.links[0]?.spanId);
    expect(timerRun?.name).toBe("nightlyRebuild");
    expect(timerRun?.traceId).not.toBe(root.traceId);
    for (const name of ["send build-requests", "startBuild", "watchBuild", "publishVersion", "promote to latest"]) {
      expect(named(spans, name), name).not.toHaveLength(0);
    }
    expect(named(spans, "publishEvent").map((s) => s.attributes["cloudevents.event_type"])).toEqual(
      expect.arrayContaining(["ImagePipeline.BuildRequested", "ImagePipeline.VersionPromoted"]),
    );
  }, 120_000);
});
