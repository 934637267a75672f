/**
 * A small reader of Bicep text, enough for the infra consistency checks without a Bicep compiler: it finds the
 * top-level declarations (param, var, resource, module, output) and reads object literals entry by entry.
 *
 * It works on two derived copies of the source, both the same length as the original so offsets carry over:
 * `code` (comments blanked) and `masked` (comments and string contents blanked, quotes kept), on which brackets
 * can be matched without tripping over a `{` inside a string or an interpolation.
 */

/** A top-level declaration, with its decorators. */
export interface BicepStatement {
  keyword: string;
  name: string;
  /** Offset of the first decorator (or of the keyword) in the source. */
  start: number;
  end: number;
  /** The statement without comments. */
  code: string;
  /** The statement as written, comments included. */
  raw: string;
  decorators: string[];
}

export interface BicepParam {
  name: string;
  type: string;
  hasDefault: boolean;
  secure: boolean;
}

export interface BicepLoop {
  item: string;
  index?: string;
  /** The expression looped over, e.g. `queueConfig.queues`. */
  source: string;
}

/** A `resource` or a `module` declaration. */
export interface BicepDeployable {
  symbol: string;
  /** Resource type (`Microsoft.Web/sites`) or module path (`app/api.bicep`). */
  target: string;
  apiVersion?: string;
  existing: boolean;
  condition?: string;
  loop?: BicepLoop;
  /** The body object literal, without comments. */
  body: string;
  /** The body object literal as written. */
  rawBody: string;
}

export interface BicepOutput {
  name: string;
  type: string;
  value: string;
}

export interface BicepFile {
  targetScope?: string;
  params: BicepParam[];
  /** Variable name → its expression (comments removed). */
  vars: Map<string, string>;
  /** Variable name → its expression as written (comments kept). */
  rawVars: Map<string, string>;
  resources: BicepDeployable[];
  modules: BicepDeployable[];
  outputs: BicepOutput[];
  statements: BicepStatement[];
}

/** One `key: value` entry of an object literal. */
export interface BicepEntry {
  key: string;
  value: string;
  /** Text of a `//` comment on the entry's last line, if any. */
  comment?: string;
}

const openers = new Set(["(", "[", "{"]);
const closers = new Set([")", "]", "}"]);

/**
 * Blanks comments (→ `code`) and, in a second copy, string contents too (→ `masked`). Understands `'...'` with `\`
 * escapes and `${...}` interpolations (which may nest strings), `'''...'''` multi-line strings, `//` and `/* *\/`.
 */
export function blank(source: string): { code: string; masked: string } {
  const code = source.split("");
  const masked = source.split("");
  const blankAt = (target: string[], i: number): void => {
    if (target[i] !== "\n") target[i] = " ";
  };
  // Each frame: "code" (inside `${` … `}` when nested) or "string".
  const stack: Array<{ mode: "code"; braces: number } | { mode: "string" }> = [{ mode: "code", braces: 0 }];
  let i = 0;
  while (i < source.length) {
    const frame = stack[stack.length - 1]!;
    const c = source[i]!;
    if (frame.mode === "string") {
      if (c === "\\") {
        blankAt(masked, i);
        blankAt(masked, i + 1);
        i += 2;
      } else if (c === "'") {
        stack.pop();
        i += 1;
      } else if (c === "$" && source[i + 1] === "{") {
        blankAt(masked, i);
        blankAt(masked, i + 1);
        stack.push({ mode: "code", braces: 0 });
        i += 2;
      } else {
        blankAt(masked, i);
        i += 1;
      }
      continue;
    }
    const inInterpolation = stack.length > 1;
    if (inInterpolation) blankAt(masked, i);
    if (c === "'" && source.startsWith("'''", i)) {
      const close = source.indexOf("'''", i + 3);
      const end = close === -1 ? source.length : close + 3;
      for (let j = i + 3; j < end - 3; j++) blankAt(masked, j);
      if (inInterpolation) for (let j = i; j < end; j++) blankAt(masked, j);
      i = end;
    } else if (c === "'") {
      stack.push({ mode: "string" });
      i += 1;
    } else if (c === "/" && source[i + 1] === "/") {
      while (i < source.length && source[i] !== "\n") {
        blankAt(code, i);
        blankAt(masked, i);
        i += 1;
      }
    } else if (c === "/" && source[i + 1] === "*") {
      const close = source.indexOf("*/", i + 2);
      const end = close === -1 ? source.length : close + 2;
      for (; i < end; i++) {
        blankAt(code, i);
        blankAt(masked, i);
      }
    } else if (inInterpolation && c === "{") {
      frame.braces += 1;
      i += 1;
    } else if (inInterpolation && c === "}") {
      if (frame.braces === 0) stack.pop();
      else frame.braces -= 1;
      i += 1;
    } else {
      i += 1;
    }
  }
  return { code: code.join(""), masked: masked.join("") };
}

