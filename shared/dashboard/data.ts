import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import type { Dashboard } from "../usecases/dashboardModel.js";
import { dashboardSecurityHeaders } from "./page.js";

/** One read of the dashboard, serialized once for every viewer. */
export interface DashboardSnapshot {
  dashboard: Dashboard;
  /** Strong ETag over the content (not the read time): an unchanged gallery answers 304 even after a new read. */
  etag: string;
  json: Uint8Array;
  /** The same bytes gzip-compressed: Functions on Linux does not compress responses itself. */
  gzip: Uint8Array;
}

/** Serializes a dashboard once: its JSON, gzip and ETag. */
export function snapshotOf(dashboard: Dashboard): DashboardSnapshot {
  const json = Buffer.from(JSON.stringify(dashboard));
  const { readAt: _readAt, ...content } = dashboard;
  const etag = `"${createHash("sha256").update(JSON.stringify(content)).digest("base64url").slice(0, 32)}"`;
  return { dashboard, etag, json, gzip: gzipSync(json, { level: 6 }) };
}

/**
 * Keeps the last read for `ttlInMs` and shares a read in progress: however many pages poll, one instance reads Azure
 * at most once per interval, so viewers never eat into the ARM budget of the pipeline's own sweeps.
 */
export class DashboardCache {
  private current: { snapshot: DashboardSnapshot; expiresAtMs: number } | undefined;
  private pending: Promise<DashboardSnapshot> | undefined;

  constructor(
    private readonly ttlInMs: number,
    private readonly nowInMs: () => number = () => Date.now(),
  ) {}

  /** The cached snapshot while fresh; otherwise the read in progress, or a new read. A failed read is not cached. */
  get(read: () => Promise<Dashboard>): Promise<DashboardSnapshot> {
    if (this.current && this.nowInMs() < this.current.expiresAtMs) return Promise.resolve(this.current.snapshot);
    this.pending ??= (async () => {
      try {
        const snapshot = snapshotOf(await read());
        this.current = { snapshot, expiresAtMs: this.nowInMs() + this.ttlInMs };
        return snapshot;
      } finally {
        this.pending = undefined;
      }
    })();
    return this.pending;
  }
}

const caches = new WeakMap<object, DashboardCache>();

/** The cache of one pipeline (the process has one; tests and the local host swap theirs). */
export function dashboardCacheOf(owner: object, ttlInMs: number): DashboardCache {
  let cache = caches.get(owner);
  if (!cache) {
    cache = new DashboardCache(ttlInMs);
    caches.set(owner, cache);
  }
  return cache;
}

/** True when an `If-None-Match` header names this ETag (or `*`); weak validators compare by their opaque tag. */
export function etagMatches(ifNoneMatch: string | null | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch
    .split(",")
    .map((tag) => tag.trim().replace(/^W\//, ""))
    .some((tag) => tag === "*" || tag === etag);
}

/** True when an `Accept-Encoding` header accepts gzip (a `q=0` refuses it). */
export function acceptsGzip(acceptEncoding: string | null | undefined): boolean {
  return (acceptEncoding ?? "").split(",").some((part) => {
    const [coding, ...params] = part.split(";").map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith("q="));
    return (coding === "gzip" || coding === "x-gzip") && (q === undefined || Number(q.slice(2)) > 0);
  });
}

/** The HTTP answer for a snapshot: 304 when the page has it already, else the JSON (gzip when accepted). */
export function dashboardDataResponse(
  snapshot: DashboardSnapshot,
  request: { ifNoneMatch?: string | null; acceptEncoding?: string | null },
): { status: number; headers: Record<string, string>; body?: Uint8Array } {
  const headers: Record<string, string> = {
    ...dashboardSecurityHeaders,
    etag: snapshot.etag,
    // Revalidate every time: the page asks with If-None-Match and an unchanged model costs a 304.
    "cache-control": "private, no-cache",
    vary: "Accept-Encoding",
  };
  if (etagMatches(request.ifNoneMatch, snapshot.etag)) return { status: 304, headers };
  headers["content-type"] = "application/json; charset=utf-8";
  if (acceptsGzip(request.acceptEncoding)) {
    headers["content-encoding"] = "gzip";
    return { status: 200, headers, body: snapshot.gzip };
  }
  return { status: 200, headers, body: snapshot.json };
}
