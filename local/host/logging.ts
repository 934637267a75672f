import { format } from "node:util";

/** Log levels as the Functions host names them (`context.log` is `information`). */
export type LogLevel = "trace" | "debug" | "information" | "warning" | "error" | "critical";

/** One line of the host's log. Invocation records carry the function name and invocation id. */
export interface LogRecord {
  /** ISO 8601 time the line was written. */
  time: string;
  level: LogLevel;
  /** `host` for the host's own lines, `function` for `context.log` and friends. */
  category: "host" | "function";
  message: string;
  /** Machine-readable kind of a host line, for tests and tooling (e.g. `invocation.end`, `timer.skipped`). */
  event?: string;
  functionName?: string;
  invocationId?: string;
  /** Duration of a finished invocation. */
  durationInMs?: number;
  /** Outcome of a finished invocation. */
  outcome?: "succeeded" | "failed";
}

/** Where the host writes its log. */
export type HostLogger = (record: LogRecord) => void;

/** A logger writing one JSON object per line: the structured form tests and tooling read. */
export function jsonLinesLogger(write: (line: string) => void = (l) => process.stdout.write(l)): HostLogger {
  return (record) => write(`${JSON.stringify(record)}\n`);
}

const levelLabels: Record<LogLevel, string> = {
  trace: "Trace",
  debug: "Debug",
  information: "Information",
  warning: "Warning",
  error: "Error",
  critical: "Critical",
};

/** A human-readable logger in the style of `func start`'s console. */
export function consoleLogger(write: (line: string) => void = (l) => process.stdout.write(l)): HostLogger {
  return (record) => {
    const fn = record.functionName ? ` ${record.functionName}` : "";
    const id = record.invocationId ? ` (Id=${record.invocationId})` : "";
    write(`[${record.time}] [${levelLabels[record.level]}]${fn}${id} ${record.message}\n`);
  };
}

// Names of settings whose values are secrets; anything else in the environment is configuration.
const secretSettingName = /(secret|password|passwd|key|token|connection|credential|sas)/i;
const minimumSecretLength = 6;

/**
 * Removes the values of secret-looking settings (webhook secrets, connection strings, keys) and any
 * `SharedAccessKey=` from log text. A safety net: the host never logs settings on purpose, but an app or SDK error
 * message might quote one.
 */
export function createRedactor(env: Record<string, string | undefined>): (text: string) => string {
  const secrets = Object.entries(env)
    .filter(
      ([name, value]) => secretSettingName.test(name) && value !== undefined && value.length >= minimumSecretLength,
    )
    .map(([, value]) => value as string)
    .sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join("[redacted]");
    return out.replace(/(SharedAccessKey|SharedAccessSignature|AccountKey)=[^;\s"']+/gi, "$1=[redacted]");
  };
}

/** Formats `context.log` arguments as Node's `console.log` does. */
export function formatLogArgs(args: readonly unknown[]): string {
  return format(...args);
}
