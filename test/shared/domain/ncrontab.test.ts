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

describe("parseNcrontab", () => {
  it("reads six fields with seconds, and five fields as second 0", () => {
    const six = parseNcrontab("*/15 30 2 * * *");
    expect([...six.seconds]).toEqual([0, 15, 30, 45]);
    const five = parseNcrontab("30 2 * * *");
    expect([...five.seconds]).toEqual([0]);
    expect([...five.minutes]).toEqual([30]);
  });

  it("reads ranges, steps, lists and names", () => {
    const s = parseNcrontab("0 0-10/5,59 9-17 1,15 JAN-mar MON-FRI");
    expect([...s.minutes]).toEqual([0, 5, 10, 59]);
    expect([...s.hours]).toEqual([9, 10, 11, 12, 13, 14, 15, 16, 17]);
    expect([...s.months]).toEqual([1, 2, 3]);
    expect([...s.daysOfWeek]).toEqual([1, 2, 3, 4, 5]);
    expect([...parseNcrontab("0 5/20 * * * *").minutes]).toEqual([5, 25, 45]);
  });

  it.each([
    ["0 61 * * * *", /minute field "61": 61 is out of range 0-59/],
    ["0 0 24 * * *", /hour field/],
    ["0 0 0 0 * *", /day field/],
    ["0 0 0 * 13 *", /month field/],
    ["0 0 0 * * 7", /day-of-week field/],
    ["0 0 0 * * FUN", /day-of-week field "FUN": "FUN" is not a number/],
    ["0 0 0 * * */0", /step "0"/],
    ["0 10-5 * * * *", /reversed/],
    ["0 0 0 * * * 2026", /has 7 fields; expected 6/],
    ["* * * *", /has 4 fields/],
    ["0 0 0 30 2 *", /never fires/],
  ])("rejects %s with a message naming the field", (expression, message) => {
    expect(() => parseNcrontab(expression)).toThrow(NcrontabError);
    expect(() => parseNcrontab(expression)).toThrow(message);
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
