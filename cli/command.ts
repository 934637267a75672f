/** Where a command writes and what it may read from its environment (injected so tests need no child process). */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

/**
 * One subcommand. Each lives in its own file under `cli/commands/` and exports `command`; the dispatcher finds it
 * by file name, so adding a subcommand is adding one file.
 */
export interface CliCommand {
  /** Must equal the file name without extension. */
  name: string;
  /** One line for `image-pipeline help`. */
  summary: string;
  /** Usage line(s), without the program name. */
  usage: string;
  /** Returns the exit code: 0 success, 1 failure the command reports, 2 usage or unreadable input. */
  run(args: readonly string[], io: CliIo): Promise<number>;
}

/** Exit codes shared by commands. */
export const exitCodes = { ok: 0, failed: 1, usage: 2 } as const;
