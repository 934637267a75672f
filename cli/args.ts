import { parseArgs, type ParseArgsConfig } from "node:util";
import type { CliIo } from "./command.js";

/** Positionals and flags of a command line, strictly: an unknown flag is an error. */
export function parse(argv: readonly string[], options: NonNullable<ParseArgsConfig["options"]>) {
  const { values, positionals } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  return { positionals, flags: values as Record<string, string | boolean | undefined> };
}

/** Line-oriented writers over a command's io. */
export function lines(io: CliIo) {
  return { out: (line: string) => io.stdout(`${line}\n`), error: (line: string) => io.stderr(`${line}\n`) };
}
