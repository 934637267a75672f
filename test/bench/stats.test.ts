import { describe, expect, it } from "vitest";
import { distribution, medianPairedRatio, percentile, ratio, table } from "../../bench/lib/stats.js";

describe("the benchmarks' statistics", () => {
  it("takes nearest-rank percentiles of an unsorted sample", () => {
    const sample = [50, 10, 40, 20, 30, 60, 70, 80, 90, 100];
    expect(percentile(sample, 50)).toBe(50);
    expect(percentile(sample, 90)).toBe(90);
    expect(percentile(sample, 99)).toBe(100);
    expect(percentile(sample, 0)).toBe(10);
    expect(percentile([], 50)).toBeNaN();
  });

  it("summarises durations without reordering the caller's sample", () => {
    const sample = [3, 1, 2];
    expect(distribution(sample)).toEqual({ runs: 3, minInMs: 1, p50InMs: 2, p90InMs: 3, p99InMs: 3, maxInMs: 3 });
    expect(sample).toEqual([3, 1, 2]);
  });

  it("compares paired samples by the median of their ratios, whatever level each pair was measured at", () => {
    // A load that doubles every duration half-way: each pair is still 10% apart.
    expect(medianPairedRatio([110, 220, 110, 220], [100, 200, 100, 200])).toBe(1.1);
    expect(medianPairedRatio([90, 130, 100], [100, 100, 100])).toBe(1);
    expect(() => medianPairedRatio([1, 2], [1])).toThrow(/same, non-zero length/);
    expect(() => medianPairedRatio([], [])).toThrow(/same, non-zero length/);
  });

  it("gives ratios to three digits, and no ratio over zero", () => {
    expect(ratio(1183, 1143)).toBe(1.035);
    expect(ratio(1, 0)).toBeNaN();
  });

  it("aligns a table's columns under its header", () => {
    expect(
      table([
        ["run", "reads"],
        ["pipeline", 1000],
        ["naive", 15],
      ]).split("\n"),
    ).toEqual(["run       reads", "--------  -----", "pipeline   1000", "naive        15"]);
  });
});
