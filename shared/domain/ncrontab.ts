import { Cron } from "croner";

/**
 * NCRONTAB expressions as Azure Functions timer triggers read them (the host parses them with NCrontab, six fields
 * when the expression does not have exactly five): `{second} {minute} {hour} {day} {month} {day-of-week}`, or the
 * five classic fields with second 0. All times are UTC.
 *
 * The schedule itself is computed by croner; this module checks NCrontab's grammar first, because croner accepts
 * more than NCrontab does (`?`, `L`, `W`, `#`, `+`, `@daily`, 7 for Sunday, a year field) and NCrontab accepts
 * what croner does not (whole or abbreviated English names such as `Monday` or `Mo`). Sources and the conformance
 * table: test/shared/domain/ncrontab.test.ts.
 */

/** Thrown for an expression that does not parse or never fires. */
export class NcrontabError extends Error {
  readonly code = "NCRONTAB_INVALID";
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "NcrontabError";
  }
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  /** English names in value order; NCrontab takes any case-insensitive prefix, the first name it begins wins. */
  names?: readonly string[];
}

const fieldSpecs: readonly FieldSpec[] = [
  { name: "second", min: 0, max: 59 },
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day", min: 1, max: 31 },
  {
    name: "month",
    min: 1,
    max: 12,
    names: [
      "January",
      "February",
      "March",
      "April",
      "May",
      "June",
      "July",
      "August",
      "September",
      "October",
      "November",
      "December",
    ],
  },
  {
    name: "day-of-week",
    min: 0,
    max: 6,
    names: ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
  },
];

/** One item of a field's comma-separated list: `*`, a value or a range, each optionally stepped (`/n`). */
const listItemPattern = /^(?:\*|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:\/(\d+))?$/;

/** A parsed NCRONTAB expression. */
export class NcrontabSchedule {
  readonly #cron: Cron;
  /** @param expression as written; @param pattern its six numeric fields, as croner reads them. */
  constructor(
    readonly expression: string,
    readonly pattern: string,
  ) {
    // domAndDow: NCrontab requires both day and day-of-week when both are restricted (Vixie cron takes either).
    // sloppyRanges: NCrontab reads `a/n` as a to the field's maximum in steps of n.
    // utcOffset 0 rather than a time zone: UTC has no daylight saving, and it spares croner its Intl conversions.
    this.#cron = new Cron(pattern, { mode: "6-part", domAndDow: true, sloppyRanges: true, utcOffset: 0 });
  }

  /** The first occurrence strictly after `after`, or undefined when there is none. */
  next(after: Date): Date | undefined {
    return this.#cron.nextRun(after) ?? undefined;
  }

  /** Whether `date` is an occurrence. */
  matches(date: Date): boolean {
    return date.getUTCMilliseconds() === 0 && this.#cron.match(date);
  }
}

function fieldError(spec: FieldSpec, text: string, problem: string): NcrontabError {
  return new NcrontabError(`${spec.name} field "${text}": ${problem}`, spec.name);
}

function parseValue(text: string, spec: FieldSpec, field: string): number {
  if (/^\d+$/.test(text)) {
    const value = Number(text);
    if (value < spec.min || value > spec.max) {
      throw fieldError(spec, field, `${value} is out of range ${spec.min}-${spec.max}`);
    }
    return value;
  }
  const index = spec.names?.findIndex((name) => name.toLowerCase().startsWith(text.toLowerCase())) ?? -1;
  if (index < 0) {
    const expected = spec.names ? `a number or a name (${spec.names.join(", ")})` : "a number";
    throw fieldError(spec, field, `"${text}" is not ${expected}`);
  }
  return spec.min + index;
}

/** The field with names replaced by numbers, after NCrontab's rules; throws naming the field. */
function normaliseField(text: string, spec: FieldSpec): string {
  return text
    .split(",")
    .map((item) => {
      const match = listItemPattern.exec(item);
      if (!match) throw fieldError(spec, text, `"${item}" is not *, a value, a range a-b, or one of them with /step`);
      const [, fromText, toText, step] = match;
      if (step !== undefined && Number(step) < 1) {
        throw fieldError(spec, text, `step "${step}" must be a positive integer`);
      }
      let range = "*";
      if (fromText !== undefined) {
        const from = parseValue(fromText, spec, text);
        range = String(from);
        if (toText !== undefined) {
          const to = parseValue(toText, spec, text);
          // NCrontab silently swaps a reversed range; refusing it says what the author most likely got wrong.
          if (from > to) throw fieldError(spec, text, `range ${from}-${to} is reversed`);
          range = `${from}-${to}`;
        }
      }
      return step === undefined ? range : `${range}/${step}`;
    })
    .join(",");
}

// A fixed start keeps parsing pure; any possible day recurs within 28 years of it.
const neverFiresProbe = new Date(Date.UTC(2000, 0, 1));

/** Parses an expression or throws {@link NcrontabError} naming the offending field. */
export function parseNcrontab(expression: string): NcrontabSchedule {
  const fields = expression.trim().split(/\s+/);
  if (fields.length === 5) fields.unshift("0");
  if (fields.length !== 6) {
    throw new NcrontabError(
      `"${expression}" has ${expression.trim() === "" ? 0 : fields.length} fields; expected 6 ({second} {minute} {hour} {day} {month} {day-of-week}) or 5`,
    );
  }
  const pattern = fields.map((field, i) => normaliseField(field, fieldSpecs[i] as FieldSpec)).join(" ");
  let schedule: NcrontabSchedule;
  try {
    schedule = new NcrontabSchedule(expression, pattern);
  } catch (error) {
    throw new NcrontabError(`"${expression}": ${(error as Error).message}`);
  }
  // Reject expressions such as "0 0 0 30 2 *" (30 February) here rather than at the first timer tick.
  if (!schedule.next(neverFiresProbe)) {
    throw new NcrontabError(`"${expression}" never fires: no month has the requested day`, "day");
  }
  return schedule;
}

function toSchedule(expr: string | NcrontabSchedule): NcrontabSchedule {
  return typeof expr === "string" ? parseNcrontab(expr) : expr;
}

/** Whether `date` (UTC, whole second) matches the schedule. */
export function matchesNcrontab(expr: string | NcrontabSchedule, date: Date): boolean {
  return toSchedule(expr).matches(date);
}

/** The first occurrence strictly after `after` (UTC, second resolution). */
export function nextOccurrence(expr: string | NcrontabSchedule, after: Date): Date {
  const schedule = toSchedule(expr);
  const next = schedule.next(after);
  if (!next) throw new NcrontabError(`"${schedule.expression}" never fires after ${after.toISOString()}`);
  return next;
}

/** Occurrences in the half-open interval (`from`, `to`], at most `limit` of them (default 1000). */
export function occurrencesBetween(expr: string | NcrontabSchedule, from: Date, to: Date, limit = 1000): Date[] {
  const s = toSchedule(expr);
  const result: Date[] = [];
  let cursor = from;
  while (result.length < limit) {
    const next = nextOccurrence(s, cursor);
    if (next.getTime() > to.getTime()) break;
    result.push(next);
    cursor = next;
  }
  return result;
}

/** Whether the schedule fired in (`since`, `now`]: a timer that last ran at `since` is due at `now`. */
export function isDue(expr: string | NcrontabSchedule, since: Date, now: Date): boolean {
  return nextOccurrence(expr, since).getTime() <= now.getTime();
}
