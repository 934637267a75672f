import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** Where `npm run bench` keeps one run's results (committed, so bench/README.md can cite them). */
export const resultsDir = path.resolve("bench/results");

/** The machine a result was measured on: timings only compare within one run on one machine. */
export function machine() {
  return {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    /** Other work on the machine disturbs timings; ratios from alternating runs are what to compare. */
    loadAverage1Min: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}

/** Writes `bench/results/<name>.json` with the command that produced it and the machine it ran on. */
export function writeResult(name: string, command: string, result: Record<string, unknown>): string {
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${name}.json`);
  const body = { command, measuredAt: new Date().toISOString(), machine: machine(), ...result };
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  return file;
}

/** Rejects after `timeoutInMs` so that no benchmark can run unbounded. */
export async function withDeadline<T>(what: string, timeoutInMs: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${timeoutInMs} ms`)), timeoutInMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
