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

/**
 * One image: a disclosure whose summary line says the essentials; its body (builds, failures, the grid) is built
 * when first opened, so a page of many collapsed images costs a line each.
 */
export function renderImage(image: DashboardImage, index: number, now: Date, open: boolean): HTMLElement {
  const headingId = `image-${index}`;
  const details = h("details", { open }, renderImageSummary(image, headingId));
  let filled = false;
  const fill = () => {
    if (filled || !details.open) return;
    filled = true;
    details.append(renderImageBody(image, now));
  };
  fill();
  details.addEventListener("toggle", fill);
  return h("section", { class: "image", "data-image": image.image, "aria-labelledby": headingId }, details);
}

function renderImageBody(image: DashboardImage, now: Date): HTMLElement {
  const body = h("div", { class: "image-body" });
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
  return body;
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
    h("code", { title: traceHint(b.buildId) }, b.buildId),
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
    h("code", { title: traceHint(f.buildId) }, f.buildId),
    h("span", { class: "reason" }, f.reason),
  );
  if (f.logUri) {
    const url = safeHttpUrl(f.logUri);
    item.append(
      h(
        "span",
        { class: "log" },
        "Customization log: ",
        url
          ? h("a", { href: url, rel: "noopener noreferrer", "data-focus-key": `log:${f.buildId}` }, f.logUri)
          : h("code", null, f.logUri),
      ),
    );
  }
  appendLink(item, f.traceUrl, "trace", `trace:${f.buildId}`);
  return item;
}

/** Where a build's span tree is: the CLI prints it as a waterfall (shared/observability/README.md). */
function traceHint(buildId: string): string {
  return `Its trace, as a waterfall: npx image-pipeline trace ${buildId}`;
}

function appendLink(parent: HTMLElement, href: string | undefined, text: string, focusKey: string): void {
  const url = safeHttpUrl(href);
  if (url) parent.append(" · ", h("a", { href: url, rel: "noopener noreferrer", "data-focus-key": focusKey }, text));
}

/*
 * The grid is the bulk of the page (100 images × 20 versions × 5 regions is 10,000 cells): one element per cell,
 * text only, a fixed table layout, and the life bar drawn by the cell's background from three CSS variables.
 */
function renderGrid(image: DashboardImage, now: Date): HTMLElement {
  const withUsage = image.versions.some((v) => v.instances !== undefined);
  const columns = h(
    "colgroup",
    null,
    h("col", { class: "c-version" }),
    h("col", { class: "c-state" }),
    ...image.regions.map(() => h("col", { class: "c-region" })),
    withUsage && h("col", { class: "c-usage" }),
    h("col", { class: "c-life" }),
    h("col", { class: "c-prune" }),
  );
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
  const body = h("tbody");
  for (const v of image.versions) body.append(renderRow(image, v, now, axis, nowAt, withUsage));
  return h(
    "div",
    { class: "grid-wrap" },
    h(
      "table",
      { class: "grid" },
      h("caption", null, `Versions of ${image.image} by region`),
      columns,
      h("thead", null, head),
      body,
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
  const row = h("tr");
  row.append(h("th", { scope: "row" }, v.name, v.commit && h("small", null, "commit ", v.commit.slice(0, 12))));
  const notes = [
    v.excludeFromLatest && v.state !== "replicating" ? "excluded from latest" : "",
    v.provisioningState && v.provisioningState !== "Succeeded" ? v.provisioningState : "",
  ].filter(Boolean);
  row.append(h("td", { class: `st ${stateClass(v.state)}` }, [v.state, ...notes].join(" · ")));
  v.cells.forEach((c, i) => row.append(renderCell(c, image.regions[i]?.name ?? "", v.name)));
  if (withUsage) row.append(h("td", { class: "num" }, v.instances === undefined ? "—" : String(v.instances)));
  row.append(renderLife(v, now, axis, nowAt));
  row.append(
    h(
      "td",
      { class: `prune ${v.retention.action}`, title: v.retention.code },
      `${v.retention.action}: ${v.retention.reason}`,
    ),
  );
  return row;
}

function renderCell(cell: DashboardCell | null, region: string, version: string): HTMLElement {
  if (!cell) return h("td", { class: "cell none", title: cellTitle(cell, region, version) }, "—");
  const classes = `cell ${stateClass(cell.state)}${cell.latest ? " latest" : ""}${cell.state === "Replicating" ? " progress" : ""}`;
  const parts = [cellLabel(cell)];
  if (cell.replicaCount !== undefined) parts.push(`×${cell.replicaCount}`);
  if (cell.latest) parts.push("· latest");
  else if (cell.excludedFromLatest && cell.state === "Completed") parts.push("· excluded");
  const td = h("td", { class: classes, title: cellTitle(cell, region, version) }, parts.join(" "));
  if (cell.state === "Replicating" && cell.progress !== undefined) {
    td.style.setProperty("--progress", `${Math.max(0, Math.min(100, cell.progress))}%`);
  }
  return td;
}

function renderLife(
  v: DashboardVersion,
  now: Date,
  axis: { startMs: number; endMs: number },
  nowAt: number | undefined,
): HTMLElement {
  const expired = v.endOfLifeDate !== undefined && Date.parse(v.endOfLifeDate) <= now.getTime();
  const published = formatDate(v.publishedDate) || "unpublished";
  const end = v.endOfLifeDate
    ? `${formatDate(v.endOfLifeDate)} (${relativeDays(v.endOfLifeDate, now)})`
    : "no end of life";
  const td = h("td", { class: `life${expired ? " expired" : ""}` }, `${published} → ${end}`);
  const span = lifeSpan(v, axis);
  if (span) {
    td.classList.add("bar");
    td.style.setProperty("--start", `${(span.start * 100).toFixed(2)}%`);
    td.style.setProperty("--end", `${(Math.max(span.end, span.start + 0.01) * 100).toFixed(2)}%`);
    if (nowAt !== undefined) td.style.setProperty("--now", `${(nowAt * 100).toFixed(2)}%`);
  }
  return td;
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
