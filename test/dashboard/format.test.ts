import { describe, expect, it } from "vitest";
import {
  cellLabel,
  cellTitle,
  formatDateTime,
  keyFromUrl,
  lifeSpan,
  relativeDays,
  safeHttpUrl,
  urlWithoutKey,
} from "../../dashboard/src/format.js";

const now = new Date("2026-11-23T12:00:00Z");

describe("dashboard formatting", () => {
  it("shows dates in UTC, and nothing for a missing or broken date", () => {
    expect(formatDateTime("2026-11-23T10:43:05Z")).toBe("2026-11-23 10:43 UTC");
    expect(formatDateTime(undefined)).toBe("");
    expect(formatDateTime("soon")).toBe("");
  });

  it("says how far an end of life is, in days", () => {
    expect(relativeDays("2026-12-27T12:00:00Z", now)).toBe("in 34 days");
    expect(relativeDays("2026-11-24T12:00:00Z", now)).toBe("in 1 day");
    expect(relativeDays("2026-11-11T12:00:00Z", now)).toBe("12 days ago");
    expect(relativeDays("2026-11-23T13:00:00Z", now)).toBe("today");
  });

  it("labels a cell in words, with the progress of a region still replicating", () => {
    expect(cellLabel(null)).toBe("not targeted");
    expect(cellLabel({ state: "Replicating", progress: 39.6 })).toBe("Replicating 40%");
    expect(cellLabel({})).toBe("not read");
    const title = cellTitle({ state: "Completed", replicaCount: 2, latest: true }, "westeurope", "1.0.2");
    expect(title).toBe(
      "1.0.2 in westeurope: Completed (inferred: provisioning succeeded) · 2 replicas · latest resolves here",
    );
  });

  it("links only http and https URLs: a javascript: location stays text", () => {
    expect(safeHttpUrl("https://storage.example/logs/customization.log")).toBe(
      "https://storage.example/logs/customization.log",
    );
    expect(safeHttpUrl("javascript:alert(1)")).toBeUndefined();
    expect(safeHttpUrl("JaVaScRiPt:alert(1)")).toBeUndefined();
    expect(safeHttpUrl("data:text/html,<script>alert(1)</script>")).toBeUndefined();
    expect(safeHttpUrl("/subscriptions/x/resourceGroups/y")).toBeUndefined();
  });

  it("places a version's life on the image's axis", () => {
    const axis = { startMs: Date.parse("2026-01-01T00:00:00Z"), endMs: Date.parse("2026-01-11T00:00:00Z") };
    expect(lifeSpan({ publishedDate: "2026-01-02T00:00:00Z", endOfLifeDate: "2026-01-06T00:00:00Z" }, axis)).toEqual({
      start: 0.1,
      end: 0.5,
    });
    expect(lifeSpan({ endOfLifeDate: "2026-01-06T00:00:00Z" }, axis)).toBeUndefined();
  });

  it("takes the key from the fragment or the query, and gives the URL back without it", () => {
    const url = new URL("https://app.example/api/dashboard?x=1#code=s3cret&y=2");
    expect(keyFromUrl(url)).toBe("s3cret");
    expect(urlWithoutKey(url)).toBe("/api/dashboard?x=1#y=2");
    const query = new URL("https://app.example/api/dashboard?code=k");
    expect(keyFromUrl(query)).toBe("k");
    expect(urlWithoutKey(query)).toBe("/api/dashboard");
    expect(keyFromUrl(new URL("https://app.example/api/dashboard"))).toBeUndefined();
  });
});
