import { LocalHostConfigurationError } from "./errors.js";

/**
 * Route templates as far as this app's functions use them, read as the Functions host (ASP.NET Core routing) reads
 * them: literal segments (matched case-insensitively), `{name}`, and a last `{name?}` that may be left out. The
 * host's other forms (constraints such as `{id:int}`, defaults, catch-alls `{*rest}`) are refused at start with a
 * message naming the template, rather than half-served.
 */

type Segment = { kind: "literal"; text: string } | { kind: "parameter"; name: string; optional: boolean };

/** A parsed route template. */
export interface RouteTemplate {
  readonly template: string;
  readonly segments: readonly Segment[];
}

function parseSegment(text: string, template: string): Segment {
  if (!/[{}]/.test(text)) return { kind: "literal", text: text.toLowerCase() };
  const m = /^\{([A-Za-z_][A-Za-z0-9_]*)(\?)?\}$/.exec(text);
  if (!m) {
    throw new LocalHostConfigurationError(
      `route "${template}": segment "${text}" is not supported by the local host (literal segments, {name} and a last {name?} only)`,
    );
  }
  return { kind: "parameter", name: m[1] as string, optional: m[2] === "?" };
}

/** Parses a route template (leading and trailing slashes ignored). */
export function parseRouteTemplate(template: string): RouteTemplate {
  const trimmed = template.replace(/^\/+|\/+$/g, "");
  const segments = trimmed === "" ? [] : trimmed.split("/").map((s) => parseSegment(s, template));
  if (segments.slice(0, -1).some((s) => s.kind === "parameter" && s.optional)) {
    throw new LocalHostConfigurationError(`route "${template}": an optional parameter must end the route`);
  }
  return { template, segments };
}

/**
 * Orders templates so that the most specific one is tried first: segment by segment, a literal before a parameter
 * before an optional one, and a template that goes on before one that ended.
 */
export function compareRoutePrecedence(a: RouteTemplate, b: RouteTemplate): number {
  const rank = (s: Segment | undefined) => (!s ? 4 : s.kind === "literal" ? 1 : s.optional ? 3 : 2);
  for (let i = 0; i < Math.max(a.segments.length, b.segments.length); i++) {
    const difference = rank(a.segments[i]) - rank(b.segments[i]);
    if (difference !== 0) return difference;
  }
  return 0;
}

/**
 * Matches a path below the route prefix (no leading slash, still percent-encoded) against a template.
 * Returns the route parameters, decoded, or undefined when it does not match.
 */
export function matchRoute(route: RouteTemplate, path: string): Record<string, string> | undefined {
  const parts = path === "" ? [] : path.replace(/\/+$/, "").split("/");
  if (parts.length > route.segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, segment] of route.segments.entries()) {
    const part = parts[i];
    if (part === undefined || part === "") {
      if (segment.kind === "parameter" && segment.optional) continue;
      return undefined;
    }
    const value = safeDecode(part);
    if (value === undefined) return undefined;
    if (segment.kind === "literal") {
      if (value.toLowerCase() !== segment.text) return undefined;
    } else {
      params[segment.name] = value;
    }
  }
  return params;
}

function safeDecode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}
