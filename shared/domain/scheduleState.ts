import type { RecordedFailure } from "./failures.js";
import { tagPrefix } from "./names.js";

/**
 * Whether an image's schedule runs, recorded on its image definition (there is no database): a schedule disables
 * itself after consecutive failed builds and stays off until an operator turns it back on.
 * - `imagePipeline.scheduleDisabled` = `<ISO time> <buildId>,<buildId>,...` (the failed builds, newest first);
 * - `imagePipeline.scheduleEnabledAt` = `<ISO time> <buildId> <ISO time>`: when an operator turned it back on, and
 *   the disablement that ended (the build that caused it, since when); failures before it no longer count.
 */
export const scheduleTagNames = {
  disabled: `${tagPrefix}scheduleDisabled`,
  enabledAt: `${tagPrefix}scheduleEnabledAt`,
} as const;

/** A disabled schedule: since when, and the failed builds that disabled it (newest first). */
export interface ScheduleDisablement {
  at: string;
  failedBuilds: string[];
}

/** The last time the schedule was turned back on, and the disablement that ended then. */
export interface ScheduleEnablement {
  at: string;
  disabledBy: string;
  disabledAt: string;
}

/** When the schedule was last turned back on, if ever. */
export function readScheduleEnablement(tags: Readonly<Record<string, string>>): ScheduleEnablement | undefined {
  const value = tags[scheduleTagNames.enabledAt];
  if (!value) return undefined;
  const [at = "", disabledBy = "", disabledAt = ""] = value.split(" ");
  return { at, disabledBy, disabledAt };
}

/** The schedule's disablement recorded on a definition, if any. */
export function readScheduleDisablement(tags: Readonly<Record<string, string>>): ScheduleDisablement | undefined {
  const value = tags[scheduleTagNames.disabled];
  if (!value) return undefined;
  const [at = "", builds = ""] = value.split(" ");
  return { at, failedBuilds: builds.split(",").filter(Boolean) };
}

/**
 * The failed builds that count toward disabling the schedule, newest first: those after the image's newest
 * successful build (a version that did not fail) and after the schedule was last turned back on.
 */
export function consecutiveFailures(
  failures: readonly RecordedFailure[],
  since: { lastSuccessAt?: Date; enabledAt?: string },
): RecordedFailure[] {
  const after = Math.max(since.lastSuccessAt?.getTime() ?? 0, Date.parse(since.enabledAt ?? "") || 0);
  return failures.filter((f) => Date.parse(f.at) > after).sort((a, b) => b.at.localeCompare(a.at));
}

/**
 * The definition's tags after recording a failure: the schedule is disabled when the consecutive failures reach the
 * threshold (and it is not disabled already). Returns the disablement when this failure is the one that caused it.
 */
export function withScheduleCheck(
  tags: Readonly<Record<string, string>>,
  input: { failures: readonly RecordedFailure[]; lastSuccessAt?: Date; threshold: number; now: Date },
): { tags: Record<string, string>; disabled?: ScheduleDisablement } {
  if (readScheduleDisablement(tags)) return { tags: { ...tags } };
  const counted = consecutiveFailures(input.failures, {
    lastSuccessAt: input.lastSuccessAt,
    enabledAt: readScheduleEnablement(tags)?.at,
  });
  if (counted.length < input.threshold) return { tags: { ...tags } };
  const disabled = {
    at: input.now.toISOString(),
    failedBuilds: counted.slice(0, input.threshold).map((f) => f.buildId),
  };
  return {
    tags: { ...tags, [scheduleTagNames.disabled]: `${disabled.at} ${disabled.failedBuilds.join(",")}` },
    disabled,
  };
}

/** The definition's tags with the schedule turned back on at `now` (earlier failures no longer count). */
export function withScheduleEnabled(
  tags: Readonly<Record<string, string>>,
  disabled: ScheduleDisablement,
  now: Date,
): Record<string, string> {
  const rest = Object.fromEntries(Object.entries(tags).filter(([key]) => key !== scheduleTagNames.disabled));
  return {
    ...rest,
    [scheduleTagNames.enabledAt]: `${now.toISOString()} ${disabled.failedBuilds[0] ?? "-"} ${disabled.at}`,
  };
}
