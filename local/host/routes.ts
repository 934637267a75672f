import { LocalHostConfigurationError } from "./errors.js";

/**
 * Route templates as the Functions host (ASP.NET Core routing) reads them: literal segments (case-insensitive),
 * `{name}`, `{name?}`, `{name:constraint}`, `{name=default}` and a final catch-all `{*rest}`.
 */

type Segment =
  | { kind: "literal"; text: string }
  | {
      kind: "parameter";
      name: string;
      optional: boolean;
      catchAll: boolean;
      defaultValue?: string;
      constraints: ReadonlyArray<(value: string) => boolean>;
    };

/** A parsed route template. */
export interface RouteTemplate {
  readonly template: string;
  readonly segments: readonly Segment[];
  /** Lower sorts first: literals before constrained parameters before parameters before catch-alls. */
  readonly precedence: readonly number[];
}

const constraintFactories: Record<string, (args: string[]) => (value: string) => boolean> = {
  int: () => (v) => /^-?\d+$/.test(v) && Math.abs(Number(v)) <= 2 ** 31,
  long: () => (v) => /^-?\d+$/.test(v),
  bool: () => (v) => /^(true|false)$/i.test(v),
  guid: () => (v) => /^[{(]?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}[})]?$/i.test(v),
  alpha: () => (v) => /^[a-z]+$/i.test(v),
  double: () => (v) => v.trim() !== "" && Number.isFinite(Number(v)),
  decimal: () => (v) => v.trim() !== "" && Number.isFinite(Number(v)),
  float: () => (v) => v.trim() !== "" && Number.isFinite(Number(v)),
  datetime: () => (v) => !Number.isNaN(Date.parse(v)),
  minlength:
    ([n]) =>
    (v) =>
      v.length >= Number(n),
  maxlength:
    ([n]) =>
    (v) =>
      v.length <= Number(n),
  length:
    ([a, b]) =>
    (v) =>
      b === undefined ? v.length === Number(a) : v.length >= Number(a) && v.length <= Number(b),
  min:
    ([n]) =>
    (v) =>
      /^-?\d+$/.test(v) && Number(v) >= Number(n),
  max:
    ([n]) =>
    (v) =>
      /^-?\d+$/.test(v) && Number(v) <= Number(n),
  range:
    ([a, b]) =>
    (v) =>
      /^-?\d+$/.test(v) && Number(v) >= Number(a) && Number(v) <= Number(b),
  regex: ([pattern]) => {
    const re = new RegExp(pattern ?? "", "i");
    return (v) => re.test(v);
  },
};

function parseConstraint(text: string, template: string): (value: string) => boolean {
  const m = /^([a-z]+)(?:\((.*)\))?$/i.exec(text);
  const factory = m?.[1] ? constraintFactories[m[1].toLowerCase()] : undefined;
  if (!m || !factory) throw new LocalHostConfigurationError(`route "${template}": unsupported constraint "${text}"`);
  const args = m[1]?.toLowerCase() === "regex" ? [m[2] ?? ""] : (m[2]?.split(",").map((a) => a.trim()) ?? []);
  return factory(args);
}

function parseSegment(text: string, template: string): Segment {
  if (!text.includes("{")) {
    if (text.includes("}")) throw new LocalHostConfigurationError(`route "${template}": stray "}"`);
    return { kind: "literal", text: text.toLowerCase() };
  }
  const m = /^\{(\*{1,2})?([A-Za-z_][A-Za-z0-9_]*)((?::[^:=?{}]+(?:\([^)]*\))?)*)(?:=([^?{}]*))?(\?)?\}$/.exec(text);
  if (!m) {
    throw new LocalHostConfigurationError(
      `route "${template}": segment "${text}" is not supported (one parameter per segment)`,
    );
  }
  const [, star, name = "", constraintText = "", defaultValue, question] = m;
  const constraints = constraintText
    .split(":")
    .filter((c) => c !== "")
    .map((c) => parseConstraint(c, template));
  return {
    kind: "parameter",
    name,
    optional: question === "?" || Boolean(star),
    catchAll: Boolean(star),
    defaultValue,
    constraints,
  };
}

/** Parses a route template (leading and trailing slashes ignored). */
export function parseRouteTemplate(template: string): RouteTemplate {
  const trimmed = template.replace(/^\/+|\/+$/g, "");
  const segments = trimmed === "" ? [] : trimmed.split("/").map((s) => parseSegment(s, template));
  segments.forEach((segment, index) => {
    if (segment.kind !== "parameter") return;
    const last = index === segments.length - 1;
    if (segment.catchAll && !last) {
      throw new LocalHostConfigurationError(`route "${template}": a catch-all parameter must be the last segment`);
    }
    if (segment.optional && !last && segments.slice(index + 1).some((s) => s.kind === "literal")) {
      throw new LocalHostConfigurationError(`route "${template}": an optional parameter must end the route`);
    }
  });
  const precedence = segments.map((s) => {
    if (s.kind === "literal") return 1;
    if (s.catchAll) return 5;
    if (s.optional) return 4;
    return s.constraints.length > 0 ? 2 : 3;
  });
  return { template, segments, precedence };
}

/** Orders templates so that the most specific one is tried first. */
export function compareRoutePrecedence(a: RouteTemplate, b: RouteTemplate): number {
  const length = Math.max(a.precedence.length, b.precedence.length);
  for (let i = 0; i < length; i++) {
    // A template that ended is less specific than one that goes on with a literal at this depth.
    const pa = a.precedence[i] ?? 6;
    const pb = b.precedence[i] ?? 6;
    if (pa !== pb) return pa - pb;
  }
  return 0;
}

/**
 * Matches a path below the route prefix (no leading slash, still percent-encoded) against a template.
 * Returns the route parameters, decoded, or undefined when it does not match.
 */
export function matchRoute(route: RouteTemplate, path: string): Record<string, string> | undefined {
  const parts = path === "" ? [] : path.replace(/\/+$/, "").split("/");
  const params: Record<string, string> = {};
  let i = 0;
  for (const segment of route.segments) {
    if (segment.kind === "parameter" && segment.catchAll) {
      const rest = parts.slice(i).map(safeDecode);
      if (rest.some((p) => p === undefined)) return undefined;
      if (rest.length > 0) params[segment.name] = rest.join("/");
      else if (segment.defaultValue !== undefined) params[segment.name] = segment.defaultValue;
      i = parts.length;
      continue;
    }
    const part = parts[i];
    if (part === undefined || part === "") {
      if (segment.kind === "parameter" && (segment.optional || segment.defaultValue !== undefined)) {
        if (segment.defaultValue !== undefined) params[segment.name] = segment.defaultValue;
        continue;
      }
      return undefined;
    }
    const value = safeDecode(part);
    if (value === undefined) return undefined;
    if (segment.kind === "literal") {
      if (value.toLowerCase() !== segment.text) return undefined;
    } else {
      if (!segment.constraints.every((accept) => accept(value))) return undefined;
      params[segment.name] = value;
    }
    i++;
  }
  return i === parts.length ? params : undefined;
}

function safeDecode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}
