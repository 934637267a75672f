/**
 * NCRONTAB expressions as Azure Functions timer triggers read them: six fields
 * `{second} {minute} {hour} {day} {month} {day-of-week}`, or the five classic cron fields (second = 0).
 * Each field accepts `*`, values, ranges `a-b`, steps `*\/n`, `a-b/n` and `a/n` (a to the field's maximum),
 * lists `a,b-c`, and names for months (JAN..DEC) and days of week (SUN..SAT, 0 = Sunday).
 * All times are UTC. When both day and day-of-week are restricted a time must match both (NCrontab's rule, unlike
 * Vixie cron, which accepts either).
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
    names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
  },
  { name: "day-of-week", min: 0, max: 6, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] },
];

/** A parsed NCRONTAB expression: the allowed values of each field. */
export interface NcrontabSchedule {
  readonly expression: string;
  readonly seconds: ReadonlySet<number>;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly days: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly daysOfWeek: ReadonlySet<number>;
}

function parseValue(text: string, spec: FieldSpec, whole: string): number {
  let value: number;
  if (/^\d+$/.test(text)) {
    value = Number(text);
  } else {
    const index = spec.names?.indexOf(text.toUpperCase()) ?? -1;
    if (index < 0) throw new NcrontabError(`${spec.name} field "${whole}": "${text}" is not a number`, spec.name);
    value = index + (spec.name === "month" ? 1 : 0);
  }
  if (value < spec.min || value > spec.max) {
    throw new NcrontabError(
      `${spec.name} field "${whole}": ${value} is out of range ${spec.min}-${spec.max}`,
      spec.name,
    );
  }
  return value;
}

function parseField(text: string, spec: FieldSpec): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(",")) {
    if (part === "") throw new NcrontabError(`${spec.name} field "${text}": empty list item`, spec.name);
    const [rangeText = "", stepText, extra] = part.split("/");
    if (extra !== undefined) throw new NcrontabError(`${spec.name} field "${text}": more than one "/"`, spec.name);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1) {
        throw new NcrontabError(
          `${spec.name} field "${text}": step "${stepText}" must be a positive integer`,
          spec.name,
        );
      }
      step = Number(stepText);
    }
    let from: number;
    let to: number;
    if (rangeText === "*") {
      [from, to] = [spec.min, spec.max];
    } else if (rangeText.includes("-")) {
      const [a = "", b = "", more] = rangeText.split("-");
      if (more !== undefined || a === "" || b === "") {
        throw new NcrontabError(`${spec.name} field "${text}": malformed range "${rangeText}"`, spec.name);
      }
      [from, to] = [parseValue(a, spec, text), parseValue(b, spec, text)];
      if (from > to)
        throw new NcrontabError(`${spec.name} field "${text}": range ${from}-${to} is reversed`, spec.name);
    } else {
      from = parseValue(rangeText, spec, text);
      to = stepText === undefined ? from : spec.max;
    }
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values;
}

/** Parses an expression or throws {@link NcrontabError} naming the offending field. */
export function parseNcrontab(expression: string): NcrontabSchedule {
  const fields = expression.trim().split(/\s+/);
  if (fields.length === 5) fields.unshift("0");
  if (fields.length !== 6) {
    throw new NcrontabError(
      `"${expression}" has ${expression.trim() === "" ? 0 : fields.length} fields; expected 6 ({second} {minute} {hour} {day} {month} {day-of-week}) or 5`,
    );
  }
  const sets = fields.map((f, i) => parseField(f, fieldSpecs[i] as FieldSpec));
  const [seconds, minutes, hours, days, months, daysOfWeek] = sets as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  const schedule = { expression, seconds, minutes, hours, days, months, daysOfWeek };
  // Reject expressions such as "0 0 0 30 2 *" (30 February) here rather than at the first timer tick.
  const possible = [...months].some((m) => [...days].some((d) => d <= daysInMonth(2000, m)));
  if (!possible) throw new NcrontabError(`"${expression}" never fires: no month has the requested day`, "day");
  return schedule;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function toSchedule(expr: string | NcrontabSchedule): NcrontabSchedule {
  return typeof expr === "string" ? parseNcrontab(expr) : expr;
}

/** Whether `date` (UTC, whole second) matches the schedule. */
export function matchesNcrontab(expr: string | NcrontabSchedule, date: Date): boolean {
  const s = toSchedule(expr);
  return (
    date.getUTCMilliseconds() === 0 &&
    s.seconds.has(date.getUTCSeconds()) &&
    s.minutes.has(date.getUTCMinutes()) &&
    s.hours.has(date.getUTCHours()) &&
    s.days.has(date.getUTCDate()) &&
    s.months.has(date.getUTCMonth() + 1) &&
    s.daysOfWeek.has(date.getUTCDay())
  );
}

function firstAtLeast(values: ReadonlySet<number>, from: number): number | undefined {
  let best: number | undefined;
  for (const v of values) if (v >= from && (best === undefined || v < best)) best = v;
  return best;
}

// A leap day on a given weekday recurs within 28 years; a longer search means the expression never fires.
const searchLimitInYears = 30;

/** The first occurrence strictly after `after` (UTC, second resolution). */
export function nextOccurrence(expr: string | NcrontabSchedule, after: Date): Date {
  const s = toSchedule(expr);
  let t = Math.floor(after.getTime() / 1000) * 1000 + 1000;
  const limitYear = new Date(t).getUTCFullYear() + searchLimitInYears;
  for (;;) {
    const d = new Date(t);
    const [year, month, day] = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
    if (year > limitYear) throw new NcrontabError(`"${s.expression}" never fires`);
    if (!s.months.has(month)) {
      t = Date.UTC(year, month, 1); // first day of the next month
      continue;
    }
    if (!s.days.has(day) || !s.daysOfWeek.has(d.getUTCDay())) {
      t = Date.UTC(year, month - 1, day + 1);
      continue;
    }
    const hour = firstAtLeast(s.hours, d.getUTCHours());
    if (hour === undefined) {
      t = Date.UTC(year, month - 1, day + 1);
      continue;
    }
    if (hour !== d.getUTCHours()) {
      t = Date.UTC(year, month - 1, day, hour);
      continue;
    }
    const minute = firstAtLeast(s.minutes, d.getUTCMinutes());
    if (minute === undefined) {
      t = Date.UTC(year, month - 1, day, hour + 1);
      continue;
    }
    if (minute !== d.getUTCMinutes()) {
      t = Date.UTC(year, month - 1, day, hour, minute);
      continue;
    }
    const second = firstAtLeast(s.seconds, d.getUTCSeconds());
    if (second === undefined) {
      t = Date.UTC(year, month - 1, day, hour, minute + 1);
      continue;
    }
    return new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  }
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
