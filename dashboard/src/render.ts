/*
 * Builds the dashboard's DOM from the read model. Every string goes in as text (dom.ts); positions of the life bars
 * go through the CSSOM (element.style), which the page's CSP allows where it forbids inline style attributes.
 */
import type {
  Dashboard,
  DashboardBuild,
  DashboardCell,
  DashboardFailure,
  DashboardImage,
  DashboardVersion,
} from "../../shared/usecases/dashboardModel.js";
import { h, time } from "./dom.js";
import {
  cellLabel,
  cellTitle,
  formatDate,
  formatDateTime,
  lifeAxis,
  lifeSpan,
  relativeDays,
  safeHttpUrl,
  stateClass,
} from "./format.js";

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The figures across images, as a definition list of tiles. */
export function renderSummary(dashboard: Dashboard): HTMLElement {
  const s = dashboard.summary;
  const byState = (state: string) => s.versionsByState[state] ?? 0;
  const tile = (label: string, value: number | string, tone: string, note?: string) =>
    h(
      "div",
      { class: `tile ${tone}` },
      h("dt", null, label),
      h("dd", null, String(value), note && h("small", null, note)),
    );
  return h(
    "dl",
    { class: "summary", "aria-label": "Summary across images" },
    tile(
      "Images",
      s.images,
      s.imagesUnreadable > 0 ? "bad" : "plain",
      s.imagesUnreadable > 0 ? `${s.imagesUnreadable} unreadable` : undefined,
    ),
    tile("Versions", s.versions, "plain", `${byState("promoted")} promoted`),
    tile("Replicating", byState("replicating"), byState("replicating") > 0 ? "busy" : "plain"),
    tile("Builds in flight", s.buildsInFlight, s.buildsInFlight > 0 ? "busy" : "plain"),
    tile("Failed versions", byState("failed"), byState("failed") > 0 ? "bad" : "plain"),
    tile("Recent build failures", s.recentFailures, s.recentFailures > 0 ? "bad" : "plain"),
    tile("Next prune deletes", s.pendingDeletions, s.pendingDeletions > 0 ? "warn" : "plain", "versions"),
    tile("Past end of life", s.pastEndOfLife, s.pastEndOfLife > 0 ? "warn" : "plain", "still in the gallery"),
    tile("Regions without latest", s.regionsWithoutLatest, s.regionsWithoutLatest > 0 ? "warn" : "plain"),
    s.instances !== undefined && tile("Instances", s.instances, "plain", "running any version"),
  );
}

/** One image: a disclosure whose summary line says the essentials, then builds, failures and the grid. */
export function renderImage(image: DashboardImage, index: number, now: Date, open: boolean): HTMLElement {
  const headingId = `image-${index}`;
  const details = h("details", { open }, renderImageSummary(image, headingId));
  const body = h("div", { class: "image-body" });
  details.append(body);
  const where = `${image.gallery} / ${image.definition} · ${image.osType}`;
  body.append(h("p", { class: "meta" }, image.description ? `${image.description} — ` : "", where));
  if (image.error !== undefined) {
    body.append(h("p", { class: "alert bad", role: "alert" }, "Could not read this image from Azure: ", image.error));
  } else if (!image.exists) {
    body.append(h("p", { class: "meta" }, "No image definition yet: the first build creates it."));
  }
  if (image.builds.length > 0) body.append(renderBuilds(image));
  if (image.failures.length > 0) body.append(renderFailures(image));
  if (image.versions.length > 0) body.append(renderGrid(image, now));
  body.append(renderRetention(image));
  return h("section", { class: "image", "data-image": image.image, "aria-labelledby": headingId }, details);
}

function renderImageSummary(image: DashboardImage, headingId: string): HTMLElement {
  const badges = h("span", { class: "badges" });
  const latestEverywhere = image.regions.filter((r) => r.target).every((r) => r.latest === image.latest);
  if (image.error !== undefined) badges.append(h("span", { class: "badge bad" }, "unreadable"));
  if (image.latest) {
    badges.append(
      h("span", { class: "badge ok" }, `latest ${image.latest}`, latestEverywhere ? "" : " (differs by region)"),
    );
  } else if (image.exists) {
    badges.append(h("span", { class: "badge warn" }, "no latest"));
  }
  if (image.builds.length > 0)
    badges.append(h("span", { class: "badge busy" }, plural(image.builds.length, "build"), " in flight"));
  if (image.failures.length > 0)
    badges.append(h("span", { class: "badge bad" }, plural(image.failures.length, "failure")));
  if (image.retention.deletions.length > 0) {
    badges.append(h("span", { class: "badge warn" }, `${image.retention.deletions.length} to prune`));
  }
  badges.append(h("span", { class: "badge plain" }, plural(image.versions.length, "version")));
  return h("summary", { "data-focus-key": `summary:${image.image}` }, h("h2", { id: headingId }, image.image), badges);
}

