/**
 * The long reliability run (issue 16): builds kept in flight across several images while the host, the Service Bus
 * emulator, the ARM emulator and the Event Grid topic are killed with SIGKILL at random points (including
 * mid-settlement and mid-LRO) and restarted on their state and port, with ARM faults (5% 5xx, 2% 429) and ARM's throttling (Azure's numbers) on, and
 * a storm of malformed messages in the middle. Prints a summary and writes bench/results/reliability.json.
 *
 * `npm run reliability [-- --kills 100 --images 24 --in-flight 20 --poison 1000 --seed 1]`
 *
 * Everything runs as its own process: the ARM emulator (`local/arm/main.ts`), the Service Bus emulator
 * (`local/servicebus/main.ts`), the Event Grid topic the events go to (`local/eventgrid/main.ts`), Azurite (the
 * catalog blob; never killed) and the local Functions host (`local/host/main.ts`, timers on: the replication monitor
 * and its leftovers sweep every 5 s).
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ServiceBusClient, type ServiceBusReceivedMessage } from "@azure/service-bus";
import { armAdmin, configureSimulation } from "../local/armAdmin.js";
import { startAzurite, type Azurite } from "../local/azurite/index.js";
import { provisionCatalogContainer, provisionGalleries } from "../local/provision.js";
import { loadQueueConfig } from "../shared/config/queues.js";
import { buildEventId } from "../shared/events/index.js";
import { deriveBuildId, messageSchemaVersion } from "../shared/messages/index.js";
import { aCatalogImageInput } from "../test/factories.js";
import {
  allQueues,
  armSnapshot,
  briefSimulation,
  pipelineSettings,
  postBuild,
  publishTestCatalog,
  startArmProcess,
  startChildHost,
  startEventGridProcess,
  startServiceBusProcess,
  terminalStateOf,
  type ChildHost,
  type EmulatorProcess,
} from "../test/reliability/support.js";
import { armTokenBuckets, type ArmCounters } from "./lib/arm.js";
import { distribution, table } from "./lib/stats.js";
import { withDeadline, writeResult } from "./lib/results.js";

const { values: argv } = parseArgs({
  options: {
    kills: { type: "string", default: "100" },
    images: { type: "string", default: "24" },
    "in-flight": { type: "string", default: "20" },
    poison: { type: "string", default: "1000" },
    seed: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const scenario = {
  kills: Number(argv.kills),
  images: Number(argv.images),
  inFlight: Number(argv["in-flight"]),
  poison: Number(argv.poison),
  seed: argv.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(argv.seed),
  /** Of every 20 kills: 13 of the host, 3 of the Service Bus emulator, 3 of the ARM emulator, 1 of the Event Grid topic. */
  targets: { host: 0.65, servicebus: 0.15, arm: 0.15, eventgrid: 0.05 },
  faults: { "429": 0.02, "500": 0.025, "503": 0.025 },
  lockDuration: "PT5S",
  monitorSchedule: "*/5 * * * * *",
  /** The poison storm starts right after this kill. */
  stormAfterKill: 0,
};
scenario.stormAfterKill = Math.floor(scenario.kills / 3);
for (const [name, n] of Object.entries({ kills: scenario.kills, images: scenario.images, inFlight: scenario.inFlight }))
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);

/** A seeded generator, so that a run's plan (targets, modes, gaps) can be replayed with `--seed`. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = seededRandom(scenario.seed);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const started = performance.now();
const elapsed = () => Math.round(performance.now() - started);

type Target = "host" | "servicebus" | "arm" | "eventgrid";
const targets = ["host", "servicebus", "arm", "eventgrid"] as const;
type Mode = "random" | "mid-settlement" | "mid-lro";
/** What each target may be killed during. */
const modesOf: Record<Target, readonly Mode[]> = {
  host: ["random", "mid-settlement", "mid-lro"],
  servicebus: ["random", "mid-settlement"],
  arm: ["random", "mid-lro"],
  eventgrid: ["random"],
};

/** Lines of the pipeline's log written right before or while it calls ARM in a long-running operation. */
const lroLines = [
  "creating image definition",
  "creating image template",
  "starting Image Builder run",
  "adding the version's other target regions",
  "removing template of an ended build",
  "every target region has the version",
];
const queueFunctions = new Set(["startBuild", "watchBuild", "publishVersion"]);
/** The function whose success shows the pipeline works again after a kill of this target. */
const recoveringFunctions = (target: Target) => (target === "eventgrid" ? new Set(["publishEvent"]) : queueFunctions);
/** The events every promoted build publishes (shared/events). */
const buildSteps = ["requested", "started", "published", "promoted"] as const;