/** Offset of the bracket closing the one at `open` in masked text, or -1. */
export function matchBracket(masked: string, open: number): number {
  let depth = 0;
  for (let i = open; i < masked.length; i++) {
    const c = masked[i]!;
    if (openers.has(c)) depth += 1;
    else if (closers.has(c)) {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** Bracket depth at the start of each offset of masked text. */
function depths(masked: string): number[] {
  const result: number[] = [];
  let depth = 0;
  for (const c of masked) {
    result.push(depth);
    if (openers.has(c)) depth += 1;
    else if (closers.has(c)) depth -= 1;
  }
  return result;
}

// A line that continues the expression of the line before it (multi-line ternaries and member chains).
const continuation = /^\s*(\?|:|&&|\|\||\.(?!\.))/;

const keywords = /^(param|var|resource|module|output|type|func|targetScope|import|metadata|extension)\b/;

/** Splits Bicep source into its top-level statements. */
export function statements(source: string): BicepStatement[] {
  const { code, masked } = blank(source);
  const depthAt = depths(masked);
  const starts: Array<{ offset: number; keywordOffset: number }> = [];
  let decoratorStart: number | undefined;
  let offset = 0;
  for (const line of masked.split("\n")) {
    const trimmed = line.trimStart();
    const lineStart = offset + (line.length - trimmed.length);
    if (depthAt[offset] === 0 && trimmed.length > 0) {
      if (trimmed.startsWith("@")) decoratorStart ??= lineStart;
      else if (keywords.test(trimmed)) {
        starts.push({ offset: decoratorStart ?? lineStart, keywordOffset: lineStart });
        decoratorStart = undefined;
      }
    }
    offset += line.length + 1;
  }
  return starts.map((s, i) => {
    const end = i + 1 < starts.length ? starts[i + 1]!.offset : source.length;
    const statementCode = code.slice(s.keywordOffset, end).trimEnd();
    const header = /^(\w+)\s+(?:(\w+)|'([^']*)')?/.exec(statementCode);
    const decorators = code
      .slice(s.offset, s.keywordOffset)
      .split(/\n(?=\s*@)/)
      .map((d) => d.trim())
      .filter((d) => d.length > 0);
    return {
      keyword: header?.[1] ?? "",
      name: header?.[2] ?? header?.[3] ?? "",
      start: s.offset,
      end,
      code: statementCode,
      raw: source.slice(s.keywordOffset, end).trimEnd(),
      decorators,
    };
  });
}

/** Offset of the first `=` at bracket depth 0 in masked text (not `==`, `!=`, `<=`, `>=`, `=~`), or -1. */
function assignmentOffset(masked: string): number {
  const depthAt = depths(masked);
  for (let i = 0; i < masked.length; i++) {
    if (masked[i] !== "=" || depthAt[i] !== 0) continue;
    const before = masked[i - 1] ?? "";
    const after = masked[i + 1] ?? "";
    if ("=!<>".includes(before) || after === "=" || after === "~") continue;
    return i;
  }
  return -1;
}

function parseDeployable(statement: BicepStatement): BicepDeployable | undefined {
  const { masked } = blank(statement.code);
  const header = /^(?:resource|module)\s+(\w+)\s+'([^']*)'\s*(existing\b)?/.exec(statement.code);
  if (!header) return undefined;
  const equals = assignmentOffset(masked);
  if (equals === -1) return undefined;
  const open = masked.indexOf("{", equals);
  const close = open === -1 ? -1 : matchBracket(masked, open);
  if (close === -1) return undefined;
  const [target, apiVersion] = header[2]!.split("@");
  const head = statement.code.slice(equals + 1, open);
  const loopMatch =
    /^\s*\[\s*for\s+(?:\(\s*(\w+)\s*,\s*(\w+)\s*\)|(\w+))\s+in\s+([\s\S]+?)\s*:\s*(?:if\s*\(([\s\S]*)\)\s*)?$/.exec(
      head,
    );
  const conditionMatch = /^\s*if\s*\(([\s\S]*)\)\s*$/.exec(head);
  const loop: BicepLoop | undefined = loopMatch
    ? {
        item: (loopMatch[1] ?? loopMatch[3])!,
        ...(loopMatch[2] ? { index: loopMatch[2] } : {}),
        source: loopMatch[4]!.trim(),
      }
    : undefined;
  const condition = (loopMatch?.[5] ?? conditionMatch?.[1])?.trim();
  return {
    symbol: header[1]!,
    target: target!,
    ...(apiVersion ? { apiVersion } : {}),
    existing: header[3] !== undefined,
    ...(condition ? { condition } : {}),
    ...(loop ? { loop } : {}),
    body: statement.code.slice(open, close + 1),
    rawBody: statement.raw.slice(open, close + 1),
  };
}

/** Parses the declarations of a Bicep file. */
export function parseBicep(source: string): BicepFile {
  const all = statements(source);
  const file: BicepFile = {
    params: [],
    vars: new Map(),
    rawVars: new Map(),
    resources: [],
    modules: [],
    outputs: [],
    statements: all,
  };
  for (const statement of all) {
    const { masked } = blank(statement.code);
    const equals = assignmentOffset(masked);
    const afterEquals = equals === -1 ? "" : statement.code.slice(equals + 1).trim();
    switch (statement.keyword) {
      case "targetScope":
        file.targetScope = /'([^']*)'/.exec(afterEquals)?.[1];
        break;
      case "param": {
        const declaration = equals === -1 ? statement.code : statement.code.slice(0, equals);
        const type = declaration.replace(/^param\s+\w+\s*/, "").trim();
        file.params.push({
          name: statement.name,
          type,
          hasDefault: equals !== -1,
          secure: statement.decorators.some((d) => /^@(sys\.)?secure\(\)/.test(d)),
        });
        break;
      }
      case "var":
        file.vars.set(statement.name, afterEquals);
        file.rawVars.set(statement.name, statement.raw.slice(statement.raw.indexOf("=") + 1).trim());
        break;
      case "resource": {
        const resource = parseDeployable(statement);
        if (resource) file.resources.push(resource);
        break;
      }
      case "module": {
        const module = parseDeployable(statement);
        if (module) file.modules.push(module);
        break;
      }
      case "output": {
        const declaration = equals === -1 ? statement.code : statement.code.slice(0, equals);
        file.outputs.push({
          name: statement.name,
          type: declaration.replace(/^output\s+\w+\s*/, "").trim(),
          value: afterEquals,
        });
        break;
      }
    }
  }
  return file;
}

