/**
 * Part 4 of the benchmarks (issue 19): the dashboard at 100 images × 20 versions × 5 regions.
 *
 * The ARM emulator holds the gallery (seeded in one request); the local Functions host serves the app's real page,
 * assets and data functions. First, one cold read of the model through the real adapters (ARM reads counted against
 * the minimum the use-case needs, wall time, bytes). Then, with that read cached by the data function as it is between
 * polls, the page is opened in Debian's Chromium: `--runs` times in a tab with the HTTP cache off (every run loads the
 * page, its assets and its data afresh), navigating from the host's root page (so that, as with Chrome's spare
 * renderer for a new tab, no run times the start of a renderer process),
 * after one discarded warm-up, in two views: the default (images that need attention open, the others one line each)
 * and `?expand=all` (every image open: all 10,000 cells). Per run, from navigation start (the page's own performance
 * marks): the first slice of images built (`dashboard:first-render`), the frame that shows it painted
 * (`dashboard:first-frame`), every image built (`dashboard:complete`; the page renders in slices of 16 ms so that the
 * first frame does not wait for the rest), and the render of the first slice alone.
 * Prints a table and writes bench/results/dashboard.json.
 *
 * `npm run bench:dashboard [-- --runs 10]`
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { armAdmin, configureSimulation, instantSimulation } from "../local/armAdmin.js";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../local/chromium.js";
import { provisionGalleries } from "../local/provision.js";
import { localAzure } from "../local/settings.js";
import { startLocalStack } from "../local/stack.js";
import { buildDashboardAssets } from "../scripts/dashboard.js";
import { catalogSchema, type Catalog } from "../shared/catalog/schema.js";
import { managedByValue, tagNames } from "../shared/domain/names.js";
import { failureTagPrefix } from "../shared/domain/failures.js";
import type { Dashboard } from "../shared/usecases/dashboardModel.js";
import { readCounters } from "./lib/arm.js";
import { withDeadline, writeResult } from "./lib/results.js";
import { distribution, ratio, table } from "./lib/stats.js";

const images = 100;
const versionsPerImage = 20;
const regions = ["westeurope", "northeurope", "eastus", "eastus2", "southeastasia"];
const galleryResourceGroup = "rg-golden-images";
const galleryName = "acg_dashboard";
const day = 86_400_000;
const imageName = (i: number) => `bench-image-${String(i).padStart(3, "0")}`;
/** Every 10th image has its newest version still replicating (two regions pending); every 7th, a failed version. */
const replicating = (i: number) => i % 10 === 0;
const failed = (i: number) => i % 7 === 0;

