/*
 * Pure formatting for the dashboard: no DOM, so the tests run it in Node. Dates are shown in UTC, as Azure reports
 * them, so that two operators in different time zones read the same thing.
 */
import type { DashboardCell, DashboardImage } from "../../shared/usecases/dashboardModel.js";

const dayInMs = 86_400_000;

/** `2026-11-23 10:43 UTC`; an empty or invalid date gives an empty string. */
export function formatDateTime(iso: string | undefined): string {
  const ms = iso ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(ms)) return "";
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** `2026-11-23`. */
export function formatDate(iso: string | undefined): string {
  const ms = iso ? Date.parse(iso) : Number.NaN;
  return Number.isNaN(ms) ? "" : new Date(ms).toISOString().slice(0, 10);
}

/** `10:43:05 UTC`. */
export function formatTime(date: Date): string {
  return `${date.toISOString().slice(11, 19)} UTC`;
}

/** Whole days from `now` to `iso`, rounded toward zero: negative in the past. */
export function daysUntil(iso: string, now: Date): number {
  return Math.trunc((Date.parse(iso) - now.getTime()) / dayInMs);
}

/** `in 34 days`, `today`, `12 days ago`. */
export function relativeDays(iso: string, now: Date): string {
  const days = daysUntil(iso, now);
  if (days === 0) return Date.parse(iso) >= now.getTime() ? "today" : "today (passed)";
  const n = Math.abs(days);
  const unit = n === 1 ? "day" : "days";
  return days > 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`;
}

/** What a grid cell says, in words (color is never the only signal). */
export function cellLabel(cell: DashboardCell | null): string {
  if (!cell) return "not targeted";
  switch (cell.state) {
    case "Completed":
      return "Completed";
    case "Replicating":
      return cell.progress === undefined ? "Replicating" : `Replicating ${Math.round(cell.progress)}%`;
    case "Failed":
      return "Failed";
    case undefined:
      return "not read";
    default:
      return cell.state;
  }
}

/** A tooltip with everything known of a cell. */
export function cellTitle(cell: DashboardCell | null, region: string, version: string): string {
  if (!cell) return `${version} does not target ${region}`;
  const parts = [`${version} in ${region}: ${cellLabel(cell)}`];
  if (cell.state !== undefined && !cell.observed) parts.push("(inferred: provisioning succeeded)");
  if (cell.state === undefined) parts.push("(per-region status is read only while a version replicates)");
  if (cell.details) parts.push(`— ${cell.details}`);
  if (cell.replicaCount !== undefined)
    parts.push(`· ${cell.replicaCount} replica${cell.replicaCount === 1 ? "" : "s"}`);
  if (cell.excludedFromLatest) parts.push("· excluded from latest");
  if (cell.latest) parts.push("· latest resolves here");
  return parts.join(" ");
}

/** CSS class of a state (version state or replication state); unknown states share one class. */
export function stateClass(state: string | undefined): string {
  switch (state) {
    case "promoted":
    case "Completed":
      return "ok";
    case "replicating":
    case "Replicating":
    case "building":
    case "publishing":
      return "busy";
    case "failed":
    case "Failed":
      return "bad";
    default:
      return "muted";
  }
}

/**
 * True for an image an operator should look at: unreadable, a build in flight, a recent failure, or a target region
 * where `latest` resolves to nothing. Routine pruning is not a reason (the plan is shown in every image).
 */
export function needsAttention(image: DashboardImage): boolean {
  return (
    image.error !== undefined ||
    image.builds.length > 0 ||
    image.failures.length > 0 ||
    (image.exists && image.regions.some((r) => r.target && r.latest === undefined))
  );
}

/** True when an image matches a filter text (name, description, gallery or definition; case-insensitive). */
export function matchesFilter(image: DashboardImage, filter: string): boolean {
  const text = filter.trim().toLowerCase();
  if (text === "") return true;
  return [image.image, image.description ?? "", image.gallery, image.definition].some((s) =>
    s.toLowerCase().includes(text),
  );
}

/**
 * An `https:` or `http:` URL as a string, or undefined: a log location or trace link from Azure or tags may hold
 * anything, and a `javascript:` URL must never become a link.
 */
export function safeHttpUrl(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where a version's life sits on the image's time axis, as fractions 0..1: published to end of life, and now.
 * The axis runs from the oldest published date to the latest end of life (or now, whichever is later).
 */
export function lifeSpan(
  version: { publishedDate?: string; endOfLifeDate?: string },
  axis: { startMs: number; endMs: number },
): { start: number; end: number } | undefined {
  const start = version.publishedDate ? Date.parse(version.publishedDate) : Number.NaN;
  if (Number.isNaN(start) || axis.endMs <= axis.startMs) return undefined;
  const end = version.endOfLifeDate ? Date.parse(version.endOfLifeDate) : axis.endMs;
  const at = (ms: number) => Math.min(1, Math.max(0, (ms - axis.startMs) / (axis.endMs - axis.startMs)));
  return { start: at(start), end: at(Math.max(start, end)) };
}

/** The time axis of an image's versions: oldest published date to max(latest end of life, now). */
export function lifeAxis(image: DashboardImage, now: Date): { startMs: number; endMs: number } {
  let startMs = now.getTime();
  let endMs = now.getTime();
  for (const v of image.versions) {
    const published = v.publishedDate ? Date.parse(v.publishedDate) : Number.NaN;
    const eol = v.endOfLifeDate ? Date.parse(v.endOfLifeDate) : Number.NaN;
    if (!Number.isNaN(published)) startMs = Math.min(startMs, published);
    if (!Number.isNaN(eol)) endMs = Math.max(endMs, eol);
  }
  return { startMs, endMs };
}

/** Reads the function key from a URL's fragment (`#code=...`) or query (`?code=...`). */
export function keyFromUrl(url: URL): string | undefined {
  const fromHash = new URLSearchParams(url.hash.replace(/^#/, "")).get("code");
  return fromHash || url.searchParams.get("code") || undefined;
}

/** The URL without the key, to put back in the address bar and history. */
export function urlWithoutKey(url: URL): string {
  const clean = new URL(url.href);
  clean.searchParams.delete("code");
  const hash = new URLSearchParams(clean.hash.replace(/^#/, ""));
  hash.delete("code");
  clean.hash = hash.toString();
  return `${clean.pathname}${clean.search}${clean.hash}`;
}