/**
 * Entries of an object literal `{ ... }` (with or without comments), in order. Entries are separated by newlines or
 * commas at the object's own level; a value may span lines (nested objects, arrays, multi-line ternaries).
 */
export function objectEntries(objectText: string): BicepEntry[] {
  const text = objectText.trim();
  if (!text.startsWith("{")) return [];
  const { code, masked } = blank(text);
  const close = matchBracket(masked, 0);
  if (close === -1) return [];
  const depthAt = depths(masked);
  // Split the inside into chunks at depth-1 newlines and commas.
  const chunks: Array<{ start: number; end: number }> = [];
  let chunkStart = 1;
  for (let i = 1; i < close; i++) {
    if (depthAt[i] === 1 && (masked[i] === "\n" || masked[i] === ",")) {
      chunks.push({ start: chunkStart, end: i });
      chunkStart = i + 1;
    }
  }
  chunks.push({ start: chunkStart, end: close });
  // Join continuation lines onto the entry they continue; drop blank (or comment-only) chunks.
  const joined: Array<{ start: number; end: number }> = [];
  for (const chunk of chunks) {
    const maskedChunk = masked.slice(chunk.start, chunk.end);
    if (maskedChunk.trim().length === 0) continue;
    const previous = joined[joined.length - 1];
    if (previous && continuation.test(maskedChunk)) previous.end = chunk.end;
    else joined.push({ ...chunk });
  }
  const entries: BicepEntry[] = [];
  for (const { start, end } of joined) {
    // The key ends at the first colon at the object's own level.
    let colon = -1;
    for (let i = start; i < end; i++) {
      if (masked[i] === ":" && depthAt[i] === 1) {
        colon = i;
        break;
      }
    }
    if (colon === -1) continue;
    const keyText = code.slice(start, colon).trim();
    const key = keyText.startsWith("'") ? keyText.slice(1, -1) : keyText;
    const value = code.slice(colon + 1, end).trim();
    const lineStart = text.lastIndexOf("\n", end - 1) + 1;
    const lineEnd = text.indexOf("\n", end);
    const lastLine = text.slice(lineStart, lineEnd === -1 ? text.length : lineEnd);
    const commentAt = findLineComment(lastLine);
    entries.push({ key, value, ...(commentAt === -1 ? {} : { comment: lastLine.slice(commentAt + 2).trim() }) });
  }
  return entries;
}

