import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Generous: a test that waits on events must not fail because the machine is busy (2 cores, shared).
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Two files at a time on 2 cores: most files wait on emulators, timers and child processes rather than compute,
    // and vitest's default (cores - 1) would run them one by one.
    maxWorkers: 2,
    minWorkers: 1,
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ["default", ["json", { outputFile: ".vitest/results.json" }]],
  },
});
