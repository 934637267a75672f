/** Parsed command line: positional arguments and `--flag` / `--flag value` options. */
export interface CliArgs {
  positionals: string[];
  flags: Record<string, string | true>;
}

/** Where a command writes. */
export interface CliIo {
  out(line: string): void;
  error(line: string): void;
}

/** One subcommand of `image-pipeline`. */
export interface CliCommand {
  name: string;
  summary: string;
  usage: string;
  /** Runs the command; resolves to the process exit code. */
  run(args: CliArgs, io: CliIo): Promise<number>;
}
