import type { Browser, BrowserContext, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { armAdmin, configureSimulation, instantSimulation, steppedSimulation } from "../../local/armAdmin.js";
import { launchChromium } from "../../local/chromium.js";
import { provisionGalleries } from "../../local/provision.js";
import { localAzure } from "../../local/settings.js";
import { buildDashboardAssets } from "../../scripts/dashboard.js";
import { loadCatalog } from "../../shared/catalog/load.js";
import type { CatalogImage } from "../../shared/catalog/schema.js";
import { managedByValue, tagNames } from "../../shared/domain/names.js";
import { failureTagPrefix } from "../../shared/domain/failures.js";
import { api, eventually, startTestStack } from "./harness.js";

type Stack = Awaited<ReturnType<typeof startTestStack>>;

/* The browser's globals used in page.evaluate callbacks (they run in the page; this program has Node's types). */
interface PageElement {
  tagName: string;
  id: string;
  textContent: string | null;
  tabIndex: number;
  dataset: Record<string, string | undefined>;
  matches(selector: string): boolean;
  checkVisibility(): boolean;
  blur(): void;
}
declare const document: {
  activeElement: PageElement | null;
  body: PageElement;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
};
declare const location: { href: string };
declare const sessionStorage: { length: number };
declare function getComputedStyle(element: PageElement): { outlineStyle: string; outlineWidth: string };

/** What must never happen on the page: each test ends by checking none did. */
interface PageWatch {
  consoleErrors: string[];
  pageErrors: string[];
  failedRequests: string[];
  errorResponses: string[];
  dialogs: string[];
  requests: Request[];
}

function watch(page: Page): PageWatch {
  const w: PageWatch = {
    consoleErrors: [],
    pageErrors: [],
    failedRequests: [],
    errorResponses: [],
    dialogs: [],
    requests: [],
  };
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") w.consoleErrors.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => w.pageErrors.push(String(e)));
  page.on("requestfailed", (r) => w.failedRequests.push(`${r.url()}: ${r.failure()?.errorText}`));
  page.on("response", (r) => {
    if (r.status() >= 400) w.errorResponses.push(`${r.status()} ${r.url()}`);
  });
  page.on("dialog", (d) => {
    w.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on("request", (r) => w.requests.push(r));
  return w;
}

function expectClean(w: PageWatch, allowed: { consoleErrors?: RegExp; errorResponses?: RegExp } = {}) {
  expect(w.consoleErrors.filter((e) => !allowed.consoleErrors?.test(e))).toEqual([]);
  expect(w.pageErrors).toEqual([]);
  expect(w.failedRequests).toEqual([]);
  expect(w.errorResponses.filter((e) => !allowed.errorResponses?.test(e))).toEqual([]);
  expect(w.dialogs).toEqual([]);
}

/** Hostile values as a catalog, a tag or Azure could carry them. */
const hostile = "<img src=x onerror=alert(1)>";
const hostileReason = `${hostile}<script>alert(2)</script> customize step failed`;
const hostileBuildId = "b-00000000000000000bad";
/** The page asks every second (DASHBOARD_REFRESH_IN_SECONDS=1): a change shows within a few polls. */
const polling = { timeout: 30_000, interval: 200 };

/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against the local stack while the
 * pipeline builds: one browser for the file, one page for the operator's view, one more context for the key.
 */
describe("the dashboard in a browser", () => {
  let stack: Stack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let w: PageWatch;
  let dashboardUrl: string;
  const key = localAzure.functionKey;
  const section = (image: string) => page.locator(`section[data-image="${image}"]`);
  /** The version `latest` resolves to in a region, as the ARM emulator resolves it for a VM created there. */
  const latestIn = async (imageName: string, region: string) => {
    const image = stack.catalog.images.find((i) => i.name === imageName)!;
    const id = `/subscriptions/${localAzure.subscriptionId}/resourceGroups/${image.gallery.resourceGroup}/providers/Microsoft.Compute/galleries/${image.gallery.name}/images/${image.definition.name}`;
    const answer = await armAdmin<{ version: string | null } | null>(
      stack.arm,
      "GET",
      `latest?imageDefinitionId=${encodeURIComponent(id)}&region=${region}`,
    );
    return answer?.version ?? undefined;
  };

  beforeAll(async () => {
    await buildDashboardAssets();
    const catalog = loadCatalog("images.yaml");
    const ubuntu = catalog.images.find((i) => i.name === "ubuntu-2404")!;
    const hostileImage: CatalogImage = {
      ...ubuntu,
      name: "hostile-image",
      definition: { ...ubuntu.definition, name: "hostile-image", sku: "hostile-sku", description: hostile },
    };
    stack = await startTestStack({
      catalog: { images: [...catalog.images, hostileImage] },
      overrides: { DASHBOARD_REFRESH_IN_SECONDS: "1" },
    });
    await configureSimulation(stack.arm, instantSimulation);
    await provisionGalleries(stack.arm, stack.catalog);
    const { resourceGroup, name: gallery } = hostileImage.gallery;
    await armAdmin(stack.arm, "POST", "seed", {
      imageDefinitions: [
        {
          resourceGroup,
          gallery,
          name: "hostile-image",
          location: "westeurope",
          tags: { [`${failureTagPrefix}${hostileBuildId}`]: `2026-11-20T10:00:00.000Z ${hostileReason}` },
          properties: {
            osType: "Linux",
            osState: "Generalized",
            hyperVGeneration: "V2",
            identifier: { publisher: "contoso", offer: "ubuntu-server", sku: "hostile-sku" },
          },
        },
      ],
      imageVersions: [
        {
          resourceGroup,
          gallery,
          imageDefinition: "hostile-image",
          name: "1.0.0",
          location: "westeurope",
          tags: {
            [tagNames.managedBy]: managedByValue,
            [tagNames.state]: "promoted",
            [tagNames.buildId]: "b-00000000000000000001",
            [tagNames.commit]: "<svg onload=alert(3)>",
          },
          properties: {
            publishingProfile: { targetRegions: [{ name: "westeurope" }, { name: "northeurope" }] },
          },
        },
      ],
    });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    page = await context.newPage();
    w = watch(page);
    dashboardUrl = `${stack.host.url}/api/dashboard`;
    await page.goto(`${dashboardUrl}#code=${key}`);
    await page.waitForSelector("body[data-state=ready]");
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.dispose();
  });

  it("takes the key out of the address bar and sends it in a header only", async () => {
    expect(page.url()).toBe(dashboardUrl);
    expect(await page.evaluate(() => location.href)).not.toContain(key);
    const sent = w.requests.filter((r) => r.url().startsWith(stack.host.url));
    expect(sent.length).toBeGreaterThan(0);
    for (const r of sent) expect(r.url()).not.toContain(key);
    const data = sent.filter((r) => r.url().endsWith("/api/dashboard/data"));
    expect(data.length).toBeGreaterThan(0);
    for (const r of data) expect(await r.headerValue("x-functions-key")).toBe(key);
    for (const r of sent) expect(await r.headerValue("referer")).toBeNull();
    const response = await page.request.get(dashboardUrl);
    expect(response.headers()["content-security-policy"]).toContain("script-src 'self'");
    expect(response.headers()["referrer-policy"]).toBe("no-referrer");
    // The data needs the key; the assets are the page's three files only, cached for good under their version.
    expect((await page.request.get(`${dashboardUrl}/data`)).status()).toBe(401);
    expect((await page.request.get(`${dashboardUrl}/assets/package.json`)).status()).toBe(404);
    const script = /src="([^"]+app\.js\?v=[^"]+)"/.exec(await response.text())![1]!;
    const asset = await page.request.get(new URL(script, dashboardUrl).href);
    expect(asset.headers()["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(asset.headers()["cache-control"]).toBe("public, max-age=31536000, immutable");
    expectClean(w);
  });

  it(
    "shows a build's progress, building then replicating then promoted, without reloading",
    { timeout: 120_000 },
    async () => {
      // Each step lasts a simulated minute, and the test moves the emulator's clock: no step can pass unseen.
      const minute = 60_000;
      await configureSimulation(stack.arm, steppedSimulation(minute));
      const advance = (ms: number) => armAdmin(stack.arm, "POST", "clock", { advanceByMs: ms });
      const navigations: string[] = [];
      page.on("framenavigated", (f) => navigations.push(f.url()));
      const requested = await api(stack, "/builds", {
        method: "POST",
        body: JSON.stringify({ image: "ubuntu-2404", commit: "1111111111111111111111111111111111111111" }),
      });
      expect(requested.status).toBe(202);
      const ubuntu = section("ubuntu-2404");

      await ubuntu.locator("li.build.building", { hasText: "Queued" }).waitFor({ timeout: 30_000 });
      await advance(2 * minute + 1000);
      await ubuntu.locator("li.build.building", { hasText: "Customizing" }).waitFor({ timeout: 30_000 });
      await advance(4 * minute + 1000);
      const replicating = ubuntu.locator("li.build.replicating");
      await replicating.waitFor({ timeout: 30_000 });
      const version = (await replicating.locator("strong").textContent())!;
      const row = ubuntu.locator("tbody tr", { has: page.locator(`th`, { hasText: version }) });
      await expect.poll(() => row.locator("td.st").textContent(), polling).toMatch(/^replicating/);

      await advance(2 * minute + 1000);
      await eventually("the version to show as promoted on the page", async () => {
        await stack.host.invokeTimer("monitorReplication");
        return (await row.locator("td.st").textContent())?.startsWith("promoted");
      });
      await expect.poll(() => ubuntu.locator("li.build").count(), polling).toBe(0);
      await expect
        .poll(() => ubuntu.locator("summary .badge.ok").first().textContent(), polling)
        .toMatch(new RegExp(`^latest ${version.replace(/\./g, "\\.")}`));
      // Which version latest resolves to in each region is Azure's answer (here the emulator's), whatever it is.
      const regions = ["westeurope", "northeurope"];
      const expected = await Promise.all(regions.map((region) => latestIn("ubuntu-2404", region)));
      expect(await ubuntu.locator("thead .latest-of-region").allTextContents()).toEqual(
        expected.map((v) => (v ? `latest ${v}` : "no latest")),
      );
      expect(await row.locator("td.cell.latest").count()).toBe(expected.filter((v) => v === version).length);
      expect(navigations).toEqual([]);
      expectClean(w);
    },
  );

  it("shows why a build failed", async () => {
    await configureSimulation(stack.arm, instantSimulation);
    await armAdmin(stack.arm, "POST", "rules/templates", {
      templateName: "*",
      failAt: "Customizing",
      failureMessage: "harden.ps1 exited with code 3 <b>not bold</b>",
    });
    try {
      await api(stack, "/builds", {
        method: "POST",
        body: JSON.stringify({ image: "windows-2022", commit: "2222222222222222222222222222222222222222" }),
      });
      const failure = section("windows-2022").locator("li.failure", { hasText: "harden.ps1 exited with code 3" });
      await failure.waitFor({ timeout: 30_000 });
      expect(await failure.locator(".reason").textContent()).toContain("harden.ps1 exited with code 3 <b>not bold</b>");
      expect(await failure.locator("b").count()).toBe(0);
      expect(await section("windows-2022").locator("summary .badge.bad").textContent()).toBe("1 failure");
    } finally {
      await armAdmin(stack.arm, "DELETE", "rules");
    }
    expectClean(w);
  });

  it("renders hostile catalog and tag values as text", async () => {
    const image = section("hostile-image");
    await image.waitFor();
    expect(await image.locator(".meta").first().textContent()).toContain(hostile);
    expect(await image.locator("li.failure .reason").textContent()).toBe(hostileReason);
    expect(await image.locator("tbody th small").first().textContent()).toBe("commit <svg onload=");
    expect(await page.locator("main img, main script, main svg").count()).toBe(0);
    expect(await page.evaluate(() => document.querySelectorAll("[onerror], [onload]").length)).toBe(0);
    expectClean(w);
  });

  it("lets every control be reached with Tab, in order, each with a visible focus ring", async () => {
    // Everything a keyboard user can operate, in document order, as the page shows it now.
    const expected = await page.evaluate(() => {
      const candidates = document.querySelectorAll("a[href], button, input, select, textarea, summary, [tabindex]");
      return [...candidates]
        .filter((el) => el.tabIndex >= 0 && !el.matches(":disabled") && el.checkVisibility())
        .map((el, i) => {
          el.dataset.tabProbe = String(i);
          return `${el.tagName.toLowerCase()}#${el.id || el.textContent?.trim().slice(0, 40)}`;
        });
    });
    // Filter, checkbox, refresh, forget key, and the summary of each of the three images.
    expect(expected.length).toBeGreaterThanOrEqual(7);
    await page.evaluate(() => document.activeElement?.blur());
    await page.locator("h1").click();
    const reached: string[] = [];
    for (let i = 0; i < expected.length + 1; i++) {
      await page.keyboard.press("Tab");
      const focused = await page.evaluate(() => {
        const el = document.activeElement;
        if (!el || el === document.body) return undefined;
        const style = getComputedStyle(el);
        return {
          name: `${el.tagName.toLowerCase()}#${el.id || el.textContent?.trim().slice(0, 40)}`,
          ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
          focusVisible: el.matches(":focus-visible"),
        };
      });
      if (!focused) break;
      expect(focused.ring, `focus ring on ${focused.name}`).toBe(true);
      expect(focused.focusVisible, `:focus-visible on ${focused.name}`).toBe(true);
      reached.push(focused.name);
    }
    expect(reached.slice(0, expected.length)).toEqual(expected);

    // The controls work from the keyboard: Space on the checkbox filters, Enter on a summary folds the image.
    await page.locator("#attention").focus();
    await page.keyboard.press("Space");
    await expect.poll(() => section("hostile-image").isVisible(), polling).toBe(true);
    await page.keyboard.press("Space");
    await page.locator("#filter").focus();
    await page.keyboard.type("windows");
    await expect.poll(() => section("ubuntu-2404").isVisible(), polling).toBe(false);
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Backspace");
    await expect.poll(() => section("ubuntu-2404").isVisible(), polling).toBe(true);
    const summary = section("ubuntu-2404").locator("summary");
    await summary.focus();
    await page.keyboard.press("Enter");
    await expect.poll(() => section("ubuntu-2404").locator("details").getAttribute("open"), polling).toBeNull();
    await page.keyboard.press("Enter");
    await expect.poll(() => section("ubuntu-2404").locator("details").getAttribute("open"), polling).toBe("");
    expectClean(w);
  });

  it("asks for a key when it has none, says when one is refused, and keeps a good one for the tab only", async () => {
    const other = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    try {
      const fresh = await other.newPage();
      const fw = watch(fresh);
      await fresh.goto(dashboardUrl);
      await fresh.locator("form.key-form").waitFor();
      expect(fw.requests.some((r) => r.url().includes("/dashboard/data"))).toBe(false);
      expect(await fresh.evaluate(() => document.activeElement?.id)).toBe("key");

      await fresh.locator("#key").fill("not-the-key");
      await fresh.keyboard.press("Enter");
      await fresh.locator("#key-message", { hasText: "refused" }).waitFor();

      await fresh.locator("#key").fill(key);
      await fresh.keyboard.press("Enter");
      await fresh.waitForSelector("body[data-state=ready]");
      expect(await fresh.locator("form.key-form").isHidden()).toBe(true);
      expect(await fresh.evaluate(() => sessionStorage.length)).toBe(1);
      await fresh.reload();
      await fresh.waitForSelector("body[data-state=ready]");
      expect(await fresh.locator("form.key-form").isHidden()).toBe(true);

      await fresh.locator("#forget").click();
      await fresh.locator("form.key-form").waitFor();
      expect(await fresh.evaluate(() => sessionStorage.length)).toBe(0);
      for (const r of fw.requests) expect(r.url()).not.toContain("not-the-key");
      // The refused key is the one expected error (the browser logs the 401 it got); the reload may abort a poll.
      fw.failedRequests = fw.failedRequests.filter((f) => !/\/api\/dashboard\/data: net::ERR_ABORTED$/.test(f));
      expectClean(fw, { consoleErrors: /status of 401/, errorResponses: /^401 .*\/api\/dashboard\/data$/ });
      expect(fw.errorResponses).toHaveLength(1);
    } finally {
      await other.close();
    }
  });
});