function renderBuilds(image: DashboardImage): HTMLElement {
  const list = h("ul", { class: "builds" });
  for (const b of image.builds) list.append(renderBuild(b));
  return h("div", { class: "block" }, h("h3", null, "Builds in flight"), list);
}

function renderBuild(b: DashboardBuild): HTMLElement {
  const item = h(
    "li",
    { class: `build ${b.stage}` },
    h("span", { class: `state ${stateClass(b.stage)}` }, b.stage),
    " ",
    b.version ? h("strong", null, b.version) : "version not allocated yet",
    " · build ",
    h("code", null, b.buildId),
  );
  if (b.stage === "building") {
    item.append(" · ", b.runState ?? "NotStarted", b.runSubState ? `: ${b.runSubState}` : "");
    if (b.startTime) item.append(" · since ", time(b.startTime, formatDateTime(b.startTime)));
    if (b.message) item.append(h("span", { class: "message" }, b.message));
  } else if (b.stage === "replicating") {
    const progress = b.progress ?? 0;
    item.append(
      " · ",
      h("progress", { max: 100, value: progress, "aria-label": `Replication of ${b.version ?? b.buildId}` }),
      ` ${progress}%`,
    );
  } else {
    item.append(" · Image Builder run succeeded; creating the gallery version");
  }
  if (b.commit) item.append(" · commit ", h("code", null, b.commit.slice(0, 12)));
  appendLink(item, b.traceUrl, "trace", `trace:${b.buildId}`);
  return item;
}

function renderFailures(image: DashboardImage): HTMLElement {
  const list = h("ul", { class: "failures" });
  for (const f of image.failures) list.append(renderFailure(f));
  return h("div", { class: "block" }, h("h3", null, "Recent failures"), list);
}

function renderFailure(f: DashboardFailure): HTMLElement {
  const item = h(
    "li",
    { class: "failure" },
    h("span", { class: "state bad" }, "failed"),
    " ",
    time(f.at, formatDateTime(f.at)),
    f.version && h("span", null, " · version ", h("strong", null, f.version)),
    " · build ",
    h("code", null, f.buildId),
    h("span", { class: "reason" }, f.reason),
  );
  if (f.logLocation) {
    const url = safeHttpUrl(f.logLocation);
    item.append(
      h(
        "span",
        { class: "log" },
        "Customization log: ",
        url
          ? h("a", { href: url, rel: "noopener noreferrer", "data-focus-key": `log:${f.buildId}` }, f.logLocation)
          : h("code", null, f.logLocation),
      ),
    );
  }
  appendLink(item, f.traceUrl, "trace", `trace:${f.buildId}`);
  return item;
}

function appendLink(parent: HTMLElement, href: string | undefined, text: string, focusKey: string): void {
  const url = safeHttpUrl(href);
  if (url) parent.append(" · ", h("a", { href: url, rel: "noopener noreferrer", "data-focus-key": focusKey }, text));
}

function renderGrid(image: DashboardImage, now: Date): HTMLElement {
  const withUsage = image.versions.some((v) => v.instances !== undefined);
  const head = h(
    "tr",
    null,
    h("th", { scope: "col" }, "Version"),
    h("th", { scope: "col" }, "State"),
    ...image.regions.map((r) =>
      h(
        "th",
        { scope: "col", class: r.target ? "region" : "region extra" },
        r.name,
        h("span", { class: "latest-of-region" }, r.latest ? `latest ${r.latest}` : "no latest"),
        !r.target && h("span", { class: "latest-of-region" }, "not a target"),
        r.rolloutTarget && h("span", { class: "latest-of-region" }, `rollout → ${r.rolloutTarget}`),
      ),
    ),
    withUsage && h("th", { scope: "col" }, "Instances"),
    h("th", { scope: "col" }, "Life: published → end of life"),
    h("th", { scope: "col" }, "Next prune run"),
  );
  const axis = lifeAxis(image, now);
  const nowAt = lifeSpan({ publishedDate: now.toISOString() }, axis)?.start;
  const rows = image.versions.map((v) => renderRow(image, v, now, axis, nowAt, withUsage));
  return h(
    "div",
    { class: "grid-wrap" },
    h(
      "table",
      { class: "grid" },
      h("caption", null, `Versions of ${image.image} by region`),
      h("thead", null, head),
      h("tbody", null, ...rows),
    ),
  );
}

