import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startArmEmulator, type ArmEmulator } from "../../local/arm/index.js";
import { armAdmin } from "../../local/armAdmin.js";

/** What `GET /_emulator/counters` answers. */
export interface ArmCounters {
  operations: Record<string, number>;
  reads: number;
  writes: number;
  deletes: number;
  total: number;
  throttled: number;
  faulted: number;
  unauthenticated: number;
}

/** ARM's real subscription token buckets (learn.microsoft.com, request limits and throttling). */
export const armTokenBuckets = {
  reads: { burst: 250, perSecond: 25 },
  writes: { burst: 200, perSecond: 10 },
  deletes: { burst: 200, perSecond: 10 },
};

/** An in-process ARM emulator on loopback, in a temporary state folder removed on stop. */
export async function startBenchArm(): Promise<ArmEmulator & { dispose(): Promise<void> }> {
  const stateDir = mkdtempSync(path.join(tmpdir(), "bench-arm-"));
  const arm = await startArmEmulator({ stateDir, port: 0, host: "127.0.0.1" });
  return {
    ...arm,
    async dispose() {
      await arm.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** The emulator's request counters. */
export function readCounters(arm: ArmEmulator): Promise<ArmCounters> {
  return armAdmin<ArmCounters>(arm, "GET", "counters");
}

/** Sums the counters of the operations whose name matches. */
export function countOf(counters: ArmCounters, pattern: RegExp): number {
  return Object.entries(counters.operations)
    .filter(([name]) => pattern.test(name))
    .reduce((sum, [, n]) => sum + n, 0);
}
