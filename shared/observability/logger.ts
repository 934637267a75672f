import type { Logger } from "../ports.js";

/** Keys whose values are never logged, whatever a caller passes. */
const secretKey = /secret|password|token|key|signature|connection.?string|authorization|credential/i;
/** Values that look like secrets even under an innocent key. */
const secretValue = /(SharedAccessKey|AccountKey|sig)=[^;&\s]+|Bearer\s+[\w.-]+|sha256=[0-9a-f]{64}/gi;

/** Removes secrets from log fields, recursively. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return "[…]";
  if (typeof value === "string") return value.replace(secretValue, (m) => `${m.split(/[= ]/)[0]}=[redacted]`);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Error) return errorFields(value, depth);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, secretKey.test(k) ? "[redacted]" : redact(v, depth + 1)]),
    );
  }
  return value;
}

/**
 * An error as a log field: name, code (ours or Azure's), message, stack and the chain of causes, redacted like any
 * other field, so that a failure logged far from where it happened still says where and why.
 */
function errorFields(error: Error, depth: number): Record<string, unknown> {
  const extra = error as Error & { code?: unknown; statusCode?: unknown; azureCode?: unknown };
  const fields: Record<string, unknown> = { name: error.name, message: redact(error.message, depth + 1) };
  if (typeof extra.code === "string") fields["code"] = extra.code;
  if (typeof extra.azureCode === "string") fields["azureCode"] = extra.azureCode;
  if (typeof extra.statusCode === "number") fields["statusCode"] = extra.statusCode;
  if (error.stack) fields["stack"] = redact(error.stack, depth + 1);
  if (error.cause !== undefined) fields["cause"] = redact(error.cause, depth + 1);
  return fields;
}

/** The sink of a structured logger: `context.log` in a function, stdout elsewhere. */
export interface LogSink {
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
}

/** What a logger adds to each line when it is written (e.g. the trace and span ids of the active span). */
export type LogContext = () => Record<string, unknown>;

/**
 * A structured logger writing one JSON object per line: message, level and fields, plus the fields every line of the
 * invocation shares (function name, invocation id, build id) and, when given, those of the moment it is written
 * (`context`: the active span's ids). Secrets are redacted before anything is written.
 */
export function createLogger(
  sink: LogSink,
  base: Record<string, unknown> = {},
  context?: LogContext,
): Logger & { child(fields: Record<string, unknown>): Logger } {
  const write = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => {
    const record = redact({ level, message, ...base, ...context?.(), ...fields }) as Record<string, unknown>;
    sink[level](JSON.stringify(record));
  };
  return {
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger(sink, { ...base, ...fields }, context),
  };
}

/** A logger to stdout/stderr, for the CLI and the local stack. */
export const consoleLogSink: LogSink = {
  info: (line) => console.log(line),
  warn: (line) => console.warn(line),
  error: (line) => console.error(line),
};
