import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  NcrontabError,
  isDue,
  matchesNcrontab,
  nextOccurrence,
  occurrencesBetween,
  parseNcrontab,
} from "../../../shared/domain/ncrontab.js";

const at = (iso: string) => new Date(iso);

/** The next `count` occurrences after `after`, as ISO strings. */
function nextTimes(expression: string, after: string, count: number): string[] {
  const times: string[] = [];
  let cursor = at(after);
  for (let i = 0; i < count; i++) {
    cursor = nextOccurrence(expression, cursor);
    times.push(cursor.toISOString().replace(".000Z", "Z"));
  }
  return times;
}

/**
 * The Functions host's documented NCRONTAB examples (Microsoft Learn, "Timer trigger for Azure Functions",
 * section "NCRONTAB expressions": the table of field value types and the "NCRONTAB examples" table,
 * https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer#ncrontab-expressions), each with the
 * times the page says it fires at. Whatever parses NCRONTAB here must pass them.
 */
const documentedExamples: ReadonlyArray<[expression: string, meaning: string, after: string, expected: string[]]> = [
  [
    "0 5 * * * *",
    "at hh:05:00, once an hour",
    "2026-03-02T10:07:00Z",
    ["2026-03-02T11:05:00Z", "2026-03-02T12:05:00Z"],
  ],
  [
    "0 * 5 * * *",
    "at 5:mm:00 every day, 60 times a day",
    "2026-03-02T05:58:30Z",
    ["2026-03-02T05:59:00Z", "2026-03-03T05:00:00Z", "2026-03-03T05:01:00Z"],
  ],
  [
    "5-7 * * * * *",
    "at hh:mm:05, hh:mm:06 and hh:mm:07, 3 times a minute",
    "2026-03-02T10:00:00Z",
    ["2026-03-02T10:00:05Z", "2026-03-02T10:00:06Z", "2026-03-02T10:00:07Z", "2026-03-02T10:01:05Z"],
  ],
  [
    "5,8,10 * * * * *",
    "at hh:mm:05, hh:mm:08 and hh:mm:10, 3 times a minute",
    "2026-03-02T10:00:00Z",
    ["2026-03-02T10:00:05Z", "2026-03-02T10:00:08Z", "2026-03-02T10:00:10Z", "2026-03-02T10:01:05Z"],
  ],
  [
    "0 */5 * * * *",
    "once every five minutes",
    "2026-03-02T10:57:00Z",
    ["2026-03-02T11:00:00Z", "2026-03-02T11:05:00Z", "2026-03-02T11:10:00Z"],
  ],
  [
    "0 0 * * * *",
    "once at the top of every hour",
    "2026-03-02T10:00:00Z",
    ["2026-03-02T11:00:00Z", "2026-03-02T12:00:00Z"],
  ],
  [
    "0 0 */2 * * *",
    "once every two hours",
    "2026-03-02T21:00:00Z",
    ["2026-03-02T22:00:00Z", "2026-03-03T00:00:00Z", "2026-03-03T02:00:00Z"],
  ],
  [
    "0 0 9-17 * * *",
    "once every hour from 9 AM to 5 PM",
    "2026-03-02T16:30:00Z",
    ["2026-03-02T17:00:00Z", "2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z"],
  ],
  ["0 30 9 * * *", "at 9:30 AM every day", "2026-03-02T09:30:00Z", ["2026-03-03T09:30:00Z", "2026-03-04T09:30:00Z"]],
  [
    "0 30 9 * * 1-5",
    "at 9:30 AM every weekday (Friday 6 March, then Monday 9 March)",
    "2026-03-05T10:00:00Z",
    ["2026-03-06T09:30:00Z", "2026-03-09T09:30:00Z"],
  ],
  [
    "0 30 9 * Jan Mon",
    "at 9:30 AM every Monday in January (Monday 26 January 2026 is the last of that January)",
    "2026-01-26T10:00:00Z",
    ["2027-01-04T09:30:00Z", "2027-01-11T09:30:00Z"],
  ],
];

