import { readdirSync } from "node:fs";
import type { CliCommand, CliIo } from "./command.js";
import { exitCodes } from "./command.js";

const program = "image-pipeline";
const commandsDir = new URL("./commands/", import.meta.url);

function commandFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const file of readdirSync(commandsDir)) {
    const match = /^([a-z][a-z0-9-]*)\.(ts|js)$/.exec(file);
    if (match && !file.endsWith(".d.ts")) files.set(match[1] as string, file);
  }
  return files;
}

async function loadCommand(file: string): Promise<CliCommand> {
  const module = (await import(new URL(file, commandsDir).href)) as { command?: CliCommand };
  if (!module.command) throw new Error(`cli/commands/${file} does not export a command`);
  return module.command;
}

async function printHelp(write: (text: string) => void): Promise<void> {
  const lines = [`usage: ${program} <command> [arguments]`, "", "commands:"];
  for (const [name, file] of [...commandFiles()].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`  ${name.padEnd(10)} ${(await loadCommand(file)).summary}`);
  }
  lines.push("", `Run "${program} <command> --help" for a command's usage.`);
  write(lines.join("\n") + "\n");
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
};

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) {
    await printHelp(io.stderr);
    return exitCodes.usage;
  }
  if (name === "help" || name === "--help" || name === "-h") {
    await printHelp(io.stdout);
    return exitCodes.ok;
  }
  const file = commandFiles().get(name);
  if (!file) {
    io.stderr(`${program}: unknown command "${name}"\n`);
    await printHelp(io.stderr);
    return exitCodes.usage;
  }
  const command = await loadCommand(file);
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout(`usage: ${program} ${command.usage}\n\n${command.summary}\n`);
    return exitCodes.ok;
  }
  return command.run(args, io);
}