interface Build {
  image: string;
  commit: string;
  buildId: string;
  requestedAtMs: number;
  acceptedAtMs?: number;
  endedAtMs?: number;
  state?: "promoted" | "failed";
}

interface Kill {
  index: number;
  target: Target;
  mode: Mode;
  /** What the kill waited for, when its mode found it ("invocation.end of watchBuild", a log line). */
  trigger?: string;
  atMs: number;
  templatesInFlight?: number;
  buildsInFlight: number;
  downtimeInMs: number;
  /** From the kill until the process is back (listening, or the host's HTTP port printed). */
  restartedAfterInMs: number;
  /** From the kill until a queue invocation that started after the restart succeeded. */
  recoveredAfterInMs?: number;
}

/** Follows the host's log: successes (for recovery times), triggers (for kill points), redeliveries. */
class HostLog {
  private invocationStarts = new Map<string, number>();
  private waiters: {
    test: (line: string, record?: Record<string, unknown>) => string | undefined;
    done: (what: string) => void;
  }[] = [];
  succeeded = 0;
  failed = 0;
  redeliveries = 0;
  errors = 0;
  /** Settlements the local host gave up on (the broker never answered: its connection died under them). */
  settlementFailures = 0;
  lastSuccessAfter = new Map<number, number>();

  attach(host: ChildHost): void {
    for (const line of host.lines) this.read(line);
    host.onLine = (line) => this.read(line);
  }

  /** Resolves with what matched, or undefined after `timeoutInMs`. */
  waitFor(
    test: (line: string, record?: Record<string, unknown>) => string | undefined,
    timeoutInMs: number,
  ): Promise<string | undefined> {
    return new Promise((resolve) => {
      const waiter = {
        test,
        done: (what: string) => {
          clearTimeout(timer);
          resolve(what);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(undefined);
      }, timeoutInMs);
      this.waiters.push(waiter);
    });
  }

  /** Resolves with the time an invocation of one of `functions` that started at or after `sinceMs` succeeded. */
  recovery(sinceMs: number, functions: Set<string>, timeoutInMs: number): Promise<number | undefined> {
    return this.waitFor((_line, record) => {
      if (record?.["event"] !== "invocation.end" || record["outcome"] !== "succeeded") return undefined;
      if (!functions.has(String(record["functionName"]))) return undefined;
      const startedAt = this.invocationStarts.get(String(record["invocationId"]));
      return startedAt !== undefined && startedAt >= sinceMs ? String(elapsed()) : undefined;
    }, timeoutInMs).then((at) => (at === undefined ? undefined : Number(at)));
  }

  private read(line: string): void {
    let record: Record<string, unknown> | undefined;
    if (line.startsWith("{")) {
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        record = undefined;
      }
    }
    if (record?.["event"] === "invocation.start") this.invocationStarts.set(String(record["invocationId"]), elapsed());
    if (record?.["event"] === "invocation.start" && queueFunctions.has(String(record["functionName"]))) {
      if (/DeliveryCount=([2-9]|\d\d)/.test(String(record["message"]))) this.redeliveries++;
    }
    if (record?.["event"] === "invocation.end" && queueFunctions.has(String(record["functionName"]))) {
      if (record["outcome"] === "succeeded") this.succeeded++;
      else this.failed++;
    }
    if (record?.["level"] === "error") this.errors++;
    if (record?.["event"] === "servicebus.settle" && record["level"] === "error") this.settlementFailures++;
    for (const waiter of [...this.waiters]) {
      const what = waiter.test(line, record);
      if (what !== undefined) {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.done(what);
      }
    }
  }
}

/**
 * Whether valid builds kept flowing: the longest time without a promotion while the kills went on, and the
 * promotions in the minute before and after the storm began. Promotion times are the observer's (it reads ARM about
 * once a second).
 */
