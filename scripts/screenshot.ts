/**
 * `npm run screenshot`: the dashboard's picture in the README (docs/dashboard.png, and docs/dashboard-dark.png in the
 * dark scheme), taken from the real page in Debian's Chromium against the local stack with the sample catalog.
 *
 * The gallery gets a history first (older versions, one past its end of life, a recorded failure), then the pipeline
 * really builds: ubuntu-2404 is requested, run to the end of its Image Builder run and left replicating; windows-2022
 * is requested and left customizing. The ARM emulator's clock is moved by hand, so the builds are at the same stages
 * each time (the dates follow the day it runs).
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { armAdmin, configureSimulation, steppedSimulation } from "../local/armAdmin.js";
import { launchChromium } from "../local/chromium.js";
import { provisionGalleries } from "../local/provision.js";
import { localAzure } from "../local/settings.js";
import { startLocalStack, type LocalStack } from "../local/stack.js";
import type { CatalogImage } from "../shared/catalog/schema.js";
import { renderGalleryImage } from "../shared/domain/imageVersion.js";
import { managedByValue, tagNames } from "../shared/domain/names.js";
import { failureTagPrefix } from "../shared/domain/failures.js";
import { buildDashboardAssets } from "./dashboard.js";

const root = path.resolve(import.meta.dirname, "..");
const out = path.join(root, "docs");
const day = 86_400_000;
const minute = 60_000;

/** The definition as the pipeline creates it, in the wire shape the emulator's seed takes, with extra tags. */
function definitionSeed(image: CatalogImage, tags: Record<string, string>) {
  const {
    location,
    tags: own,
    ...properties
  } = renderGalleryImage(image, image.gallery.location ?? image.build.location);
  return {
    resourceGroup: image.gallery.resourceGroup,
    gallery: image.gallery.name,
    name: image.definition.name,
    location,
    tags: { ...own, ...tags },
    properties,
  };
}

/** A promoted version of the pipeline's, published `ageInDays` ago. */
function versionSeed(image: CatalogImage, name: string, ageInDays: number, now: number, n: number) {
  const published = now - ageInDays * day;
  return {
    resourceGroup: image.gallery.resourceGroup,
    gallery: image.gallery.name,
    imageDefinition: image.definition.name,
    name,
    location: image.build.location,
    createdAt: new Date(published).toISOString(),
    tags: {
      [tagNames.managedBy]: managedByValue,
      [tagNames.state]: "promoted",
      [tagNames.buildId]: `b-${String(n).padStart(20, "0")}`,
      [tagNames.commit]: `${n}`.repeat(40).slice(0, 40),
    },
    properties: {
      publishingProfile: {
        targetRegions: image.distribution.targetRegions.map((r) => ({
          name: r.name,
          ...(r.regionalReplicaCount ? { regionalReplicaCount: r.regionalReplicaCount } : {}),
        })),
        excludeFromLatest: false,
        endOfLifeDate: new Date(published + image.retention.endOfLifeDays * day).toISOString(),
      },
    },
  };
}

async function until(what: string, check: () => Promise<boolean>, timeoutInMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutInMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function status(stack: LocalStack, buildId: string): Promise<{ stage?: string; run?: { runSubState?: string } }> {
  const response = await fetch(`${stack.host.url}/api/builds/${buildId}`, {
    headers: { "x-functions-key": localAzure.functionKey },
  });
  return response.status === 200 ? ((await response.json()) as { stage?: string }) : {};
}

async function requestBuild(stack: LocalStack, image: string, commit: string): Promise<string> {
  const response = await fetch(`${stack.host.url}/api/builds`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-functions-key": localAzure.functionKey },
    body: JSON.stringify({ image, commit, reason: "push" }),
  });
  const body = (await response.json()) as { buildId?: string };
  if (!body.buildId) throw new Error(`no build for ${image}: ${JSON.stringify(body)}`);
  return body.buildId;
}

