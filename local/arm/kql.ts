/**
 * The subset of the Kusto Query Language (KQL) that the emulator's Resource Graph answers (local/arm/README.md,
 * "Resource Graph"): one table, then `where`, `extend` and `project` with comparisons, `and`/`or`, paths into
 * `properties`, and a few scalar functions. Anything else is refused as Resource Graph refuses a query it cannot run
 * ([RG4]): the parser throws {@link KqlError} naming the token, and the endpoint answers 400 `BadRequest` with
 * `InvalidQuery` details. A hand-written recursive-descent parser: no maintained KQL parser exists for Node.
 */

export type Row = Record<string, unknown>;

/** A query the subset cannot run: `language` for a construct outside it, `parser` for malformed text. */
export class KqlError extends Error {
  constructor(
    readonly kind: "language" | "parser",
    readonly token: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${kind === "language" ? "InvalidQueryLanguage" : "ParserFailure"} at '${token}'`);
    this.name = "KqlError";
  }
}

interface Token {
  kind: "word" | "string" | "number" | "symbol" | "end";
  text: string;
  line: number;
  column: number;
}

const symbols = ["==", "!=", "=~", "!~", "|", ",", "(", ")", "=", ".", "[", "]"];

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const at = (start: number) => ({ line, column: start - lineStart });
  while (i < text.length) {
    const c = text[i]!;
    if (c === "\n") {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      continue;
    }
    if (c === "'" || c === '"') {
      const start = i;
      let value = "";
      i++;
      while (i < text.length && text[i] !== c) {
        if (text[i] === "\\" && i + 1 < text.length) {
          value += text[i + 1];
          i += 2;
        } else value += text[i++];
      }
      if (i >= text.length) throw new KqlError("parser", text.slice(start), at(start).line, at(start).column);
      i++;
      tokens.push({ kind: "string", text: value, ...at(start) });
      continue;
    }
    if (/[0-9]/.test(c)) {
      const start = i;
      while (i < text.length && /[0-9.]/.test(text[i]!)) i++;
      tokens.push({ kind: "number", text: text.slice(start, i), ...at(start) });
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      const start = i;
      while (i < text.length && /[A-Za-z0-9_$]/.test(text[i]!)) i++;
      // `in~` is one operator; `mv-expand`, `project-away` are one (unsupported) operator each.
      if (text[i] === "~" && text.slice(start, i).toLowerCase() === "in") i++;
      while (text[i] === "-" && /[A-Za-z]/.test(text[i + 1] ?? "")) {
        i++;
        while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i++;
      }
      tokens.push({ kind: "word", text: text.slice(start, i), ...at(start) });
      continue;
    }
    if (c === "!" && /^!(contains|startswith|in~|in)(?![A-Za-z0-9_])/i.test(text.slice(i))) {
      const start = i;
      i++;
      while (i < text.length && /[A-Za-z~]/.test(text[i]!)) i++;
      tokens.push({ kind: "word", text: text.slice(start, i), ...at(start) });
      continue;
    }
    // Any other character is a token the parser refuses where it stands (after, say, an unsupported operator).
    const symbol = symbols.find((s) => text.startsWith(s, i)) ?? c;
    tokens.push({ kind: "symbol", text: symbol, ...at(i) });
    i += symbol.length;
  }
  tokens.push({ kind: "end", text: "<EOF>", line, column: i - lineStart });
  return tokens;
}

export type Expr =
  | { kind: "literal"; value: unknown }
  | { kind: "path"; column: string; path: string[] }
  | { kind: "call"; name: string; args: Expr[] }
  | { kind: "binary"; op: string; left: Expr; right: Expr }
  | { kind: "in"; negated: boolean; caseInsensitive: boolean; left: Expr; values: Expr[] };

export type Operator =
  | { kind: "where"; predicate: Expr }
  | { kind: "extend"; columns: { name: string; expr: Expr }[] }
  | { kind: "project"; columns: { name: string; expr: Expr }[] };

export interface Query {
  /** The table, lower case (`resources`, `resourcecontainers`, `computeresources`). */
  table: string;
  operators: Operator[];
}

const functions: Record<string, (args: unknown[]) => unknown> = {
  tostring: ([v]) => (v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v)),
  tolower: ([v]) => (v === null || v === undefined ? "" : String(v).toLowerCase()),
  tolong: ([v]) => toNumber(v, true),
  toint: ([v]) => toNumber(v, true),
  todouble: ([v]) => toNumber(v, false),
  isnotempty: ([v]) => !isEmpty(v),
  isempty: ([v]) => isEmpty(v),
  isnotnull: ([v]) => v !== null && v !== undefined,
  isnull: ([v]) => v === null || v === undefined,
  coalesce: (args) => args.find((v) => !isEmpty(v)) ?? null,
};

const comparisons = new Set(["==", "!=", "=~", "!~", "contains", "!contains", "startswith", "!startswith"]);
const operatorsOfTheSubset = new Set(["where", "extend", "project"]);

function isEmpty(v: unknown): boolean {
  return v === null || v === undefined || v === "";
}

function toNumber(v: unknown, integer: boolean): number | null {
  if (v === null || v === undefined || v === "") return null;
  const n = Number(v);
  if (!Number.isFinite(n)) return null;
  return integer ? Math.trunc(n) : n;
}

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.i]!;
  }
  private next(): Token {
    return this.tokens[this.i++]!;
  }
  private fail(token: Token = this.peek(), kind: "language" | "parser" = "parser"): never {
    throw new KqlError(kind, token.text, token.line, token.column);
  }
  private expectSymbol(text: string): void {
    const token = this.next();
    if (token.kind !== "symbol" || token.text !== text) this.fail(token);
  }
  private isWord(text: string): boolean {
    const t = this.peek();
    return t.kind === "word" && t.text.toLowerCase() === text;
  }

  query(): Query {
    const table = this.next();
    if (table.kind !== "word") this.fail(table);
    const operators: Operator[] = [];
    while (this.peek().kind !== "end") {
      this.expectSymbol("|");
      const name = this.next();
      const keyword = name.text.toLowerCase();
      if (name.kind !== "word") this.fail(name);
      if (!operatorsOfTheSubset.has(keyword)) this.fail(name, "language");
      if (keyword === "where") operators.push({ kind: "where", predicate: this.expr() });
      else operators.push({ kind: keyword as "extend" | "project", columns: this.columns(keyword === "extend") });
    }
    return { table: table.text.toLowerCase(), operators };
  }

  private columns(named: boolean): { name: string; expr: Expr }[] {
    const columns: { name: string; expr: Expr }[] = [];
    do {
      const start = this.peek();
      const lookahead = this.tokens[this.i + 1];
      if (start.kind === "word" && lookahead?.kind === "symbol" && lookahead.text === "=") {
        this.i += 2;
        columns.push({ name: start.text, expr: this.expr() });
      } else {
        if (named) this.fail(start);
        const expr = this.expr();
        if (expr.kind !== "path") this.fail(start);
        columns.push({ name: [expr.column, ...expr.path].join("_"), expr });
      }
    } while (this.peek().kind === "symbol" && this.peek().text === "," && this.next());
    return columns;
  }

  private expr(): Expr {
    let left = this.and();
    while (this.isWord("or")) {
      this.next();
      left = { kind: "binary", op: "or", left, right: this.and() };
    }
    return left;
  }

  private and(): Expr {
    let left = this.comparison();
    while (this.isWord("and")) {
      this.next();
      left = { kind: "binary", op: "and", left, right: this.comparison() };
    }
    return left;
  }

  private comparison(): Expr {
    const left = this.primary();
    const token = this.peek();
    const op = token.text.toLowerCase();
    if ((token.kind === "symbol" || token.kind === "word") && comparisons.has(op)) {
      this.next();
      return { kind: "binary", op, left, right: this.primary() };
    }
    if (token.kind === "word" && ["in", "in~", "!in", "!in~"].includes(op)) {
      this.next();
      this.expectSymbol("(");
      const values: Expr[] = [];
      do values.push(this.primary());
      while (this.peek().text === "," && this.next());
      this.expectSymbol(")");
      return { kind: "in", negated: op.startsWith("!"), caseInsensitive: op.endsWith("~"), left, values };
    }
    if (token.kind === "word" && !["and", "or"].includes(op)) this.fail(token, "language");
    return left;
  }

  private primary(): Expr {
    const token = this.next();
    if (token.kind === "string") return { kind: "literal", value: token.text };
    if (token.kind === "number") return { kind: "literal", value: Number(token.text) };
    if (token.kind === "symbol" && token.text === "(") {
      const inner = this.expr();
      this.expectSymbol(")");
      return inner;
    }
    if (token.kind !== "word") this.fail(token);
    const lower = token.text.toLowerCase();
    if (lower === "true" || lower === "false") return { kind: "literal", value: lower === "true" };
    if (this.peek().kind === "symbol" && this.peek().text === "(") {
      if (!(lower in functions)) this.fail(token, "language");
      this.next();
      const args: Expr[] = [];
      if (!(this.peek().kind === "symbol" && this.peek().text === ")")) {
        do args.push(this.expr());
        while (this.peek().text === "," && this.next());
      }
      this.expectSymbol(")");
      return { kind: "call", name: lower, args };
    }
    const path: string[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === "symbol" && t.text === ".") {
        this.next();
        const part = this.next();
        if (part.kind === "word") path.push(part.text);
        else if (part.kind === "symbol" && part.text === "[") {
          const key = this.next();
          if (key.kind !== "string") this.fail(key);
          this.expectSymbol("]");
          path.push(key.text);
        } else this.fail(part);
      } else if (t.kind === "symbol" && t.text === "[") {
        this.next();
        const key = this.next();
        if (key.kind !== "string") this.fail(key);
        this.expectSymbol("]");
        path.push(key.text);
      } else break;
    }
    return { kind: "path", column: token.text, path };
  }
}

/** Parses a query of the subset. @throws KqlError naming the first token it cannot take */
export function parseKql(text: string): Query {
  return new Parser(tokenize(text)).query();
}

function lookup(row: Row, column: string, path: string[]): unknown {
  let value: unknown = Object.prototype.hasOwnProperty.call(row, column) ? row[column] : undefined;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return null;
    // Resource Graph matches property names of dynamic values case-insensitively (`properties.StorageProfile`).
    const entry = Object.entries(value as Record<string, unknown>).find(([k]) => k.toLowerCase() === key.toLowerCase());
    value = entry?.[1];
  }
  return value ?? null;
}

const text = (v: unknown) =>
  v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);

function evaluate(expr: Expr, row: Row): unknown {
  switch (expr.kind) {
    case "literal":
      return expr.value;
    case "path":
      return lookup(row, expr.column, expr.path);
    case "call":
      return functions[expr.name]!(expr.args.map((a) => evaluate(a, row)));
    case "in": {
      const left = text(evaluate(expr.left, row));
      const found = expr.values.some((v) => {
        const value = text(evaluate(v, row));
        return expr.caseInsensitive ? value.toLowerCase() === left.toLowerCase() : value === left;
      });
      return expr.negated ? !found : found;
    }
    case "binary": {
      if (expr.op === "and") return evaluate(expr.left, row) === true && evaluate(expr.right, row) === true;
      if (expr.op === "or") return evaluate(expr.left, row) === true || evaluate(expr.right, row) === true;
      const left = evaluate(expr.left, row);
      const right = evaluate(expr.right, row);
      switch (expr.op) {
        case "==":
          return typeof left === "number" || typeof right === "number"
            ? Number(left) === Number(right)
            : text(left) === text(right);
        case "!=":
          return typeof left === "number" || typeof right === "number"
            ? Number(left) !== Number(right)
            : text(left) !== text(right);
        case "=~":
          return text(left).toLowerCase() === text(right).toLowerCase();
        case "!~":
          return text(left).toLowerCase() !== text(right).toLowerCase();
        case "contains":
          return text(left).toLowerCase().includes(text(right).toLowerCase());
        case "!contains":
          return !text(left).toLowerCase().includes(text(right).toLowerCase());
        case "startswith":
          return text(left).toLowerCase().startsWith(text(right).toLowerCase());
        case "!startswith":
          return !text(left).toLowerCase().startsWith(text(right).toLowerCase());
      }
      throw new Error(`unknown operator ${expr.op}`);
    }
  }
}

/** Runs the query's operators over the rows of its table; returns the rows and the columns of the result. */
export function runKql(query: Query, rows: readonly Row[]): { rows: Row[]; columns: string[] } {
  let current: Row[] = [...rows];
  let columns: string[] = rows.length > 0 ? Object.keys(rows[0]!) : [];
  for (const op of query.operators) {
    if (op.kind === "where") current = current.filter((row) => evaluate(op.predicate, row) === true);
    else if (op.kind === "extend") {
      current = current.map((row) => {
        const out = { ...row };
        for (const c of op.columns) out[c.name] = evaluate(c.expr, out);
        return out;
      });
      columns = [...columns.filter((c) => !op.columns.some((x) => x.name === c)), ...op.columns.map((c) => c.name)];
    } else {
      current = current.map((row) => Object.fromEntries(op.columns.map((c) => [c.name, evaluate(c.expr, row)])));
      columns = op.columns.map((c) => c.name);
    }
  }
  return { rows: current, columns };
}
