/**
 * `tsx local/host/main.ts [--port N] [--host ADDR] [--log text|json] [--no-timers] [--invoke TIMER] [--table FILE]`
 *
 * Runs the app's function table (functions/table.ts) in the local host, like `func start`: app settings are
 * local.settings.json `Values` under the process environment, and are exported to process.env before the table is
 * loaded so that the functions read them as they would in Azure. `--invoke` runs one timer function and exits;
 * `--table` loads another table module (tests, experiments).
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import type { FunctionDefinition } from "../../functions/definitions.js";
import { mergeSettings, readLocalSettings } from "./appSettings.js";
import { LocalHostConfigurationError } from "./errors.js";
import { consoleLogger, jsonLinesLogger, startLocalHost } from "./index.js";

function isFunctionTable(value: unknown): value is FunctionDefinition[] {
  return (
    Array.isArray(value) &&
    value.every(
      (d) =>
        typeof d === "object" &&
        d !== null &&
        typeof (d as { name?: unknown }).name === "string" &&
        ["http", "timer", "serviceBusQueue"].includes((d as { trigger?: unknown }).trigger as string),
    )
  );
}

/**
 * Finds the function table among a module's exports: `default`, `functionTable`, `functions` or `table`, else
 * the only exported array of function definitions.
 */
export function findFunctionTable(module: Record<string, unknown>): FunctionDefinition[] {
  for (const name of ["default", "functionTable", "functions", "table"]) {
    if (isFunctionTable(module[name])) return module[name];
  }
  const tables = Object.values(module).filter(isFunctionTable);
  if (tables.length === 1 && tables[0]) return tables[0];
  throw new LocalHostConfigurationError("functions/table.ts exports no function table (FunctionDefinition[])");
}

async function loadFunctionTable(path: string): Promise<FunctionDefinition[]> {
  // Resolved at run time: the table is the app's, not the host's, and the host must build without it.
  const specifier = pathToFileURL(path).href;
  return findFunctionTable((await import(specifier)) as Record<string, unknown>);
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      log: { type: "string", default: "text" },
      "no-timers": { type: "boolean", default: false },
      invoke: { type: "string" },
      table: { type: "string" },
    },
  });
  const repoRoot = resolve(dirname(new URL(import.meta.url).pathname), "..", "..");
  const localSettings = readLocalSettings(join(process.cwd(), "local.settings.json"));
  const env = mergeSettings(localSettings.Values, process.env);
  for (const [name, value] of Object.entries(env)) if (value !== undefined) process.env[name] = value;

  const logger = values.log === "json" ? jsonLinesLogger() : consoleLogger();
  const functions = await loadFunctionTable(
    values.table ? resolve(values.table) : join(repoRoot, "functions", "table.ts"),
  );
  const port = Number(values.port ?? localSettings.Host?.LocalHttpPort ?? 7071);
  const host = await startLocalHost({
    functions,
    env,
    port,
    host: values.host,
    logger,
    timers: { enabled: !values["no-timers"] && values.invoke === undefined },
    ...(env.LOCAL_FUNCTION_KEY
      ? {
          functionKeys: {
            default: env.LOCAL_FUNCTION_KEY,
            ...(env.LOCAL_MASTER_KEY ? { master: env.LOCAL_MASTER_KEY } : {}),
          },
        }
      : {}),
  });

  if (values.invoke !== undefined) {
    await host.invokeTimer(values.invoke);
    await host.stop();
    return;
  }

  // Keys are secrets: written to a file only the user can read, never to the log.
  const keysPath = join(repoRoot, ".local", "host-keys.json");
  mkdirSync(dirname(keysPath), { recursive: true });
  writeFileSync(keysPath, `${JSON.stringify({ url: host.url, ...host.functionKeys }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(keysPath, 0o600);
  process.stderr.write(`Local Functions host on ${host.url}/api (function keys in ${keysPath}); Ctrl+C stops it.\n`);

  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals > 1) process.exit(130); // a second Ctrl+C does not wait
    void host.stop().then(() => process.exit(0));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    const message = error instanceof LocalHostConfigurationError ? error.message : String(error);
    process.stderr.write(`local host: ${message}\n`);
    process.exit(1);
  });
}