async function main() {
  const stateDir = mkdtempSync(path.join(tmpdir(), "dashboard-screenshot-"));
  await buildDashboardAssets();
  const stack = await startLocalStack({
    stateDir,
    timers: false,
    logger: () => {},
    overrides: {
      DASHBOARD_REFRESH_IN_SECONDS: "1",
      BUILD_WATCH_INITIAL_DELAY_IN_SECONDS: "1",
      BUILD_WATCH_MAX_DELAY_IN_SECONDS: "1",
    },
  });
  const browser = await launchChromium();
  try {
    const [ubuntu, windows] = ["ubuntu-2404", "windows-2022"].map((name) =>
      stack.catalog.images.find((i) => i.name === name)!,
    );
    if (!ubuntu || !windows) throw new Error("the sample catalog has changed: update scripts/screenshot.ts");
    await configureSimulation(stack.arm, steppedSimulation(minute, 5 * minute));
    await provisionGalleries(stack.arm, stack.catalog);
    const { nowMs } = await armAdmin<{ nowMs: number }>(stack.arm, "GET", "clock");
    const windowsName = (ageInDays: number) => {
      const d = new Date(nowMs - ageInDays * day);
      return `${d.getUTCFullYear()}.${String(d.getUTCMonth() + 1)}${String(d.getUTCDate()).padStart(2, "0")}.0`;
    };
    await armAdmin(stack.arm, "POST", "seed", {
      imageDefinitions: [
        definitionSeed(ubuntu, {}),
        definitionSeed(windows, {
          [`${failureTagPrefix}b-0000000000000000f41d`]: `${new Date(nowMs - 2 * day).toISOString()} Image Builder run Failed: customizer 'install-updates' (WindowsUpdate) failed: 0x80240438, no route to the update service`,
        }),
      ],
      imageVersions: [
        versionSeed(ubuntu, "1.0.0", 130, nowMs, 1),
        versionSeed(ubuntu, "1.0.1", 95, nowMs, 2),
        versionSeed(ubuntu, "1.0.2", 60, nowMs, 3),
        versionSeed(ubuntu, "1.0.3", 25, nowMs, 4),
        versionSeed(windows, windowsName(150), 150, nowMs, 5),
        versionSeed(windows, windowsName(90), 90, nowMs, 6),
        versionSeed(windows, windowsName(30), 30, nowMs, 7),
      ],
    });
    const advance = (ms: number) => armAdmin(stack.arm, "POST", "clock", { advanceByMs: ms });

    const ubuntuBuild = await requestBuild(stack, ubuntu.name, "9f1c2d3e4b5a69788796a5b4c3d2e1f009182736");
    await until("the ubuntu build to run", async () => (await status(stack, ubuntuBuild)).stage === "building");
    await advance(6 * minute + 1000);
    await until(
      "the ubuntu version to replicate",
      async () => (await status(stack, ubuntuBuild)).stage === "replicating",
    );
    const windowsBuild = await requestBuild(stack, windows.name, "4a5b6c7d8e9f00112233445566778899aabbccdd");
    await until("the windows build to run", async () => (await status(stack, windowsBuild)).stage === "building");
    await advance(2 * minute + 30_000);
    await until(
      "the windows build to customize",
      async () => (await status(stack, windowsBuild)).run?.runSubState === "Customizing",
    );
    await stack.host.invokeTimer("monitorReplication");

    mkdirSync(out, { recursive: true });
    for (const scheme of ["light", "dark"] as const) {
      // The dark picture shows the top of the page only: it is there to show the scheme, not the data again.
      const viewport = { width: 1360, height: scheme === "light" ? 1180 : 760 };
      const context = await browser.newContext({ viewport, colorScheme: scheme });
      const page = await context.newPage();
      await page.goto(`${stack.host.url}/api/dashboard#code=${localAzure.functionKey}`);
      await page.waitForSelector("body[data-state=ready]");
      await page.locator('section[data-image="windows-2022"] li.build', { hasText: "Customizing" }).waitFor();
      await page.locator('section[data-image="ubuntu-2404"] li.build.replicating').waitFor();
      const file = path.join(out, scheme === "light" ? "dashboard.png" : "dashboard-dark.png");
      await page.screenshot({ path: file });
      console.log(`${path.relative(process.cwd(), file)}: ${statSync(file).size} bytes`);
      await context.close();
    }
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
