import { describe, expect, it } from "vitest";
import {
  consecutiveFailures,
  readScheduleDisablement,
  readScheduleEnablement,
  withScheduleCheck,
  withScheduleEnabled,
} from "../../../shared/domain/scheduleState.js";

const failure = (n: number, at: string) => ({ buildId: `b-${String(n).padStart(20, "0")}`, at, reason: `failed ${n}` });
const failures = [
  failure(1, "2026-11-01T02:00:00.000Z"),
  failure(2, "2026-11-02T02:00:00.000Z"),
  failure(3, "2026-11-03T02:00:00.000Z"),
];

describe("a schedule that disables itself", () => {
  it("counts the failures after the newest successful build only", () => {
    expect(
      consecutiveFailures(failures, { lastSuccessAt: new Date("2026-11-01T12:00:00Z") }).map((f) => f.reason),
    ).toEqual(["failed 3", "failed 2"]);
  });

  it("is disabled by the failure that reaches the threshold, naming the failed builds newest first", () => {
    const now = new Date("2026-11-03T03:00:00Z");
    expect(withScheduleCheck({}, { failures: failures.slice(0, 2), threshold: 3, now }).disabled).toBeUndefined();
    const { tags, disabled } = withScheduleCheck({ other: "kept" }, { failures, threshold: 3, now });
    expect(disabled).toEqual({
      at: now.toISOString(),
      failedBuilds: [failures[2]!.buildId, failures[1]!.buildId, failures[0]!.buildId],
    });
    expect(readScheduleDisablement(tags)).toEqual(disabled);
    expect(tags.other).toBe("kept");
    // Already disabled: nothing changes.
    expect(withScheduleCheck(tags, { failures, threshold: 1, now: new Date() }).disabled).toBeUndefined();
  });

  it("is enabled again with the failures before it no longer counting", () => {
    const { tags } = withScheduleCheck({}, { failures, threshold: 3, now: new Date("2026-11-03T03:00:00Z") });
    const enabled = withScheduleEnabled(tags, readScheduleDisablement(tags)!, new Date("2026-11-04T00:00:00Z"));
    expect(readScheduleDisablement(enabled)).toBeUndefined();
    expect(readScheduleEnablement(enabled)).toEqual({
      at: "2026-11-04T00:00:00.000Z",
      disabledBy: failures[2]!.buildId,
      disabledAt: "2026-11-03T03:00:00.000Z",
    });
    const oneMore = [...failures, failure(4, "2026-11-05T02:00:00.000Z")];
    expect(withScheduleCheck(enabled, { failures: oneMore, threshold: 3, now: new Date() }).disabled).toBeUndefined();
  });
});
