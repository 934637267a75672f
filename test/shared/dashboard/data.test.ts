import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  acceptsGzip,
  DashboardCache,
  dashboardDataResponse,
  etagMatches,
  snapshotOf,
} from "../../../shared/dashboard/data.js";
import type { Dashboard } from "../../../shared/usecases/dashboardModel.js";

function aDashboard(overrides: Partial<Dashboard> = {}): Dashboard {
  return {
    readAt: "2026-11-23T02:00:00.000Z",
    refreshAfterInSeconds: 30,
    summary: {
      images: 0,
      imagesUnreadable: 0,
      versions: 0,
      versionsByState: {},
      buildsInFlight: 0,
      recentFailures: 0,
      pendingDeletions: 0,
      regionsWithoutLatest: 0,
      pastEndOfLife: 0,
    },
    images: [],
    ...overrides,
  };
}

describe("dashboard snapshots", () => {
  it("keep the same ETag when only the read time changed, and a new one when the content did", () => {
    const a = snapshotOf(aDashboard());
    const b = snapshotOf(aDashboard({ readAt: "2026-11-23T02:00:30.000Z" }));
    const c = snapshotOf(aDashboard({ refreshAfterInSeconds: 10 }));
    expect(b.etag).toBe(a.etag);
    expect(c.etag).not.toBe(a.etag);
    expect(a.etag).toMatch(/^"[\w-]+"$/);
  });

  it("compress to the same JSON", () => {
    const s = snapshotOf(aDashboard());
    expect(JSON.parse(gunzipSync(s.gzip).toString("utf8"))).toEqual(aDashboard());
  });
});

describe("the dashboard cache", () => {
  it("shares one read between callers while it runs, and reuses it until the time to live passes", async () => {
    let now = 0;
    const cache = new DashboardCache(30_000, () => now);
    let reads = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const read = async () => {
      reads++;
      await gate;
      return aDashboard();
    };
    const first = cache.get(read);
    const second = cache.get(read);
    release();
    expect(await first).toBe(await second);
    expect(reads).toBe(1);
    now = 29_999;
    await cache.get(read);
    expect(reads).toBe(1);
    now = 30_000;
    await cache.get(read);
    expect(reads).toBe(2);
  });

  it("does not keep a failed read: the next caller reads again", async () => {
    const cache = new DashboardCache(30_000, () => 0);
    await expect(cache.get(() => Promise.reject(new Error("ARM down")))).rejects.toThrow("ARM down");
    await expect(cache.get(async () => aDashboard())).resolves.toMatchObject({ dashboard: aDashboard() });
  });
});

describe("the dashboard data response", () => {
  const snapshot = snapshotOf(aDashboard());

  it("answers 304 with no body to the ETag the page holds", () => {
    const response = dashboardDataResponse(snapshot, { ifNoneMatch: snapshot.etag });
    expect(response.status).toBe(304);
    expect(response.body).toBeUndefined();
    expect(response.headers.etag).toBe(snapshot.etag);
  });

  it("answers the JSON, gzip-compressed when the client accepts it, never cached without revalidation", () => {
    const plain = dashboardDataResponse(snapshot, { ifNoneMatch: '"other"', acceptEncoding: "br" });
    expect(plain).toMatchObject({ status: 200, body: snapshot.json });
    expect(plain.headers["content-encoding"]).toBeUndefined();
    const gzip = dashboardDataResponse(snapshot, { acceptEncoding: "gzip, deflate, br" });
    expect(gzip).toMatchObject({ status: 200, body: snapshot.gzip, headers: { "content-encoding": "gzip" } });
    expect(gzip.headers).toMatchObject({
      "content-type": "application/json; charset=utf-8",
      "cache-control": "private, no-cache",
      vary: "Accept-Encoding",
      "referrer-policy": "no-referrer",
    });
  });

  it("reads If-None-Match lists, weak validators and *", () => {
    expect(etagMatches('"a", W/"b"', '"b"')).toBe(true);
    expect(etagMatches("*", '"b"')).toBe(true);
    expect(etagMatches('"a"', '"b"')).toBe(false);
    expect(etagMatches(null, '"b"')).toBe(false);
  });

  it("reads Accept-Encoding with quality values", () => {
    expect(acceptsGzip("gzip")).toBe(true);
    expect(acceptsGzip("br, gzip;q=0.5")).toBe(true);
    expect(acceptsGzip("gzip;q=0")).toBe(false);
    expect(acceptsGzip("identity")).toBe(false);
    expect(acceptsGzip(undefined)).toBe(false);
  });
});
