import { vi } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalStack, type LocalStack, type LocalStackOptions } from "../../local/stack.js";
import { localAzure } from "../../local/settings.js";
import type { LogRecord } from "../../local/host/index.js";

/** A local stack in a temporary folder, with timers off (tests fire them) and short delays. */
export async function startTestStack(
  options: Partial<LocalStackOptions> = {},
): Promise<LocalStack & { logs: LogRecord[]; dispose(): Promise<void> }> {
  const stateDir = mkdtempSync(join(tmpdir(), "image-pipeline-e2e-"));
  const logs: LogRecord[] = [];
  const stack = await startLocalStack({
    stateDir,
    timers: false,
    logger: (record) => logs.push(record),
    ...options,
    overrides: {
      BUILD_WATCH_INITIAL_DELAY_IN_SECONDS: "1",
      BUILD_WATCH_MAX_DELAY_IN_SECONDS: "1",
      BUILD_REQUEUE_DELAY_IN_SECONDS: "1",
      ...options.overrides,
    },
  });
  // Onto the stack itself: a spread would freeze its `catalog` getter at the catalog published at start.
  return Object.assign(stack, {
    logs,
    async dispose() {
      await stack.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  });
}

/** Calls the host with the function key. */
export async function api(
  stack: LocalStack,
  path: string,
  init: RequestInit = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test responses are read loosely, by path
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${stack.host.url}/api${path}`, {
    ...init,
    headers: {
      "x-functions-key": localAzure.functionKey,
      ...(init.body ? { "content-type": "application/json" } : {}),
      ...init.headers,
    },
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/**
 * Waits (vitest's `vi.waitFor`) until `check` returns a value, and returns it; fails after the timeout naming what
 * it waited for and the last error `check` threw.
 */
export function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutInMs = 60_000,
  intervalInMs = 200,
): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await check();
      if (value === undefined || value === false) throw new Error(`timed out waiting for ${what}`);
      return value;
    },
    { timeout: timeoutInMs, interval: intervalInMs },
  );
}