/** Offset of a `//` comment in one line (outside strings), or -1. */
function findLineComment(line: string): number {
  const { code } = blank(line);
  for (let i = 0; i < line.length; i++) {
    if (line[i] === "/" && line[i + 1] === "/" && code[i] === " ") return i;
  }
  return -1;
}

/** The value at a path of keys in an object literal, e.g. `['properties', 'lockDuration']`. */
export function valueAt(objectText: string, path: readonly string[]): string | undefined {
  let current: string | undefined = objectText;
  for (const key of path) {
    if (current === undefined) return undefined;
    current = objectEntries(current).find((e) => e.key === key)?.value;
  }
  return current;
}

/** Splits the arguments of a call `name(a, b, ...)` at its own level. */
export function callArguments(expression: string, name: string): string[] | undefined {
  const text = expression.trim();
  if (!text.startsWith(`${name}(`)) return undefined;
  const { masked } = blank(text);
  const open = name.length;
  const close = matchBracket(masked, open);
  if (close !== text.length - 1) return undefined;
  const depthAt = depths(masked);
  const args: string[] = [];
  let argStart = open + 1;
  for (let i = open + 1; i < close; i++) {
    if (masked[i] === "," && depthAt[i] === 1) {
      args.push(text.slice(argStart, i).trim());
      argStart = i + 1;
    }
  }
  const last = text.slice(argStart, close).trim();
  if (last.length > 0) args.push(last);
  return args;
}

/**
 * Entries of an object expression: an object literal, a variable holding one, or `union(...)` of those.
 * Returns undefined when the expression cannot be resolved statically (a parameter, a function result).
 */
export function resolveObject(expression: string, file: BicepFile): BicepEntry[] | undefined {
  const text = expression.trim();
  if (text.startsWith("{")) return objectEntries(text);
  const unionArgs = callArguments(text, "union");
  if (unionArgs) {
    const merged = new Map<string, BicepEntry>();
    for (const arg of unionArgs) {
      const entries = resolveObject(arg, file);
      if (!entries) return undefined;
      for (const entry of entries) merged.set(entry.key, entry);
    }
    return [...merged.values()];
  }
  if (/^\w+$/.test(text) && file.vars.has(text)) return resolveObject(file.vars.get(text)!, file);
  return undefined;
}

/** Entries of a variable's object literal as written, so that each keeps its `// comment`. */
export function commentedVarEntries(file: BicepFile, name: string): BicepEntry[] {
  const raw = file.rawVars.get(name);
  return raw === undefined ? [] : objectEntries(raw);
}

/** String items of an array literal (`['a'\n 'b']`), in order; non-literal items are returned as written. */
export function arrayItems(arrayText: string): string[] {
  const text = arrayText.trim();
  if (!text.startsWith("[")) return [];
  const { code, masked } = blank(text);
  const close = matchBracket(masked, 0);
  const depthAt = depths(masked);
  const items: string[] = [];
  let start = 1;
  for (let i = 1; i <= close; i++) {
    if (i === close || (depthAt[i] === 1 && (masked[i] === "\n" || masked[i] === ","))) {
      const item = code.slice(start, i).trim();
      if (item.length > 0) items.push(item);
      start = i + 1;
    }
  }
  return items;
}

/** The contents of a single-quoted string literal without interpolation, or undefined. */
export function stringLiteral(expression: string): string | undefined {
  const match = /^'((?:[^'\\$]|\\.|\$(?!\{))*)'$/.exec(expression.trim());
  return match ? match[1]!.replace(/\\(.)/g, "$1") : undefined;
}