function catalogOf(): Catalog {
  return catalogSchema.parse({
    images: Array.from({ length: images }, (_, i) => ({
      name: imageName(i),
      gallery: { resourceGroup: galleryResourceGroup, name: galleryName, location: "westeurope" },
      definition: {
        publisher: "contoso",
        offer: "dashboard",
        sku: imageName(i),
        osType: "Linux",
        description: `Golden image ${i} for the dashboard benchmark`,
      },
      source: { type: "PlatformImage", publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server" },
      customize: [{ type: "Shell", name: "update", inline: ["sudo apt-get update"] }],
      build: { location: "westeurope" },
      distribution: { targetRegions: regions.map((name) => ({ name })) },
      versioning: { scheme: "semver", major: 1, minor: 0 },
      retention: { endOfLifeDays: 90, keepLatest: 3, minAgeDays: 7, maxDeletionsPerRun: 10 },
    })),
  });
}

/** 100 definitions × 20 versions, a version every 10 days, end of life 90 days after publication. */
function seedOf(now: number) {
  const imageDefinitions = Array.from({ length: images }, (_, i) => ({
    resourceGroup: galleryResourceGroup,
    gallery: galleryName,
    name: imageName(i),
    location: "westeurope",
    tags: failed(i)
      ? {
          [`${failureTagPrefix}b-${String(i).padStart(20, "0")}`]: `${new Date(now - day).toISOString()} Image Builder run Failed: customization step 'update' exited with code 100`,
        }
      : {},
    properties: {
      osType: "Linux",
      osState: "Generalized",
      hyperVGeneration: "V2",
      identifier: { publisher: "contoso", offer: "dashboard", sku: imageName(i) },
    },
  }));
  const imageVersions = imageDefinitions.flatMap((definition, i) =>
    Array.from({ length: versionsPerImage }, (_, n) => {
      const newest = n === versionsPerImage - 1;
      const inFlight = newest && replicating(i);
      const state = inFlight ? "replicating" : failed(i) && n === versionsPerImage - 2 ? "failed" : "promoted";
      const published = now - (versionsPerImage - n) * 10 * day;
      return {
        resourceGroup: galleryResourceGroup,
        gallery: galleryName,
        imageDefinition: definition.name,
        name: `1.0.${n}`,
        location: "westeurope",
        createdAt: new Date(published).toISOString(),
        tags: {
          [tagNames.managedBy]: managedByValue,
          [tagNames.state]: state,
          [tagNames.buildId]: `b-${String(i * 100 + n).padStart(20, "0")}`,
          [tagNames.commit]: `${String(i).padStart(4, "0")}${String(n).padStart(36, "0")}`,
        },
        properties: {
          publishingProfile: {
            targetRegions: regions.map((name) => ({ name })),
            excludeFromLatest: inFlight || state === "failed",
            endOfLifeDate: new Date(published + 90 * day).toISOString(),
          },
        },
        ...(inFlight ? { replicatingRegions: regions.slice(3), remainingInMs: 3_600_000 } : {}),
      };
    }),
  );
  return { imageDefinitions, imageVersions };
}

interface Marks {
  /** Navigation timing: the page's HTML received. */
  htmlEnd: number;
  /** Resource timing: the script received, the data request sent and its response received. */
  scriptEnd: number;
  dataStart: number;
  dataEnd: number;
  /** The page's own marks: the body read, rendering started (JSON parsed), ... */
  dataRead: number;
  renderStart: number;
  firstRender: number;
  firstFrame: number;
  complete: number;
  elements: number;
}

/** Resource and navigation timing entries, as the page's `performance` gives them. */
type Timing = { name: string; startTime: number; responseEnd: number };

/** The page's globals used by {@link firstFrameMarks} (it runs in the page; this program has Node's types). */
declare const document: { getElementsByTagName(tag: string): { length: number } };

/**
 * Evaluated in the page until the first frame is painted: the page's own marks (milliseconds since navigation start)
 * and how many elements it made. No named function inside: the compiler of this process would wrap it in a helper
 * the page does not have (and the page's CSP refuses a string to evaluate).
 */
const firstFrameMarks = (): Marks | undefined => {
  const entries = performance.getEntriesByType.bind(performance) as unknown as (type: string) => Timing[];
  const named = performance.getEntriesByName.bind(performance);
  if (
    named("dashboard:first-frame")[0]?.startTime === undefined ||
    named("dashboard:complete")[0]?.startTime === undefined
  )
    return undefined;
  return {
    htmlEnd: entries("navigation")[0]!.responseEnd,
    scriptEnd: entries("resource").find((e) => e.name.includes("/app.js"))!.responseEnd,
    dataStart: entries("resource").find((e) => e.name.endsWith("/data"))!.startTime,
    dataEnd: entries("resource").find((e) => e.name.endsWith("/data"))!.responseEnd,
    dataRead: named("dashboard:data-received")[0]!.startTime,
    renderStart: named("dashboard:render-start")[0]!.startTime,
    firstRender: named("dashboard:first-render")[0]!.startTime,
    firstFrame: named("dashboard:first-frame")[0]!.startTime,
    complete: named("dashboard:complete")[0]!.startTime,
    elements: document.getElementsByTagName("*").length,
  };
};

interface Sample {
  htmlEnd: number;
  scriptEnd: number;
  dataStart: number;
  dataEnd: number;
  dataRead: number;
  renderStart: number;
  renderStep: number;
  firstRender: number;
  firstFrame: number;
  complete: number;
  elements: number;
}

/**
 * A tab of a running browser with its HTTP cache off: each run loads the page, its assets and its data afresh, as on a
 * first visit, without also timing the start of a renderer process.
 */
async function openTab(browser: Browser): Promise<{ page: Page; errors: string[]; close(): Promise<void> }> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  const errors: string[] = [];
  page.on("console", (m) => {
    // The host's root page (the start of each run) has no icon: the browser's request for one is not the dashboard's.
    if (m.type() === "error" && !m.location().url.endsWith("/favicon.ico")) errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return { page, errors, close: () => context.close() };
}

/** Loads the page once in the tab and reads its marks once the first frame is painted and every image built. */
async function openOnce(tab: Awaited<ReturnType<typeof openTab>>, pageUrl: string): Promise<Sample> {
  const { page, errors } = tab;
  // From a page of the same site: the tab keeps its renderer process, as Chrome's spare renderer spares a new tab
  // that start. about:blank would not: the navigation to another site starts a new process every run.
  await page.goto(new URL("/", pageUrl).href);
  await page.goto(pageUrl);
  // Polled every 100 ms, not every frame: the check must not compete with the page for its main thread.
  const marks = await withDeadline(
    "the first frame",
    60_000,
    page
      .waitForFunction(firstFrameMarks, undefined, { polling: 100 })
      .then((handle) => handle.jsonValue() as Promise<Marks>),
  );
  if (errors.length > 0) throw new Error(`the page logged errors: ${errors.join("; ")}`);
  return {
    htmlEnd: marks.htmlEnd,
    scriptEnd: marks.scriptEnd,
    dataStart: marks.dataStart,
    dataEnd: marks.dataEnd,
    dataRead: marks.dataRead,
    renderStart: marks.renderStart,
    renderStep: marks.firstRender - marks.renderStart,
    firstRender: marks.firstRender,
    firstFrame: marks.firstFrame,
    complete: marks.complete,
    elements: marks.elements,
  };
}

function summarize(samples: readonly Sample[]) {
  return {
    htmlReceived: distribution(samples.map((s) => s.htmlEnd)),
    scriptReceived: distribution(samples.map((s) => s.scriptEnd)),
    dataRequested: distribution(samples.map((s) => s.dataStart)),
    dataReceived: distribution(samples.map((s) => s.dataEnd)),
    dataRead: distribution(samples.map((s) => s.dataRead)),
    dataParsedRenderStarts: distribution(samples.map((s) => s.renderStart)),
    firstFrame: distribution(samples.map((s) => s.firstFrame)),
    firstRender: distribution(samples.map((s) => s.firstRender)),
    renderStep: distribution(samples.map((s) => s.renderStep)),
    complete: distribution(samples.map((s) => s.complete)),
    elements: samples[0]?.elements ?? 0,
  };
}

function parseRuns(argv: readonly string[]): number {
  const i = argv.indexOf("--runs");
  const runs = i >= 0 ? Number(argv[i + 1]) : 10;
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) throw new Error("--runs must be an integer from 1 to 100");
  return runs;
}

async function main() {
  const runs = parseRuns(process.argv);
  const stateDir = mkdtempSync(path.join(tmpdir(), "bench-dashboard-"));
  await buildDashboardAssets();
  const stack = await startLocalStack({
    stateDir,
    catalog: catalogOf(),
    timers: false,
    logger: () => {},
    // One read serves the whole browser part, as it serves every viewer between two polls.
    overrides: { DASHBOARD_REFRESH_IN_SECONDS: "3600" },
  });
  const browser = await launchChromium();
  try {
    await configureSimulation(stack.arm, instantSimulation);
    await provisionGalleries(stack.arm, stack.catalog);
    const clock = await armAdmin<{ nowMs: number }>(stack.arm, "GET", "clock");
    await armAdmin(stack.arm, "POST", "seed", seedOf(clock.nowMs));
    await armAdmin(stack.arm, "POST", "counters/reset");

    // The cold read: what one refresh costs Azure and the data function.
    const url = `${stack.host.url}/api/dashboard`;
    const headers = { "x-functions-key": localAzure.functionKey };
    const readStart = performance.now();
    const response = await fetch(`${url}/data`, { headers: { ...headers, "accept-encoding": "identity" } });
    const json = await response.text();
    const readInMs = performance.now() - readStart;
    const model = JSON.parse(json) as Dashboard;
    const counters = await readCounters(stack.arm);
    const gzipBytes = Number(
      (await fetch(`${url}/data`, { headers: { ...headers, "accept-encoding": "gzip" } })).headers.get(
        "content-length",
      ),
    );
    const replicatingVersions = model.summary.versionsByState["replicating"] ?? 0;
    const minimumReads = 1 + 2 * images + replicatingVersions;
    const cells = model.images.reduce((n, i) => n + i.versions.reduce((m, v) => m + v.cells.length, 0), 0);

    // The browser: a new context per run, so nothing is cached; one warm-up run per view is discarded.
    const views = {
      /** What an operator gets: images that need attention open, the others one line each (opened on demand). */
      default: "",
      /** Every image open: all 10,000 cells in the DOM. */
      expanded: "?expand=all",
    };
    const measured: Record<string, ReturnType<typeof summarize>> = {};
    for (const [view, query] of Object.entries(views)) {
      const samples: Sample[] = [];
      const tab = await openTab(browser);
      try {
        for (let run = 0; run <= runs; run++) {
          const sample = await openOnce(tab, `${url}${query}#code=${localAzure.functionKey}`);
          if (run > 0) samples.push(sample);
        }
      } finally {
        await tab.close();
      }
      measured[view] = summarize(samples);
    }

    const targetInMs = 1000;
    console.log(`\n${images} images × ${versionsPerImage} versions × ${regions.length} regions: ${cells} cells\n`);
    const rows: (string | number)[][] = [
      ["view / from navigation start", "runs", "p50 ms", "p90 ms", "max ms", "elements"],
    ];
    const line = (label: string, d: { runs: number; p50InMs: number; p90InMs: number; maxInMs: number }, n = "") =>
      rows.push([label, d.runs, d.p50InMs, d.p90InMs, d.maxInMs, n]);
    for (const [view, m] of Object.entries(measured)) {
      line(`${view}: HTML received`, m.htmlReceived);
      line(`${view}: script received`, m.scriptReceived);
      line(`${view}: data requested`, m.dataRequested);
      line(`${view}: data received`, m.dataReceived);
      line(`${view}: data read by the page`, m.dataRead);
      line(`${view}: data parsed, render starts`, m.dataParsedRenderStarts);
      line(`${view}: first slice built`, m.firstRender);
      line(`${view}: first frame painted`, m.firstFrame, String(m.elements));
      line(`${view}: every image built`, m.complete);
      line(`${view}: render, first slice`, m.renderStep);
    }
    console.log(table(rows));
    for (const [view, m] of Object.entries(measured)) {
      console.log(
        `Target (${view}): first frame under ${targetInMs} ms at p90: ${m.firstFrame.p90InMs < targetInMs ? "met" : "MISSED"}.`,
      );
    }
    console.log(
      `Cold read of the model: ${Math.round(readInMs)} ms, ${counters.reads} ARM reads (minimum ${minimumReads}: ` +
        `the template list, a definition and a version list per image, a GET per replicating version), ` +
        `${json.length} bytes of JSON, ${gzipBytes} gzip.`,
    );
    const file = writeResult("dashboard", `npm run bench:dashboard -- --runs ${runs}`, {
      scale: { images, versionsPerImage, regions: regions.length, cells, replicatingVersions },
      views: measured,
      targetInMs,
      targetMet: Object.fromEntries(Object.entries(measured).map(([v, m]) => [v, m.firstFrame.p90InMs < targetInMs])),
      coldRead: {
        wallInMs: Math.round(readInMs),
        armReads: counters.reads,
        minimumArmReads: minimumReads,
        readsOverMinimum: ratio(counters.reads, minimumReads),
        operations: counters.operations,
        throttled: counters.throttled,
        jsonBytes: json.length,
        gzipBytes,
      },
    });
    console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  } finally {
    await browser.close();
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
