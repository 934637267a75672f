/**
 * `npm run bench`: every part of the benchmarks, one after the other, each in its own process (so that one part's
 * heap and timers cannot disturb another's timings). Each part prints its table and writes bench/results/<part>.json.
 * Not part of `npm test`.
 */
import { spawnSync } from "node:child_process";

const parts = ["sweep", "coldstart", "overhead", "dashboard"] as const;
/** Generous bounds: a part that runs longer is broken, not slow. */
const timeoutInMs = { sweep: 40 * 60_000, coldstart: 10 * 60_000, overhead: 15 * 60_000, dashboard: 10 * 60_000 };

const failed: string[] = [];
for (const part of parts) {
  console.log(`\n=== npm run bench:${part}`);
  const run = spawnSync("npx", ["tsx", `bench/${part}.ts`], { stdio: "inherit", timeout: timeoutInMs[part] });
  if (run.status !== 0) failed.push(`${part} (${run.error?.message ?? `exit ${run.status ?? run.signal}`})`);
}
if (failed.length > 0) {
  console.error(`\nfailed: ${failed.join(", ")}`);
  process.exitCode = 1;
}