describe("the Functions host's documented NCRONTAB examples", () => {
  it.each(documentedExamples)("%s fires %s", (expression, _meaning, after, expected) => {
    expect(nextTimes(expression, after, expected.length)).toEqual(expected);
  });

  it("reads numeric days 0-6 from Sunday, and English names, whole or abbreviated, in any case (Learn)", () => {
    const sundays = ["0 0 12 * * 0", "0 0 12 * * Sun", "0 0 12 * * SUNDAY", "0 0 12 * * sunday"];
    for (const expression of sundays) {
      expect(nextTimes(expression, "2026-03-02T00:00:00Z", 1)).toEqual(["2026-03-08T12:00:00Z"]);
    }
    expect(nextTimes("0 0 0 1 March *", "2026-01-01T00:00:00Z", 1)).toEqual(["2026-03-01T00:00:00Z"]);
    expect(nextTimes("0 0 0 1 mAr-aPr *", "2026-03-02T00:00:00Z", 1)).toEqual(["2026-04-01T00:00:00Z"]);
  });
});

describe("parseNcrontab", () => {
  it("reads five fields as the classic cron fields with second 0 (the host's CronSchedule: seconds unless exactly 5)", () => {
    expect(nextTimes("30 2 * * *", "2026-03-02T00:00:00Z", 2)).toEqual([
      "2026-03-02T02:30:00Z",
      "2026-03-03T02:30:00Z",
    ]);
  });

  it("reads a/n as a to the field's maximum in steps of n, and steps over ranges and lists (NCrontab)", () => {
    expect(nextTimes("0 5/20 * * * *", "2026-03-02T10:00:00Z", 4)).toEqual([
      "2026-03-02T10:05:00Z",
      "2026-03-02T10:25:00Z",
      "2026-03-02T10:45:00Z",
      "2026-03-02T11:05:00Z",
    ]);
    expect(nextTimes("0 0-10/5,59 9 * * *", "2026-03-02T09:00:00Z", 4)).toEqual([
      "2026-03-02T09:05:00Z",
      "2026-03-02T09:10:00Z",
      "2026-03-02T09:59:00Z",
      "2026-03-03T09:00:00Z",
    ]);
  });

  it.each([
    ["0 61 * * * *", /minute field "61": 61 is out of range 0-59/],
    ["0 0 24 * * *", /hour field/],
    ["0 0 0 0 * *", /day field/],
    ["0 0 0 * 13 *", /month field/],
    ["0 0 0 * * 7", /day-of-week field "7": 7 is out of range 0-6/],
    ["0 0 0 * * FUN", /day-of-week field "FUN": "FUN" is not a number or a name \(Sunday, /],
    ["0 0 0 * * */0", /step "0"/],
    ["0 10-5 * * * *", /reversed/],
    ["0 0 0 * * * 2026", /has 7 fields; expected 6/],
    ["* * * *", /has 4 fields/],
    ["0 0 0 30 2 *", /never fires/],
    ["0 0 0 31 4,6,9,11 *", /never fires/],
  ])("rejects %s with a message naming the field", (expression, message) => {
    expect(() => parseNcrontab(expression)).toThrow(NcrontabError);
    expect(() => parseNcrontab(expression)).toThrow(message);
  });

  it.each([
    ["0 0 0 ? * MON", "day"],
    ["0 0 0 L * *", "day"],
    ["0 0 0 15W * *", "day"],
    ["0 0 0 * * MON#2", "day-of-week"],
    ["0 0 0 1 * +MON", "day-of-week"],
    ["0 0 0 * * 5L", "day-of-week"],
  ])("refuses %s, an extension of other cron dialects that NCrontab does not have", (expression, field) => {
    expect(() => parseNcrontab(expression)).toThrow(expect.objectContaining({ field }));
  });

  it("refuses nicknames such as @daily", () => {
    expect(() => parseNcrontab("@daily")).toThrow(/has 1 fields/);
  });
});

describe("nextOccurrence", () => {
  it("finds the next daily run strictly after the given time", () => {
    expect(nextOccurrence("0 30 2 * * *", at("2026-11-23T01:00:00Z"))).toEqual(at("2026-11-23T02:30:00Z"));
    expect(nextOccurrence("0 30 2 * * *", at("2026-11-23T02:30:00Z"))).toEqual(at("2026-11-24T02:30:00Z"));
    expect(nextOccurrence("0 30 2 * * *", at("2026-12-31T03:00:00.500Z"))).toEqual(at("2027-01-01T02:30:00Z"));
  });

  it("requires both day and day-of-week when both are restricted (NCrontab)", () => {
    // Friday the 13th.
    expect(nextOccurrence("0 0 0 13 * FRI", at("2026-01-01T00:00:00Z"))).toEqual(at("2026-02-13T00:00:00Z"));
  });

  it("finds leap days", () => {
    expect(nextOccurrence("0 0 12 29 FEB *", at("2025-03-01T00:00:00Z"))).toEqual(at("2028-02-29T12:00:00Z"));
  });
});

describe("isDue and occurrencesBetween", () => {
  it("count occurrences in (since, now]", () => {
    const times = occurrencesBetween("0 0 */6 * * *", at("2026-11-23T00:00:00Z"), at("2026-11-24T00:00:00Z"));
    expect(times.map((t) => t.toISOString())).toEqual([
      "2026-11-23T06:00:00.000Z",
      "2026-11-23T12:00:00.000Z",
      "2026-11-23T18:00:00.000Z",
      "2026-11-24T00:00:00.000Z",
    ]);
    expect(isDue("0 0 4 * * WED", at("2026-11-24T04:00:00Z"), at("2026-11-25T03:59:59Z"))).toBe(false);
    expect(isDue("0 0 4 * * WED", at("2026-11-24T04:00:00Z"), at("2026-11-25T04:00:00Z"))).toBe(true);
  });
});

function fieldArb(min: number, max: number): fc.Arbitrary<string> {
  const value = fc.integer({ min, max });
  const range = fc.tuple(value, value).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`);
  const step = fc.integer({ min: 1, max: max - min + 1 });
  const item = fc.oneof(
    value.map(String),
    range,
    fc.tuple(range, step).map(([r, s]) => `${r}/${s}`),
    step.map((s) => `*/${s}`),
  );
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant("*") },
    { weight: 3, arbitrary: fc.array(item, { minLength: 1, maxLength: 3 }).map((items) => items.join(",")) },
  );
}
const expressionArb = fc
  .tuple(fieldArb(0, 59), fieldArb(0, 59), fieldArb(0, 23), fieldArb(1, 28), fieldArb(1, 12), fieldArb(0, 6))
  .map((fields) => fields.join(" "));
const afterArb = fc.date({ min: at("2000-01-01T00:00:00Z"), max: at("2090-01-01T00:00:00Z"), noInvalidDate: true });

describe("nextOccurrence properties", () => {
  it("returns a time after `after` that matches, with no matching second in between", () => {
    fc.assert(
      fc.property(expressionArb, afterArb, (expression, after) => {
        const schedule = parseNcrontab(expression);
        const next = nextOccurrence(schedule, after);
        expect(next.getTime()).toBeGreaterThan(after.getTime());
        expect(matchesNcrontab(schedule, next)).toBe(true);
        // The second just before is either not after `after` or does not match.
        const before = new Date(next.getTime() - 1000);
        expect(before.getTime() <= after.getTime() || !matchesNcrontab(schedule, before)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it("agrees with a brute-force scan for every-few-seconds schedules", () => {
    fc.assert(
      fc.property(fieldArb(0, 59), afterArb, (seconds, after) => {
        const expression = `${seconds} * * * * *`;
        const next = nextOccurrence(expression, after);
        let t = Math.floor(after.getTime() / 1000) * 1000 + 1000;
        while (!matchesNcrontab(expression, new Date(t))) t += 1000;
        expect(next.getTime()).toBe(t);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("day and day-of-week together", () => {
  it("fire only on days that are in both lists (NCrontab's GetNextOccurrence checks the weekday after the date)", () => {
    const days = fc.uniqueArray(fc.integer({ min: 1, max: 31 }), { minLength: 1, maxLength: 3 });
    const weekdays = fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 2 });
    fc.assert(
      fc.property(days, weekdays, afterArb, (dayList, weekdayList, after) => {
        const next = nextOccurrence(`0 0 0 ${dayList.join(",")} * ${weekdayList.join(",")}`, after);
        expect(dayList).toContain(next.getUTCDate());
        expect(weekdayList).toContain(next.getUTCDay());
        // No midnight between `after` and `next` is in both lists.
        for (let t = Math.floor(after.getTime() / 86_400_000 + 1) * 86_400_000; t < next.getTime(); t += 86_400_000) {
          const d = new Date(t);
          expect(dayList.includes(d.getUTCDate()) && weekdayList.includes(d.getUTCDay())).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });
});