function flowOf(builds: readonly Build[], stormStartedAtMs: number, killsEndedAtMs: number) {
  const promotions = builds
    .filter((b) => b.state === "promoted" && b.endedAtMs !== undefined && b.endedAtMs <= killsEndedAtMs)
    .map((b) => b.endedAtMs!)
    .sort((a, b) => a - b);
  let longest = { fromMs: 0, toMs: 0, inMs: 0 };
  let previous = promotions[0] ?? 0;
  for (const at of [...promotions, killsEndedAtMs]) {
    if (at - previous > longest.inMs) longest = { fromMs: previous, toMs: at, inMs: at - previous };
    previous = at;
  }
  const within = (fromMs: number, toMs: number) => promotions.filter((t) => t >= fromMs && t < toMs).length;
  return {
    longestWithoutAPromotion: longest,
    promotedInTheMinuteBeforeTheStorm:
      stormStartedAtMs > 0 ? within(stormStartedAtMs - 60_000, stormStartedAtMs) : undefined,
    promotedInTheMinuteAfterTheStormBegan:
      stormStartedAtMs > 0 ? within(stormStartedAtMs, stormStartedAtMs + 60_000) : undefined,
  };
}

function sumCounters(a: ArmCounters, b: ArmCounters): ArmCounters {
  const operations = { ...a.operations };
  for (const [name, n] of Object.entries(b.operations)) operations[name] = (operations[name] ?? 0) + n;
  return {
    operations,
    reads: a.reads + b.reads,
    writes: a.writes + b.writes,
    deletes: a.deletes + b.deletes,
    total: a.total + b.total,
    throttled: a.throttled + b.throttled,
    faulted: a.faulted + b.faulted,
    unauthenticated: a.unauthenticated + b.unauthenticated,
  };
}
const noCounters: ArmCounters = {
  operations: {},
  reads: 0,
  writes: 0,
  deletes: 0,
  total: 0,
  throttled: 0,
  faulted: 0,
  unauthenticated: 0,
};

/** A malformed message of the storm, and the reason it must be dead-lettered with. */
interface Poison {
  queue: string;
  messageId: string;
  body: unknown;
  reason: "InvalidJson" | "SchemaValidationFailed" | "UnknownImage";
}

function poisonMessages(count: number): Poison[] {
  const queues = ["build-requests", "build-watch", "version-publish"];
  return Array.from({ length: count }, (_, i) => {
    const messageId = `poison-${String(i).padStart(4, "0")}`;
    const queue = queues[i % 3]!;
    const image = `retired-${i}`;
    const envelope = {
      schemaVersion: messageSchemaVersion,
      buildId: deriveBuildId({ image, commit: "0123abcd" }),
      image,
      commit: "0123abcd",
      reason: "push",
      requestedBy: "storm",
      requestedAt: new Date().toISOString(),
      traceparent: `00-${"1".repeat(32)}-${"2".repeat(16)}-01`,
    };
    switch (Math.floor(i / 3) % 3) {
      case 0:
        return { queue, messageId, body: `{"kind": "BuildRequested", truncated ${i}`, reason: "InvalidJson" };
      case 1:
        return {
          queue,
          messageId,
          body: { ...envelope, kind: "BuildRequested", requestedAt: "yesterday", attempt: -1 },
          reason: "SchemaValidationFailed",
        };
      default:
        // A valid build request for an image the catalog does not have (only build-requests carries requests).
        return {
          queue: "build-requests",
          messageId,
          body: { ...envelope, kind: "BuildRequested", attempt: 0, force: false },
          reason: "UnknownImage",
        };
    }
  });
}

/**
 * Every message of a queue (or its dead-letter queue), peeked from the start with a client of its own; throws after
 * 30 s (a peek caught by a kill of Service Bus may never answer: the caller tries again).
 */
function peekAll(connectionString: string, queue: string, deadLetter: boolean): Promise<ServiceBusReceivedMessage[]> {
  return withDeadline(`peek ${queue}`, 30_000, peekAllOnce(connectionString, queue, deadLetter));
}

async function peekAllOnce(
  connectionString: string,
  queue: string,
  deadLetter: boolean,
): Promise<ServiceBusReceivedMessage[]> {
  const client = new ServiceBusClient(connectionString, { retryOptions: { maxRetries: 1, timeoutInMs: 10_000 } });
  try {
    const receiver = client.createReceiver(queue, deadLetter ? { subQueueType: "deadLetter" } : {});
    const all: ServiceBusReceivedMessage[] = [];
    for (;;) {
      const page = await receiver.peekMessages(500);
      all.push(...page);
      if (page.length < 500) return all;
    }
  } finally {
    await client.close();
  }
}

/** Retries `work` (an emulator may be down) until it succeeds or `timeoutInMs` passes. */
async function retrying<T>(what: string, work: () => Promise<T>, timeoutInMs = 120_000): Promise<T> {
  const deadline = performance.now() + timeoutInMs;
  for (;;) {
    try {
      return await work();
    } catch (error) {
      if (performance.now() > deadline) throw new Error(`${what}: ${String(error)}`);
      await sleep(500);
    }
  }
}