function renderRow(
  image: DashboardImage,
  v: DashboardVersion,
  now: Date,
  axis: { startMs: number; endMs: number },
  nowAt: number | undefined,
  withUsage: boolean,
): HTMLElement {
  const name = h("th", { scope: "row" }, v.name);
  if (v.commit) name.append(h("small", null, "commit ", v.commit.slice(0, 12)));
  const state = h("td", null, h("span", { class: `state ${stateClass(v.state)}` }, v.state));
  if (v.excludeFromLatest && v.state !== "replicating") state.append(h("small", null, "excluded from latest"));
  if (v.provisioningState && v.provisioningState !== "Succeeded") state.append(h("small", null, v.provisioningState));
  const cells = v.cells.map((c, i) => renderCell(c, image.regions[i]?.name ?? "", v.name));
  const usage = withUsage && h("td", { class: "num" }, v.instances === undefined ? "—" : String(v.instances));
  return h("tr", null, name, state, ...cells, usage, renderLife(v, now, axis, nowAt), renderPrune(v));
}

function renderCell(cell: DashboardCell, region: string, version: string): HTMLElement {
  const td = h("td", {
    class: `cell ${cell.targeted ? stateClass(cell.state) : "none"}`,
    title: cellTitle(cell, region, version),
  });
  if (!cell.targeted) {
    td.append("—");
    return td;
  }
  td.append(cellLabel(cell));
  if (cell.state === "Replicating" && cell.progress !== undefined) {
    td.classList.add("progress");
    td.style.setProperty("--progress", `${Math.max(0, Math.min(100, cell.progress))}%`);
  }
  if (cell.replicaCount !== undefined) td.append(h("small", null, `×${cell.replicaCount}`));
  if (cell.latest) td.append(h("span", { class: "badge ok" }, "latest"));
  else if (cell.excludedFromLatest && cell.state === "Completed") td.append(h("small", null, "excluded"));
  return td;
}

function renderLife(
  v: DashboardVersion,
  now: Date,
  axis: { startMs: number; endMs: number },
  nowAt: number | undefined,
): HTMLElement {
  const td = h("td", { class: "life" });
  const span = lifeSpan(v, axis);
  if (span) {
    const track = h("div", { class: "track", "aria-hidden": "true" });
    const bar = h("span", {
      class: `bar ${v.endOfLifeDate && Date.parse(v.endOfLifeDate) <= now.getTime() ? "expired" : ""}`,
    });
    bar.style.left = `${(span.start * 100).toFixed(2)}%`;
    bar.style.width = `${(Math.max(0.01, span.end - span.start) * 100).toFixed(2)}%`;
    track.append(bar);
    if (nowAt !== undefined) {
      const marker = h("span", { class: "now" });
      marker.style.left = `${(nowAt * 100).toFixed(2)}%`;
      track.append(marker);
    }
    td.append(track);
  }
  const text = h(
    "span",
    { class: "dates" },
    time(v.publishedDate, formatDate(v.publishedDate)) || "unpublished",
    " → ",
  );
  if (v.endOfLifeDate) {
    text.append(time(v.endOfLifeDate, formatDate(v.endOfLifeDate)), ` (${relativeDays(v.endOfLifeDate, now)})`);
  } else {
    text.append("no end of life");
  }
  td.append(text);
  return td;
}

function renderPrune(v: DashboardVersion): HTMLElement {
  return h(
    "td",
    { class: `prune ${v.retention.action}` },
    h("span", { class: `state ${v.retention.action === "delete" ? "warn" : "muted"}` }, v.retention.action),
    h("small", null, v.retention.reason),
  );
}

function renderRetention(image: DashboardImage): HTMLElement {
  const r = image.retention;
  const policy = `end of life after ${r.endOfLifeDays} days, keep the newest ${r.keepLatest} healthy, none younger than ${r.minAgeDays} days, at most ${r.maxDeletionsPerRun} per run`;
  const text =
    r.deletions.length === 0
      ? "Next prune run deletes nothing."
      : `Next prune run ${r.dryRun ? "would delete (dry run: reports only)" : "deletes"} ${r.deletions.map((d) => d.version).join(", ")}.`;
  return h("p", { class: "retention" }, text, h("small", null, `Retention: ${policy}.`));
}
