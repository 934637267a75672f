import { LocalHostConfigurationError } from "./errors.js";

/**
 * A small NCRONTAB reader for the host's timers, in UTC: `{second} {minute} {hour} {day} {month} {day-of-week}`
 * (five fields: second 0). Items `*`, `n`, `a-b`, `*\/n`, `a-b/n`, `a/n`, lists, month and weekday names.
 * When day and day-of-week are both restricted a time must match both, as NCrontab does.
 *
 * Stand-in until `shared/domain/ncrontab.ts` lands on main; the host only depends on {@link NextOccurrence}.
 */

/** The first occurrence of `expression` strictly after `after`. */
export type NextOccurrence = (expression: string, after: Date) => Date;

interface Field {
  min: number;
  max: number;
  names?: readonly string[];
}

const fields: readonly Field[] = [
  { min: 0, max: 59 },
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"] },
  { min: 0, max: 7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] },
];

interface Parsed {
  sets: boolean[][];
}

function value(text: string, field: Field, expression: string): number {
  const index = field.names?.indexOf(text.toUpperCase()) ?? -1;
  const n = index >= 0 ? index + field.min : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < field.min || n > field.max) {
    throw new LocalHostConfigurationError(`NCRONTAB "${expression}": "${text}" is out of range`);
  }
  return n;
}

function parseField(text: string, field: Field, expression: string): boolean[] {
  const set = new Array<boolean>(field.max + 1).fill(false);
  for (const item of text.split(",")) {
    const [range = "", stepText] = item.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) {
      throw new LocalHostConfigurationError(`NCRONTAB "${expression}": bad step in "${item}"`);
    }
    let from: number;
    let to: number;
    if (range === "*") [from, to] = [field.min, field.max];
    else if (range.includes("-")) {
      const [a = "", b = ""] = range.split("-");
      [from, to] = [value(a, field, expression), value(b, field, expression)];
    } else {
      from = value(range, field, expression);
      to = stepText === undefined ? from : field.max;
    }
    if (from > to) throw new LocalHostConfigurationError(`NCRONTAB "${expression}": empty range "${item}"`);
    for (let v = from; v <= to; v += step) set[v] = true;
  }
  return set;
}

const cache = new Map<string, Parsed>();

function parse(expression: string): Parsed {
  const cached = cache.get(expression);
  if (cached) return cached;
  let parts = expression.trim().split(/\s+/);
  if (parts.length === 5) parts = ["0", ...parts];
  if (parts.length !== 6) {
    throw new LocalHostConfigurationError(`NCRONTAB "${expression}": expected 6 fields (or 5), got ${parts.length}`);
  }
  const sets = parts.map((p, i) => parseField(p, fields[i] as Field, expression));
  const weekdays = sets[5] as boolean[];
  if (weekdays[7]) weekdays[0] = true; // 7 is Sunday too
  const parsed = { sets };
  cache.set(expression, parsed);
  return parsed;
}

/** Validates an expression; throws {@link LocalHostConfigurationError} when it does not parse. */
export function validateNcrontab(expression: string): void {
  parse(expression);
}

// A leap day on a given weekday recurs within 28 years.
const searchLimitInYears = 30;

/** {@link NextOccurrence} of this module: UTC, one-second resolution. */
export const nextOccurrence: NextOccurrence = (expression, after) => {
  const { sets } = parse(expression);
  const [seconds, minutes, hours, days, months, weekdays] = sets as [
    boolean[],
    boolean[],
    boolean[],
    boolean[],
    boolean[],
    boolean[],
  ];
  const t = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
  const limit = t.getUTCFullYear() + searchLimitInYears;
  for (;;) {
    if (t.getUTCFullYear() > limit) throw new LocalHostConfigurationError(`NCRONTAB "${expression}" never fires`);
    if (!months[t.getUTCMonth() + 1]) {
      t.setUTCMonth(t.getUTCMonth() + 1, 1);
      t.setUTCHours(0, 0, 0, 0);
    } else if (!days[t.getUTCDate()] || !weekdays[t.getUTCDay()]) {
      t.setUTCDate(t.getUTCDate() + 1);
      t.setUTCHours(0, 0, 0, 0);
    } else if (!hours[t.getUTCHours()]) {
      t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
    } else if (!minutes[t.getUTCMinutes()]) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
    } else if (!seconds[t.getUTCSeconds()]) {
      t.setUTCSeconds(t.getUTCSeconds() + 1, 0);
    } else {
      return new Date(t.getTime());
    }
  }
};