async function main(): Promise<void> {
  const command = `npm run reliability -- --kills ${scenario.kills} --images ${scenario.images} --in-flight ${scenario.inFlight} --poison ${scenario.poison} --seed ${scenario.seed}`;
  console.log(command);
  const dir = mkdtempSync(path.join(tmpdir(), "image-pipeline-reliability-run-"));
  const queuesFile = path.join(dir, "queues.json");
  writeFileSync(
    queuesFile,
    JSON.stringify({
      queues: loadQueueConfig().queues.map((q) => ({
        name: q.name,
        properties: { ...q.properties, lockDuration: scenario.lockDuration },
      })),
    }),
  );
  let arm: (EmulatorProcess & { endpoint: string; caCertPem: string; caCertPath: string }) | undefined;
  let serviceBus: (EmulatorProcess & { connectionString: string }) | undefined;
  let azurite: Azurite | undefined;
  let eventGrid: (EmulatorProcess & { endpoint: string; caCertPem: string; caCertPath: string }) | undefined;
  let host: ChildHost | undefined;
  const hostLog = new HostLog();
  /** Every host's log, one start after the other, in the run's folder (kept with --keep). */
  const keepHostLog = (killed: ChildHost) => appendFileSync(path.join(dir, "host.log"), `${killed.lines.join("\n")}\n`);
  try {
    [arm, serviceBus, azurite, eventGrid] = await Promise.all([
      startArmProcess(path.join(dir, "arm")),
      startServiceBusProcess(path.join(dir, "servicebus"), queuesFile),
      startAzurite({ stateDir: path.join(dir, "azurite") }),
      startEventGridProcess(path.join(dir, "eventgrid")),
    ]);
    const armTarget = arm;
    const sb = serviceBus;
    const topic = eventGrid;
    const catalogBlobUrl = await provisionCatalogContainer(azurite);
    const images = Array.from({ length: scenario.images }, (_, i) =>
      aCatalogImageInput({
        name: `rel-${String(i).padStart(2, "0")}`,
        definition: { sku: `rel-sku-${i}` },
      }),
    );
    const catalog = await publishTestCatalog({ catalogBlobUrl, azurite }, images);
    // Quick builds, so that kills land in every phase; throttling and faults as the issue asks.
    const { throttling: _off, ...simulation } = briefSimulation;
    await configureSimulation(armTarget, simulation);
    await armAdmin(armTarget, "PUT", "throttling", { enabled: true, ...armTokenBuckets });
    // provisionGalleries takes an emulator; only its endpoint and certificate are used.
    await provisionGalleries({ ...armTarget, stop: async () => {} }, catalog);
    await armAdmin(armTarget, "PUT", "faults", { latencyInMs: 0, rates: scenario.faults });
    await armAdmin(armTarget, "POST", "counters/reset");

    const env = pipelineSettings(
      { arm: armTarget, serviceBus: sb, azurite, eventGrid: topic, catalogBlobUrl },
      {
        // The pipeline's own pacing, as deployed (20 reads/s, 8 writes/s), against ARM's buckets.
        ARM_MAX_READS_PER_SECOND: "20",
        ARM_MAX_WRITES_PER_SECOND: "8",
        REPLICATION_MONITOR_SCHEDULE: scenario.monitorSchedule,
        // Failed builds' templates go at the first sweep after this (13 s), so the final sweep can leave none.
        FAILED_BUILD_RETENTION_IN_HOURS: "0.0036",
      },
    );
    const hostDir = path.join(dir, "host");
    host = await startChildHost(env, hostDir);
    hostLog.attach(host);

    // ---------------------------------------------------------------- state the loops share
    const builds: Build[] = [];
    let commitCounter = 0;
    let requesting = true;
    let armTotals = noCounters;
    let armLast = noCounters;
    let armDown = false;
    /** Bumped at each kill of the ARM emulator: a counters sample of the killed process is never taken as the new one's. */
    let armEpoch = 0;
    let done = false;
    let templatesNow: number | undefined;
    const inFlight = () => builds.filter((b) => !b.state).length;

    const requestOne = async () => {
      const image = catalog.images[commitCounter % catalog.images.length]!.name;
      const commit = (0x10000000 + commitCounter++).toString(16);
      const build: Build = { image, commit, buildId: deriveBuildId({ image, commit }), requestedAtMs: elapsed() };
      builds.push(build);
      // As a CI system does: the same request again until it is accepted (the same commit is the same build).
      for (;;) {
        try {
          const { status, body } = await postBuild(host!.url, { image, commit });
          if (status === 202) {
            if (body.buildId !== build.buildId) throw new Error(`unexpected build id ${body.buildId}`);
            build.acceptedAtMs = elapsed();
            return;
          }
        } catch (error) {
          if (error instanceof Error && error.message.startsWith("unexpected")) throw error;
        }
        await sleep(300);
      }
    };
    const requester = (async () => {
      const pending = new Set<Promise<void>>();
      while (requesting) {
        while (requesting && inFlight() < scenario.inFlight) {
          const p = requestOne().finally(() => pending.delete(p));
          pending.add(p);
        }
        await sleep(200);
      }
      await Promise.all(pending);
    })();

    const observer = (async () => {
      for (;;) {
        if (!armDown) {
          try {
            const snapshot = await armSnapshot(armTarget);
            templatesNow = snapshot.templates;
            for (const b of builds) {
              if (b.state) continue;
              const state = terminalStateOf(snapshot, b.buildId);
              if (state) {
                b.state = state;
                b.endedAtMs = elapsed();
              }
            }
            const epoch = armEpoch;
            const counters = await armAdmin<ArmCounters>(armTarget, "GET", "counters");
            if (epoch === armEpoch && !armDown) armLast = counters;
          } catch {
            // The emulator is being killed or restarted.
          }
        }
        if (!requesting && builds.every((b) => b.state) && done) return;
        await sleep(1000);
      }
    })();

    // ---------------------------------------------------------------- the poison storm
    const storm = {
      sent: 0,
      startedAtMs: 0,
      allDeadLetteredAtMs: undefined as number | undefined,
      promotedBefore: 0,
      promotedDuring: undefined as number | undefined,
    };
    const poisons = poisonMessages(scenario.poison);
    const sendStorm = async () => {
      storm.startedAtMs = elapsed();
      storm.promotedBefore = builds.filter((b) => b.state === "promoted").length;
      const client = new ServiceBusClient(sb.connectionString);
      try {
        await Promise.all(
          ["build-requests", "build-watch", "version-publish"].map(async (queue) => {
            const sender = client.createSender(queue);
            const mine = poisons.filter((p) => p.queue === queue);
            for (let i = 0; i < mine.length; i += 100) {
              const batch = mine.slice(i, i + 100).map((p) => ({ body: p.body, messageId: p.messageId }));
              await retrying(`send poison to ${queue}`, () => sender.sendMessages(batch));
              storm.sent += batch.length;
            }
            await sender.close();
          }),
        );
      } finally {
        await client.close();
      }
      console.log(`[${elapsed()} ms] storm: ${storm.sent} malformed messages sent`);
      // Watched until every one is dead-lettered (the kills go on meanwhile).
      void (async () => {
        const ids = new Set(poisons.map((p) => p.messageId));
        for (;;) {
          await sleep(2000);
          try {
            const found = new Set<string>();
            for (const queue of ["build-requests", "build-watch", "version-publish"]) {
              for (const m of await peekAll(sb.connectionString, queue, true)) {
                if (ids.has(String(m.messageId))) found.add(String(m.messageId));
              }
            }
            if (found.size === ids.size) {
              storm.allDeadLetteredAtMs = elapsed();
              storm.promotedDuring = builds.filter((b) => b.state === "promoted").length - storm.promotedBefore;
              console.log(
                `[${elapsed()} ms] storm: all ${ids.size} dead-lettered after ${storm.allDeadLetteredAtMs - storm.startedAtMs} ms; ${storm.promotedDuring} builds promoted meanwhile`,
              );
              return;
            }
          } catch {
            // Service Bus is down for a moment.
          }
        }
      })();
    };

    // ---------------------------------------------------------------- the kills
    const plan: Target[] = [];
    for (const [target, share] of Object.entries(scenario.targets) as [Target, number][]) {
      for (let i = 0; i < Math.round(scenario.kills * share); i++) plan.push(target);
    }
    while (plan.length < scenario.kills) plan.push("host");
    plan.length = scenario.kills;
    for (let i = plan.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [plan[i], plan[j]] = [plan[j]!, plan[i]!];
    }
    const kills: Kill[] = [];
    // Let builds get going before the first kill.
    await sleep(5000);
    for (const [index, target] of plan.entries()) {
      await sleep(1000 + random() * 5000);
      let mode = pick(modesOf[target]);
      let trigger: string | undefined;
      if (mode === "mid-settlement") {
        trigger = await hostLog.waitFor(
          (_l, r) =>
            r?.["event"] === "invocation.end" && queueFunctions.has(String(r["functionName"]))
              ? `invocation.end of ${String(r["functionName"])}`
              : undefined,
          15_000,
        );
      } else if (mode === "mid-lro") {
        trigger = await hostLog.waitFor((line) => lroLines.find((l) => line.includes(l)), 15_000);
      }
      if (mode !== "random" && trigger === undefined) mode = "random";
      const kill: Kill = {
        index,
        target,
        mode,
        ...(trigger ? { trigger } : {}),
        atMs: elapsed(),
        templatesInFlight: templatesNow,
        buildsInFlight: inFlight(),
        downtimeInMs: 0,
        restartedAfterInMs: 0,
      };
      const killedAt = performance.now();
      if (target === "host") {
        await host.kill("SIGKILL");
        keepHostLog(host);
        host = await startChildHost(env, hostDir);
        hostLog.attach(host);
      } else {
        const emulator = target === "arm" ? armTarget : target === "servicebus" ? sb : topic;
        if (target === "arm") {
          armDown = true;
          armEpoch++;
          try {
            armLast = await armAdmin<ArmCounters>(armTarget, "GET", "counters");
          } catch {
            // keep the last sample
          }
        }
        await emulator.kill("SIGKILL");
        if (target === "arm") {
          armTotals = sumCounters(armTotals, armLast);
          armLast = noCounters;
        }
        kill.downtimeInMs = Math.round(random() * 2000);
        await sleep(kill.downtimeInMs);
        await emulator.restart();
        if (target === "arm") armDown = false;
      }
      kill.restartedAfterInMs = Math.round(performance.now() - killedAt);
      kills.push(kill);
      const back = elapsed();
      const recoveredAt = await hostLog.recovery(back, recoveringFunctions(target), 120_000);
      if (recoveredAt !== undefined) kill.recoveredAfterInMs = recoveredAt - kill.atMs;
      console.log(
        `[${elapsed()} ms] kill ${index + 1}/${plan.length}: ${target} (${kill.mode}${trigger ? `: ${trigger}` : ""}), ` +
          `${kill.buildsInFlight} builds and ${kill.templatesInFlight ?? "?"} templates in flight, back after ${kill.restartedAfterInMs} ms, ` +
          `recovered after ${kill.recoveredAfterInMs ?? "(not within 120 s)"} ms; ${builds.filter((b) => b.state === "promoted").length} promoted so far`,
      );
      if (index + 1 === scenario.stormAfterKill && scenario.poison > 0) await sendStorm();
    }

    // ---------------------------------------------------------------- the end: no new builds, everything settles
    requesting = false;
    await requester;
    const endOfKillsMs = elapsed();
    console.log(`[${elapsed()} ms] kills done; waiting for ${inFlight()} builds in flight to end`);
    const settleDeadline = performance.now() + 15 * 60_000;
    while (builds.some((b) => !b.state) && performance.now() < settleDeadline) await sleep(1000);
    // The final sweep: templates of ended builds removed, queues drained.
    let snapshot = await retrying("snapshot", () => armSnapshot(armTarget));
    const sweepDeadline = performance.now() + 5 * 60_000;
    while (snapshot.templates > 0 && performance.now() < sweepDeadline) {
      await sleep(2000);
      snapshot = await retrying("snapshot", () => armSnapshot(armTarget));
    }
    const pendingOf = async () => {
      let n = 0;
      for (const queue of allQueues) n += (await peekAll(sb.connectionString, queue, false)).length;
      return n;
    };
    let pending = await retrying("peek", pendingOf);
    const drainDeadline = performance.now() + 3 * 60_000;
    while (pending > 0 && performance.now() < drainDeadline) {
      await sleep(2000);
      pending = await retrying("peek", pendingOf);
    }
    done = true;
    await observer;
    const finalCounters = sumCounters(armTotals, await armAdmin<ArmCounters>(armTarget, "GET", "counters"));
    const groups = await armAdmin<{ resourceGroups: { name: string }[] }>(armTarget, "GET", "resources");
    const stagingGroups = groups.resourceGroups.filter((g) => /^IT_/i.test(g.name)).length;
    // The topic's record (events.jsonl, kept across its kills): every step of every promoted build at least once.
    const { events } = await retrying("events", () =>
      armAdmin<{ events: { event: { id: string } }[] }>(topic, "GET", "events"),
    );
    const eventIds = events.map((e) => String(e.event.id));
    const distinctEventIds = new Set(eventIds);

    // ---------------------------------------------------------------- figures
    const accepted = builds.filter((b) => b.acceptedAtMs !== undefined);
    const versionsOf = (buildId: string) => snapshot.versions.filter((v) => v.buildId === buildId);
    const known = new Set(builds.map((b) => b.buildId));
    const promoted = accepted.filter((b) => terminalStateOf(snapshot, b.buildId) === "promoted");
    const failed = accepted.filter((b) => terminalStateOf(snapshot, b.buildId) === "failed");
    const lost = accepted.filter((b) => !terminalStateOf(snapshot, b.buildId));
    const duplicates = accepted.filter((b) => versionsOf(b.buildId).length > 1);
    const strayVersions = snapshot.versions.filter((v) => !v.buildId || !known.has(v.buildId));
    const missingEvents = promoted.flatMap((b) =>
      buildSteps.map((step) => buildEventId(b.buildId, step)).filter((id) => !distinctEventIds.has(id)),
    );

    const deadLetters: {
      queue: string;
      messageId: string;
      reason: string;
      description: string;
      deliveryCount: number;
    }[] = [];
    for (const queue of allQueues) {
      for (const m of await retrying("peek dead letters", () => peekAll(sb.connectionString, queue, true))) {
        deadLetters.push({
          queue,
          messageId: String(m.messageId),
          reason: m.deadLetterReason ?? "",
          description: m.deadLetterErrorDescription ?? "",
          deliveryCount: m.deliveryCount ?? 0,
        });
      }
    }
    const poisonById = new Map(poisons.map((p) => [p.messageId, p]));
    const poisonLetters = deadLetters.filter((d) => poisonById.has(d.messageId));
    const otherLetters = deadLetters.filter((d) => !poisonById.has(d.messageId));
    const byReason = (letters: typeof deadLetters) =>
      Object.fromEntries(
        [...new Set(letters.map((d) => d.reason))].map((r) => [r, letters.filter((d) => d.reason === r).length]),
      );
    const wrongReason = poisonLetters.filter((d) => poisonById.get(d.messageId)!.reason !== d.reason);
    const poisonIdsSeen = new Set(poisonLetters.map((d) => d.messageId));

    const recovery = (target?: Target) => {
      const times = kills.filter((k) => !target || k.target === target).flatMap((k) => k.recoveredAfterInMs ?? []);
      return times.length > 0 ? distribution(times) : undefined;
    };
    const restart = (target: Target) => {
      const times = kills.filter((k) => k.target === target).map((k) => k.restartedAfterInMs);
      return times.length > 0 ? distribution(times) : undefined;
    };
    const flow = flowOf(builds, storm.startedAtMs, endOfKillsMs);
    const figures = {
      durationInMs: elapsed(),
      killsEndedAtMs: endOfKillsMs,
      flow,
      builds: {
        requested: builds.length,
        accepted: accepted.length,
        promoted: promoted.length,
        failed: failed.length,
        failures: failed.map((b) => ({
          buildId: b.buildId,
          reason: snapshot.failures.get(b.buildId) ?? "version failed",
        })),
        lost: lost.length,
        lostBuilds: lost.map((b) => b.buildId),
        duplicateVersions: duplicates.length,
        versionsWithoutABuildOfThisRun: strayVersions.length,
        versions: snapshot.versions.length,
        concurrentTarget: scenario.inFlight,
      },
      leftovers: { templates: snapshot.templates, stagingResourceGroups: stagingGroups, pendingMessages: pending },
      kills: {
        total: kills.length,
        byTarget: Object.fromEntries(targets.map((t) => [t, kills.filter((k) => k.target === t).length])),
        byMode: Object.fromEntries(
          (["random", "mid-settlement", "mid-lro"] as const).map((m) => [m, kills.filter((k) => k.mode === m).length]),
        ),
        notRecoveredWithin120s: kills.filter((k) => k.recoveredAfterInMs === undefined).length,
        recoveryInMs: {
          all: recovery(),
          host: recovery("host"),
          servicebus: recovery("servicebus"),
          arm: recovery("arm"),
          eventgrid: recovery("eventgrid"),
        },
        restartInMs: Object.fromEntries(targets.map((t) => [t, restart(t)])),
        each: kills,
      },
      deadLetters: {
        poison: {
          sent: storm.sent,
          deadLettered: poisonIdsSeen.size,
          byReason: byReason(poisonLetters),
          withAnotherReason: wrongReason.length,
          onFirstDelivery: poisonLetters.filter((d) => d.deliveryCount === 0).length,
          allDeadLetteredAfterInMs:
            storm.allDeadLetteredAtMs === undefined ? undefined : storm.allDeadLetteredAtMs - storm.startedAtMs,
          buildsPromotedMeanwhile: storm.promotedDuring,
        },
        others: otherLetters,
        othersByReason: byReason(otherLetters),
      },
      events: {
        accepted: eventIds.length,
        distinctIds: distinctEventIds.size,
        repeats: eventIds.length - distinctEventIds.size,
        missingStepsOfPromotedBuilds: missingEvents.length,
        missing: missingEvents.slice(0, 20),
      },
      arm: {
        requests: finalCounters.total,
        reads: finalCounters.reads,
        writes: finalCounters.writes,
        deletes: finalCounters.deletes,
        throttled429: finalCounters.throttled,
        injectedFaults: finalCounters.faulted,
        byOperation: finalCounters.operations,
      },
      host: {
        queueInvocationsSucceeded: hostLog.succeeded,
        queueInvocationsFailed: hostLog.failed,
        redeliveries: hostLog.redeliveries,
        settlementFailures: hostLog.settlementFailures,
        errorLines: hostLog.errors,
      },
    };

    console.log(
      table([
        ["figure", "value"],
        ["builds requested (accepted)", `${builds.length} (${accepted.length})`],
        ["promoted", promoted.length],
        ["failed", failed.length],
        ["lost", lost.length],
        ["duplicate versions", duplicates.length],
        ["versions without a build of this run", strayVersions.length],
        ["templates / staging groups left after the final sweep", `${snapshot.templates} / ${stagingGroups}`],
        ["messages left in the queues", pending],
        [
          "kills (host / servicebus / arm / eventgrid)",
          `${kills.length} (${targets.map((t) => figures.kills.byTarget[t]).join(" / ")})`,
        ],
        [
          "kills by mode (random / mid-settlement / mid-lro)",
          `${figures.kills.byMode.random} / ${figures.kills.byMode["mid-settlement"]} / ${figures.kills.byMode["mid-lro"]}`,
        ],
        [
          "recovery p50 / p90 / max ms",
          `${figures.kills.recoveryInMs.all?.p50InMs} / ${figures.kills.recoveryInMs.all?.p90InMs} / ${figures.kills.recoveryInMs.all?.maxInMs}`,
        ],
        [
          "poison dead-lettered (of sent), wrong reason",
          `${poisonIdsSeen.size} (${storm.sent}), ${wrongReason.length}`,
        ],
        ["poison reasons", JSON.stringify(figures.deadLetters.poison.byReason)],
        [
          "promoted in the minute before / after the storm began",
          `${flow.promotedInTheMinuteBeforeTheStorm ?? "-"} / ${flow.promotedInTheMinuteAfterTheStormBegan ?? "-"}`,
        ],
        [
          "longest time without a promotion during the kills (from, to)",
          `${flow.longestWithoutAPromotion.inMs} ms (${flow.longestWithoutAPromotion.fromMs}, ${flow.longestWithoutAPromotion.toMs})`,
        ],
        [
          "events on the topic (distinct), steps of promoted builds missing",
          `${eventIds.length} (${distinctEventIds.size}), ${missingEvents.length}`,
        ],
        ["other dead letters", `${otherLetters.length} ${JSON.stringify(figures.deadLetters.othersByReason)}`],
        [
          "ARM requests, 429 throttled, faults injected",
          `${finalCounters.total}, ${finalCounters.throttled}, ${finalCounters.faulted}`,
        ],
        ["host redeliveries, settlements given up", `${hostLog.redeliveries}, ${hostLog.settlementFailures}`],
      ]),
    );
    const file = writeResult("reliability", command, { scenario, ...figures });
    console.log(`results: ${file}`);
    if (argv.keep) console.log(`state kept in ${dir}`);
  } finally {
    await host?.kill("SIGKILL");
    if (host) keepHostLog(host);
    await serviceBus?.kill("SIGTERM");
    await arm?.kill("SIGTERM");
    await eventGrid?.kill("SIGTERM");
    await azurite?.stop();
    if (!argv.keep) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
