import type { FunctionDefinition } from "../../../functions/definitions.js";
import { startLocalHost, type LocalHost, type LocalHostOptions, type LogRecord } from "../../../local/host/index.js";

/** The repository's host.json, inline so tests do not depend on the working directory. */
export const testHostJson = {
  version: "2.0",
  extensions: {
    serviceBus: {
      prefetchCount: 0,
      autoCompleteMessages: true,
      maxAutoLockRenewalDuration: "00:05:00",
      maxConcurrentCalls: 16,
    },
    http: { routePrefix: "api" },
  },
};

export const functionKey = "test-function-key-5f2c9a";
export const masterKey = "test-master-key-8d41be";

/** A started host plus every log record it wrote, with helpers to wait for records. */
export interface TestHost extends LocalHost {
  records: LogRecord[];
  /** Resolves with the first record (already written or future) that matches. */
  waitForRecord(predicate: (r: LogRecord) => boolean, what?: string): Promise<LogRecord>;
}

const running: LocalHost[] = [];

/** Starts a host on a random loopback port with known keys and a recording logger. */
export async function startTestHost(
  functions: FunctionDefinition[],
  overrides: Partial<LocalHostOptions> = {},
): Promise<TestHost> {
  const records: LogRecord[] = [];
  const waiters: { predicate: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];
  const host = await startLocalHost({
    functions,
    env: {},
    hostJson: testHostJson,
    port: 0,
    functionKeys: { default: functionKey, master: masterKey },
    timers: { enabled: false },
    logger: (record) => {
      records.push(record);
      for (const waiter of [...waiters]) {
        if (waiter.predicate(record)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(record);
        }
      }
    },
    ...overrides,
  });
  running.push(host);
  return {
    ...host,
    records,
    waitForRecord: (predicate) => {
      const found = records.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
  };
}

/** Stops every host the tests started (call from afterEach). */
export async function stopTestHosts(): Promise<void> {
  await Promise.all(running.splice(0).map((h) => h.stop()));
}

/** A deferred promise: a handler awaits it so a test controls when the handler returns. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
